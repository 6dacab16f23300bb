/*
 * bounce-dsn.c - RFC 3464 / RFC 6533 delivery-status field blocks.
 *
 * Reads the body of a message/delivery-status (or global-delivery-status)
 * part: folded lines, "type; value" fields, comments, the per-message
 * group and one group per recipient.  Real reports are often sloppy (no
 * blank line between recipients, fields out of order), so a new
 * recipient also starts when a field repeats within a group.
 * It does not classify: reasons come from bounce-rules.c.
 */
#include <string.h>

#include "bounce-private.h"

typedef enum {
    FIELD_OTHER,
    FIELD_REPORTING_MTA,
    FIELD_QUEUE_ID,
    FIELD_ARRIVAL_DATE,
    FIELD_FINAL_RECIPIENT,
    FIELD_ORIGINAL_RECIPIENT,
    FIELD_ACTION,
    FIELD_STATUS,
    FIELD_REMOTE_MTA,
    FIELD_DIAGNOSTIC_CODE,
    FIELD_LAST_ATTEMPT,
} FieldId;

static const struct {
    const char *name;
    FieldId id;
} fields[] = {
    { "reporting-mta", FIELD_REPORTING_MTA },
    /* Postfix's per-message field: the queue id of the original message
     * (src/bounce/bounce_notify_util.c, bounce_header_dsn). */
    { "x-postfix-queue-id", FIELD_QUEUE_ID },
    { "arrival-date", FIELD_ARRIVAL_DATE },
    { "final-recipient", FIELD_FINAL_RECIPIENT },
    { "original-recipient", FIELD_ORIGINAL_RECIPIENT },
    { "action", FIELD_ACTION },
    { "status", FIELD_STATUS },
    { "remote-mta", FIELD_REMOTE_MTA },
    { "diagnostic-code", FIELD_DIAGNOSTIC_CODE },
    { "last-attempt-date", FIELD_LAST_ATTEMPT },
};

static FieldId
field_lookup (const char *name, gsize len)
{
    for (guint i = 0; i < G_N_ELEMENTS (fields); i++)
        if (strlen (fields[i].name) == len &&
            g_ascii_strncasecmp (fields[i].name, name, len) == 0)
            return fields[i].id;
    return FIELD_OTHER;
}

/* Splits "type; value" and returns the value (transfer full); the type,
 * lower-cased, goes to @out_type when asked for. */
static char *
split_typed (const char *value, char **out_type)
{
    const char *semi = strchr (value, ';');
    gboolean token = semi != NULL && semi > value;

    /* The type is one token (rfc822, utf-8, dns, smtp, x-postfix...). */
    for (const char *p = value; token && p < semi; p++)
        if (!g_ascii_isalnum (*p) && *p != '-' && *p != '_' && *p != '.' &&
            *p != ' ')
            token = FALSE;
    if (!token) {
        if (out_type != NULL)
            *out_type = NULL;
        return g_strstrip (g_strdup (value));
    }
    if (out_type != NULL) {
        g_autofree char *type = g_strndup (value, (gsize) (semi - value));
        *out_type = g_ascii_strdown (g_strstrip (type), -1);
    }
    return g_strstrip (g_strdup (semi + 1));
}

/* RFC 6533 utf-8 address type: "\x{HHHH}" stands for one character. */
static char *
decode_utf8_addr (const char *text)
{
    GString *out = g_string_new (NULL);

    for (const char *p = text; *p != '\0'; p++) {
        if (p[0] == '\\' && p[1] == 'x' && p[2] == '{') {
            char *end = NULL;
            guint64 cp = g_ascii_strtoull (p + 3, &end, 16);
            if (end != NULL && *end == '}' && cp > 0 && cp <= 0x10FFFF &&
                g_unichar_validate ((gunichar) cp)) {
                g_string_append_unichar (out, (gunichar) cp);
                p = end;
                continue;
            }
        }
        g_string_append_c (out, *p);
    }
    return g_string_free (out, FALSE);
}

