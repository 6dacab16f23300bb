/*
 * bounce-decode-text.c - plain-text bounce formats (qmail, Exim,
 * Sendmail, Exchange, Gmail, ...) driven by data/decoders.conf.
 *
 * The data names each format (by sender, subject, header or body
 * phrases) and where its error block starts and ends; this code cuts
 * the block out of the first text part, finds the lines that name a
 * failed recipient and gives each recipient the text that follows it
 * (up to the next recipient) as its diagnostic.  Repeated mentions of
 * one address are merged.  When the block names nobody, the
 * X-Failed-Recipients header names them; DSN fields pasted into the
 * text (Amazon WorkMail) are read first.  The patterns come from
 * bounce-decode-data.c.  It never classifies reasons.
 */
#include <string.h>

#include "bounce-decode-private.h"

/* How much of @text a regular expression sees: BOUNCE_MAX_MATCH_BYTES
 * at most, cut on a character boundary. */
static gsize
match_length (const char *text)
{
    gsize len = strlen (text);

    if (len > BOUNCE_MAX_MATCH_BYTES) {
        const char *end = g_utf8_find_prev_char (text, text + BOUNCE_MAX_MATCH_BYTES + 1);
        len = end != NULL ? (gsize) (end - text) : 0;
    }
    return len;
}

static gboolean
re_match (const GRegex *re, const char *text)
{
    if (re == NULL || text == NULL)
        return FALSE;
    return g_regex_match_full (re, text, (gssize) match_length (text), 0, 0, NULL, NULL);
}

gboolean
_bounce_decode_bounce_like (BounceDecodeContext *ctx, BounceReport *report)
{
    const BounceDecoderData *d = ctx->data;

    if (_bounce_decode_header (ctx, "X-Failed-Recipients") != NULL)
        return TRUE;
    if (re_match (d->bounce_from, ctx->from_addr) ||
        re_match (d->bounce_from, ctx->from_text))
        return TRUE;
    return re_match (d->bounce_subject, report->subject);
}

/* The bounce's own header block as "Name: value" lines, without the
 * trace and signature fields. */
static char *
header_text (BounceDecodeContext *ctx)
{
    GMimeHeaderList *list = g_mime_object_get_header_list (GMIME_OBJECT (ctx->message));
    GString *s = g_string_new (NULL);
    int n = g_mime_header_list_get_count (list);

    for (int i = 0; i < n && s->len < BOUNCE_MAX_MATCH_BYTES; i++) {
        GMimeHeader *h = g_mime_header_list_get_header_at (list, i);
        const char *value = g_mime_header_get_value (h);
        const char *name = g_mime_header_get_name (h);

        /* Trace and signature fields are long and name no format. */
        if (g_ascii_strcasecmp (name, "Received") == 0 ||
            g_ascii_strncasecmp (name, "DKIM-", 5) == 0 ||
            g_ascii_strncasecmp (name, "ARC-", 4) == 0 ||
            g_ascii_strcasecmp (name, "Authentication-Results") == 0 ||
            g_ascii_strcasecmp (name, "X-Received") == 0 ||
            g_ascii_strcasecmp (name, "DomainKey-Signature") == 0)
            continue;
        g_string_append_printf (s, "%s: %s\n", name,
                                value != NULL ? value : "");
    }
    return g_string_free (s, FALSE);
}

/* The decoder that best fits: from counts 3, header and body 2, subject
 * 1; the first in file order wins a tie. */
static const BounceDecoder *
choose_decoder (BounceDecodeContext *ctx, const char *subject,
                gboolean *out_by_header)
{
    const BounceDecoderData *d = ctx->data;
    g_autofree char *headers = header_text (ctx);
    const BounceDecoder *best = NULL;
    int best_score = 0;
    gboolean best_by_header = FALSE;

    for (guint i = 0; i < d->decoders->len; i++) {
        const BounceDecoder *dec = d->decoders->pdata[i];
        int score = 0;
        gboolean by_header = FALSE;

        if (re_match (dec->from, ctx->from_addr) || re_match (dec->from, ctx->from_text)) {
            score += 3;
            by_header = TRUE;
        }
        if (re_match (dec->header, headers)) {
            score += 2;
            by_header = TRUE;
        }
        if (re_match (dec->body, ctx->body))
            score += 2;
        if (re_match (dec->subject, subject)) {
            score += 1;
            by_header = TRUE;
        }
        if (score > best_score) {
            best = dec;
            best_score = score;
            best_by_header = by_header;
        }
    }
    if (out_by_header != NULL)
        *out_by_header = best_by_header;
    return best;
}

