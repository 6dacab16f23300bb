/*
 * bounce-parse.c - the parse entry point: raw bytes in, BounceReport out.
 *
 * Folds line ends, hands the bytes to GMime, walks the MIME tree of the
 * top-level message (never into an attached message/rfc822: a forwarded
 * bounce is not a bounce), reads delivery-status parts (bounce-dsn.c),
 * falls back on the non-standard decoders (bounce-decode.c), reads the
 * original message's headers, recovers a VERP address and classifies
 * (bounce-rules.c).  Malformed input gives warnings, never an error.
 */
#include <string.h>

#include "bounce-private.h"

/* A delivery-status part is read up to this size: enough for
 * BOUNCE_MAX_RECIPIENTS recipient groups of about 1 KiB each. */
#define DSN_MAX_BYTES (BOUNCE_MAX_RECIPIENTS * 1024u)

#define DEFAULT_VERP_PATTERN \
    "^[^+=@]+[+=](?<local>[^@]+)=(?<domain>[^=@+]+)(?:\\+[0-9a-f]+)?@"

struct _BounceParser {
    const BounceRules *rules;
    GStrv extra_headers;
    GRegex *verp;
    char *envelope_recipient;
    BounceDecoderData *decoders; /* NULL: the built-in formats */
    const BounceVerpKey *verp_key;
    GStrv sending_domains;
};

void
bounce_init (void)
{
    static gsize done = 0;

    if (g_once_init_enter (&done)) {
        g_mime_init ();
        g_once_init_leave (&done, 1);
    }
}

BounceParser *
bounce_parser_new (void)
{
    BounceParser *parser = g_new0 (BounceParser, 1);

    bounce_init ();
    parser->verp = g_regex_new (DEFAULT_VERP_PATTERN,
                                G_REGEX_CASELESS | G_REGEX_OPTIMIZE, 0, NULL);
    g_assert (parser->verp != NULL);
    return parser;
}

void
bounce_parser_free (BounceParser *parser)
{
    if (parser == NULL)
        return;
    g_strfreev (parser->extra_headers);
    g_clear_pointer (&parser->verp, g_regex_unref);
    g_free (parser->envelope_recipient);
    g_strfreev (parser->sending_domains);
    g_clear_pointer (&parser->decoders, _bounce_decoder_data_free);
    g_free (parser);
}

void
bounce_parser_set_rules (BounceParser *parser, const BounceRules *rules)
{
    g_return_if_fail (parser != NULL);
    parser->rules = rules;
}

void
bounce_parser_set_extra_headers (BounceParser *parser,
                                 const char *const *names)
{
    g_return_if_fail (parser != NULL);
    g_strfreev (parser->extra_headers);
    parser->extra_headers = g_strdupv ((char **) names);
}

gboolean
bounce_parser_set_verp_pattern (BounceParser *parser,
                                const char *pattern,
                                GError **error)
{
    GRegex *re;
    g_autoptr (GError) regex_error = NULL;

    g_return_val_if_fail (parser != NULL, FALSE);
    if (pattern == NULL || pattern[0] == '\0') {
        g_clear_pointer (&parser->verp, g_regex_unref);
        return TRUE;
    }
    /* GRegex's error in the one BOUNCE_ERROR domain, its text kept. */
    re = g_regex_new (pattern, G_REGEX_CASELESS | G_REGEX_OPTIMIZE, 0,
                      &regex_error);
    if (re == NULL) {
        g_set_error (error, BOUNCE_ERROR, BOUNCE_ERROR_FAILED,
                     "bad VERP pattern: %s", regex_error->message);
        return FALSE;
    }
    if (g_regex_get_string_number (re, "local") < 0 ||
        g_regex_get_string_number (re, "domain") < 0) {
        g_regex_unref (re);
        g_set_error (error, BOUNCE_ERROR, BOUNCE_ERROR_FAILED,
                     "VERP pattern needs the named groups (?<local>...) and "
                     "(?<domain>...)");
        return FALSE;
    }
    g_clear_pointer (&parser->verp, g_regex_unref);
    parser->verp = re;
    return TRUE;
}

