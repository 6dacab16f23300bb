/*
 * bounce-decode.c - the entry point of the non-standard decoders.
 *
 * Called by bounce_parser_parse when no delivery-status part named a
 * recipient.  Gathers the top-level parts (never the inside of an
 * attached message: a forwarded bounce is not a bounce) and tries, in
 * order: ARF feedback reports, auto-replies (only when nothing says
 * bounce), Amazon SES JSON, then the plain-text formats of
 * decoders.conf.  It does not classify reasons (the rules do), except
 * "feedback" and "vacation"/"suspend" which the kind decides.
 */
#include <string.h>

#include "bounce-decode-private.h"

const char *
_bounce_decode_header (BounceDecodeContext *ctx, const char *name)
{
    return g_mime_object_get_header (GMIME_OBJECT (ctx->message), name);
}

BounceRecipient *
_bounce_decode_add (BounceReport *report,
                    const char *address,
                    const char *diagnostic,
                    gboolean delayed)
{
    BounceRecipient *r = bounce_recipient_new ();

    if (address != NULL)
        r->address = g_strdup (address);
    if (diagnostic != NULL && diagnostic[0] != '\0') {
        char *text = bounce_diagnostic_unfold (diagnostic);
        if (strlen (text) > BOUNCE_MAX_FIELD_BYTES) {
            /* Cut on a UTF-8 character boundary. */
            const char *end = g_utf8_find_prev_char (text, text + BOUNCE_MAX_FIELD_BYTES);
            text[end != NULL ? end - text : 0] = '\0';
        }
        if (text[0] != '\0')
            r->diagnostic = text;
        else
            g_free (text);
    }
    bounce_recipient_resolve_codes (r);
    /* A permanent code wins over a notice that says it will retry. */
    if ((r->status != NULL && r->status[0] == '4') ||
        (r->status == NULL && r->smtp_code >= 400 && r->smtp_code < 500) ||
        (delayed && (r->status == NULL || r->status[0] != '5') && r->smtp_code < 500))
        r->action = g_strdup ("delayed");
    else
        r->action = g_strdup ("failed");
    _bounce_report_take_recipient (report, r);
    return r;
}

/* Visible text of an HTML part: tags dropped, a few entities decoded. */
static char *
html_to_text (const char *html)
{
    static GRegex *tags, *breaks;
    static gsize once = 0;
    g_autofree char *a = NULL;
    g_autofree char *b = NULL;
    GString *out;

    if (g_once_init_enter (&once)) {
        breaks = g_regex_new ("<(?:br|/p|/tr|/div|/h\\d|/li|p|tr|div)\\b[^>]*>",
                              G_REGEX_CASELESS, 0, NULL);
        tags = g_regex_new ("<(?:style|script|head)\\b.*?</(?:style|script|head)>|<[^>]*>",
                            G_REGEX_CASELESS | G_REGEX_DOTALL, 0, NULL);
        g_once_init_leave (&once, 1);
    }
    a = g_regex_replace_literal (breaks, html, -1, 0, "\n", 0, NULL);
    if (a == NULL)
        return NULL;
    b = g_regex_replace_literal (tags, a, -1, 0, "", 0, NULL);
    if (b == NULL)
        return NULL;
    out = g_string_new (b);
    g_string_replace (out, "&nbsp;", " ", 0);
    g_string_replace (out, "&lt;", "<", 0);
    g_string_replace (out, "&gt;", ">", 0);
    g_string_replace (out, "&quot;", "\"", 0);
    g_string_replace (out, "&#39;", "'", 0);
    g_string_replace (out, "&amp;", "&", 0);
    return g_string_free (out, FALSE);
}

static void
gather (GMimeObject *obj, guint depth, BounceDecodeContext *ctx,
        GMimeObject **first_html)
{
    GMimeContentType *type = g_mime_object_get_content_type (obj);

    if (depth > BOUNCE_MAX_MIME_DEPTH)
        return;
    if (GMIME_IS_MULTIPART (obj)) {
        GMimeMultipart *mp = GMIME_MULTIPART (obj);
        int n = g_mime_multipart_get_count (mp);
        for (int i = 0; i < n; i++)
            gather (g_mime_multipart_get_part (mp, i), depth + 1, ctx, first_html);
        return;
    }
    if (GMIME_IS_MESSAGE_PART (obj)) {
        if (ctx->attached == NULL)
            ctx->attached = obj;
        return;
    }
    if (type == NULL)
        return;
    if (g_mime_content_type_is_type (type, "message", "feedback-report")) {
        if (ctx->feedback == NULL)
            ctx->feedback = obj;
    } else if (g_mime_content_type_is_type (type, "text", "html")) {
        if (*first_html == NULL)
            *first_html = obj;
    }
}

static void
context_init (BounceDecodeContext *ctx, GMimeMessage *message,
              const char *body_text, const BounceDecoderData *data)
{
    GMimeObject *top = g_mime_message_get_mime_part (message);
    GMimeObject *first_html = NULL;
    InternetAddressList *from = g_mime_message_get_from (message);

    memset (ctx, 0, sizeof *ctx);
    ctx->data = data != NULL ? data : _bounce_decoder_data_default ();
    ctx->message = message;
    if (top != NULL)
        gather (top, 0, ctx, &first_html);
    ctx->body = body_text;
    if (ctx->body == NULL && first_html != NULL) {
        g_autofree char *html = _bounce_part_get_text (first_html,
                                                       BOUNCE_MAX_BODY_SCAN_BYTES);
        if (html != NULL)
            ctx->html_text = html_to_text (html);
        ctx->body = ctx->html_text;
    }
    if (ctx->body == NULL && top != NULL && GMIME_IS_MULTIPART (top)) {
        /* A broken multipart (e.g. a boundary parameter that is not
         * folded into its field) hides its text: read it raw. */
        g_autofree char *raw = g_mime_object_to_string (top, NULL);
        if (raw != NULL)
            ctx->html_text = _bounce_text_normalize (raw, strlen (raw),
                                                     BOUNCE_MAX_BODY_SCAN_BYTES);
        ctx->body = ctx->html_text;
    }
    if (from != NULL && internet_address_list_length (from) > 0) {
        InternetAddress *ia = internet_address_list_get_address (from, 0);
        ctx->from_text = internet_address_to_string (ia, NULL, FALSE);
        if (INTERNET_ADDRESS_IS_MAILBOX (ia))
            ctx->from_addr = g_strdup (internet_address_mailbox_get_addr (
                INTERNET_ADDRESS_MAILBOX (ia)));
    }
}

static void
context_clear (BounceDecodeContext *ctx)
{
    g_free (ctx->html_text);
    g_free (ctx->from_addr);
    g_free (ctx->from_text);
}

gboolean
_bounce_decode_nonstandard (GMimeMessage *message,
                            const char *body_text,
                            const BounceDecoderData *data,
                            BounceReport *report)
{
    BounceDecodeContext ctx;
    gboolean done = FALSE;
    gboolean bounce_like;

    g_return_val_if_fail (message != NULL, FALSE);
    context_init (&ctx, message, body_text, data);

    if (_bounce_decode_arf (&ctx, report)) {
        done = TRUE;
    } else {
        bounce_like = _bounce_decode_bounce_like (&ctx, report);
        if (_bounce_decode_autoreply (&ctx, bounce_like, report))
            done = TRUE;
        else if (_bounce_decode_ses (&ctx, report))
            done = TRUE;
        else if (_bounce_decode_text (&ctx, report))
            done = TRUE;
    }
    context_clear (&ctx);
    return done;
}
