/*
 * bounce-status.c - RFC 3463 enhanced status codes and RFC 5321 reply
 * codes, read from Status fields and from free diagnostic text.
 *
 * A status code is class.subject.detail with 1-3 digits in subject and
 * detail (5.7.26, 5.7.708).  This module only finds and compares codes;
 * what a code means is data in rules/, not C.
 */
#include <string.h>

#include "bounce-private.h"

/* Parses "c.s.d" at @p; on success stores the three numbers and the
 * length consumed. */
static gboolean
parse_status_at (const char *p, guint out[3], gsize *out_len)
{
    const char *start = p;

    if (*p != '2' && *p != '4' && *p != '5')
        return FALSE;
    out[0] = (guint) (*p - '0');
    p++;
    for (int part = 1; part <= 2; part++) {
        guint n = 0, digits = 0;
        if (*p != '.')
            return FALSE;
        p++;
        while (g_ascii_isdigit (*p) && digits < 4) {
            n = n * 10 + (guint) (*p - '0');
            digits++;
            p++;
        }
        if (digits == 0 || digits > 3)
            return FALSE;
        out[part] = n;
    }
    *out_len = (gsize) (p - start);
    return TRUE;
}

static char *
format_status (const guint s[3])
{
    return g_strdup_printf ("%u.%u.%u", s[0], s[1], s[2]);
}

char *
bounce_status_normalize (const char *text)
{
    guint s[3];
    gsize len;

    if (text == NULL)
        return NULL;
    while (g_ascii_isspace (*text))
        text++;
    if (!parse_status_at (text, s, &len))
        return NULL;
    if (g_ascii_isdigit (text[len]))
        return NULL;
    return format_status (s);
}

char *
bounce_status_find (const char *text)
{
    if (text == NULL)
        return NULL;
    for (const char *p = text; *p != '\0'; p++) {
        guint s[3];
        gsize len;

        if (p > text && (g_ascii_isalnum (p[-1]) || p[-1] == '.'))
            continue;
        if (!parse_status_at (p, s, &len))
            continue;
        /* Not part of a longer dotted number (an IP address, a version). */
        if (g_ascii_isdigit (p[len]) ||
            (p[len] == '.' && g_ascii_isdigit (p[len + 1])))
            continue;
        return format_status (s);
    }
    return NULL;
}

/* Is the ':' before @p a label's ("ERROR_CODE :550", "code:550",
 * "said:550"): a word, then perhaps spaces, then the colon?  Not a
 * port ("host:25"), a time or an IPv6 address. */
static gboolean
label_colon_before (const char *text, const char *p)
{
    const char *q = p - 1;

    while (q > text && q[-1] == ' ')
        q--;
    return q > text && g_ascii_isalpha (q[-1]);
}

/* Is @p the start of a reply code: three digits 2xx-5xx standing alone?
 * The notations servers and MTAs print (RFC 5321 section 4.2; Postfix
 * "said: 550 5.1.1 ...", Exim "...: 550 ...", Sendmail "<<< 550-5.1.1 ..."
 * and "(reason: 550 ...)", Exchange "returned '550 5.1.10 ...'", Amazon
 * SES "550-'5.7.1 ...'", "550: <a@b>: User unknown", a labelled
 * "ERROR_CODE :550,", Exchange's "#550 5.1.1 ... ##"): before it the
 * start, white space or punctuation other than . - / + _ (a version, a
 * range, a path), a colon only after a label, a '#' only before a code
 * and a status; after it the end, white space, a hyphen (a continuation
 * line), or a colon or comma followed by a space.  Returns the code, 0
 * when there is none; *@after (when not NULL) is set past the digits. */
