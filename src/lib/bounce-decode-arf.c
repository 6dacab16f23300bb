/*
 * bounce-decode-arf.c - RFC 5965 feedback reports (ARF), also the
 * non-conformant ones: a message/feedback-report part, "Feedback-Type:"
 * fields in the text, Hotmail's complaints (an attached original with
 * X-HmXmrOriginalRecipient) and Apple Mail's unsubscribe requests
 * (X-Apple-Unsubscribe).  Each complaining recipient becomes a
 * recipient with reason "feedback" and its feedback_type.  It does not
 * read DSNs.
 */
#include <string.h>

#include "bounce-decode-private.h"

/* The value of field @name in a header-like block (first one), or each
 * value into @all when @all is not NULL. */
static char *
field_value (const char *text, const char *name, GPtrArray *all)
{
    g_auto (GStrv) lines = g_strsplit (text, "\n", -1);
    gsize nlen = strlen (name);
    char *first = NULL;

    for (guint i = 0; lines[i] != NULL; i++) {
        const char *l = lines[i];
        if (g_ascii_strncasecmp (l, name, nlen) == 0 && l[nlen] == ':') {
            g_autofree char *v = g_strstrip (g_strdup (l + nlen + 1));
            if (v[0] == '\0')
                continue;
            if (all != NULL)
                g_ptr_array_add (all, g_strdup (v));
            if (first == NULL)
                first = g_strdup (v);
        }
    }
    return first;
}

static void
add_feedback (BounceReport *report, const char *address, const char *type)
{
    BounceRecipient *r = bounce_recipient_new ();
    g_autofree char *clean = address != NULL ? _bounce_address_clean (address) : NULL;

    r->address = g_steal_pointer (&clean);
    r->action = g_strdup ("failed");
    r->feedback_type = g_ascii_strdown (type, -1);
    r->reason = g_strdup ("feedback");
    r->hard = 0;
    _bounce_report_take_recipient (report, r);
}

/* The To addresses of the attached original, one recipient each. */
static guint
add_original_recipients (BounceDecodeContext *ctx, BounceReport *report,
                         const char *type)
{
    GMimeMessage *orig;
    InternetAddressList *to;
    guint added = 0;

    if (ctx->attached == NULL || !GMIME_IS_MESSAGE_PART (ctx->attached))
        return 0;
    orig = g_mime_message_part_get_message (GMIME_MESSAGE_PART (ctx->attached));
    if (orig == NULL)
        return 0;
    to = g_mime_message_get_addresses (orig, GMIME_ADDRESS_TYPE_TO);
    for (int i = 0; to != NULL && i < internet_address_list_length (to); i++) {
        InternetAddress *ia = internet_address_list_get_address (to, i);
        if (INTERNET_ADDRESS_IS_MAILBOX (ia)) {
            add_feedback (report, internet_address_mailbox_get_addr (
                                      INTERNET_ADDRESS_MAILBOX (ia)), type);
            added++;
        }
    }
    return added;
}

static const char *
attached_header (BounceDecodeContext *ctx, const char *name)
{
    GMimeMessage *orig;

    if (ctx->attached == NULL || !GMIME_IS_MESSAGE_PART (ctx->attached))
        return NULL;
    orig = g_mime_message_part_get_message (GMIME_MESSAGE_PART (ctx->attached));
    return orig != NULL ? g_mime_object_get_header (GMIME_OBJECT (orig), name) : NULL;
}

/* ARF fields in plain text: Feedback-Type and another ARF field, each at
 * the start of a line, in the first BOUNCE_MAX_MATCH_BYTES. */
static gboolean
looks_like_arf_fields (const char *body)
{
    static GRegex *type, *other;
    static gsize once = 0;
    gsize len;

    if (body == NULL)
        return FALSE;
    if (g_once_init_enter (&once)) {
        type = g_regex_new ("^Feedback-Type:\\s*\\S",
                            G_REGEX_MULTILINE | G_REGEX_CASELESS, 0, NULL);
        other = g_regex_new ("^(?:User-Agent|Version|Original-Rcpt-To|"
                             "Original-Mail-From|Arrival-Date|Source-IP):",
                             G_REGEX_MULTILINE | G_REGEX_CASELESS, 0, NULL);
        g_once_init_leave (&once, 1);
    }
    /* Cheap first: no field name, no regular expression. */
    if (strstr (body, "eedback-") == NULL && strstr (body, "EEDBACK-") == NULL)
        return FALSE;
    len = strlen (body);
    if (len > BOUNCE_MAX_MATCH_BYTES) {
        const char *end = g_utf8_find_prev_char (body, body + BOUNCE_MAX_MATCH_BYTES + 1);
        len = end != NULL ? (gsize) (end - body) : 0;
    }
    return g_regex_match_full (type, body, (gssize) len, 0, 0, NULL, NULL) &&
           g_regex_match_full (other, body, (gssize) len, 0, 0, NULL, NULL);
}

gboolean
_bounce_decode_arf (BounceDecodeContext *ctx, BounceReport *report)
{
    g_autofree char *fields = NULL;
    g_autofree char *type = NULL;
    g_autoptr (GPtrArray) rcpts = g_ptr_array_new_with_free_func (g_free);
    const char *hotmail = attached_header (ctx, "X-HmXmrOriginalRecipient");
    const char *apple = _bounce_decode_header (ctx, "X-Apple-Unsubscribe");

    if (ctx->feedback != NULL)
        fields = _bounce_part_get_text (ctx->feedback, BOUNCE_MAX_BODY_SCAN_BYTES);
    else if (looks_like_arf_fields (ctx->body))
        fields = g_strdup (ctx->body);

    if (fields != NULL) {
        type = field_value (fields, "Feedback-Type", NULL);
        if (type == NULL)
            type = g_strdup ("abuse");
        else
            g_strdelimit (type, " \t;", '\0');
        g_free (field_value (fields, "Original-Rcpt-To", rcpts));
        if (rcpts->len == 0)
            g_free (field_value (fields, "Removal-Recipient", rcpts));
        for (guint i = 0; i < rcpts->len; i++)
            add_feedback (report, rcpts->pdata[i], type);
        if (rcpts->len == 0 && add_original_recipients (ctx, report, type) == 0)
            add_feedback (report, NULL, type);
        report->reporting_mta = report->reporting_mta != NULL
                                    ? report->reporting_mta
                                    : field_value (fields, "Reporting-MTA", NULL);
    } else if (hotmail != NULL) {
        add_feedback (report, hotmail, "abuse");
    } else if (apple != NULL &&
               g_ascii_strncasecmp (apple + strspn (apple, " \t"), "true", 4) == 0) {
        add_feedback (report, ctx->from_addr, "opt-out");
    } else {
        return FALSE;
    }
    report->kind = BOUNCE_KIND_FEEDBACK;
    report->mta = g_strdup ("arf");
    return TRUE;
}
