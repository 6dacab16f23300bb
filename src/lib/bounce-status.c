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

/* Is @p the start of a reply code: three digits 2xx-5xx standing alone
 * and followed by a space, a hyphen or the end? */
static int
reply_code_at (const char *text, const char *p)
{
    if (p > text && (g_ascii_isalnum (p[-1]) || p[-1] == '.' ||
                     p[-1] == '-' || p[-1] == ':' || p[-1] == '/' ||
                     p[-1] == '+' || p[-1] == '#'))
        return 0;
    if (p[0] < '2' || p[0] > '5' || !g_ascii_isdigit (p[1]) ||
        !g_ascii_isdigit (p[2]))
        return 0;
    if (p[1] > '5')
        return 0;
    if (p[3] != '\0' && p[3] != ' ' && p[3] != '-' && p[3] != '\t' &&
        p[3] != '\n')
        return 0;
    if (p[3] == '-' && !g_ascii_isdigit (p[4]) && !g_ascii_isalpha (p[4]) &&
        p[4] != ' ')
        return 0;
    return (p[0] - '0') * 100 + (p[1] - '0') * 10 + (p[2] - '0');
}

int
bounce_reply_code_find (const char *text)
{
    if (text == NULL)
        return 0;
    for (const char *p = text; *p != '\0'; p++) {
        int code = reply_code_at (text, p);
        if (code != 0)
            return code;
    }
    return 0;
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
        code = reply_code_at (text, p);
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
     * stands after white space. */
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
            if (g_ascii_isspace (*p) && reply_code_at (text, p + 1) == code &&
                (p[4] == '-' || p[4] == ' ')) {
                const char *q = p + 5;
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

void
bounce_recipient_resolve_codes (BounceRecipient *r)
{
    g_autofree char *found = NULL;
    guint fs[3], ds[3];
    gsize len;

    g_return_if_fail (r != NULL);

    if (r->diagnostic != NULL) {
        found = bounce_status_find (r->diagnostic);
        if (r->smtp_code == 0)
            r->smtp_code = bounce_reply_code_find (r->diagnostic);
    }

    if (r->status != NULL && parse_status_at (r->status, ds, &len)) {
        r->status_source = BOUNCE_STATUS_SOURCE_DSN;
        if (found != NULL && parse_status_at (found, fs, &len) &&
            fs[0] == ds[0] && specificity (fs) > specificity (ds) &&
            (specificity (ds) == 0 || fs[1] == ds[1])) {
            g_free (r->status);
            r->status = g_steal_pointer (&found);
            r->status_source = BOUNCE_STATUS_SOURCE_DIAGNOSTIC;
        }
    } else {
        g_clear_pointer (&r->status, g_free);
        r->status_source = BOUNCE_STATUS_SOURCE_NONE;
        if (found != NULL) {
            r->status = g_steal_pointer (&found);
            r->status_source = BOUNCE_STATUS_SOURCE_DIAGNOSTIC;
        }
    }

    if (r->status != NULL)
        r->permanent = r->status[0] == '5';
    else if (r->smtp_code != 0)
        r->permanent = r->smtp_code >= 500;
}

/* The commands, as written after "in reply to", "after" or ">>>", and
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
 * "RCPT To: <<< 550 ...", Postfix's "Recipient address rejected". */
static const struct {
    const char *word;
    const char *name;
} smtp_command_phrases[] = {
    { "does not like recipient", "RCPT" },
    { "[rcpt_to]", "RCPT" },
    { "rcpt to: <<<", "RCPT" },
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
    };
    const char *found = NULL;

    if (text == NULL)
        return NULL;
    /* The last one wins: a transcript ends with the command that failed. */
    for (const char *p = text; *p != '\0'; p++) {
        /* a transcript line "RCPT TO:<address> <<< 550 ...": the command
         * sent, then the reply to it */
        if (g_ascii_strncasecmp (p, "rcpt to:<", 9) == 0) {
            const char *end = strchr (p + 9, '>');
            if (end != NULL && end - p < 512) {
                end++;
                while (*end == ' ')
                    end++;
                if (strncmp (end, "<<<", 3) == 0)
                    found = "RCPT";
            }
        }
        for (guint i = 0; i < G_N_ELEMENTS (smtp_command_phrases); i++) {
            gsize n = strlen (smtp_command_phrases[i].word);
            if (g_ascii_strncasecmp (p, smtp_command_phrases[i].word, n) == 0)
                found = smtp_command_phrases[i].name;
        }
        for (guint i = 0; i < G_N_ELEMENTS (leads); i++) {
            gsize n = strlen (leads[i]);
            if (g_ascii_strncasecmp (p, leads[i], n) == 0) {
                const char *cmd = command_at (p + n);
                if (cmd != NULL)
                    found = cmd;
            }
        }
    }
    return found;
}