typedef struct {
    char *address;
    GString *diag;
} Found;

static void
found_free (gpointer p)
{
    Found *f = p;
    g_free (f->address);
    g_string_free (f->diag, TRUE);
    g_free (f);
}

static gboolean
same_address (const char *a, const char *b)
{
    return a != NULL && b != NULL && g_ascii_strcasecmp (a, b) == 0;
}

/* Addresses that are never the failed recipient: the bounce's sender,
 * its addressee (the original sender) and the original From. */
static gboolean
excluded (BounceDecodeContext *ctx, BounceReport *report, const char *addr)
{
    InternetAddressList *to;

    if (same_address (addr, ctx->from_addr))
        return TRUE;
    if (report->orig_from != NULL) {
        g_autofree char *of = _bounce_address_clean (report->orig_from);
        if (same_address (addr, of))
            return TRUE;
    }
    to = g_mime_message_get_addresses (ctx->message, GMIME_ADDRESS_TYPE_TO);
    for (int i = 0; to != NULL && i < internet_address_list_length (to); i++) {
        InternetAddress *ia = internet_address_list_get_address (to, i);
        if (INTERNET_ADDRESS_IS_MAILBOX (ia) &&
            same_address (addr, internet_address_mailbox_get_addr (
                                    INTERNET_ADDRESS_MAILBOX (ia))))
            return TRUE;
    }
    return FALSE;
}

/* The recipient already found for @addr (case-insensitive), or NULL. */
static Found *
find_found (GHashTable *index, const char *addr)
{
    g_autofree char *key = g_ascii_strdown (addr, -1);

    return g_hash_table_lookup (index, key);
}

static void
add_found (GPtrArray *found, GHashTable *index, Found *f)
{
    g_ptr_array_add (found, f);
    g_hash_table_insert (index, g_ascii_strdown (f->address, -1), f);
}

/* Appends @text to the current line of @diag (punctuation trimmed). */
static void
append_line_same (GString *diag, const char *text)
{
    while (*text == ' ' || *text == '\t' || *text == ':' || *text == '>' ||
           *text == '.' || *text == ',')
        text++;
    if (*text != '\0' && diag->len < BOUNCE_MAX_FIELD_BYTES)
        g_string_append (diag, text);
    else if (*text == '\0' && diag->len > 0 && diag->str[diag->len - 1] == ' ')
        g_string_truncate (diag, diag->len - 1);
}

static void
append_line (GString *diag, const char *text)
{
    while (*text == ' ' || *text == '\t' || *text == ':' || *text == '>' ||
           *text == '.' || *text == ',')
        text++;
    if (*text == '\0')
        return;
    if (diag->len > 0)
        g_string_append_c (diag, '\n');
    if (diag->len < BOUNCE_MAX_FIELD_BYTES)
        g_string_append (diag, text);
}

/* Pasted DSN fields ("Final-Recipient: ...", "Status: ...") in the text:
 * parsed from the first field on (Amazon WorkMail, ...). */
static gboolean
embedded_dsn (const char *body, BounceReport *report)
{
    static GRegex *first, *final;
    static gsize once = 0;
    g_autoptr (GMatchInfo) mi = NULL;
    gint start = 0;

    if (body == NULL)
        return FALSE;
    if (g_once_init_enter (&once)) {
        first = g_regex_new ("^(?:Reporting-MTA|Final-Recipient|Original-Recipient):",
                             G_REGEX_CASELESS | G_REGEX_MULTILINE, 0, NULL);
        final = g_regex_new ("^Final-Recipient:\\s*\\S",
                             G_REGEX_CASELESS | G_REGEX_MULTILINE, 0, NULL);
        g_once_init_leave (&once, 1);
    }
    if (!re_match (final, body) || !g_regex_match (first, body, 0, &mi))
        return FALSE;
    g_match_info_fetch_pos (mi, 0, &start, NULL);
    return _bounce_dsn_parse (body + start, FALSE, report) > 0;
}

/* What the error block of the text says. */
typedef struct {
    GPtrArray *found;  /* Found*, in order of appearance */
    GHashTable *index; /* lower-case address -> Found* (borrowed) */
    GString *shared;   /* block text before any recipient */
    GString *block;    /* the whole block */
} Extract;