static int
reply_code_at (const char *text, const char *p, const char **after)
{
    char next;

    /* The three digits first: the checks below read past them. */
    if (p[0] < '2' || p[0] > '5' || !g_ascii_isdigit (p[1]) ||
        !g_ascii_isdigit (p[2]))
        return 0;
    if (p > text && (g_ascii_isalnum (p[-1]) || p[-1] == '.' ||
                     p[-1] == '-' || p[-1] == '/' || p[-1] == '+' ||
                     p[-1] == '_'))
        return 0;
    if (p > text && p[-1] == ':' && !label_colon_before (text, p))
        return 0;
    /* "1,250,000": a number with separators. */
    if (p > text + 1 && p[-1] == ',' && g_ascii_isdigit (p[-2]))
        return 0;
    if (p[0] < '2' || p[0] > '5' || !g_ascii_isdigit (p[1]) ||
        !g_ascii_isdigit (p[2]))
        return 0;
    /* "#550 5.1.1 RESOLVER.ADR.RecipNotFound; not found ##" (Exchange
     * 2007's NDR): a '#' that opens a word, before a code and a status;
     * not a number ("ticket #550", "AUP#550").  Only once the three
     * digits are there: p[3] is then inside the text, and each later
     * byte is read only when the one before it was not the end. */
    if (p > text && p[-1] == '#' &&
        ((p - 1 > text && !g_ascii_isspace (p[-2])) || p[3] != ' ' ||
         !g_ascii_isdigit (p[4]) || p[5] != '.'))
        return 0;
    if (p[1] > '5')
        return 0;
    next = p[3];
    if (next == '-') {
        if (!g_ascii_isdigit (p[4]) && !g_ascii_isalpha (p[4]) &&
            p[4] != ' ' && p[4] != '\'' && p[4] != '"' && p[4] != '\0')
            return 0;
    } else if (next == ':' || next == ',') {
        if (p[4] != ' ' && p[4] != '\0' && p[4] != '\n' && p[4] != '\t' &&
            p[4] != '<')
            return 0;
    } else if (next != '\0' && next != ' ' && next != '\t' && next != '\n' &&
               next != '\r') {
        return 0;
    }
    if (after != NULL)
        *after = p + 3;
    return (p[0] - '0') * 100 + (p[1] - '0') * 10 + (p[2] - '0');
}

/* The enhanced status written next to a reply code (@p just past its
 * digits): "550 5.1.1", "550-5.1.1", "550-'5.7.1", "550 #5.1.0",
 * "550: 5.2.2".  Transfer full; NULL when there is none. */
static char *
status_next_to (const char *p)
{
    guint s[3];
    gsize len;

    for (guint i = 0; i < 3 && (*p == ' ' || *p == '-' || *p == '\'' ||
                                *p == '"' || *p == '#' || *p == ':' ||
                                *p == '('); i++)
        p++;
    if (!parse_status_at (p, s, &len))
        return NULL;
    if (g_ascii_isdigit (p[len]) ||
        (p[len] == '.' && g_ascii_isdigit (p[len + 1])))
        return NULL;
    return format_status (s);
}

/* x.4.7, "delivery time expired": the reporting MTA's own verdict when
 * it gave up, not what the remote server said. */
static gboolean
is_expiry (const char *status)
{
    return status != NULL && g_str_has_suffix (status, ".4.7");
}

int
_bounce_reply_pick (const char *text, char **out_status)
{
    int chosen = 0, first_other = 0;
    g_autofree char *chosen_status = NULL;
    g_autofree char *other_status = NULL;

    if (out_status != NULL)
        *out_status = NULL;
    if (text == NULL)
        return 0;
    for (const char *p = text; *p != '\0'; p++) {
        const char *after = NULL;
        int code = reply_code_at (text, p, &after);
        char *status;

        if (code == 0)
            continue;
        status = status_next_to (after);
        if (code >= 400) {
            /* The first refusal; but past an expiry verdict ("554 4.4.7
             * Message expired ... <421 4.4.2 Connection timed out>") to
             * the reply that caused it. */
            if (chosen == 0 ||
                (is_expiry (chosen_status) && !is_expiry (status))) {
                chosen = code;
                g_free (chosen_status);
                chosen_status = status;
                status = NULL;
            } else if (!is_expiry (chosen_status)) {
                g_free (status);
                break;
            }
        } else if (first_other == 0) {
            /* A greeting or an acceptance: only when nothing failed. */
            first_other = code;
            other_status = g_steal_pointer (&status);
        }
        g_free (status);
        p = after - 1;
    }
    if (chosen == 0) {
        chosen = first_other;
        chosen_status = g_steal_pointer (&other_status);
    }
    if (out_status != NULL)
        *out_status = g_steal_pointer (&chosen_status);
    return chosen;
}

int
bounce_reply_code_find (const char *text)
{
    return _bounce_reply_pick (text, NULL);
}

/* Past the "<<< " that Sendmail puts before each line a server sent
 * (usersmtp.c, reply()), when @p starts with one. */
static const char *
skip_transcript_mark (const char *p)
{
    if (strncmp (p, "<<<", 3) != 0)
        return p;
    p += 3;
    while (*p == ' ')
        p++;
    return p;
}