static char *
recipient_address (const char *value, gboolean utf8_addresses)
{
    g_autofree char *type = NULL;
    g_autofree char *addr = split_typed (value, &type);

    if (type != NULL && strcmp (type, "utf-8") == 0) {
        g_autofree char *decoded = decode_utf8_addr (addr);
        return _bounce_address_clean (decoded);
    }
    return _bounce_address_clean (addr);
}

/* "failed (permanent)" -> "failed"; a few common misspellings too. */
static char *
action_normalize (const char *value)
{
    g_autofree char *word = g_strstrip (g_strdup (value));
    gsize n = strcspn (word, " \t(;");

    word[n] = '\0';
    if (g_ascii_strcasecmp (word, "failure") == 0 ||
        g_ascii_strcasecmp (word, "fail") == 0)
        return g_strdup ("failed");
    if (g_ascii_strcasecmp (word, "delay") == 0)
        return g_strdup ("delayed");
    if (g_ascii_strcasecmp (word, "deliverable") == 0)
        return g_strdup ("delivered");
    if (word[0] == '\0')
        return NULL;
    return g_ascii_strdown (word, -1);
}

typedef struct {
    BounceReport *report;
    BounceRecipient *current;
    gboolean utf8_addresses;
    guint added;
    /* Which fields the current recipient has seen. */
    guint seen;
} DsnState;

static void
finish_recipient (DsnState *st)
{
    BounceRecipient *r = st->current;

    st->current = NULL;
    st->seen = 0;
    if (r == NULL)
        return;
    if (r->address == NULL && r->original_recipient != NULL)
        r->address = g_strdup (r->original_recipient);
    if (r->address == NULL && r->status == NULL && r->action == NULL &&
        r->diagnostic == NULL) {
        bounce_recipient_free (r);
        return;
    }
    bounce_recipient_resolve_codes (r);
    _bounce_report_take_recipient (st->report, r);
    st->added++;
}

static BounceRecipient *
recipient_for (DsnState *st, FieldId id)
{
    guint bit = 1u << id;

    /* A repeated field, or an Original-Recipient after a Final-Recipient,
     * opens the next recipient even without a blank line. */
    if (st->current != NULL &&
        ((st->seen & bit) != 0 ||
         (id == FIELD_ORIGINAL_RECIPIENT &&
          (st->seen & (1u << FIELD_FINAL_RECIPIENT)) != 0 &&
          (st->seen & (1u << FIELD_STATUS)) != 0)))
        finish_recipient (st);
    if (st->current == NULL)
        st->current = bounce_recipient_new ();
    st->seen |= bit;
    return st->current;
}

static void
handle_field (DsnState *st, FieldId id, const char *value)
{
    BounceReport *report = st->report;
    BounceRecipient *r;

    switch (id) {
    case FIELD_REPORTING_MTA:
        if (report->reporting_mta == NULL)
            report->reporting_mta = split_typed (value, NULL);
        return;
    case FIELD_QUEUE_ID:
        if (report->queue_id == NULL)
            report->queue_id = g_strstrip (g_strdup (value));
        return;
    case FIELD_ARRIVAL_DATE:
        if (report->arrival_date == NULL)
            report->arrival_date = _bounce_date_to_iso8601 (value);
        return;
    case FIELD_OTHER:
        return;
    default:
        break;
    }

    r = recipient_for (st, id);
    switch (id) {
    case FIELD_FINAL_RECIPIENT:
        r->address = recipient_address (value, st->utf8_addresses);
        break;
    case FIELD_ORIGINAL_RECIPIENT:
        r->original_recipient = recipient_address (value, st->utf8_addresses);
        break;
    case FIELD_ACTION:
        r->action = action_normalize (value);
        break;
    case FIELD_STATUS:
        r->status = bounce_status_normalize (value);
        if (r->status == NULL && value[0] != '\0')
            bounce_report_add_warning (report, "unreadable Status field: %.60s",
                                       value);
        break;
    case FIELD_REMOTE_MTA:
        r->remote_mta = split_typed (value, NULL);
        break;
    case FIELD_DIAGNOSTIC_CODE: {
        g_autofree char *text = split_typed (value, &r->diagnostic_type);
        /* "Diagnostic-Code: SMTP; " (Sendmail, when the reply is only in
         * its transcript) gives nothing: null, never "". */
        if (text[0] != '\0') {
            g_free (r->diagnostic);
            r->diagnostic = bounce_diagnostic_unfold (text);
        }
        break;
    }
    case FIELD_LAST_ATTEMPT:
        r->last_attempt = _bounce_date_to_iso8601 (value);
        break;
    default:
        break;
    }
}