gboolean
bounce_parser_add_decoders (BounceParser *parser, const char *path,
                            GError **error)
{
    BounceDecoderData *data;

    g_return_val_if_fail (parser != NULL, FALSE);
    g_return_val_if_fail (path != NULL, FALSE);
    data = _bounce_decoder_data_extend (parser->decoders, path, error);
    if (data == NULL)
        return FALSE;
    g_clear_pointer (&parser->decoders, _bounce_decoder_data_free);
    parser->decoders = data;
    return TRUE;
}

void
bounce_parser_set_verp_key (BounceParser *parser, const BounceVerpKey *key)
{
    g_return_if_fail (parser != NULL);
    parser->verp_key = key;
}

void
bounce_parser_set_sending_domains (BounceParser *parser,
                                   const char *const *domains)
{
    g_return_if_fail (parser != NULL);
    g_strfreev (parser->sending_domains);
    parser->sending_domains = g_strdupv ((char **) domains);
}

void
bounce_parser_set_envelope_recipient (BounceParser *parser,
                                      const char *address)
{
    g_return_if_fail (parser != NULL);
    g_free (parser->envelope_recipient);
    parser->envelope_recipient = g_strdup (address);
}

/* ------------------------------------------------------------------ */

gsize
_bounce_message_start (const guint8 *data, gsize len)
{
    const guint8 *lf, *cr, *eol;
    gsize i;

    if (len < 5 || memcmp (data, "From ", 5) != 0)
        return 0;
    /* The line ends at the first LF or CR, whichever comes first. */
    lf = memchr (data, '\n', len);
    cr = memchr (data, '\r', lf != NULL ? (gsize) (lf - data) : len);
    eol = cr != NULL ? cr : lf;
    if (eol == NULL)
        return len;
    i = (gsize) (eol - data) + 1;
    if (*eol == '\r' && i < len && data[i] == '\n')
        i++;
    return i;
}

/* Copies the message with line ends folded to "\n", without a leading
 * mbox "From " line. */
static GByteArray *
prepare_bytes (const guint8 *data, gsize len)
{
    GByteArray *out = g_byte_array_sized_new ((guint) len + 1);
    gsize i = _bounce_message_start (data, len);

    /* Copy runs between CRs in one go; a CR (alone or before LF)
     * becomes one LF. */
    while (i < len) {
        const guint8 *cr = memchr (data + i, '\r', len - i);
        gsize run = cr != NULL ? (gsize) (cr - (data + i)) : len - i;

        g_byte_array_append (out, data + i, (guint) run);
        i += run;
        if (cr == NULL)
            break;
        g_byte_array_append (out, (const guint8 *) "\n", 1);
        i++;
        if (i < len && data[i] == '\n')
            i++;
    }
    return out;
}

/* Ends a header block cut short by the end of the input with a blank
 * line: GMime drops every header of a message whose last header line
 * has no end.  Returns FALSE when the block was whole. */
static gboolean
close_header_block (GByteArray *bytes)
{
    static const guint8 nl = '\n';

    for (guint i = 1; i < bytes->len; i++)
        if (bytes->data[i] == '\n' && bytes->data[i - 1] == '\n')
            return FALSE;
    if (bytes->len > 0 && bytes->data[bytes->len - 1] != '\n')
        g_byte_array_append (bytes, &nl, 1);
    g_byte_array_append (bytes, &nl, 1);
    return TRUE;
}

static void
parser_warning (gint64 offset,
                GMimeParserWarning code,
                const char *item,
                gpointer user_data)
{
    BounceReport *report = user_data;

    switch (code) {
    case GMIME_CRIT_NESTING_OVERFLOW:
        bounce_report_add_warning (report, "MIME nesting too deep at byte %"
                                   G_GINT64_FORMAT, offset);
        break;
    case GMIME_WARN_TRUNCATED_MESSAGE:
        bounce_report_add_warning (report, "message is truncated");
        break;
    case GMIME_CRIT_MULTIPART_WITHOUT_BOUNDARY:
        bounce_report_add_warning (report, "multipart without a boundary");
        break;
    case GMIME_WARN_MALFORMED_MULTIPART:
        bounce_report_add_warning (report, "multipart without parts");
        break;
    case GMIME_CRIT_PART_WITHOUT_HEADERS_OR_CONTENT:
        bounce_report_add_warning (report, "MIME part without headers or content");
        break;
    default:
        break;
    }
}

