/*
 * bounce-decode-auto.c - auto-replies: RFC 3834 Auto-Submitted:
 * auto-replied, X-Autoreply, X-Autorespond, Precedence: auto_reply,
 * iCloud's X-Apple-Action: VACATION and vacation / out-of-office
 * subjects (decoders.conf [autoreply]).  Never applied to a message
 * that looks like a bounce.  The one recipient is the auto-replier
 * (From), its text the diagnostic; it only detects: the rules classify
 * it (rules/10-outcomes.rules: "suspend" when the text says the account
 * is closed, else "vacation").
 */
#include <string.h>

#include "bounce-decode-private.h"

static gboolean
header_is (BounceDecodeContext *ctx, const char *name, const char *prefix)
{
    const char *v = _bounce_decode_header (ctx, name);

    if (v == NULL)
        return FALSE;
    if (prefix == NULL)
        return TRUE;
    v += strspn (v, " \t");
    return g_ascii_strncasecmp (v, prefix, strlen (prefix)) == 0;
}

static gboolean
is_autoreply (BounceDecodeContext *ctx, BounceReport *report)
{
    const GRegex *subject = ctx->data->auto_subject;
    const GRegex *weak = ctx->data->auto_subject_weak;

    if (header_is (ctx, "Auto-Submitted", "auto-replied") ||
        header_is (ctx, "X-Autoreply", NULL) ||
        header_is (ctx, "X-Autorespond", NULL) ||
        header_is (ctx, "X-AutoReply-From", NULL) ||
        header_is (ctx, "X-Mail-Autoreply", NULL) ||
        header_is (ctx, "Precedence", "auto_reply") ||
        header_is (ctx, "X-Apple-Action", "vacation"))
        return TRUE;
    if (report->subject == NULL)
        return FALSE;
    if (subject != NULL && g_regex_match (subject, report->subject, 0, NULL))
        return TRUE;
    /* "Vacation", "Away": only with another sign of an automatic reply. */
    return weak != NULL && g_regex_match (weak, report->subject, 0, NULL) &&
           (header_is (ctx, "In-Reply-To", NULL) ||
            header_is (ctx, "X-Auto-Response-Suppress", NULL) ||
            header_is (ctx, "Auto-Submitted", "auto-") ||
            header_is (ctx, "Precedence", "bulk") ||
            header_is (ctx, "Precedence", "junk") ||
            header_is (ctx, "Precedence", "list"));
}

gboolean
_bounce_decode_autoreply (BounceDecodeContext *ctx,
                          gboolean bounce_like,
                          BounceReport *report)
{
    BounceRecipient *r;
    g_autofree char *text = NULL;

    if (bounce_like || !is_autoreply (ctx, report))
        return FALSE;
    r = bounce_recipient_new ();
    r->address = g_strdup (ctx->from_addr);
    if (ctx->body != NULL) {
        gsize len = MIN (strlen (ctx->body), (gsize) BOUNCE_MAX_MATCH_BYTES);
        text = _bounce_text_squeeze (_bounce_text_normalize (ctx->body, len, len));
    }
    if (text != NULL && text[0] != '\0') {
        if (strlen (text) > 512) {
            const char *end = g_utf8_find_prev_char (text, text + 512);
            text[end != NULL ? end - text : 0] = '\0';
        }
        r->diagnostic = g_steal_pointer (&text);
    }
    _bounce_report_take_recipient (report, r);
    report->kind = BOUNCE_KIND_AUTOREPLY;
    report->mta = g_strdup ("rfc3834");
    return TRUE;
}
