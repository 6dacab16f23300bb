/*
 * bounce-decode-text.c - plain-text bounce formats (qmail, Exim,
 * Sendmail, Exchange, Gmail, ...) driven by data/decoders.conf.
 *
 * The data names each format (by sender, subject, header or body
 * phrases) and where its error block starts and ends; this code cuts
 * the block out of the first text part, finds the lines that name a
 * failed recipient and gives each recipient the text that follows it
 * (up to the next recipient) as its diagnostic.  Repeated mentions of
 * one address are merged.  An expanded recipient is reported by the
 * alias the sender used ([general] alias); a local part alone gets the
 * domain of the original To/Cc or of the reporting host
 * ([general] local-recipient); the returned message's trace fields
 * ("Received: ... for <x>") never name anyone.  When the block names
 * nobody on a recipient line: a line stating an error or a phrase and a
 * colon before a list of addresses, the Subject, the one address the
 * notice names, the one To of a pasted copy, then
 * X-Failed-Recipients; DSN fields pasted
 * into the text (Amazon WorkMail) are read first.  The patterns come
 * from bounce-decode-data.c.  It never classifies reasons.
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
re_match (BounceRegex *re, const char *text)
{
    if (re == NULL || text == NULL)
        return FALSE;
    return g_regex_match_full (_bounce_regex_get (re), text, (gssize) match_length (text), 0, 0,
                               NULL, NULL);
}

/* Does header @name of the bounce start with @prefix (case-insensitive)? */
static gboolean
header_starts (BounceDecodeContext *ctx, const char *name, const char *prefix)
{
    const char *v = _bounce_decode_header (ctx, name);

    if (v == NULL)
        return FALSE;
    v += strspn (v, " \t");
    return g_ascii_strncasecmp (v, prefix, strlen (prefix)) == 0;
}