/* Handles one unfolded "Name: value" line. */
static void
handle_line (DsnState *st, const char *line)
{
    const char *colon = strchr (line, ':');
    g_autofree char *value = NULL;
    gsize name_len;

    if (colon == NULL || colon == line)
        return;
    name_len = (gsize) (colon - line);
    for (gsize i = 0; i < name_len; i++)
        if (!g_ascii_isalnum (line[i]) && line[i] != '-' && line[i] != '_')
            return;
    value = g_strstrip (g_strdup (colon + 1));
    if (strlen (value) > BOUNCE_MAX_FIELD_BYTES) {
        bounce_report_add_warning (st->report, "DSN field %.*s cut at %u bytes",
                                   (int) MIN (name_len, 40), line,
                                   BOUNCE_MAX_FIELD_BYTES);
        value[BOUNCE_MAX_FIELD_BYTES] = '\0';
        /* Do not leave half a UTF-8 sequence behind. */
        {
            char *fixed = g_utf8_make_valid (value, -1);
            g_free (value);
            value = fixed;
        }
    }
    handle_field (st, field_lookup (line, name_len), value);
}

guint
_bounce_dsn_parse (const char *body, gboolean utf8_addresses,
                   BounceReport *report)
{
    DsnState st = { report, NULL, utf8_addresses, 0, 0 };
    GString *logical = g_string_new (NULL);
    const char *p = body;

    while (*p != '\0') {
        const char *eol = strchr (p, '\n');
        gsize len = eol != NULL ? (gsize) (eol - p) : strlen (p);

        if (len > 0 && (p[0] == ' ' || p[0] == '\t') && logical->len > 0) {
            /* A folded line continues the field before it. */
            if (logical->len < BOUNCE_MAX_FIELD_BYTES * 2) {
                g_string_append_c (logical, ' ');
                g_string_append_len (logical, p, (gssize) len);
            }
        } else {
            if (logical->len > 0)
                handle_line (&st, logical->str);
            g_string_truncate (logical, 0);
            if (len == 0 || strspn (p, " \t") == len) {
                /* A blank line closes the group. */
                finish_recipient (&st);
            } else {
                g_string_append_len (logical, p, (gssize) MIN (len, BOUNCE_MAX_FIELD_BYTES * 2));
            }
        }
        if (eol == NULL)
            break;
        p = eol + 1;
    }
    if (logical->len > 0)
        handle_line (&st, logical->str);
    finish_recipient (&st);
    g_string_free (logical, TRUE);
    return st.added;
}

/* Is @p (inside @text) the start of @addr standing alone? */
static gboolean
address_at (const char *text, const char *p, gsize alen)
{
    char before = p > text ? p[-1] : ' ';
    char after = p[alen];

    if (g_ascii_isalnum (before) || before == '.' || before == '-' ||
        before == '_' || before == '+' || before == '=')
        return FALSE;
    return !(g_ascii_isalnum (after) || after == '-' || after == '_' ||
             (after == '.' && g_ascii_isalnum (p[alen + 1])));
}

/* The reply that starts the line before @p in @body, as Sendmail writes
 * a recipient's status ("550 5.1.1 <a@b>... User unknown", deliver.c) or
 * a transcript line ("<<< 550 5.1.1 <a@b>... unknown"): the length of
 * that part of the line from the reply code (past the "<<< "), or 0. */
static gsize
reply_before (const char *body, const char *p)
{
    const char *line = p;
    const char *q;
    g_autofree char *part = NULL;

    while (line > body && line[-1] != '\n')
        line--;
    q = line;
    while (*q == ' ' || *q == '\t')
        q++;
    if (strncmp (q, "<<<", 3) == 0)
        q += 3;
    while (*q == ' ')
        q++;
    if (q >= p || !g_ascii_isdigit (*q))
        return 0;
    part = g_strndup (q, (gsize) (p - q));
    if (_bounce_reply_pick (part, NULL) < 400 ||
        (guint64) _bounce_reply_pick (part, NULL) != g_ascii_strtoull (q, NULL, 10))
        return 0;
    return (gsize) (p - q);
}