/* What the walk found in the top-level message. */
typedef struct {
    GPtrArray *dsn_parts;   /* GMimeObject*, borrowed */
    GMimeObject *original;  /* message/rfc822 or text/rfc822-headers */
    GMimeObject *feedback;  /* message/feedback-report */
    GMimeObject *first_text; /* first text/plain */
    guint depth_hits;
} Walk;

static void
walk (GMimeObject *obj, guint depth, Walk *w, BounceReport *report)
{
    GMimeContentType *type = g_mime_object_get_content_type (obj);

    if (depth > BOUNCE_MAX_MIME_DEPTH) {
        if (w->depth_hits++ == 0)
            bounce_report_add_warning (report,
                                       "MIME parts deeper than %d not read",
                                       BOUNCE_MAX_MIME_DEPTH);
        return;
    }
    if (GMIME_IS_MULTIPART (obj)) {
        GMimeMultipart *mp = GMIME_MULTIPART (obj);
        int n = g_mime_multipart_get_count (mp);
        for (int i = 0; i < n; i++)
            walk (g_mime_multipart_get_part (mp, i), depth + 1, w, report);
        return;
    }
    if (GMIME_IS_MESSAGE_PART (obj)) {
        /* An attached message: the original of a report, never walked. */
        if (w->original == NULL)
            w->original = obj;
        return;
    }
    if (type == NULL)
        return;
    if (g_mime_content_type_is_type (type, "message", "delivery-status") ||
        g_mime_content_type_is_type (type, "message", "global-delivery-status")) {
        g_ptr_array_add (w->dsn_parts, obj);
    } else if (g_mime_content_type_is_type (type, "message", "feedback-report")) {
        if (w->feedback == NULL)
            w->feedback = obj;
    } else if (g_mime_content_type_is_type (type, "text", "rfc822-headers") ||
               g_mime_content_type_is_type (type, "message", "global-headers")) {
        if (w->original == NULL)
            w->original = obj;
    } else if (g_mime_content_type_is_type (type, "text", "plain")) {
        if (w->first_text == NULL)
            w->first_text = obj;
    } else if (g_mime_content_type_is_type (type, "text", "*") &&
               w->first_text == NULL &&
               !g_mime_content_type_is_type (type, "text", "html")) {
        w->first_text = obj;
    }
}

/* Cuts a header value taken from GMime (UTF-8) to BOUNCE_MAX_FIELD_BYTES
 * at a character boundary, with a warning naming the field. */
static char *
cap_field (BounceReport *report, const char *name, char *value)
{
    const char *end;

    if (value == NULL || strlen (value) <= BOUNCE_MAX_FIELD_BYTES)
        return value;
    end = g_utf8_find_prev_char (value, value + BOUNCE_MAX_FIELD_BYTES + 1);
    value[end != NULL ? end - value : BOUNCE_MAX_FIELD_BYTES] = '\0';
    bounce_report_add_warning (report, "%s cut at %u bytes", name,
                               BOUNCE_MAX_FIELD_BYTES);
    return value;
}

static char *
address_list_string (InternetAddressList *list)
{
    if (list == NULL || internet_address_list_length (list) == 0)
        return NULL;
    return internet_address_list_to_string (list, NULL, FALSE);
}

static char *
message_date_iso (GMimeMessage *msg)
{
    GDateTime *dt = g_mime_message_get_date (msg);

    return dt != NULL ? g_date_time_format_iso8601 (dt) : NULL;
}

static GMimeMessage *
parse_message_bytes (const guint8 *data, gsize len, BounceReport *report)
{
    g_autoptr (GMimeStream) stream = NULL;
    g_autoptr (GMimeParser) parser = NULL;
    g_autoptr (GMimeParserOptions) options = g_mime_parser_options_new ();

    stream = g_mime_stream_mem_new_with_buffer ((const char *) data, len);
    parser = g_mime_parser_new_with_stream (stream);
    g_mime_parser_set_format (parser, GMIME_FORMAT_MESSAGE);
    if (report != NULL)
        g_mime_parser_options_set_warning_callback (options, parser_warning,
                                                    report);
    return g_mime_parser_construct_message (parser, options);
}

/* Reads the original message's headers (from message/rfc822 or
 * text/rfc822-headers) into the report. */