gboolean
_bounce_decode_bounce_like (BounceDecodeContext *ctx, BounceReport *report)
{
    const BounceDecoderData *d = ctx->data;

    if (_bounce_decode_header (ctx, "X-Failed-Recipients") != NULL)
        return TRUE;
    if (re_match (d->bounce_from, ctx->from_lines))
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

/* The notice part of the body: up to and including the first line
 * where the copy of the original message starts ([general] end), for
 * the formats' body patterns (the copy is often the larger part). */
static char *
notice_text (BounceDecodeContext *ctx)
{
    const char *body = ctx->body;
    g_autoptr (GMatchInfo) mi = NULL;
    gint pos;
    const char *eol;

    if (body == NULL)
        return NULL;
    if (!g_regex_match_full (_bounce_regex_get (ctx->data->end), body, (gssize) match_length (body), 0, 0,
                             &mi, NULL) ||
        !g_match_info_fetch_pos (mi, 0, NULL, &pos))
        return g_strndup (body, match_length (body));
    eol = strchr (body + pos, '\n');
    return g_strndup (body, eol != NULL ? (gsize) (eol - body) : strlen (body));
}

/* Messages before the decoders' prefilter is made (reading their
 * patterns costs what it saves on a few messages). */
#define DECODERS_PREFILTER_AFTER 4

static int
prefilter_add (BouncePrefilter *pf, BounceRegex *re)
{
    /* The prefilter reads caseless patterns; a case-sensitive one is
     * read as caseless, which only lets more through. */
    if (re == NULL || (_bounce_regex_get_flags (re) & G_REGEX_EXTENDED) != 0)
        return -1;
    return _bounce_prefilter_add (pf, _bounce_regex_get_pattern (re));
}

static void
prefilter_fill (BouncePrefilter *pf, gpointer data)
{
    BounceDecoderData *d = data;

    for (guint i = 0; i < d->decoders->len; i++) {
        BounceDecoder *dec = d->decoders->pdata[i];

        dec->filter[0] = prefilter_add (pf, dec->from);
        dec->filter[1] = prefilter_add (pf, dec->header);
        dec->filter[2] = prefilter_add (pf, dec->subject);
        dec->filter[3] = prefilter_add (pf, dec->body);
    }
}

/* The prefilter of the decoders' from, header, subject and body patterns,
 * or NULL for the first few messages. */
static const BouncePrefilter *
decoders_prefilter (const BounceDecoderData *data)
{
    BounceDecoderData *d = (BounceDecoderData *) data; /* a cache */

    return _bounce_prefilter_get_lazy (&d->prefilter, &d->chosen,
                                       DECODERS_PREFILTER_AFTER, prefilter_fill, d);
}

/* A text the decoders' patterns look at, scanned by the prefilter on
 * first need. */
typedef struct {
    const BouncePrefilter *pf;
    const char *text;
    guint64 *hits; /* NULL until scanned */
} Scanned;

static void
scanned_init (Scanned *s, const BouncePrefilter *pf, const char *text)
{
    s->pf = pf;
    s->text = text;
    s->hits = NULL;
}

static void
scanned_clear (Scanned *s)
{
    g_clear_pointer (&s->hits, g_free);
}

/* re_match(), unless the prefilter says pattern @id cannot match. */
static gboolean
re_match_scanned (BounceRegex *re, int id, Scanned *s)
{
    if (re == NULL || s->text == NULL)
        return FALSE;
    if (s->pf != NULL && id >= 0) {
        if (s->hits == NULL) {
            s->hits = g_new (guint64, _bounce_prefilter_n_words (s->pf));
            _bounce_prefilter_scan (s->pf, s->text, match_length (s->text), s->hits);
        }
        if (!_bounce_prefilter_may_match (s->pf, s->hits, id)) {
            if (G_UNLIKELY (_bounce_prefilter_verify) && re_match (re, s->text))
                g_error ("prefilter ruled out /%s/, which matches",
                         _bounce_regex_get_pattern (re));
            return FALSE;
        }
    }
    return re_match (re, s->text);
}

/* The decoder that best fits: from counts 3, header and body 2, subject
 * 1; the first in file order wins a tie.  The body patterns (the costly
 * ones) are tried only where they could still change the result. */
static const BounceDecoder *
choose_decoder (BounceDecodeContext *ctx, const char *subject,
                gboolean *out_by_header)
{
    const BounceDecoderData *d = ctx->data;
    const BouncePrefilter *pf = decoders_prefilter (d);
    g_autofree char *headers = header_text (ctx);
    g_autofree char *notice = NULL;
    guint n = d->decoders->len;
    g_autofree int *cheap = g_new0 (int, n);
    int best = -1, best_score = 0;
    Scanned from, head, subj, body;

    scanned_init (&from, pf, ctx->from_lines);
    scanned_init (&head, pf, headers);
    scanned_init (&subj, pf, subject);
    scanned_init (&body, pf, NULL);
    for (guint i = 0; i < n; i++) {
        const BounceDecoder *dec = d->decoders->pdata[i];

        if (re_match_scanned (dec->from, dec->filter[0], &from))
            cheap[i] += 3;
        if (re_match_scanned (dec->header, dec->filter[1], &head))
            cheap[i] += 2;
        if (re_match_scanned (dec->subject, dec->filter[2], &subj))
            cheap[i] += 1;
    }
    /* Highest header score first, so that the bar rises early. */
    for (int level = 6; level >= 0; level--) {
        for (guint i = 0; i < n; i++) {
            const BounceDecoder *dec = d->decoders->pdata[i];
            int score = cheap[i];

            if (cheap[i] != level)
                continue;
            if (dec->need_body) {
                /* Known only by its words (its header is on ordinary
                 * mail too). */
                if (dec->body == NULL ||
                    (score + 2 < best_score ||
                     (score + 2 == best_score && (int) i > best)))
                    continue;
                if (notice == NULL)
                    body.text = notice = notice_text (ctx);
                if (!re_match_scanned (dec->body, dec->filter[3], &body))
                    continue;
                score += 2;
            } else if (dec->body != NULL &&
                (score + 2 > best_score ||
                 (score + 2 == best_score && (int) i < best))) {
                if (notice == NULL)
                    body.text = notice = notice_text (ctx);
                if (re_match_scanned (dec->body, dec->filter[3], &body))
                    score += 2;
            }
            if (score > 0 && (score > best_score ||
                              (score == best_score && (int) i < best))) {
                best = (int) i;
                best_score = score;
            }
        }
    }
    scanned_clear (&from);
    scanned_clear (&head);
    scanned_clear (&subj);
    scanned_clear (&body);
    if (out_by_header != NULL)
        *out_by_header = best >= 0 && cheap[best] > 0;
    return best >= 0 ? d->decoders->pdata[best] : NULL;
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
    static BounceRegex *first, *final;
    static gsize once = 0;
    g_autoptr (GMatchInfo) mi = NULL;
    gint start = 0;

    if (body == NULL)
        return FALSE;
    if (g_once_init_enter (&once)) {
        first = _bounce_regex_new ("^(?:Reporting-MTA|Final-Recipient|Original-Recipient):",
                             G_REGEX_CASELESS | G_REGEX_MULTILINE, NULL);
        final = _bounce_regex_new ("^Final-Recipient:\\s*\\S",
                             G_REGEX_CASELESS | G_REGEX_MULTILINE, NULL);
        g_once_init_leave (&once, 1);
    }
    if (!re_match (final, body) || !g_regex_match (_bounce_regex_get (first), body, 0, &mi))
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
    gboolean from_named; /* the bounce's own From was named as failed */
    const char *copy;    /* where the returned message starts in the body,
                          * or NULL (borrowed) */
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

/* The first of lines @from.. of @body (@offsets: where each starts) that
 * @re matches at its start, or @n.  Searched in windows of whole lines of
 * at most BOUNCE_MAX_MATCH_BYTES. */
static guint
find_line (BounceRegex *re, const char *body, const gsize *offsets,
           guint n, guint from)
{
    guint i = from;

    while (i < n) {
        g_autoptr (GMatchInfo) mi = NULL;
        guint j = i + 1;
        gsize stop;
        gint pos = 0;

        while (j < n && offsets[j + 1] - offsets[i] <= BOUNCE_MAX_MATCH_BYTES)
            j++;
        stop = MIN (offsets[j] - 1, offsets[i] + BOUNCE_MAX_MATCH_BYTES);
        if (g_regex_match_full (_bounce_regex_get (re), body, (gssize) stop, (gint) offsets[i], 0, &mi, NULL) &&
            g_match_info_fetch_pos (mi, 0, &pos, NULL)) {
            guint k = i;
            while (k + 1 < j && offsets[k + 1] <= (gsize) pos)
                k++;
            return k;
        }
        i = j;
    }
    return n;
}

/* Named group @name of @re's first match in @line, or NULL. */
static char *
match_named (BounceRegex *re, const char *line, const char *name)
{
    g_autoptr (GMatchInfo) mi = NULL;
    char *value;

    if (re == NULL ||
        !g_regex_match_full (_bounce_regex_get (re), line, (gssize) match_length (line), 0, 0, &mi,
                             NULL))
        return NULL;
    value = g_match_info_fetch_named (mi, name);
    if (value != NULL && value[0] == '\0')
        g_clear_pointer (&value, g_free);
    return value;
}

/* @f is known by the address the sender used, @alias: renamed, or merged
 * (and freed) into the recipient already found for it.  Returns the one
 * that stays. */
static Found *
rename_found (Extract *x, Found *f, const char *alias)
{
    Found *other = find_found (x->index, alias);

    if (other == f)
        return f;
    if (other != NULL) {
        /* Later mentions of the expanded address (every key of @f) go to
         * the alias. */
        GHashTableIter iter;
        gpointer value;

        g_hash_table_iter_init (&iter, x->index);
        while (g_hash_table_iter_next (&iter, NULL, &value))
            if (value == f)
                g_hash_table_iter_replace (&iter, other);
        if (f->diag->len > 0)
            append_line (other->diag, f->diag->str);
        g_ptr_array_remove (x->found, f);
        return other;
    }
    g_hash_table_insert (x->index, g_ascii_strdown (alias, -1), f);
    g_free (f->address);
    f->address = g_strdup (alias);
    return f;
}

/* The domain part of @addr (borrowed), or NULL. */
static const char *
domain_of (const char *addr)
{
    const char *at = addr != NULL ? strrchr (addr, '@') : NULL;

    return at != NULL && at[1] != '\0' ? at + 1 : NULL;
}

/* A recipient named by its local part only ("dave... User unknown"):
 * the original message's To or Cc with that local part (attached, or
 * pasted in the text), else the local part at the reporting host (the
 * host the notice names, else the domain of the bounce's sender when
 * that is a mailer). */
static char *
qualify_local (BounceDecodeContext *ctx, BounceReport *report, const char *local)
{
    static BounceRegex *fields, *host;
    static gsize once = 0;
    g_autoptr (GMatchInfo) mi = NULL;
    const char *body = ctx->body;
    const char *domain;
    char *found;

    if (g_once_init_enter (&once)) {
        fields = _bounce_regex_new ("^(?:To|Cc):[ \\t]*(.+)$",
                              G_REGEX_CASELESS | G_REGEX_MULTILINE, NULL);
        host = _bounce_regex_new ("^(?:This is the (?:mail system|Postfix program) at host"
                            "|Hi\\. This is the qmail-send program at"
                            "|Reporting-MTA:\\s*dns;)\\s*(?<host>[A-Za-z0-9][A-Za-z0-9.-]*)",
                            G_REGEX_CASELESS | G_REGEX_MULTILINE, NULL);
        g_once_init_leave (&once, 1);
    }
    if ((found = _bounce_address_list_find_local (report->orig_to, local)) != NULL)
        return found;
    if (body != NULL &&
        g_regex_match_full (_bounce_regex_get (fields), body, (gssize) match_length (body), 0, 0, &mi, NULL)) {
        while (g_match_info_matches (mi)) {
            g_autofree char *value = g_match_info_fetch (mi, 1);
            if ((found = _bounce_address_list_find_local (value, local)) != NULL)
                return found;
            g_match_info_next (mi, NULL);
        }
    }
    /* The host the notice says it comes from: Postfix's "This is the mail
     * system at host %s.", qmail's "This is the qmail-send program at
     * %s.", a pasted "Reporting-MTA: dns; %s". */
    if (body != NULL) {
        g_autoptr (GMatchInfo) hm = NULL;
        if (g_regex_match_full (_bounce_regex_get (host), body, (gssize) match_length (body), 0, 0, &hm, NULL)) {
            g_autofree char *name = g_match_info_fetch_named (hm, "host");
            gsize len = name != NULL ? strlen (name) : 0;
            while (len > 0 && name[len - 1] == '.')
                name[--len] = '\0';
            if (len > 0 && strchr (name, '.') != NULL)
                return g_strdup_printf ("%s@%s", local, name);
        }
    }
    domain = domain_of (ctx->from_addr);
    if (domain != NULL && (re_match (ctx->data->bounce_from, ctx->from_lines) ||
                           re_match (ctx->data->role_from, ctx->from_addr)))
        return g_strdup_printf ("%s@%s", local, domain);
    return NULL;
}

static void add_addresses (BounceDecodeContext *ctx, BounceReport *report, Extract *x,
                           const char *text, gboolean only_one, gboolean guess);

/* The length of the full-width separator at @p (CJK text lists with
 * "、", "，", "；" and the ideographic space), or 0. */
static gsize
list_separator (const char *p)
{
    static const char *const wide[] = { "\u3001", "\uFF0C", "\uFF1B", "\u3000" };

    for (guint i = 0; i < G_N_ELEMENTS (wide); i++)
        if (strncmp (p, wide[i], strlen (wide[i])) == 0)
            return strlen (wide[i]);
    return 0;
}

/* Is @line two or more different addresses and nothing else
 * (separators, brackets, quotes)? */
static gboolean
is_address_list (const BounceDecoderData *d, const char *line)
{
    g_autoptr (GMatchInfo) mi = NULL;
    g_autofree char *first = NULL;
    gint last = 0, n = 0;

    if (strlen (line) > 1024 ||
        !g_regex_match (_bounce_regex_get (d->address), line, 0, &mi))
        return FALSE;
    while (g_match_info_matches (mi)) {
        gint s0, e0;
        g_match_info_fetch_pos (mi, 0, &s0, &e0);
        for (gint i = last; i < s0; i++) {
            gsize wide = list_separator (line + i);
            if (wide > 0)
                i += (gint) wide - 1;
            else if (strchr (" \t,;<>\"'()", line[i]) == NULL)
                return FALSE;
        }
        last = e0;
        if (first == NULL) {
            first = g_match_info_fetch (mi, 0);
            n = 1;
        } else if (n == 1) {
            g_autofree char *other = g_match_info_fetch (mi, 0);
            if (!same_address (first, other))
                n = 2;
        }
        g_match_info_next (mi, NULL);
    }
    for (const char *p = line + last; *p != '\0'; p++)
        if (strchr (" \t,;<>\"'().", *p) == NULL)
            return FALSE;
    /* Two different ones: "a@b <a@b>" is one. */
    return n >= 2;
}

/* The list of addresses after a phrase and a colon on @line ("Die
 * folgenden Empfänger sind unbekannt: a@b, c@d", "以下の宛先：a@b, c@d"),
 * or NULL; the phrase is not a header field's name ("Cc:"). */
static const char *
listed_after_phrase (const BounceDecoderData *d, const char *line)
{
    const char *colon = strchr (line, ':');
    const char *wide = strstr (line, "\uFF1A");
    const char *rest;
    g_autofree char *label = NULL;

    if (wide != NULL && (colon == NULL || wide < colon))
        colon = wide;
    if (colon == NULL || colon - line > 120)
        return NULL;
    label = g_strstrip (g_strndup (line, (gsize) (colon - line)));
    /* Not a header field's name ("Cc", "X-Original-To"). */
    if (strchr (label, '@') != NULL || label[strspn (label, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                                          "abcdefghijklmnopqrstuvwxyz"
                                                          "0123456789-")] == '\0')
        return NULL;
    rest = colon + (*colon == ':' ? 1 : strlen ("\uFF1A"));
    return is_address_list (d, rest) ? rest : NULL;
}

/* The reply code that starts @text ("554", "550 5.1.1"), or 0. */
static int
line_reply_code (const char *text)
{
    int code = bounce_reply_code_find (text);

    return code >= 400 && (guint64) code == g_ascii_strtoull (text, NULL, 10) ? code : 0;
}

static void
extract (BounceDecodeContext *ctx, const BounceDecoder *dec, BounceReport *report,
         Extract *x)
{
    static BounceRegex *bare_local, *pasted_field, *header_field;
    static gsize once = 0;
    const BounceDecoderData *d = ctx->data;
    g_auto (GStrv) lines = NULL;
    const char *body = ctx->body != NULL ? ctx->body : "";
    g_autofree gsize *offsets = NULL;
    Found *current = NULL;
    const char *previous = NULL;
    /* In Sendmail's transcript ("----- Transcript of session follows
     * -----", savemail.c), the session's lines (">>> RCPT To:<a@b>", "<<<
     * 550 ...", "550 host (smtp)... 550 Host unknown") come before the
     * recipient's own status line ("554 <a@b>... Remote protocol error",
     * deliver.c): there, the lines wait for the next recipient. */
    gboolean transcript = FALSE;
    g_autoptr (GString) pending = g_string_new (NULL);
    guint start = 0, end, n;
    gsize current_indent = 0;
    gboolean entry_since = FALSE;
    gboolean in_local_list = FALSE;
    gboolean in_trace = FALSE;

    if (g_once_init_enter (&once)) {
        /* A line that is one local part ("dave", "<dave>"). */
        bare_local = _bounce_regex_new ("^\\s*<?(?<local>[A-Za-z0-9][A-Za-z0-9._%+=-]{0,63})>?\\s*$",
                                  G_REGEX_OPTIMIZE, NULL);
        /* A copy's header block starts with its originator field,
         * unindented (a notice's own summary of the message is indented,
         * or starts with its Subject). */
        pasted_field = _bounce_regex_new ("^From:[ \\t]*\\S", G_REGEX_CASELESS, NULL);
        header_field = _bounce_regex_new ("^[A-Za-z][A-Za-z0-9-]*:[ \\t]*\\S", 0, NULL);
        g_once_init_leave (&once, 1);
    }
    *x = (Extract) { 0 };
    x->found = g_ptr_array_new_with_free_func (found_free);
    x->index = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
    x->shared = g_string_new (NULL);
    x->block = g_string_new (NULL);
    lines = g_strsplit (body, "\n", -1);
    n = g_strv_length (lines);
    offsets = g_new (gsize, n + 1);
    offsets[0] = 0;
    for (guint i = 0; i < n; i++)
        offsets[i + 1] = offsets[i] + strlen (lines[i]) + 1;
    if (dec != NULL && dec->start != NULL) {
        start = find_line (dec->start, body, offsets, n, 0);
        if (start == n)
            start = 0;
    }
    end = find_line (d->end, body, offsets, n, start + 1);
    if (dec != NULL && dec->end != NULL)
        end = MIN (end, find_line (dec->end, body, offsets, n, start + 1));
    /* A pasted header block after a blank or separator line ends it
     * too: a trace or identification field, or "From:" followed by
     * another field ("From: a@b" then "To: c@d": the copy's addresses
     * are not the notice's). */
    for (guint i = start + 1; i < end; i++)
        if ((lines[i - 1][0] == '\0' || is_separator (lines[i - 1])) &&
            (re_match (d->original_headers, lines[i]) ||
             (i + 1 < end && re_match (pasted_field, lines[i]) &&
              re_match (header_field, lines[i + 1])))) {
            end = i;
            break;
        }
    x->copy = end < n ? body + offsets[end] : NULL;

    for (guint i = start; i < end; i++) {
        const char *line = lines[i];
        g_autoptr (GMatchInfo) mi = NULL;
        g_autofree char *addr = NULL;
        g_autofree char *alias = NULL;
        g_autofree char *expanded = NULL;
        gint mstart = 0, mend = 0, astart = 0;
        gboolean matched = FALSE;

        if (strstr (line, "Transcript of session follows") != NULL)
            transcript = TRUE;
        if (line[0] == '\0') {
            in_local_list = FALSE;
            continue;
        }
        if (re_match (d->local_list, line)) {
            /* "----- The following addresses had permanent fatal errors
             * -----": bare local parts below it are recipients. */
            in_local_list = TRUE;
            continue;
        }
        if (d->skip != NULL && re_match (d->skip, line))
            continue;
        /* "Received: ... for <x>" and its continuation lines: the
         * returned message's trace, never a failed recipient. */
        if (re_match (d->trace, line)) {
            in_trace = TRUE;
            continue;
        }
        if (in_trace && (line[0] == ' ' || line[0] == '\t'))
            continue;
        in_trace = FALSE;
        if (previous != NULL && strchr (line, '@') != NULL &&
            re_match (d->sender_before, previous)) {
            /* "A message sent by\n  <sender@...>": not a recipient. */
            previous = line;
            append_line (current != NULL ? current->diag : x->shared, line);
            continue;
        }
        previous = line;
        if (strlen (line) < 1024 && x->block->len < BOUNCE_MAX_MATCH_BYTES)
            g_string_append_printf (x->block, "%s\n", line);
        if (strchr (line, '@') != NULL)
            alias = match_named (d->alias, line, "addr");
        if (strchr (line, '@') != NULL &&
            g_regex_match_full (_bounce_regex_get (d->recipient), line, (gssize) match_length (line),
                                0, 0, &mi, NULL)) {
            addr = g_match_info_fetch_named (mi, "addr");
            g_match_info_fetch_pos (mi, 0, &mstart, &mend);
            if (!g_match_info_fetch_named_pos (mi, "addr", &astart, NULL))
                astart = mstart;
            matched = addr != NULL && addr[0] != '\0';
        } else if (alias != NULL && current != NULL && !entry_since) {
            /* Exim: "  real@host\n    (generated from alias@domain)";
             * Sendmail: "<real@host>\n    (reason: ...)\n    (expanded
             * from: <alias@domain>)". */
            current = rename_found (x, current, alias);
            append_line (current->diag, line);
            continue;
        } else if (alias != NULL) {
            /* The entry has no address of its own (Sendmail's
             * "\"|program\"", a file): the alias is the failed one. */
            addr = g_steal_pointer (&alias);
            matched = TRUE;
        } else if (strchr (line, '@') == NULL && d->local_recipient != NULL) {
            /* "550 5.1.1 dave... User unknown": a local part only; or a
             * bare local part in a list of failed addresses. */
            g_autofree char *local = match_named (d->local_recipient, line, "local");
            if (local == NULL && in_local_list)
                local = match_named (bare_local, line, "local");
            if (local != NULL)
                addr = qualify_local (ctx, report, local);
            matched = addr != NULL;
            mstart = 0;
            mend = 0;
            astart = 0;
        }
        if (matched && alias != NULL) {
            /* Postfix: "<real@host> (expanded from <alias@domain>): ..."
             * (later mentions of real@host are the alias's). */
            expanded = g_steal_pointer (&addr);
            addr = g_steal_pointer (&alias);
        }
        if (matched && excluded (ctx, report, addr)) {
            if (same_address (addr, ctx->from_addr))
                x->from_named = TRUE;
            matched = FALSE;
        }
        /* "  a@example.com, b@example.com": a line that is a list of
         * addresses names each. */
        if (matched && mstart == 0 && is_address_list (d, line)) {
            add_addresses (ctx, report, x, line, FALSE, FALSE);
            current = find_found (x->index, addr);
            if (current != NULL) {
                current_indent = strspn (line, " \t");
                entry_since = FALSE;
            }
            continue;
        }
        if (matched) {
            Found *f = find_found (x->index, addr);
            if (f == NULL) {
                if (x->found->len >= BOUNCE_MAX_RECIPIENTS)
                    continue;
                f = g_new0 (Found, 1);
                f->address = g_steal_pointer (&addr);
                f->diag = g_string_new (NULL);
                add_found (x->found, x->index, f);
                if (pending->len > 0) {
                    append_line (f->diag, pending->str);
                    g_string_truncate (pending, 0);
                }
                if (expanded != NULL && find_found (x->index, expanded) == NULL)
                    g_hash_table_insert (x->index, g_ascii_strdown (expanded, -1), f);
                /* What the line says around the address: "Unknown
                 * user: a@b" (a phrase before it); a reply code before
                 * it ("554 <a@b>... Remote protocol error", Sendmail's
                 * status line for the recipient) only when the rest
                 * of the line quotes no reply of its own ("554
                 * <a@b>... 550 Host unknown"). */
                if (mend > 0) {
                    g_autofree char *before = g_strndup (line, (gsize) astart);
                    g_strdelimit (before, "<(\"", ' ');
                    g_strstrip (before);
                    if (strpbrk (before, "0123456789") == NULL ||
                        (line_reply_code (before) != 0 &&
                         bounce_reply_code_find (line + mend) == 0))
                        append_line (f->diag, before);
                    if (line[mend] != '\0') {
                        if (f->diag->len > 0)
                            g_string_append_c (f->diag, ' ');
                        append_line_same (f->diag, line + mend);
                    }
                } else {
                    append_line (f->diag, line);
                }
            } else {
                if (pending->len > 0) {
                    append_line (f->diag, pending->str);
                    g_string_truncate (pending, 0);
                }
                append_line (f->diag, line);
            }
            current = f;
            current_indent = strspn (line, " \t");
            entry_since = FALSE;
            continue;
        }
        /* A line no more indented than the recipient's starts another
         * entry (one without an address). */
        if (current != NULL && strspn (line, " \t") <= current_indent)
            entry_since = TRUE;
        if (transcript && g_strrstr (line, "hile talking to ") != NULL &&
            pending->len > 0) {
            /* A new session ("... while talking to mx:", usersmtp.c):
             * the lines of the one before, if no recipient's line
             * followed them, stay where they were. */
            append_line (current != NULL ? current->diag : x->shared, pending->str);
            g_string_truncate (pending, 0);
        }
        if (transcript)
            append_line (pending, line);
        else
            append_line (current != NULL ? current->diag : x->shared, line);
    }
    if (pending->len > 0)
        append_line (current != NULL ? current->diag : x->shared, pending->str);
}

/* The addresses of @text (not the excluded ones) become recipients;
 * with @only_one, only when it names exactly one.  With @guess (a line
 * that only states an error), never a mailer's or postmaster's address
 * ("... rejected; contact postmaster@example.com"). */
static void
add_addresses (BounceDecodeContext *ctx, BounceReport *report, Extract *x,
               const char *text, gboolean only_one, gboolean guess)
{
    g_autoptr (GMatchInfo) mi = NULL;
    g_autoptr (GPtrArray) seen = g_ptr_array_new_with_free_func (g_free);

    if (!g_regex_match_full (_bounce_regex_get (ctx->data->address), text, (gssize) match_length (text),
                             0, 0, &mi, NULL))
        return;
    while (g_match_info_matches (mi)) {
        g_autofree char *addr = g_match_info_fetch_named (mi, "addr");
        gboolean dup = FALSE;
        for (guint i = 0; i < seen->len; i++)
            dup = dup || same_address (seen->pdata[i], addr);
        if (addr != NULL && !dup && !excluded (ctx, report, addr) &&
            !(guess && re_match (ctx->data->bounce_from, addr)))
            g_ptr_array_add (seen, g_steal_pointer (&addr));
        g_match_info_next (mi, NULL);
    }
    if (only_one && seen->len != 1)
        return;
    for (guint i = 0; i < seen->len && x->found->len < BOUNCE_MAX_RECIPIENTS; i++) {
        Found *f;
        if (find_found (x->index, seen->pdata[i]) != NULL)
            continue;
        f = g_new0 (Found, 1);
        f->address = g_strdup (seen->pdata[i]);
        f->diag = g_string_new (NULL);
        add_found (x->found, x->index, f);
    }
}

/* The To field of the returned message pasted after the notice: the
 * first "To:" line of its header block (up to the first blank line after
 * a header field), or NULL; NULL too for mail to a list (List-* fields). */
static char *
pasted_to (Extract *x)
{
    const char *p = x->copy;
    gboolean in_header = FALSE;
    g_autofree char *to = NULL;

    for (guint lines = 0; p != NULL && *p != '\0' && lines < 200; lines++) {
        const char *eol = strchr (p, '\n');
        gsize len = eol != NULL ? (gsize) (eol - p) : strlen (p);

        if (to == NULL && len >= 3 && g_ascii_strncasecmp (p, "To:", 3) == 0)
            to = g_strndup (p + 3, len - 3);
        /* Mail to a list: its To is the list, not the subscriber. */
        if (len >= 5 && g_ascii_strncasecmp (p, "List-", 5) == 0)
            return NULL;
        if (len == 0 && in_header)
            break;
        if (len > 0 && memchr (p, ':', len) != NULL && p[0] != ' ' && p[0] != '\t')
            in_header = TRUE;
        p = eol != NULL ? eol + 1 : NULL;
    }
    return g_steal_pointer (&to);
}

/* Does @text quote SMTP replies that all accepted (2xx, 3xx) and none
 * that refused (4xx, 5xx, or a 4.x.x/5.x.x status)? */
static gboolean
only_success (const char *text)
{
    static BounceRegex *reply, *refusal;
    static gsize once = 0;

    if (g_once_init_enter (&once)) {
        reply = _bounce_regex_new ("(?<![\\d.])[23]\\d\\d[ -](?:[23]\\.\\d{1,3}\\.\\d{1,3}\\b|[A-Za-z<])",
                             G_REGEX_OPTIMIZE, NULL);
        refusal = _bounce_regex_new ("(?<![\\d.])(?:[45]\\d\\d(?![\\d.])|[45]\\.\\d{1,3}\\.\\d{1,3}(?![\\d.]))",
                               G_REGEX_OPTIMIZE, NULL);
        g_once_init_leave (&once, 1);
    }
    return g_regex_match_full (_bounce_regex_get (reply), text, (gssize) match_length (text), 0, 0, NULL, NULL) &&
           !g_regex_match_full (_bounce_regex_get (refusal), text, (gssize) match_length (text), 0, 0, NULL, NULL);
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
    g_autofree char *lower = NULL;

    if (re_match (d->delayed, subject))
        return TRUE;
    if (!re_match (d->delayed, block))
        return FALSE;
    /* "This is a permanent error" outweighs a word about retrying. */
    lower = g_ascii_strdown (block, -1);
    return strstr (lower, "permanent") == NULL;
}

gboolean
_bounce_decode_text (BounceDecodeContext *ctx, BounceReport *report)
{
    const BounceDecoderData *d = ctx->data;
    const char *subject = report->subject;
    gboolean dec_by_header = FALSE;
    const BounceDecoder *dec = choose_decoder (ctx, subject, &dec_by_header);
    gboolean bounce_from = re_match (d->bounce_from, ctx->from_lines);
    gboolean bounce_subject = re_match (d->bounce_subject, subject);
    const char *failed_header = _bounce_decode_header (ctx, "X-Failed-Recipients");
    Extract x;
    gboolean delayed;
    gboolean auto_submitted;
    guint before = report->recipients->len;

    /* Something in the header must say bounce: the body alone may be a
     * bounce quoted or forwarded in an ordinary message.  RFC 3834's
     * Auto-Submitted (or a vendor's X-Autoreply) says the message is
     * automatic: a notice that states a failure with a code then counts
     * (checked below). */
    auto_submitted = header_starts (ctx, "Auto-Submitted", "auto-") ||
                     _bounce_decode_header (ctx, "X-Autoreply") != NULL ||
                     _bounce_decode_header (ctx, "X-Autorespond") != NULL ||
                     header_starts (ctx, "Precedence", "auto_reply");
    if (!dec_by_header && !bounce_from && !bounce_subject && failed_header == NULL &&
        !(dec != NULL && re_match (d->role_from, ctx->from_addr)) && !auto_submitted)
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
    /* Known by Auto-Submitted alone: a recipient, a code and an error
     * phrase. */
    if (!dec_by_header && !bounce_from && !bounce_subject && failed_header == NULL &&
        !(dec != NULL && re_match (d->role_from, ctx->from_addr)) &&
        (x.found->len == 0 || !has_code (x.block->str) ||
         !re_match (d->error, x.block->str))) {
        extract_clear (&x);
        return FALSE;
    }

    /* Nobody on a recipient line: the addresses the block names in a
     * line that states an error ("user jo@example.com unknown"), else
     * the one address of the Subject ("DELIVERY FAILURE: User jo
     * (jo@example.com) not listed", Lotus Domino). */
    if (x.found->len == 0 && !(dec != NULL && dec->addressee)) {
        g_auto (GStrv) blines = g_strsplit (x.block->str, "\n", -1);
        gboolean counts = report->verp_address == NULL &&
                          ((dec != NULL && (bounce_from || bounce_subject)) ||
                           (bounce_from && bounce_subject));
        for (guint i = 0; blines[i] != NULL; i++) {
            const char *listed;
            if (strchr (blines[i], '@') == NULL)
                continue;
            if (re_match (d->error, blines[i]))
                add_addresses (ctx, report, &x, blines[i], FALSE, TRUE);
            else if (counts && (listed = listed_after_phrase (d, blines[i])) != NULL)
                /* A phrase, a colon, the addresses: each, in any
                 * language. */
                add_addresses (ctx, report, &x, listed, FALSE, TRUE);
        }
        if (x.found->len == 0 && subject != NULL && strchr (subject, '@') != NULL)
            add_addresses (ctx, report, &x, subject, TRUE, TRUE);
        /* Else the one address the notice names, in whatever sentence
         * or language ("Mail to a@b bounced.", "Die Nachricht konnte
         * nicht an a@b zugestellt werden."): not the sender's, nor a
         * mailer's or postmaster's; only where the notice would count
         * with no address at all (a known format, or a bounce by sender
         * and subject), and not when a VERP address names it exactly. */
        if (x.found->len == 0 && counts)
            add_addresses (ctx, report, &x, x.block->str, TRUE, TRUE);
        /* Else the one To of the returned message pasted below the
         * notice (as the caller does with an attached one), unless a
         * VERP address or an attached original names it. */
        if (x.found->len == 0 && x.copy != NULL && report->verp_address == NULL &&
            report->orig_to == NULL) {
            g_autofree char *to = pasted_to (&x);
            if (to != NULL)
                add_addresses (ctx, report, &x, to, TRUE, FALSE);
        }
    }

    /* The bounce's sender named as the failed one and nobody else: a
     * person's own filter refusing the message (TMDA's bounce comes from
     * the recipient's address), not a mailer's address. */
    if (x.found->len == 0 && x.from_named && ctx->from_addr != NULL &&
        !re_match (d->bounce_from, ctx->from_lines) &&
        !re_match (d->role_from, ctx->from_addr)) {
        Found *f = g_new0 (Found, 1);
        f->address = g_strdup (ctx->from_addr);
        f->diag = g_string_new (NULL);
        add_found (x.found, x.index, f);
    }
    /* A list server refusing a post, or warning a subscriber: the
     * notice's addressee (the addresses in its text are the list's). */
    if (dec != NULL && dec->addressee && _bounce_decode_header (ctx, "To") != NULL) {
        g_ptr_array_set_size (x.found, 0);
        g_hash_table_remove_all (x.index);
        InternetAddressList *to = g_mime_message_get_addresses (ctx->message,
                                                                GMIME_ADDRESS_TYPE_TO);
        InternetAddress *ia = to != NULL && internet_address_list_length (to) > 0
                                  ? internet_address_list_get_address (to, 0)
                                  : NULL;
        if (ia != NULL && INTERNET_ADDRESS_IS_MAILBOX (ia)) {
            Found *f = g_new0 (Found, 1);
            f->address = g_strdup (internet_address_mailbox_get_addr (
                INTERNET_ADDRESS_MAILBOX (ia)));
            f->diag = g_string_new (NULL);
            add_found (x.found, x.index, f);
        }
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
        guint failed = 0;

        for (guint i = 0; i < x.found->len; i++)
            failed += !only_success (((Found *) x.found->pdata[i])->diag->str);
        for (guint i = 0; i < x.found->len; i++) {
            Found *f = x.found->pdata[i];
            g_autofree char *both = NULL;
            const char *diag = f->diag->str;

            /* A transcript's accepted recipient ("In: RCPT TO:<a@b>",
             * "Out: 250 2.1.5 Ok", Postfix's postmaster notice) beside
             * refused ones did not fail. */
            if (failed > 0 && only_success (diag))
                continue;
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