/* The text that follows @addr in @body (its first mention at or after
 * @from): the rest of its line and the lines after it up to a blank line
 * (at most a few), or NULL; with @reply_first, led by the reply written
 * before the address on its line (reply_before()).  *@next (when not
 * NULL) is set past that mention, to look for the next one. */
static char *
text_after_address (const char *body, const char *from, const char *addr,
                    gboolean reply_first, const char **next)
{
    gsize alen = strlen (addr);
    const char *p = from;

    if (alen < 3)
        return NULL;
    while ((p = strchr (p, addr[0])) != NULL) {
        if (g_ascii_strncasecmp (p, addr, alen) == 0 && address_at (body, p, alen)) {
            GString *out = g_string_new (NULL);
            const char *q = p + alen;
            gsize before = reply_first ? reply_before (body, p) : 0;

            if (next != NULL)
                *next = q;
            const char *eol = strchr (q, '\n');
            gsize len = eol != NULL ? (gsize) (eol - q) : strlen (q);
            /* Is anything but punctuation left on the address's line? */
            gboolean alone = strspn (q, " \t:>.,;") >= len;
            guint lines = 0;

            /* The line from its reply on, as written. */
            if (before > 0)
                g_string_append_len (out, p - before, (gssize) (before + alen));
            g_string_append_len (out, q, (gssize) len);
            /* More lines belong to it when they are indented, or, for an
             * address alone on its line, up to a blank line.  A line that
             * names another address starts another recipient. */
            while (eol != NULL && lines < 3 && out->len < 1024) {
                q = eol + 1;
                eol = strchr (q, '\n');
                len = eol != NULL ? (gsize) (eol - q) : strlen (q);
                if (strspn (q, " \t") >= len)
                    break;
                if (!(q[0] == ' ' || q[0] == '\t') &&
                    (!alone || memchr (q, '@', len) != NULL))
                    break;
                g_string_append_c (out, ' ');
                g_string_append_len (out, q, (gssize) len);
                lines++;
            }
            return g_string_free (out, FALSE);
        }
        p++;
    }
    return NULL;
}

/* Does @text start with a header field of the returned message, as a
 * notice quotes them ("Subject: hello", "Date: ...")?  Then it is no
 * error text. */
static gboolean
quoted_header_field (const char *text)
{
    static const char *const quoted[] = {
        "subject:", "date:", "message-id:", "from:", "to:", "cc:", "sent:",
    };

    for (guint i = 0; i < G_N_ELEMENTS (quoted); i++)
        if (g_ascii_strncasecmp (text, quoted[i], strlen (quoted[i])) == 0)
            return TRUE;
    return FALSE;
}

/* Squeezes @text and drops the punctuation that led up to it. */
static void
strip_lead (char *text)
{
    _bounce_text_squeeze (text);
    while (text[0] == ':' || text[0] == '>' || text[0] == ' ' ||
           text[0] == '.' || text[0] == ',')
        memmove (text, text + 1, strlen (text));
}

/* The first refusal (a 4xx/5xx reply code) the notice @body gives for
 * @addr: on a line that names it, or on the lines that belong to that
 * line (Sendmail's "(reason: 550 ...)", "550 5.1.1 <a@b>... User
 * unknown", "<a@b>... Deferred: 421 ..."); 0 when none does. */
static int
notice_code_for (const char *body, const char *addr)
{
    const char *next = body;

    for (guint tries = 0; next != NULL && tries < 8; tries++) {
        g_autofree char *text = text_after_address (body, next, addr, TRUE, &next);
        int code;

        if (text == NULL)
            break;
        code = _bounce_reply_pick (text, NULL);
        if (code >= 400)
            return code;
    }
    return 0;
}

/* When the Diagnostic-Code's reply is an x.4.7 expiry verdict (Exchange's
 * "550 4.4.7 QUEUE.Expired; message expired"), the reply that caused it,
 * where the notice gives it for @r ("... returned '441 4.4.1 Error
 * encountered while communicating with primary target'"), is the
 * server's: its code and status replace the verdict's. */