static void
read_original (BounceParser *parser, GMimeObject *obj, BounceReport *report)
{
    g_autoptr (GMimeMessage) owned = NULL;
    GMimeMessage *msg = NULL;

    if (GMIME_IS_MESSAGE_PART (obj)) {
        msg = g_mime_message_part_get_message (GMIME_MESSAGE_PART (obj));
    } else {
        g_autofree char *text = _bounce_part_get_text (obj, BOUNCE_MAX_BODY_SCAN_BYTES);
        if (text != NULL) {
            owned = parse_message_bytes ((const guint8 *) text, strlen (text), NULL);
            msg = owned;
        }
    }
    if (msg == NULL)
        return;
    report->orig_message_id = cap_field (report, "original Message-ID",
        g_strdup (g_mime_message_get_message_id (msg)));
    report->orig_from = cap_field (report, "original From",
        address_list_string (g_mime_message_get_from (msg)));
    report->orig_to = cap_field (report, "original To", address_list_string (
        g_mime_message_get_addresses (msg, GMIME_ADDRESS_TYPE_TO)));
    report->orig_subject = cap_field (report, "original Subject",
        _bounce_object_get_header (GMIME_OBJECT (msg), "Subject"));
    report->orig_date = message_date_iso (msg);
    for (guint i = 0; parser->extra_headers != NULL && parser->extra_headers[i]; i++) {
        char *value = _bounce_object_get_header (GMIME_OBJECT (msg), parser->extra_headers[i]);
        if (value != NULL)
            g_hash_table_replace (report->extra_headers,
                                  g_strdup (parser->extra_headers[i]), value);
    }
}

/* The addresses the bounce came to, most trusted first: the envelope
 * recipient the caller gave, then what the delivering MTA wrote
 * (cleaned of names and brackets; at most 512 bytes each). */
static GPtrArray *
envelope_candidates (BounceParser *parser, GMimeMessage *msg)
{
    static const char *const headers[] = { "X-Original-To", "Delivered-To",
                                           "Envelope-To", "X-Envelope-To" };
    GPtrArray *out = g_ptr_array_new_with_free_func (g_free);

    if (parser->envelope_recipient != NULL)
        g_ptr_array_add (out, _bounce_address_clean (parser->envelope_recipient));
    for (guint i = 0; i < G_N_ELEMENTS (headers); i++) {
        const char *v = g_mime_object_get_header (GMIME_OBJECT (msg), headers[i]);
        if (v != NULL)
            g_ptr_array_add (out, _bounce_address_clean (v));
    }
    for (guint i = out->len; i > 0; i--) {
        const char *a = out->pdata[i - 1];
        if (a == NULL || strlen (a) > 512)
            g_ptr_array_remove_index (out, i - 1);
    }
    g_ptr_array_add (out, NULL);
    return out;
}

/* VERP: the address the bounce came to may carry the recipient. */
static void
recover_verp (BounceParser *parser, GPtrArray *candidates,
              BounceReport *report)
{
    if (parser->verp == NULL)
        return;
    for (guint i = 0; candidates->pdata[i] != NULL; i++) {
        const char *addr = candidates->pdata[i];
        g_autoptr (GMatchInfo) mi = NULL;

        if (g_regex_match (parser->verp, addr, 0, &mi)) {
            g_autofree char *local = g_match_info_fetch_named (mi, "local");
            g_autofree char *domain = g_match_info_fetch_named (mi, "domain");
            if (local != NULL && domain != NULL && local[0] && domain[0]) {
                report->verp_address = g_strdup_printf ("%s@%s", local, domain);
                return;
            }
        }
    }
}

/* An address Exchange encapsulated (IMCEASMTP-): the SMTP address it
 * holds. */
static void
unwrap_addresses (BounceReport *report)
{
    for (guint i = 0; i < report->recipients->len; i++) {
        BounceRecipient *r = report->recipients->pdata[i];
        char *inner = _bounce_address_unwrap (r->address);

        if (inner != NULL) {
            g_free (r->address);
            r->address = inner;
        }
    }
}

/* A recipient named by its local part alone ("Final-Recipient: LOCAL;
 * lena"): the original To's address with that local part, else the local
 * part at the reporting host. */
