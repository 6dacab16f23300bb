/*
 * bounce-decode.c - the entry point of the non-standard decoders.
 *
 * Called by bounce_parser_parse when no delivery-status part named a
 * recipient.  Gathers the top-level parts (never the inside of an
 * attached message: a forwarded bounce is not a bounce) and tries, in
 * order: ARF feedback reports, auto-replies (only when nothing says
 * bounce), Amazon SES JSON, then the plain-text formats of
 * decoders.conf.  It does not classify reasons (the rules do: an
 * auto-reply's "vacation" or "suspend" too), except "feedback", which
 * the kind decides.
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

/* Does the tag at @p (after '<') start with @name as a whole word? */
static gboolean
tag_is (const char *p, const char *name)
{
    gsize n = strlen (name);

    return g_ascii_strncasecmp (p, name, n) == 0 &&
           !g_ascii_isalnum (p[n]);
}

/* Visible text of an HTML part: tags dropped (block tags become line
 * ends), style/script/head content skipped, a few entities decoded.  One
 * linear pass: no regular expression over untrusted HTML. */
static char *
html_to_text (const char *html)
{
    static const char *const blocks[] = { "br", "p", "/p", "tr", "/tr", "div",
                                          "/div", "li", "/li", "h1", "/h1",
                                          "h2", "/h2", "h3", "/h3", "table",
                                          "/table" };
    static const char *const hidden[] = { "style", "script", "head" };
    GString *out = g_string_new (NULL);
    const char *p = html;

    while (*p != '\0') {
        if (*p == '<') {
            const char *tag = p + 1;
            const char *close = strchr (tag, '>');
            gboolean skipped = FALSE;

            if (close == NULL)
                break;
            for (guint i = 0; i < G_N_ELEMENTS (hidden); i++) {
                if (tag_is (tag, hidden[i])) {
                    /* Skip to the closing tag (or the end). */
                    g_autofree char *end = g_strdup_printf ("</%s", hidden[i]);
                    const char *q = close;
                    while ((q = strchr (q, '<')) != NULL &&
                           g_ascii_strncasecmp (q, end, strlen (end)) != 0)
                        q++;
                    close = q != NULL ? strchr (q, '>') : NULL;
                    skipped = TRUE;
                    break;
                }
            }
            if (close == NULL)
                break;
            if (!skipped)
                for (guint i = 0; i < G_N_ELEMENTS (blocks); i++)
                    if (tag_is (tag, blocks[i])) {
                        g_string_append_c (out, '\n');
                        break;
                    }
            p = close + 1;
        } else if (*p == '&') {
            static const struct { const char *name, *text; } entities[] = {
                { "&nbsp;", " " }, { "&lt;", "<" }, { "&gt;", ">" },
                { "&quot;", "\"" }, { "&#39;", "'" }, { "&apos;", "'" },
                { "&amp;", "&" },
            };
            guint i;
            for (i = 0; i < G_N_ELEMENTS (entities); i++) {
                gsize n = strlen (entities[i].name);
                if (g_ascii_strncasecmp (p, entities[i].name, n) == 0) {
                    g_string_append (out, entities[i].text);
                    p += n;
                    break;
                }
            }
            if (i == G_N_ELEMENTS (entities))
                g_string_append_c (out, *p++);
        } else {
            g_string_append_c (out, *p++);
        }
    }
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
    ctx->from_lines = g_strdup_printf ("%s\n%s",
                                       ctx->from_addr != NULL ? ctx->from_addr : "",
                                       ctx->from_text != NULL ? ctx->from_text : "");
}

static void
context_clear (BounceDecodeContext *ctx)
{
    g_free (ctx->html_text);
    g_free (ctx->from_addr);
    g_free (ctx->from_text);
    g_free (ctx->from_lines);
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
        if (_bounce_decode_challenge (&ctx, bounce_like, report))
            done = TRUE;
        else if (_bounce_decode_autoreply (&ctx, bounce_like, report))
            done = TRUE;
        else if (_bounce_decode_ses (&ctx, report))
            done = TRUE;
        else if (_bounce_decode_text (&ctx, report))
            done = TRUE;
    }
    context_clear (&ctx);
    return done;
}

gboolean
_bounce_decode_is_wrapper (GMimeMessage *message,
                           const char *body_text,
                           const BounceDecoderData *data)
{
    GRegex *re;
    const char *subject;

    g_return_val_if_fail (message != NULL, FALSE);
    if (data == NULL)
        data = _bounce_decoder_data_default ();
    re = _bounce_regex_get (data->wrapper);
    if (re == NULL)
        return FALSE;
    subject = g_mime_message_get_subject (message);
    if (subject != NULL && g_regex_match (re, subject, 0, NULL))
        return TRUE;
    if (body_text == NULL)
        return FALSE;
    return g_regex_match_full (re, body_text,
                               (gssize) MIN (strlen (body_text),
                                             (gsize) BOUNCE_MAX_MATCH_BYTES),
                               0, 0, NULL, NULL);
}