static void
past_expiry (BounceRecipient *r, const char *body)
{
    g_autofree char *verdict = NULL;
    const char *next = body;

    if (r->diagnostic == NULL || _bounce_reply_pick (r->diagnostic, &verdict) == 0 ||
        verdict == NULL || !g_str_has_suffix (verdict, ".4.7"))
        return;
    for (guint tries = 0; next != NULL && tries < 8; tries++) {
        g_autofree char *text = text_after_address (body, next, r->address, TRUE, &next);
        g_autofree char *status = NULL;
        int code;

        if (text == NULL)
            break;
        code = _bounce_reply_pick (text, &status);
        if (code >= 400 && status != NULL && !g_str_has_suffix (status, ".4.7")) {
            g_free (r->status);
            r->status = g_steal_pointer (&status);
            r->status_source = BOUNCE_STATUS_SOURCE_DIAGNOSTIC;
            r->smtp_code = code;
            r->permanent = r->status[0] == '5';
            return;
        }
    }
}

/* Sendmail's transcript (savemail.c: "----- Transcript of session
 * follows -----"), from its first line on; NULL when there is none. */
static const char *
transcript_of (const char *body)
{
    const char *p = strstr (body, "Transcript of session follows");

    if (p == NULL)
        return NULL;
    p = strchr (p, '\n');
    return p != NULL ? p + 1 : NULL;
}

/* The first refusal in a transcript: a line that starts with a reply
 * code, alone or after Sendmail's "<<< " mark (the server's lines, and
 * Sendmail's own "554 5.0.0 Service unavailable"). */
static int
transcript_code (const char *transcript)
{
    for (const char *line = transcript; line != NULL && *line != '\0';) {
        const char *eol = strchr (line, '\n');
        const char *q = line;
        g_autofree char *text = NULL;
        int code;

        while (*q == ' ' || *q == '\t')
            q++;
        if (strncmp (q, "<<<", 3) == 0)
            q += 3;
        while (*q == ' ')
            q++;
        text = g_strndup (q, eol != NULL ? (gsize) (eol - q) : strlen (q));
        code = _bounce_reply_pick (text, NULL);
        if (code >= 400 && (guint64) code == g_ascii_strtoull (text, NULL, 10))
            return code;
        line = eol != NULL ? eol + 1 : NULL;
    }
    return 0;
}

/* Is the reply on a transcript line (@line, @len bytes past "<<< ") the
 * one @diagnostic holds: the reply code @diagnostic gives, and the first
 * words after the code and a status ("550-5.1.1 The email ..." on the
 * line, "550 5.1.1 The email ..." unfolded, or inside a decoder's text
 * "(reason: 550 5.1.1 The email ...)") found in @diagnostic? */
static gboolean
same_reply (const char *line, gsize len, const char *diagnostic, int code)
{
    const char *a = line + 4;
    g_autofree char *words = NULL;
    g_autofree char *lower = NULL;
    gsize n;

    if (len < 5 || (guint64) code != g_ascii_strtoull (line, NULL, 10))
        return FALSE;
    len -= 4;
    {
        g_autofree char *status = bounce_status_normalize (a);

        if (status != NULL)
            while (len > 0 && *a != ' ') {
                a++;
                len--;
            }
    }
    while (len > 0 && *a == ' ') {
        a++;
        len--;
    }
    n = MIN (len, 24);
    if (n < 4)
        return FALSE;
    words = g_ascii_strdown (a, (gssize) n);
    lower = g_ascii_strdown (diagnostic, -1);
    return strstr (lower, words) != NULL;
}

/* The command that @diagnostic answered, from Sendmail's transcript in
 * @body: it
 * writes each command it sends as ">>> CMD" and each line it reads as
 * "<<< NNN..." (usersmtp.c, smtpmessage() and reply()).  Replies come in
 * the order of the commands (RFC 2920 section 3.1), also when a
 * pipelined group ">>> MAIL", ">>> RCPT", ">>> DATA" is sent before the
 * first reply: each complete reply ("NNN " or a lone "NNN", not the
 * "NNN-" of a line that goes on) answers the oldest command not yet
 * answered.  NULL when @body has no transcript or it does not hold the
 * reply. */
