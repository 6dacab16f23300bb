/*
 * bs-cmd-show.c - `bouncestat show ADDRESS` (or `@domain`): the whole
 * history, oldest first: when, what happened, the status and diagnostic,
 * the reason, the rule that decided and what to do; and whether the
 * address is on the suppression list now.  The history comes from
 * bounce_query_history, the verdict from bounce_query_suppress.
 */
#include <stdio.h>
#include <string.h>

#include "bs.h"

/* Prints "  label: value" when there is a value, made terminal-safe. */
static void
print_field (const char *label, const char *value)
{
    g_autofree char *safe = bs_sanitize (value);

    if (value != NULL && value[0] != '\0')
        printf ("    %s: %s\n", label, safe);
}

static void
print_text (const char *match,
            const BounceTable *history,
            const BounceTable *suppressed,
            const BounceRules *rules,
            gboolean color)
{
    g_autoptr (GHashTable) reasons = g_hash_table_new (g_str_hash,
                                                       g_str_equal);
    g_autoptr (GPtrArray) order = g_ptr_array_new ();
    g_autofree char *who = bs_sanitize (match);

    if (history->rows->len == 0) {
        printf ("No history for %s.\n", who);
        return;
    }
    printf ("%s%s%s: %u event%s\n", color ? "\033[1m" : "", who,
            color ? "\033[0m" : "", history->rows->len,
            history->rows->len == 1 ? "" : "s");
    for (guint r = 0; r < history->rows->len; r++) {
        const char *address = bounce_table_get (history, r, "address");
        const char *status = bounce_table_get (history, r, "status");
        const char *code = bounce_table_get (history, r, "smtp_code");
        const char *reason = bounce_table_get (history, r, "reason");
        const char *hard = bounce_table_get (history, r, "hard");
        const char *rule = bounce_table_get (history, r, "rule");
        const char *subject = bounce_table_get (history, r, "subject");
        const char *msgid = bounce_table_get (history, r, "orig_message_id");
        const char *command = bounce_table_get (history, r, "smtp_command");
        g_autoptr (GString) line = g_string_new (NULL);
        g_autofree char *safe = NULL;

        g_string_append_printf (line, "%s  %s",
                                bounce_table_get (history, r, "time"),
                                bounce_table_get (history, r, "outcome"));
        if (match[0] == '@' && address != NULL)
            g_string_append_printf (line, "  %s", address);
        if (status != NULL)
            g_string_append_printf (line, "  %s", status);
        if (code != NULL)
            g_string_append_printf (line, " (%s)", code);
        if (command != NULL)
            g_string_append_printf (line, " at %s", command);
        /* Hard or soft says something of failures only. */
        if (g_strcmp0 (bounce_table_get (history, r, "outcome"), "bounce") != 0)
            hard = NULL;
        if (reason != NULL)
            g_string_append_printf (line, "  %s%s", reason,
                                    g_strcmp0 (hard, "1") == 0   ? ", hard"
                                    : g_strcmp0 (hard, "0") == 0 ? ", soft"
                                                                 : "");
        if (rule != NULL)
            g_string_append_printf (line, "  [rule %s]", rule);
        if (g_strcmp0 (bounce_table_get (history, r, "verified"), "0") == 0)
            g_string_append (line, "  UNVERIFIED (maybe forged; not counted)");
        safe = bs_sanitize (line->str);
        printf ("  %s\n", safe);
        print_field ("diagnostic", bounce_table_get (history, r,
                                                     "diagnostic"));
        print_field ("remote MTA", bounce_table_get (history, r,
                                                     "remote_mta"));
        if (g_strcmp0 (bounce_table_get (history, r, "origin"), "log") == 0)
            print_field ("from", "the MTA's log");
        else if (atoi (bounce_table_get (history, r, "linked") != NULL
                           ? bounce_table_get (history, r, "linked") : "0") > 0)
            print_field ("from", "a bounce, and the MTA's log");
        if (subject != NULL || msgid != NULL) {
            g_autofree char *msg = g_strdup_printf (
                "%s%s%s%s%s", msgid != NULL ? msgid : "",
                msgid != NULL && subject != NULL ? " " : "",
                subject != NULL ? "\"" : "", subject != NULL ? subject : "",
                subject != NULL ? "\"" : "");

            print_field ("message", msg);
        }
        if (reason != NULL && !g_hash_table_contains (reasons, reason)) {
            g_hash_table_add (reasons, (gpointer) reason);
            g_ptr_array_add (order, (gpointer) reason);
        }
    }

    printf ("\n");
    if (suppressed->rows->len == 0)
        printf ("Not on the suppression list.\n");
    for (guint r = 0; r < suppressed->rows->len; r++) {
        g_autofree char *address =
            bs_sanitize (bounce_table_get (suppressed, r, "address"));
        const char *reason = bounce_table_get (suppressed, r, "reason");

        printf ("Suppressed: %s (%s bounce%s%s, last %s)\n", address,
                bounce_table_get (suppressed, r, "why"),
                reason != NULL ? ": " : "", reason != NULL ? reason : "",
                bounce_table_get (suppressed, r, "last_bounce"));
    }
    for (guint i = 0, shown = 0; i < order->len; i++) {
        const char *advice = bs_advice (rules, order->pdata[i]);
        g_autofree char *safe = bs_sanitize (advice);

        if (advice == NULL)
            continue;
        if (shown++ == 0)
            printf ("\n%sWhat to do%s\n", color ? "\033[1m" : "",
                    color ? "\033[0m" : "");
        printf ("  %s: %s\n", (const char *) order->pdata[i], safe);
    }
}