static void
qualify_local_addresses (BounceReport *report)
{
    for (guint i = 0; i < report->recipients->len; i++) {
        BounceRecipient *r = report->recipients->pdata[i];
        char *full;

        if (r->address == NULL || strchr (r->address, '@') != NULL ||
            r->address[0] == '\0' || strpbrk (r->address, " \t<>()|/\"") != NULL)
            continue;
        full = _bounce_address_list_find_local (report->orig_to, r->address);
        if (full == NULL && report->reporting_mta != NULL &&
            strchr (report->reporting_mta, '.') != NULL &&
            strpbrk (report->reporting_mta, " \t;[]") == NULL)
            full = g_strdup_printf ("%s@%s", r->address, report->reporting_mta);
        if (full != NULL) {
            bounce_report_add_warning (report, "recipient %u named by its local part %s",
                                       i + 1, r->address);
            g_free (r->address);
            r->address = full;
        }
    }
}

/* Is @text one plain address (local@domain, nothing around it)? */
static gboolean
plain_address (const char *text)
{
    const char *at = text != NULL ? strchr (text, '@') : NULL;

    return at != NULL && at > text && at[1] != '\0' && strchr (at + 1, '@') == NULL &&
           strchr (at + 1, '.') != NULL &&
           strpbrk (text, " \t<>()[],;:\"\\") == NULL;
}

/* RFC 3464: the Original-Recipient is the address the sender gave
 * (ORCPT), the Final-Recipient the one the reporting MTA tried, after
 * expanding aliases and forwards (Postfix's "<final> (expanded from
 * <alias>)").  The address is the sender's, which is the one its lists
 * hold; the other is kept as final_recipient. */
static void
prefer_original_recipients (BounceReport *report)
{
    for (guint i = 0; i < report->recipients->len; i++) {
        BounceRecipient *r = report->recipients->pdata[i];

        if (r->address == NULL || !plain_address (r->original_recipient) ||
            g_ascii_strcasecmp (r->address, r->original_recipient) == 0)
            continue;
        g_free (r->final_recipient);
        r->final_recipient = r->address;
        r->address = g_strdup (r->original_recipient);
    }
}

/* A recipient with no address gets the VERP address, else the single
 * address of the original To. */
static void
fill_missing_addresses (BounceReport *report)
{
    const char *fallback = report->verp_address;
    g_autofree char *orig_to = NULL;

    if (fallback == NULL && report->orig_to != NULL &&
        strchr (report->orig_to, ',') == NULL) {
        orig_to = _bounce_address_clean (report->orig_to);
        fallback = orig_to;
    }
    for (guint i = 0; i < report->recipients->len; i++) {
        BounceRecipient *r = report->recipients->pdata[i];
        if (r->address == NULL && fallback != NULL) {
            r->address = g_strdup (fallback);
            bounce_report_add_warning (report,
                                       "recipient %u named by %s", i + 1,
                                       fallback == report->verp_address
                                           ? "the VERP address"
                                           : "the original To");
        }
    }
}

static gboolean
all_succeeded (BounceReport *report)
{
    for (guint i = 0; i < report->recipients->len; i++) {
        BounceRecipient *r = report->recipients->pdata[i];
        if (r->action == NULL || (strcmp (r->action, "delivered") != 0 &&
                                  strcmp (r->action, "relayed") != 0 &&
                                  strcmp (r->action, "expanded") != 0))
            return FALSE;
    }
    return report->recipients->len > 0;
}

/* Does the input start like a message: a header field or a From line? */
static gboolean
looks_like_message (const guint8 *data, gsize len)
{
    gsize i = 0;

    while (i < len && (data[i] == '\n' || data[i] == '\r'))
        i++;
    if (len - i >= 5 && memcmp (data + i, "From ", 5) == 0)
        return TRUE;
    for (gsize j = i; j < len && j - i < 200; j++) {
        guint8 c = data[j];
        if (c == ':')
            return j > i;
        if (c <= ' ' || c >= 127)
            return FALSE;
    }
    return FALSE;
}

static BounceReport *parse_message (BounceParser *parser, GBytes *message,
                                    const char *source, gboolean outer);

/* A list server's notice that forwards the bounce it received (Mailman's
 * "Uncaught bounce notification"): the attached message is read as the
 * bounce, and what it says is taken when it names a failed recipient. */