static void
extract_clear (Extract *x)
{
    g_ptr_array_unref (x->found);
    g_hash_table_unref (x->index);
    g_string_free (x->shared, TRUE);
    g_string_free (x->block, TRUE);
}

/* "----------", "==========": a line of one repeated punctuation mark. */
static gboolean
is_separator (const char *line)
{
    gsize n = strspn (line, " \t");
    char c = line[n];
    gsize run;

    if (c != '-' && c != '=' && c != '_' && c != '*' && c != '#')
        return FALSE;
    run = strspn (line + n, (char[]) { c, '\0' });
    return run >= 5 && line[n + run + strspn (line + n + run, " \t")] == '\0';
}

static void
extract (BounceDecodeContext *ctx, const BounceDecoder *dec, BounceReport *report,
         Extract *x)
{
    const BounceDecoderData *d = ctx->data;
    g_auto (GStrv) lines = NULL;
    Found *current = NULL;
    const char *previous = NULL;
    guint start = 0, end, n;

    x->found = g_ptr_array_new_with_free_func (found_free);
    x->index = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
    x->shared = g_string_new (NULL);
    x->block = g_string_new (NULL);
    lines = g_strsplit (ctx->body != NULL ? ctx->body : "", "\n", -1);
    n = g_strv_length (lines);
    if (dec != NULL && dec->start != NULL) {
        for (guint i = 0; i < n; i++)
            if (re_match (dec->start, lines[i])) {
                start = i;
                break;
            }
    }
    for (end = start + 1; end < n; end++) {
        if (re_match (d->end, lines[end]) ||
            (dec != NULL && re_match (dec->end, lines[end])))
            break;
        /* A pasted header block after a blank or separator line ends
         * it too. */
        if ((lines[end - 1][0] == '\0' || is_separator (lines[end - 1])) &&
            re_match (d->original_headers, lines[end]))
            break;
    }
    if (end > n)
        end = n;

    for (guint i = start; i < end; i++) {
        const char *line = lines[i];
        g_autoptr (GMatchInfo) mi = NULL;

        if (line[0] == '\0' || (d->skip != NULL && re_match (d->skip, line)))
            continue;
        if (previous != NULL && re_match (d->sender_before, previous)) {
            /* "A message sent by\n  <sender@...>": not a recipient. */
            previous = line;
            append_line (current != NULL ? current->diag : x->shared, line);
            continue;
        }
        previous = line;
        if (strlen (line) < 1024 && x->block->len < BOUNCE_MAX_MATCH_BYTES)
            g_string_append_printf (x->block, "%s\n", line);
        if (strchr (line, '@') != NULL &&
            g_regex_match_full (d->recipient, line, (gssize) match_length (line),
                                0, 0, &mi, NULL)) {
            g_autofree char *addr = g_match_info_fetch_named (mi, "addr");
            gint mstart = 0, mend = 0, astart = 0;

            g_match_info_fetch_pos (mi, 0, &mstart, &mend);
            if (!g_match_info_fetch_named_pos (mi, "addr", &astart, NULL))
                astart = mstart;
            if (addr != NULL && addr[0] != '\0' && !excluded (ctx, report, addr)) {
                Found *f = find_found (x->index, addr);
                if (f == NULL) {
                    if (x->found->len >= BOUNCE_MAX_RECIPIENTS)
                        continue;
                    f = g_new0 (Found, 1);
                    f->address = g_steal_pointer (&addr);
                    f->diag = g_string_new (NULL);
                    add_found (x->found, x->index, f);
                    /* What the line says around the address: "Unknown
                     * user: a@b" (a phrase before it, not a local code
                     * as in "554 <a@b>... Remote protocol error"). */
                    {
                        g_autofree char *before = g_strndup (line, (gsize) astart);
                        g_strdelimit (before, "<(\"", ' ');
                        if (strpbrk (before, "0123456789") == NULL)
                            append_line (f->diag, g_strstrip (before));
                        if (line[mend] != '\0') {
                            if (f->diag->len > 0)
                                g_string_append_c (f->diag, ' ');
                            append_line_same (f->diag, line + mend);
                        }
                    }
                } else {
                    append_line (f->diag, line);
                }
                current = f;
                continue;
            }
        }
        append_line (current != NULL ? current->diag : x->shared, line);
    }
}

/* Does @text hold an error code: a 4.x.x/5.x.x status or a 4xx/5xx
 * reply? */