int
bs_cmd_show (int argc, char **argv)
{
    g_auto (BsQueryOptions) opts = { NULL };
    g_autofree char *format_name = NULL;
    GOptionEntry entries[] = {
        { "format", 'f', 0, G_OPTION_ARG_STRING, &format_name,
          "Output format: text (default), csv or json", "FORMAT" },
        { NULL },
    };
    g_autoptr (GOptionContext) context = g_option_context_new (
        "ADDRESS|@DOMAIN - show the history of an address or a domain");
    g_autoptr (BounceReader) reader = NULL;
    g_autoptr (BounceTable) history = NULL;
    g_autoptr (BounceTable) suppressed = NULL;
    g_autoptr (BounceRules) rules = NULL;
    g_autoptr (GError) error = NULL;
    BounceQueryOptions query;
    BsFormat format;
    int status = EX_OK;

    g_option_context_set_summary (
        context,
        "Shows every event of ADDRESS (or of every address at DOMAIN and "
        "below it), oldest\nfirst: the time, what happened, the status and "
        "diagnostic, the reason, the rule\nthat decided and what to do; "
        "then whether it is on the suppression list.");
    if (!bs_query_options_parse (context, entries, &opts, TRUE, &argc, &argv,
                                 &status))
        return status;
    if (argc != 2 || argv[1][0] == '\0' || strcmp (argv[1], "@") == 0) {
        bs_error ("show: give one ADDRESS or @DOMAIN (see --help)");
        return EX_USAGE;
    }
    /* "text" is the table format's name here. */
    if (format_name != NULL && strcmp (format_name, "text") == 0)
        g_clear_pointer (&format_name, g_free);
    if (!bs_format_parse (format_name,
                          BS_FORMATS (BS_FORMAT_CSV) |
                              BS_FORMATS (BS_FORMAT_JSON),
                          BS_FORMAT_TABLE, &format, "show"))
        return EX_USAGE;
    reader = bs_query_options_open (&opts, &query, "show", &status);
    if (reader == NULL)
        return status;
    query.match = argv[1];
    history = bounce_query_history (reader, &query, &error);
    if (history != NULL)
        suppressed = bounce_query_suppress (reader, &query, &error);
    if (suppressed == NULL) {
        bs_error ("%s", error->message);
        return bs_exit_code (error);
    }
    rules = bs_query_options_rules (&opts);

    if (format == BS_FORMAT_JSON) {
        static const char *const booleans[] = { "hard", "verified" };
        g_autoptr (JsonObject) obj = json_object_new ();
        g_autoptr (JsonNode) root = json_node_new (JSON_NODE_OBJECT);
        JsonNode *events = bounce_table_to_json (history);
        JsonArray *array = json_node_get_array (events);

        for (guint i = 0; i < json_array_get_length (array); i++) {
            JsonObject *e = json_array_get_object_element (array, i);

            /* Booleans, as parse --format=json says them (the database
             * stores 0 and 1). */
            for (guint k = 0; k < G_N_ELEMENTS (booleans); k++) {
                JsonNode *v = json_object_get_member (e, booleans[k]);

                if (v != NULL && JSON_NODE_HOLDS_VALUE (v) &&
                    json_node_get_value_type (v) == G_TYPE_INT64)
                    json_object_set_boolean_member (
                        e, booleans[k], json_node_get_int (v) != 0);
            }
            const char *advice =
                bs_advice (rules, bounce_table_get (history, i, "reason"));

            if (advice != NULL)
                json_object_set_string_member (e, "advice", advice);
            else
                json_object_set_null_member (e, "advice");
        }
        json_object_set_string_member (obj, "match", argv[1]);
        json_object_set_member (obj, "events", events);
        json_object_set_member (obj, "suppressed",
                                bounce_table_to_json (suppressed));
        json_node_set_object (root, obj);
        bs_print_json (root);
    } else if (format == BS_FORMAT_CSV) {
        bs_print_csv (history, TRUE);
    } else {
        print_text (argv[1], history, suppressed, rules, bs_use_color ());
    }
    return fflush (stdout) == 0 ? EX_OK : EX_IOERR;
}