const char *
_bounce_transcript_command (const char *body, const char *diagnostic)
{
    g_autoptr (GPtrArray) pending = g_ptr_array_new ();
    const char *transcript = body != NULL ? transcript_of (body) : NULL;
    int code = diagnostic != NULL ? bounce_reply_code_find (diagnostic) : 0;

    if (transcript == NULL || code == 0)
        return NULL;
    for (const char *line = transcript; line != NULL && *line != '\0';) {
        const char *eol = strchr (line, '\n');
        const char *q = line;
        gsize len;

        while (*q == ' ' || *q == '\t')
            q++;
        len = eol != NULL ? (gsize) (eol - q) : strlen (q);
        while (len > 0 && (q[len - 1] == '\r' || q[len - 1] == ' '))
            len--;
        if (len > 4 && strncmp (q, ">>> ", 4) == 0) {
            g_autofree char *cmd = g_strndup (q, len);
            /* ">>> ." ends the message text: its reply answers DATA. */
            const char *name = strcmp (cmd, ">>> .") == 0
                                   ? "DATA"
                                   : bounce_smtp_command_find (cmd);

            g_ptr_array_add (pending, (gpointer) (name != NULL ? name : ""));
        } else if (len > 6 && strncmp (q, "<<< ", 4) == 0 &&
                   g_ascii_isdigit (q[4])) {
            const char *reply = q + 4;
            gboolean last = len == 7 || reply[3] == ' ';

            if (pending->len > 0 && same_reply (reply, len - 4, diagnostic, code)) {
                const char *name = pending->pdata[0];
                return name[0] != '\0' ? name : NULL;
            }
            if (last && pending->len > 0)
                g_ptr_array_remove_index (pending, 0);
        }
        line = eol != NULL ? eol + 1 : NULL;
    }
    return NULL;
}

/* Sendmail keeps only the first line of a multi-line reply for the
 * Diagnostic-Code (usersmtp.c, reply(): "first line of real reply --
 * ignore rest"), but its transcript has every line after "<<< " (as has
 * Courier's, indented).  The
 * whole reply, unfolded, when a run of "<<< 550-..." / "<<< 550 ..."
 * lines in @body starts with @diagnostic; NULL otherwise. */
static char *
whole_reply (const char *body, const char *diagnostic, int code)
{
    char mark[16];
    const char *p = body;

    if (code < 200 || code > 599)
        return NULL;
    g_snprintf (mark, sizeof mark, "<<< %d-", code);
    while ((p = strstr (p, mark)) != NULL) {
        GString *run = g_string_new (NULL);
        const char *line = p;
        g_autofree char *unfolded = NULL;

        /* The run: this line and the next ones of the same reply. */
        for (guint n = 0; line != NULL && n < 32; n++) {
            const char *eol = strchr (line, '\n');
            gsize len;
            gboolean last;

            /* Courier indents its transcript (" <<< 550-..."). */
            while (*line == ' ' || *line == '\t')
                line++;
            len = eol != NULL ? (gsize) (eol - line) : strlen (line);
            if (len < 8 || strncmp (line, mark, 7) != 0 ||
                (line[7] != '-' && line[7] != ' '))
                break;
            last = line[7] == ' ';
            if (run->len > 0)
                g_string_append_c (run, '\n');
            g_string_append_len (run, line + 4, (gssize) (len - 4));
            line = eol != NULL ? eol + 1 : NULL;
            if (last)
                break;
        }
        unfolded = bounce_diagnostic_unfold (run->str);
        g_string_free (run, TRUE);
        if (g_str_has_prefix (unfolded, diagnostic) &&
            strlen (unfolded) > strlen (diagnostic))
            return g_steal_pointer (&unfolded);
        p += strlen (mark);
    }
    return NULL;
}