char *
bounce_diagnostic_unfold (const char *text)
{
    GString *out;
    const char *p, *first = NULL;
    int code = 0;

    if (text == NULL)
        return NULL;
    for (p = text; *p != '\0'; p++) {
        code = reply_code_at (text, p, NULL);
        if (code != 0) {
            first = p;
            break;
        }
    }
    if (first == NULL || first[3] != '-') {
        char *copy = g_strdup (text);
        return _bounce_text_squeeze (copy);
    }

    /* "550-5.7.26 a 550-5.7.26 b 550 5.7.26 c" -> "550 5.7.26 a b c":
     * drop every later "550-" / "550 " (and the status after it) that
     * stands after white space, and the "<<< " of a Sendmail transcript
     * line before it ("<<< 550-5.1.1 a" / "<<< 550 5.1.1 b"). */
    out = g_string_sized_new (strlen (text));
    g_string_append_len (out, text, first - text);
    g_string_append_printf (out, "%d ", code);
    p = first + 4;
    {
        guint s[3];
        gsize len;
        g_autofree char *status = NULL;

        if (parse_status_at (p, s, &len)) {
            status = g_strndup (p, len);
            g_string_append_len (out, p, (gssize) len);
            p += len;
        }
        while (*p != '\0') {
            const char *q = g_ascii_isspace (*p) ? skip_transcript_mark (p + 1) : NULL;

            if (q != NULL && reply_code_at (text, q, NULL) == code &&
                (q[3] == '-' || q[3] == ' ')) {
                q += 4;
                if (status != NULL && strncmp (q, status, strlen (status)) == 0)
                    q += strlen (status);
                g_string_append_c (out, ' ');
                p = q;
                continue;
            }
            g_string_append_c (out, *p);
            p++;
        }
    }
    return _bounce_text_squeeze (g_string_free (out, FALSE));
}

/* How specific a status is: x.0.0 is 0, x.y.0 is 1, x.y.z is 2. */
static int
specificity (const guint s[3])
{
    if (s[1] == 0 && s[2] == 0)
        return 0;
    return s[2] == 0 ? 1 : 2;
}

/* A diagnostic of type x-unix that is only a number is the exit status
 * of a local mailer (Sendmail's deliver.c writes "X-Unix; 75" with the
 * sysexits code), not a reply code. */
static gboolean
is_exit_status (const BounceRecipient *r)
{
    const char *p = r->diagnostic;

    if (r->diagnostic_type == NULL ||
        g_ascii_strcasecmp (r->diagnostic_type, "x-unix") != 0 || p == NULL)
        return FALSE;
    while (*p == ' ')
        p++;
    if (!g_ascii_isdigit (*p))
        return FALSE;
    while (g_ascii_isdigit (*p))
        p++;
    while (*p == ' ')
        p++;
    return *p == '\0';
}

gboolean
_bounce_recipient_exit_status (const BounceRecipient *r)
{
    return is_exit_status (r);
}

void
_bounce_recipient_resolve (BounceRecipient *r, gboolean notice)
{
    g_autofree char *found = NULL;
    g_autofree char *next_to = NULL;
    guint fs[3], ds[3], ns[3];
    gsize len;

    g_return_if_fail (r != NULL);

    if (r->diagnostic != NULL && !is_exit_status (r)) {
        int code = _bounce_reply_pick (r->diagnostic, &next_to);

        found = bounce_status_find (r->diagnostic);
        /* A code elsewhere in the text, of another class than the reply,
         * belongs to another reply ("554 ... >>> QUIT <<< 421 4.7.0"). */
        if (found != NULL && next_to == NULL && code != 0 &&
            found[0] - '0' != code / 100)
            g_clear_pointer (&found, g_free);
        if (r->smtp_code == 0)
            r->smtp_code = code;
    }

    if (r->status != NULL && parse_status_at (r->status, ds, &len)) {
        r->status_source = BOUNCE_STATUS_SOURCE_DSN;
        if (!notice && next_to != NULL && parse_status_at (next_to, ns, &len) &&
            specificity (ns) > 0 && strcmp (next_to, r->status) != 0) {
            /* The remote server's own code, next to its reply, over the
             * Status field (docs/output-format.md). */
            g_free (r->status);
            r->status = g_steal_pointer (&next_to);
            r->status_source = BOUNCE_STATUS_SOURCE_DIAGNOSTIC;
        } else if (found != NULL && parse_status_at (found, fs, &len) &&
                   fs[0] == ds[0] && specificity (fs) > specificity (ds) &&
                   (specificity (ds) == 0 || fs[1] == ds[1])) {
            /* A code elsewhere in the text refines a vaguer field of the
             * same class (Status 5.0.0, "... 5.1.1 ..."). */
            g_free (r->status);
            r->status = g_steal_pointer (&found);
            r->status_source = BOUNCE_STATUS_SOURCE_DIAGNOSTIC;
        }
    } else {
        g_clear_pointer (&r->status, g_free);
        r->status_source = BOUNCE_STATUS_SOURCE_NONE;
        if (next_to != NULL || found != NULL) {
            r->status = next_to != NULL ? g_steal_pointer (&next_to)
                                        : g_steal_pointer (&found);
            r->status_source = BOUNCE_STATUS_SOURCE_DIAGNOSTIC;
        }
    }

    if (r->status != NULL)
        r->permanent = r->status[0] == '5';
    else if (r->smtp_code != 0)
        r->permanent = r->smtp_code >= 500;
}