static gboolean
read_wrapped (BounceParser *parser, GMimeObject *attached, BounceReport *report)
{
    GMimeMessage *inner;
    char *text;
    gsize len;
    g_autoptr (GBytes) bytes = NULL;
    g_autoptr (BounceReport) got = NULL;

    if (attached == NULL || !GMIME_IS_MESSAGE_PART (attached))
        return FALSE;
    inner = g_mime_message_part_get_message (GMIME_MESSAGE_PART (attached));
    if (inner == NULL)
        return FALSE;
    text = g_mime_object_to_string (GMIME_OBJECT (inner), NULL);
    if (text == NULL)
        return FALSE;
    len = strlen (text);
    bytes = g_bytes_new_take (text, len);
    got = parse_message (parser, bytes, report->source, FALSE);
    if ((got->kind != BOUNCE_KIND_DSN && got->kind != BOUNCE_KIND_BOUNCE) ||
        got->recipients->len == 0)
        return FALSE;
    for (guint i = 0; i < got->recipients->len; i++)
        if (((BounceRecipient *) got->recipients->pdata[i])->address == NULL)
            return FALSE;
    /* Take its recipients and what it says of the original message. */
    while (got->recipients->len > 0)
        _bounce_report_take_recipient (report,
                                       g_ptr_array_steal_index (got->recipients, 0));
    report->kind = got->kind;
    g_free (report->mta);
    report->mta = g_steal_pointer (&got->mta);
    if (report->reporting_mta == NULL)
        report->reporting_mta = g_steal_pointer (&got->reporting_mta);
#define TAKE(field) \
    if (report->field == NULL) report->field = g_steal_pointer (&got->field)
    TAKE (orig_message_id);
    TAKE (orig_from);
    TAKE (orig_to);
    TAKE (orig_subject);
    TAKE (orig_date);
    TAKE (queue_id);
#undef TAKE
    return TRUE;
}

BounceReport *
bounce_parser_parse (BounceParser *parser, GBytes *message, const char *source)
{
    g_return_val_if_fail (parser != NULL, NULL);
    g_return_val_if_fail (message != NULL, NULL);
    return parse_message (parser, message, source, TRUE);
}