static gboolean
has_code (const char *text)
{
    g_autofree char *status = bounce_status_find (text);
    int code = bounce_reply_code_find (text);

    return (status != NULL && (status[0] == '4' || status[0] == '5')) ||
           (code >= 400 && code < 600);
}

static gboolean
is_delayed (const BounceDecoderData *d, const char *subject, const char *block)
{
    return re_match (d->delayed, subject) ||
           (re_match (d->delayed, block) &&
            !g_regex_match_simple ("permanent", block, G_REGEX_CASELESS, 0));
}

gboolean
_bounce_decode_text (BounceDecodeContext *ctx, BounceReport *report)
{
    const BounceDecoderData *d = ctx->data;
    const char *subject = report->subject;
    gboolean dec_by_header = FALSE;
    const BounceDecoder *dec = choose_decoder (ctx, subject, &dec_by_header);
    gboolean bounce_from = re_match (d->bounce_from, ctx->from_addr) ||
                           re_match (d->bounce_from, ctx->from_text);
    gboolean bounce_subject = re_match (d->bounce_subject, subject);
    const char *failed_header = _bounce_decode_header (ctx, "X-Failed-Recipients");
    Extract x;
    gboolean delayed;
    guint before = report->recipients->len;

    /* Something in the header must say bounce: the body alone may be a
     * bounce quoted or forwarded in an ordinary message. */
    if (!dec_by_header && !bounce_from && !bounce_subject && failed_header == NULL &&
        !(dec != NULL && re_match (d->role_from, ctx->from_addr)))
        return FALSE;
    /* A person forwarding a bounce. */
    if (!bounce_from && failed_header == NULL && re_match (d->forwarded, subject))
        return FALSE;

    /* DSN fields pasted into the text (Amazon WorkMail, ...). */
    if (embedded_dsn (ctx->body, report)) {
        for (guint i = before; i < report->recipients->len; i++) {
            BounceRecipient *r = report->recipients->pdata[i];
            if (r->action == NULL)
                r->action = g_strdup ("failed");
        }
        report->kind = BOUNCE_KIND_BOUNCE;
        report->mta = g_strdup (dec != NULL ? dec->name : "generic");
        return TRUE;
    }

    extract (ctx, dec, report, &x);
    delayed = is_delayed (d, subject, x.block->str);

    /* X-Failed-Recipients names recipients the text may have missed. */
    if (failed_header != NULL) {
        g_auto (GStrv) parts = g_strsplit_set (failed_header, ",", -1);
        for (guint i = 0; parts[i] != NULL; i++) {
            g_autofree char *addr = _bounce_address_clean (parts[i]);
            if (addr != NULL && strchr (addr, '@') != NULL &&
                find_found (x.index, addr) == NULL &&
                x.found->len < BOUNCE_MAX_RECIPIENTS) {
                Found *f = g_new0 (Found, 1);
                f->address = g_steal_pointer (&addr);
                f->diag = g_string_new (NULL);
                add_found (x.found, x.index, f);
            }
        }
    }

    /* Known by its sender alone: only with a code or an error phrase. */
    if (dec == NULL && !bounce_subject && failed_header == NULL &&
        !has_code (x.block->str) && !re_match (d->error, x.block->str)) {
        extract_clear (&x);
        return FALSE;
    }

    if (x.found->len == 0) {
        /* A known format, or a bounce by sender and subject, with no
         * address: one recipient the caller names (VERP, original To). */
        if (!((dec != NULL && (bounce_from || bounce_subject)) ||
              (bounce_from && bounce_subject))) {
            extract_clear (&x);
            return FALSE;
        }
        _bounce_decode_add (report, NULL, x.block->str, delayed);
    } else {
        for (guint i = 0; i < x.found->len; i++) {
            Found *f = x.found->pdata[i];
            g_autofree char *both = NULL;
            const char *diag = f->diag->str;

            /* The reason may come before the list of recipients. */
            if (!has_code (diag) && (f->diag->len == 0 || has_code (x.shared->str)))
                diag = both = g_strconcat (x.shared->str, "\n", f->diag->str, NULL);
            _bounce_decode_add (report, f->address, diag, delayed);
        }
    }
    extract_clear (&x);
    report->kind = BOUNCE_KIND_BOUNCE;
    report->mta = g_strdup (dec != NULL ? dec->name : "generic");
    return TRUE;
}
