/*
 * bounce-report.c - BounceReport and BounceRecipient records, and their
 * JSON form (docs/output-format.md, format_version 1).
 *
 * Records are plain structs owned by their parent; the JSON is built with
 * json-glib, never by hand.
 */
#include <stdarg.h>
#include <string.h>

#include "bounce-private.h"

static const char *const kind_names[] = {
    [BOUNCE_KIND_UNPARSABLE] = "unparsable",
    [BOUNCE_KIND_NOT_BOUNCE] = "not-bounce",
    [BOUNCE_KIND_DSN] = "dsn",
    [BOUNCE_KIND_BOUNCE] = "bounce",
    [BOUNCE_KIND_FEEDBACK] = "feedback",
    [BOUNCE_KIND_AUTOREPLY] = "autoreply",
    [BOUNCE_KIND_DELIVERED] = "delivered",
};

const char *
bounce_kind_to_string (BounceKind kind)
{
    g_return_val_if_fail ((guint) kind < G_N_ELEMENTS (kind_names), NULL);
    return kind_names[kind];
}

const char *
bounce_origin_to_string (BounceOrigin origin)
{
    return origin == BOUNCE_ORIGIN_LOG ? "log" : "message";
}

const char *
bounce_status_source_to_string (BounceStatusSource source)
{
    switch (source) {
    case BOUNCE_STATUS_SOURCE_DSN:
        return "dsn";
    case BOUNCE_STATUS_SOURCE_DIAGNOSTIC:
        return "diagnostic";
    case BOUNCE_STATUS_SOURCE_INFERRED:
        return "inferred";
    case BOUNCE_STATUS_SOURCE_NONE:
    default:
        return NULL;
    }
}

BounceRecipient *
bounce_recipient_new (void)
{
    BounceRecipient *r = g_new0 (BounceRecipient, 1);

    r->hard = -1;
    return r;
}

void
bounce_recipient_free (BounceRecipient *r)
{
    if (r == NULL)
        return;
    g_free (r->address);
    g_free (r->original_recipient);
    g_free (r->action);
    g_free (r->status);
    g_free (r->diagnostic_type);
    g_free (r->diagnostic);
    g_free (r->remote_mta);
    g_free (r->last_attempt);
    g_free (r->reason);
    g_free (r->rule);
    g_free (r->feedback_type);
    g_free (r->smtp_command);
    g_free (r->final_recipient);
    g_free (r);
}

BounceReport *
bounce_report_new (const char *source)
{
    BounceReport *report = g_new0 (BounceReport, 1);

    report->source = g_strdup (source);
    report->kind = BOUNCE_KIND_NOT_BOUNCE;
    report->recipients =
        g_ptr_array_new_with_free_func ((GDestroyNotify) bounce_recipient_free);
    report->warnings = g_ptr_array_new_with_free_func (g_free);
    report->extra_headers =
        g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
    return report;
}

void
bounce_report_free (BounceReport *report)
{
    if (report == NULL)
        return;
    g_free (report->source);
    g_free (report->mta);
    g_free (report->reporting_mta);
    g_free (report->arrival_date);
    g_free (report->subject);
    g_free (report->from);
    g_free (report->date);
    g_free (report->orig_message_id);
    g_free (report->orig_from);
    g_free (report->orig_to);
    g_free (report->orig_subject);
    g_free (report->orig_date);
    g_free (report->verp_address);
    g_free (report->queue_id);
    g_ptr_array_unref (report->recipients);
    g_ptr_array_unref (report->warnings);
    g_hash_table_unref (report->extra_headers);
    g_free (report);
}

void
bounce_report_add_warning (BounceReport *report, const char *format, ...)
{
    va_list args;
    char *text;

    g_return_if_fail (report != NULL);
    if (report->warnings->len > BOUNCE_MAX_WARNINGS)
        return;
    if (report->warnings->len == BOUNCE_MAX_WARNINGS) {
        g_ptr_array_add (report->warnings,
                         g_strdup ("too many warnings; the rest are dropped"));
        return;
    }
    va_start (args, format);
    text = g_strdup_vprintf (format, args);
    va_end (args);
    /* Warnings quote untrusted input: keep them valid UTF-8 on one line,
     * without control characters. */
    for (char *p = text; *p != '\0'; p++)
        if ((guchar) *p < 0x20 || *p == 0x7f)
            *p = ' ';
    g_ptr_array_add (report->warnings, g_utf8_make_valid (text, -1));
    g_free (text);
}

void
_bounce_report_take_recipient (BounceReport *report,
                               BounceRecipient *recipient)
{
    if (report->recipients->len >= BOUNCE_MAX_RECIPIENTS) {
        if (report->recipients_dropped++ == 0)
            bounce_report_add_warning (
                report, "more than %u recipients; the rest are not kept",
                BOUNCE_MAX_RECIPIENTS);
        bounce_recipient_free (recipient);
        return;
    }
    g_ptr_array_add (report->recipients, recipient);
}

/* Adds a string value.  json-glib 1.6 writes the control character
 * U+001F unescaped, which makes the line invalid JSON; it becomes
 * U+FFFD here, like any other byte that cannot be shown. */
static void
add_string_value (JsonBuilder *b, const char *value)
{
    GString *fixed;

    if (strchr (value, '\x1f') == NULL) {
        json_builder_add_string_value (b, value);
        return;
    }
    fixed = g_string_new (value);
    g_string_replace (fixed, "\x1f", "\xef\xbf\xbd", 0);
    json_builder_add_string_value (b, fixed->str);
    g_string_free (fixed, TRUE);
}

static void
add_string (JsonBuilder *b, const char *key, const char *value)
{
    json_builder_set_member_name (b, key);
    if (value != NULL)
        add_string_value (b, value);
    else
        json_builder_add_null_value (b);
}