void
bounce_recipient_resolve_codes (BounceRecipient *r)
{
    _bounce_recipient_resolve (r, FALSE);
}

/* The commands, as written after "in reply to", "after", ">>>" or
 * qmail-remote-fallback.patch's "most progress was RCPT TO response", and
 * the name given back. */
static const struct {
    const char *word;
    const char *name;
} smtp_commands[] = {
    { "end of data", "DATA" },
    { "data", "DATA" },
    { "bdat", "DATA" },
    { "rcpt", "RCPT" },
    { "mail", "MAIL" },
    { "ehlo", "HELO" },
    { "helo", "HELO" },
    { "starttls", "HELO" },
    { "initial connection", "CONNECT" },
    { "connect", "CONNECT" },
};

/* Whole phrases that name the refused command: qmail's "does not like
 * recipient", Yahoo's "[RCPT_TO]" tag, a V5 sendmail transcript line
 * "RCPT To: <<< 550 ...", the command with its argument, Postfix's
 * "Recipient address rejected". */
static const struct {
    const char *word;
    const char *name;
} smtp_command_phrases[] = {
    { "does not like recipient", "RCPT" },
    { "[rcpt_to]", "RCPT" },
    { "rcpt to: <<<", "RCPT" },
    /* The command itself, as a transcript writes it (Sendmail's ">>> RCPT
     * To:<a@b>", usersmtp.c) once the marks are gone. */
    { "rcpt to:<", "RCPT" },
    { "mail from:<", "MAIL" },
    /* Postfix smtpd: the reject of a recipient restriction */
    { "recipient address rejected", "RCPT" },
};

static const char *
command_at (const char *p)
{
    while (*p == ' ')
        p++;
    for (guint i = 0; i < G_N_ELEMENTS (smtp_commands); i++) {
        gsize n = strlen (smtp_commands[i].word);
        if (g_ascii_strncasecmp (p, smtp_commands[i].word, n) == 0 &&
            !g_ascii_isalpha (p[n]))
            return smtp_commands[i].name;
    }
    return NULL;
}

const char *
bounce_smtp_command_find (const char *text)
{
    static const char *const leads[] = {
        "in reply to ", "after ", ">>> ", "smtp command ", "smtp command: ",
        /* qmail-remote-fallback.patch: "Sorry, no SMTP connection got far
         * enough; most progress was RCPT TO response" */
        "most progress was ",
    };
    const char *found = NULL;

    if (text == NULL)
        return NULL;
    /* The last one wins: a transcript ends with the command that failed. */
    for (const char *p = text; *p != '\0'; p++) {
        /* The first letter before the whole comparison (the same result,
         * without a call at each byte for each phrase). */
        char c = g_ascii_tolower (*p);

        for (guint i = 0; i < G_N_ELEMENTS (smtp_command_phrases); i++) {
            const char *word = smtp_command_phrases[i].word;
            if (c == word[0] && g_ascii_strncasecmp (p, word, strlen (word)) == 0)
                found = smtp_command_phrases[i].name;
        }
        for (guint i = 0; i < G_N_ELEMENTS (leads); i++) {
            gsize n = strlen (leads[i]);
            if (c == leads[i][0] && g_ascii_strncasecmp (p, leads[i], n) == 0) {
                const char *cmd = command_at (p + n);
                if (cmd != NULL)
                    found = cmd;
            }
        }
    }
    return found;
}