static BounceReport *
parse_message (BounceParser *parser, GBytes *message, const char *source, gboolean outer)
{
    g_autoptr (BounceReport) report = bounce_report_new (source);
    g_autoptr (GMimeMessage) msg = NULL;
    g_autoptr (GByteArray) bytes = NULL;
    g_autofree char *body_text = NULL;
    g_autoptr (GPtrArray) candidates = NULL;
    Walk w = { 0 };
    gsize len = 0;
    const guint8 *data;
    GMimeObject *top;

    g_return_val_if_fail (parser != NULL, NULL);
    g_return_val_if_fail (message != NULL, NULL);

    data = g_bytes_get_data (message, &len);
    report->size = len;
    if (len == 0) {
        report->kind = BOUNCE_KIND_UNPARSABLE;
        bounce_report_add_warning (report, "empty input");
        return g_steal_pointer (&report);
    }
    if (len > BOUNCE_MAX_MESSAGE_BYTES) {
        bounce_report_add_warning (report,
                                   "message of %" G_GSIZE_FORMAT
                                   " bytes; only the first %u read",
                                   len, BOUNCE_MAX_MESSAGE_BYTES);
        len = BOUNCE_MAX_MESSAGE_BYTES;
    }
    if (!looks_like_message (data, len)) {
        report->kind = BOUNCE_KIND_UNPARSABLE;
        bounce_report_add_warning (report, "not a mail message: no header");
        return g_steal_pointer (&report);
    }

    bytes = prepare_bytes (data, len);
    if (close_header_block (bytes))
        bounce_report_add_warning (report, "message ends inside its header");
    msg = parse_message_bytes (bytes->data, bytes->len, report);
    if (msg == NULL ||
        g_mime_header_list_get_count (g_mime_object_get_header_list (GMIME_OBJECT (msg))) == 0) {
        report->kind = BOUNCE_KIND_UNPARSABLE;
        bounce_report_add_warning (report, "not a mail message");
        return g_steal_pointer (&report);
    }

    report->subject = cap_field (report, "Subject",
        _bounce_object_get_header (GMIME_OBJECT (msg), "Subject"));
    report->from = cap_field (report, "From",
        address_list_string (g_mime_message_get_from (msg)));
    report->date = message_date_iso (msg);

    w.dsn_parts = g_ptr_array_new ();
    top = g_mime_message_get_mime_part (msg);
    if (top != NULL)
        walk (top, 0, &w, report);
    /* A gateway that forwards a DSN inside its own notice (a text part
     * and the DSN as message/rfc822): with no delivery-status of its own,
     * the attached report's parts are read instead (one level only). */
    if (w.dsn_parts->len == 0 && w.feedback == NULL && w.original != NULL &&
        GMIME_IS_MESSAGE_PART (w.original)) {
        GMimeMessage *inner =
            g_mime_message_part_get_message (GMIME_MESSAGE_PART (w.original));
        GMimeObject *itop = inner != NULL ? g_mime_message_get_mime_part (inner)
                                          : NULL;
        if (itop != NULL && GMIME_IS_MULTIPART (itop)) {
            Walk iw = { 0 };
            iw.dsn_parts = g_ptr_array_new ();
            walk (itop, 1, &iw, report);
            if (iw.dsn_parts->len > 0) {
                g_ptr_array_unref (w.dsn_parts);
                w = iw;
            } else {
                g_ptr_array_unref (iw.dsn_parts);
            }
        }
    }

    /* RFC 3464: the delivery-status parts. */
    for (guint i = 0; i < w.dsn_parts->len; i++) {
        GMimeObject *part = w.dsn_parts->pdata[i];
        GMimeContentType *type = g_mime_object_get_content_type (part);
        g_autofree char *text = _bounce_part_get_text (part, DSN_MAX_BYTES + 1);
        gboolean global = g_mime_content_type_is_type (type, "message",
                                                      "global-delivery-status");
        if (text != NULL && strlen (text) > DSN_MAX_BYTES) {
            /* Read whole lines only: never half a field. */
            char *nl = g_strrstr_len (text, DSN_MAX_BYTES, "\n");
            text[nl != NULL ? nl - text : 0] = '\0';
            bounce_report_add_warning (report,
                                       "delivery-status part longer than %u "
                                       "bytes; the rest is not read",
                                       DSN_MAX_BYTES);
        }
        if (text != NULL)
            _bounce_dsn_parse (text, global, report);
    }
    if (w.original != NULL)
        read_original (parser, w.original, report);
    candidates = envelope_candidates (parser, msg);
    recover_verp (parser, candidates, report);

    if (w.first_text != NULL)
        body_text = _bounce_part_get_text (w.first_text, BOUNCE_MAX_BODY_SCAN_BYTES);

    if (report->recipients->len > 0) {
        _bounce_dsn_enrich (report, body_text);
        prefer_original_recipients (report);
        report->kind = all_succeeded (report) ? BOUNCE_KIND_DELIVERED
                                              : BOUNCE_KIND_DSN;
        report->mta = g_strdup ("rfc3464");
    } else {
        if (w.dsn_parts->len > 0)
            bounce_report_add_warning (report,
                                       "delivery-status part names no recipient");
        report->kind = BOUNCE_KIND_NOT_BOUNCE;
        if (!(outer && w.original != NULL &&
              _bounce_decode_is_wrapper (msg, body_text, parser->decoders) &&
              read_wrapped (parser, w.original, report)))
            _bounce_decode_nonstandard (msg, body_text, parser->decoders, report);
        /* The command a reply answered: the one the notice's Sendmail
         * transcript shows it answering (a decoder's text may hold the
         * whole transcript, whose last command is not the one refused),
         * else the one the diagnostic names ("after RCPT TO:", "in reply
         * to end of DATA command"). */
        for (guint i = 0; i < report->recipients->len; i++) {
            BounceRecipient *r = report->recipients->pdata[i];
            const char *cmd;

            if (r->smtp_command != NULL)
                continue;
            cmd = _bounce_transcript_command (body_text, r->diagnostic);
            if (cmd == NULL)
                cmd = bounce_smtp_command_find (r->diagnostic);
            r->smtp_command = g_strdup (cmd);
        }
    }
    g_ptr_array_unref (w.dsn_parts);

    /* Exchange's IMCEASMTP-a+40b@host is a@b. */
    unwrap_addresses (report);
    qualify_local_addresses (report);
    fill_missing_addresses (report);
    /* The envelope and the returned original are the outer message's. */
    if (outer)
        _bounce_verp_check (parser->verp_key,
                            (const char *const *) parser->sending_domains,
                            (const char *const *) candidates->pdata, report);
    if (outer && parser->rules != NULL)
        bounce_rules_classify (parser->rules, report);
    return g_steal_pointer (&report);
}