/* The one place that decides what happened to a recipient (the events'
 * outcome column and the JSON's "outcome" key): what the report is
 * (feedback, auto-reply), the DSN's Action, then the reason the rules
 * gave, then the report's kind and the status class. */
const char *
bounce_recipient_outcome (const BounceReport *report, const BounceRecipient *r)
{
    g_return_val_if_fail (report != NULL && r != NULL, "unknown");
    if (report->kind == BOUNCE_KIND_FEEDBACK)
        return "feedback";
    if (report->kind == BOUNCE_KIND_AUTOREPLY)
        return "autoreply";
    if (r->action != NULL) {
        if (g_ascii_strcasecmp (r->action, "failed") == 0)
            return "bounce";
        if (g_ascii_strcasecmp (r->action, "delayed") == 0)
            return "delay";
        if (g_ascii_strcasecmp (r->action, "delivered") == 0 ||
            g_ascii_strcasecmp (r->action, "relayed") == 0 ||
            g_ascii_strcasecmp (r->action, "expanded") == 0)
            return "delivered";
    }
    if (r->reason != NULL) {
        if (strcmp (r->reason, "delivered") == 0)
            return "delivered";
        if (strcmp (r->reason, "feedback") == 0)
            return "feedback";
        if (strcmp (r->reason, "vacation") == 0)
            return "autoreply";
    }
    if (report->kind == BOUNCE_KIND_DELIVERED ||
        (r->status != NULL && r->status[0] == '2'))
        return "delivered";
    if (report->kind == BOUNCE_KIND_DSN || report->kind == BOUNCE_KIND_BOUNCE)
        return "bounce";
    return "unknown";
}

static void
add_recipient (JsonBuilder *b,
               const BounceReport *report,
               const BounceRecipient *r)
{
    json_builder_begin_object (b);
    add_string (b, "address", r->address);
    add_string (b, "original_recipient", r->original_recipient);
    /* Only when it differs from the address (the sender's, an alias). */
    if (r->final_recipient != NULL)
        add_string (b, "final_recipient", r->final_recipient);
    add_string (b, "action", r->action);
    add_string (b, "status", r->status);
    add_string (b, "status_source",
                bounce_status_source_to_string (r->status_source));
    json_builder_set_member_name (b, "smtp_code");
    if (r->smtp_code > 0)
        json_builder_add_int_value (b, r->smtp_code);
    else
        json_builder_add_null_value (b);
    add_string (b, "diagnostic_type", r->diagnostic_type);
    add_string (b, "diagnostic", r->diagnostic);
    add_string (b, "remote_mta", r->remote_mta);
    add_string (b, "last_attempt", r->last_attempt);
    add_string (b, "reason", r->reason);
    json_builder_set_member_name (b, "hard");
    if (r->hard >= 0)
        json_builder_add_boolean_value (b, r->hard != 0);
    else
        json_builder_add_null_value (b);
    json_builder_set_member_name (b, "permanent");
    json_builder_add_boolean_value (b, r->permanent);
    add_string (b, "rule", r->rule);
    if (r->feedback_type != NULL)
        add_string (b, "feedback_type", r->feedback_type);
    /* Added within format_version 1. */
    add_string (b, "smtp_command", r->smtp_command);
    /* Added within format_version 1: what the database stores too. */
    add_string (b, "outcome", bounce_recipient_outcome (report, r));
    /* Only when checked (docs/verp.md). */
    if (r->verified != BOUNCE_VERIFIED_UNCHECKED) {
        json_builder_set_member_name (b, "verified");
        json_builder_add_boolean_value (b,
                                        r->verified == BOUNCE_VERIFIED_YES);
    }
    json_builder_end_object (b);
}

JsonNode *
bounce_report_to_json (const BounceReport *report)
{
    g_autoptr (JsonBuilder) b = json_builder_new ();

    g_return_val_if_fail (report != NULL, NULL);

    json_builder_begin_object (b);
    json_builder_set_member_name (b, "format_version");
    json_builder_add_int_value (b, BOUNCE_FORMAT_VERSION);
    add_string (b, "source", report->source);
    add_string (b, "kind", bounce_kind_to_string (report->kind));
    add_string (b, "mta", report->mta);
    add_string (b, "reporting_mta", report->reporting_mta);
    add_string (b, "arrival_date", report->arrival_date);
    add_string (b, "subject", report->subject);

    json_builder_set_member_name (b, "original");
    json_builder_begin_object (b);
    add_string (b, "message_id", report->orig_message_id);
    add_string (b, "from", report->orig_from);
    add_string (b, "to", report->orig_to);
    add_string (b, "subject", report->orig_subject);
    add_string (b, "date", report->orig_date);
    json_builder_end_object (b);

    json_builder_set_member_name (b, "recipients");
    json_builder_begin_array (b);
    for (guint i = 0; i < report->recipients->len; i++) {
        add_recipient (b, report, report->recipients->pdata[i]);
    }
    json_builder_end_array (b);

    json_builder_set_member_name (b, "warnings");
    json_builder_begin_array (b);
    for (guint i = 0; i < report->warnings->len; i++)
        add_string_value (b, report->warnings->pdata[i]);
    json_builder_end_array (b);

    /* Keys added within format_version 1 (see docs/output-format.md). */
    add_string (b, "verp_address", report->verp_address);
    /* Only for a log line (import-log --print): a message's JSON stays
     * as it was. */
    if (report->origin == BOUNCE_ORIGIN_LOG) {
        add_string (b, "origin", bounce_origin_to_string (report->origin));
        add_string (b, "queue_id", report->queue_id);
    }
    json_builder_end_object (b);
    return json_builder_get_root (b);
}
