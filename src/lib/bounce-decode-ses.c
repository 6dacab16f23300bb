/*
 * bounce-decode-ses.c - Amazon SES notifications in JSON (sent as mail
 * by SNS, with or without the SNS envelope): Bounce, Complaint and
 * Delivery.  Reads only the JSON; the plain-text SES bounces go to the
 * text decoders.
 */
#include <string.h>

#include "bounce-decode-private.h"

/* The member @name of @o (which may be NULL), or NULL. */
static JsonNode *
member (JsonObject *o, const char *name)
{
    if (o == NULL || !json_object_has_member (o, name))
        return NULL;
    return json_object_get_member (o, name);
}

static const char *
member_string (JsonObject *o, const char *name)
{
    JsonNode *n = member (o, name);

    if (n == NULL || !JSON_NODE_HOLDS_VALUE (n) ||
        json_node_get_value_type (n) != G_TYPE_STRING)
        return NULL;
    return json_node_get_string (n);
}

static JsonObject *
member_object (JsonObject *o, const char *name)
{
    JsonNode *n = member (o, name);

    return n != NULL && JSON_NODE_HOLDS_OBJECT (n) ? json_node_get_object (n) : NULL;
}

static JsonArray *
member_array (JsonObject *o, const char *name)
{
    JsonNode *n = member (o, name);

    return n != NULL && JSON_NODE_HOLDS_ARRAY (n) ? json_node_get_array (n) : NULL;
}

static JsonParser *
parse_json (const char *text, gsize len)
{
    JsonParser *p = json_parser_new ();

    if (!json_parser_load_from_data (p, text, (gssize) len, NULL) ||
        json_parser_get_root (p) == NULL ||
        !JSON_NODE_HOLDS_OBJECT (json_parser_get_root (p))) {
        g_object_unref (p);
        return NULL;
    }
    return p;
}

static JsonObject *
array_object (JsonArray *a, guint i)
{
    JsonNode *n = json_array_get_element (a, i);
    return n != NULL && JSON_NODE_HOLDS_OBJECT (n) ? json_node_get_object (n) : NULL;
}

gboolean
_bounce_decode_ses (BounceDecodeContext *ctx, BounceReport *report)
{
    const char *body = ctx->body;
    const char *open, *close;
    g_autoptr (JsonParser) outer = NULL;
    g_autoptr (JsonParser) inner = NULL;
    JsonObject *root, *sub;
    JsonArray *list;
    const char *type, *message;
    guint n;

    if (body == NULL)
        return FALSE;
    open = body + strspn (body, " \t\n");
    if (*open != '{')
        return FALSE;
    close = strrchr (open, '}');
    if (close == NULL)
        return FALSE;
    outer = parse_json (open, (gsize) (close - open + 1));
    if (outer == NULL)
        return FALSE;
    root = json_node_get_object (json_parser_get_root (outer));
    message = member_string (root, "Message");
    if (message != NULL) {
        /* The SNS envelope: the notification is a JSON string. */
        inner = parse_json (message, strlen (message));
        if (inner == NULL)
            return FALSE;
        root = json_node_get_object (json_parser_get_root (inner));
    }
    type = member_string (root, "notificationType");
    if (type == NULL)
        type = member_string (root, "eventType");
    if (type == NULL)
        return FALSE;

    if (g_ascii_strcasecmp (type, "Bounce") == 0) {
        const char *btype;
        sub = member_object (root, "bounce");
        btype = member_string (sub, "bounceType");
        list = member_array (sub, "bouncedRecipients");
        n = list != NULL ? json_array_get_length (list) : 0;
        for (guint i = 0; i < n; i++) {
            JsonObject *o = array_object (list, i);
            const char *addr = member_string (o, "emailAddress");
            const char *diag = member_string (o, "diagnosticCode");
            const char *status = member_string (o, "status");
            BounceRecipient *r;
            g_autofree char *clean = addr != NULL ? _bounce_address_clean (addr) : NULL;

            if (o == NULL)
                continue;
            r = _bounce_decode_add (report, clean, diag,
                                    btype != NULL && g_ascii_strcasecmp (btype, "Transient") == 0);
            if (status != NULL && r->status == NULL) {
                r->status = g_strdup (status);
                bounce_recipient_resolve_codes (r);
            }
        }
        report->kind = BOUNCE_KIND_BOUNCE;
    } else if (g_ascii_strcasecmp (type, "Complaint") == 0) {
        const char *ft;
        sub = member_object (root, "complaint");
        ft = member_string (sub, "complaintFeedbackType");
        list = member_array (sub, "complainedRecipients");
        n = list != NULL ? json_array_get_length (list) : 0;
        for (guint i = 0; i < n; i++) {
            JsonObject *o = array_object (list, i);
            const char *addr = member_string (o, "emailAddress");
            BounceRecipient *r = bounce_recipient_new ();
            r->address = addr != NULL ? _bounce_address_clean (addr) : NULL;
            r->action = g_strdup ("failed");
            r->feedback_type = g_strdup (ft != NULL ? ft : "abuse");
            r->reason = g_strdup ("feedback");
            r->hard = 0;
            _bounce_report_take_recipient (report, r);
        }
        report->kind = BOUNCE_KIND_FEEDBACK;
    } else if (g_ascii_strcasecmp (type, "Delivery") == 0) {
        const char *resp;
        sub = member_object (root, "delivery");
        resp = member_string (sub, "smtpResponse");
        list = member_array (sub, "recipients");
        n = list != NULL ? json_array_get_length (list) : 0;
        for (guint i = 0; i < n; i++) {
            JsonNode *e = json_array_get_element (list, i);
            BounceRecipient *r;
            if (e == NULL || !JSON_NODE_HOLDS_VALUE (e) ||
                json_node_get_value_type (e) != G_TYPE_STRING)
                continue;
            r = _bounce_decode_add (report, json_node_get_string (e), resp, FALSE);
            g_free (r->action);
            r->action = g_strdup ("delivered");
            r->reason = g_strdup ("delivered");
            r->hard = 0;
        }
        report->kind = BOUNCE_KIND_DELIVERED;
    } else {
        return FALSE;
    }
    if (report->recipients->len == 0) {
        report->kind = BOUNCE_KIND_NOT_BOUNCE;
        return FALSE;
    }
    report->mta = g_strdup ("amazonses");
    return TRUE;
}
