/*
 * bounce-decode-auto.c - auto-replies: RFC 3834 Auto-Submitted:
 * auto-replied, X-Autoreply, X-Autorespond, Precedence: auto_reply,
 * iCloud's X-Apple-Action: VACATION and vacation / out-of-office
 * subjects (decoders.conf [autoreply]).  Never applied to a message
 * that looks like a bounce, nor when Auto-Submitted is the only sign and
 * the text states a failure with a code (a rejection).  The one
 * recipient is the auto-replier (From), its text the diagnostic; it only
 * detects: the rules classify it (rules/10-outcomes.rules: "suspend"
 * when the text says the account is closed, else "vacation").
 * Challenge-response requests ([autoreply] challenge) are neither: not
 * a bounce.
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

/* The text of the message, squeezed, at most BOUNCE_MAX_MATCH_BYTES. */
static char *
body_text (BounceDecodeContext *ctx)
{
    gsize len;

    if (ctx->body == NULL)
        return NULL;
    len = MIN (strlen (ctx->body), (gsize) BOUNCE_MAX_MATCH_BYTES);
    return _bounce_text_squeeze (_bounce_text_normalize (ctx->body, len, len));
}

/* Does the text say a delivery failed: an error phrase and a 4xx/5xx
 * reply or status code?  Auto-Submitted is on rejections too. */
static gboolean
says_failure (BounceDecodeContext *ctx)
{
    g_autofree char *text = body_text (ctx);
    g_autofree char *status = NULL;
    int code;

    if (text == NULL || ctx->data->error == NULL ||
        !g_regex_match (_bounce_regex_get (ctx->data->error), text, 0, NULL))
        return FALSE;
    status = bounce_status_find (text);
    code = bounce_reply_code_find (text);
    return (status != NULL && (status[0] == '4' || status[0] == '5')) ||
           (code >= 400 && code < 600);
}

/* @subject without the tags a list server puts in front ("[staff] Out
 * of Office: ..."): a list relays its members' auto-replies. */
static const char *
untagged (const char *subject)
{
    const char *p = subject;

    while (p != NULL && *p == '[') {
        const char *close = strchr (p, ']');
        if (close == NULL || close - p > 64)
            break;
        p = close + 1;
        p += strspn (p, " \t");
    }
    return p;
}

static gboolean
is_autoreply (BounceDecodeContext *ctx, BounceReport *report)
{
    BounceRegex *subject = ctx->data->auto_subject;
    BounceRegex *weak = ctx->data->auto_subject_weak;
    const char *core = untagged (report->subject);

    if (core != NULL && subject != NULL &&
        (g_regex_match (_bounce_regex_get (subject), core, 0, NULL) ||
         /* "[Auto-Reply] ...", "[Out of Office] ...": the tag says it. */
         (report->subject[0] == '[' &&
          g_regex_match (_bounce_regex_get (subject), report->subject + 1, 0, NULL))))
        return TRUE;
    /* A header alone (RFC 3834's Auto-Submitted, the vendors' X-Autoreply
     * ...): also on a rejection that a filter sends as a reply; what the
     * text says decides. */
    if (header_is (ctx, "Auto-Submitted", "auto-replied") ||
        header_is (ctx, "X-Autoreply", NULL) ||
        header_is (ctx, "X-Autorespond", NULL) ||
        header_is (ctx, "X-AutoReply-From", NULL) ||
        header_is (ctx, "X-Mail-Autoreply", NULL) ||
        header_is (ctx, "Precedence", "auto_reply") ||
        header_is (ctx, "X-Apple-Action", "vacation"))
        return !says_failure (ctx);
    if (report->subject == NULL)
        return FALSE;
    /* "Vacation", "Away": only with another sign of an automatic reply. */
    return weak != NULL && g_regex_match (_bounce_regex_get (weak), core, 0, NULL) &&
           (header_is (ctx, "In-Reply-To", NULL) ||
            header_is (ctx, "X-Auto-Response-Suppress", NULL) ||
            header_is (ctx, "Auto-Submitted", "auto-") ||
            header_is (ctx, "Precedence", "bulk") ||
            header_is (ctx, "Precedence", "junk") ||
            header_is (ctx, "Precedence", "list"));
}

gboolean
_bounce_decode_challenge (BounceDecodeContext *ctx,
                          gboolean bounce_like,
                          BounceReport *report)
{
    BounceRegex *challenge = ctx->data->challenge;
    g_autofree char *text = NULL;

    if (bounce_like || challenge == NULL)
        return FALSE;
    if (report->subject == NULL || !g_regex_match (_bounce_regex_get (challenge), report->subject, 0, NULL)) {
        text = body_text (ctx);
        if (text == NULL || !g_regex_match (_bounce_regex_get (challenge), text, 0, NULL))
            return FALSE;
    }
    report->kind = BOUNCE_KIND_NOT_BOUNCE;
    return TRUE;
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
    text = body_text (ctx);
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