void
_bounce_dsn_enrich (BounceReport *report, const char *body)
{
    if (body == NULL)
        return;
    for (guint i = 0; i < report->recipients->len; i++) {
        BounceRecipient *r = report->recipients->pdata[i];
        g_autofree char *text = NULL;
        g_autofree char *status = NULL;
        const char *next = NULL;
        int code;

        if (r->diagnostic != NULL && r->smtp_code != 0) {
            g_autofree char *whole = whole_reply (body, r->diagnostic, r->smtp_code);
            if (whole != NULL) {
                g_free (r->diagnostic);
                r->diagnostic = g_steal_pointer (&whole);
                /* Its later lines may hold the server's own status. */
                if (r->status_source != BOUNCE_STATUS_SOURCE_DIAGNOSTIC)
                    _bounce_recipient_resolve (r, FALSE);
            }
        }
        if (r->address == NULL)
            continue;
        past_expiry (r, body);
        text = text_after_address (body, body, r->address, FALSE, &next);
        if (r->smtp_command == NULL) {
            const char *cmd = bounce_smtp_command_find (r->diagnostic);
            /* The command its reply answers in Sendmail's transcript;
             * not the last command of the text: with PIPELINING, the
             * replies to RCPT come after ">>> DATA". */
            if (cmd == NULL)
                cmd = _bounce_transcript_command (body, r->diagnostic);
            if (cmd == NULL)
                cmd = bounce_smtp_command_find (text);
            r->smtp_command = g_strdup (cmd);
        }
        if (r->diagnostic != NULL && text != NULL) {
            /* Words but no reply, or a mailer's exit status ("X-Unix;
             * 77"): the reply code the notice gives for the recipient. */
            if (r->smtp_code == 0)
                r->smtp_code = notice_code_for (body, r->address);
            continue;
        }
        if (r->diagnostic != NULL || text == NULL)
            goto transcript;
        strip_lead (text);
        /* An address alone in a list ("The following addresses had
         * permanent fatal errors") says nothing: a later mention may, as
         * sendmail's transcript line "<a@b>... Deferred: ...".  Nor does
         * the notice's quote of the returned message's header fields
         * (Oracle Messaging Server: "This report relates to a message you
         * sent with the following header fields: ... To: a@b / Subject:
         * ..."), whose address is followed by the next field. */
        for (guint tries = 0;
             (strlen (text) < 12 || quoted_header_field (text)) && next != NULL && tries < 4;
             tries++) {
            /* A transcript line or Sendmail's status line that names
             * the address holds the reply from its code on ("<<< 550
             * 5.1.1 <a@b>... User unknown", after an empty
             * "Diagnostic-Code: smtp;"). */
            g_autofree char *later =
                text_after_address (body, next, r->address, TRUE, &next);
            if (later == NULL)
                break;
            strip_lead (later);
            if (strlen (later) >= 12 && !quoted_header_field (later)) {
                g_free (text);
                text = g_steal_pointer (&later);
            }
        }
        status = bounce_status_find (text);
        code = bounce_reply_code_find (text);
        /* A text with a code is a diagnostic; so is a sentence about the
         * address when the report gives nothing else (Gmail's "Your
         * message wasn't delivered to a@b because the address couldn't
         * be found"). */
        if ((status == NULL && code == 0 && strlen (text) < 12) ||
            quoted_header_field (text))
            goto transcript;
        r->diagnostic = bounce_diagnostic_unfold (text);
        _bounce_recipient_resolve (r, TRUE);
        if (r->smtp_code == 0)
            r->smtp_code = notice_code_for (body, r->address);
    transcript:
        if (r->smtp_command == NULL && r->diagnostic != NULL)
            r->smtp_command = g_strdup (
                _bounce_transcript_command (body, r->diagnostic));
        /* The only recipient, not named in the notice (an alias, a
         * program): the first refusal of the transcript. */
        if (r->smtp_code == 0 && report->recipients->len == 1 &&
            !(r->diagnostic != NULL && !_bounce_recipient_exit_status (r) &&
              bounce_reply_code_find (r->diagnostic) != 0)) {
            const char *transcript = transcript_of (body);
            if (transcript != NULL)
                r->smtp_code = transcript_code (transcript);
        }
        if (r->smtp_code != 0 && r->status == NULL)
            r->permanent = r->smtp_code >= 500;
    }
}
