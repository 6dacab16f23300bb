/*
 * bs-cmd-report.c - `bouncestat report`: what bounced and why.  Without
 * --by, a one-screen overview (totals, the reasons with their advice,
 * the top domains, a daily sparkline); with --by, counts grouped by
 * reason, domain, day, week, mta, remote-mta, recipient, sender or
 * campaign.  The counting is libbounce's (bounce_query_*); this file
 * only picks the window and prints.
 */
#include <stdio.h>
#include <string.h>

#include "bs-report.h"

/* Days the overview's sparkline covers at most. */
#define TREND_MAX_DAYS 60
#define TREND_DEFAULT_DAYS 30
/* Domains in the overview unless --top says otherwise. */
#define OVERVIEW_TOP 5

/* The messages that are not bounces, in words: each has a line in the
 * overview, so that its numbers add up to ingest's. */
static const struct {
    const char *outcome;
    const char *label;
} outcome_labels[] = {
    { "bounce", "with bounces" },
    { "delay", "delay notices" },
    { "delivered", "delivery notices" },
    { "feedback", "complaints (ARF)" },
    { "autoreply", "auto-replies" },
    { "unknown", "unclear notices" },
    { "none", "no recipient" },
};

const char *const bs_report_outcomes[] = { "bounce", "delay", "delivered",
                                           "feedback", "autoreply", NULL };

const char *
bs_report_outcome_label (const char *outcome)
{
    for (guint i = 0; i < G_N_ELEMENTS (outcome_labels); i++)
        if (g_strcmp0 (outcome, outcome_labels[i].outcome) == 0)
            return outcome_labels[i].label;
    return outcome;
}

gint64
bs_report_outcome_messages (const BounceOverview *ov, const char *outcome)
{
    for (guint r = 0; r < ov->outcomes->rows->len; r++)
        if (g_strcmp0 (bounce_table_get (ov->outcomes, r, "outcome"),
                       outcome) == 0)
            return g_ascii_strtoll (
                bounce_table_get (ov->outcomes, r, "messages"), NULL, 10);
    return 0;
}

/* Adds an "advice" column to a table with a "reason" column, when the
 * rules have advice for any of them. */
static void
add_advice_column (BounceTable *table, const BounceRules *rules)
{
    int reason = bounce_table_find_column (table, "reason");
    guint n = table->n_columns;
    gboolean any = FALSE;

    if (reason < 0)
        return;
    for (guint r = 0; r < table->rows->len && !any; r++)
        any = bs_advice (rules, g_ptr_array_index (
                                    (GPtrArray *) table->rows->pdata[r],
                                    (guint) reason)) != NULL;
    if (!any)
        return;
    table->columns = g_renew (char *, table->columns, n + 2);
    table->columns[n] = g_strdup ("advice");
    table->columns[n + 1] = NULL;
    table->types = g_renew (BounceValueType, table->types, n + 1);
    table->types[n] = BOUNCE_VALUE_TEXT;
    table->n_columns = n + 1;
    for (guint r = 0; r < table->rows->len; r++) {
        GPtrArray *row = table->rows->pdata[r];

        g_ptr_array_add (row, g_strdup (bs_advice (
                                  rules, row->pdata[(guint) reason])));
    }
}

static void
window_json (const BsQueryOptions *opts, JsonObject *obj)
{
    if (opts->since_utc != NULL)
        json_object_set_string_member (obj, "since", opts->since_utc);
    else
        json_object_set_null_member (obj, "since");
    if (opts->until_utc != NULL)
        json_object_set_string_member (obj, "until", opts->until_utc);
    else
        json_object_set_null_member (obj, "until");
}

/* The days the trend covers: up to the day before --until (or today),
 * from --since (or TREND_DEFAULT_DAYS back), at most TREND_MAX_DAYS. */
static void
trend_days (const BsQueryOptions *opts, char **out_first, char **out_last)
{
    g_autoptr (GTimeZone) utc = g_time_zone_new_utc ();
    g_autoptr (GDateTime) last = NULL;
    g_autoptr (GDateTime) first = NULL;

    if (opts->until_utc != NULL) {
        g_autoptr (GDateTime) until =
            g_date_time_new_from_iso8601 (opts->until_utc, utc);

        last = g_date_time_add_seconds (until, -1);
    } else {
        last = bs_now ();
    }
    if (opts->since_utc != NULL)
        first = g_date_time_new_from_iso8601 (opts->since_utc, utc);
    if (first == NULL || g_date_time_compare (first, last) > 0 ||
        g_date_time_difference (last, first) >=
            (GTimeSpan) TREND_MAX_DAYS * G_TIME_SPAN_DAY) {
        g_clear_pointer (&first, g_date_time_unref);
        first = g_date_time_add_days (
            last, -(opts->since_utc != NULL ? TREND_MAX_DAYS
                                            : TREND_DEFAULT_DAYS) + 1);
    }
    *out_first = g_date_time_format (first, "%Y-%m-%d");
    *out_last = g_date_time_format (last, "%Y-%m-%d");
}

static char *
sparkline (const BounceTable *trend, gint64 *out_max)
{
    static const char *const bars[] = { "▁", "▂", "▃", "▄",
                                        "▅", "▆", "▇", "█" };
    GString *line = g_string_new (NULL);
    gint64 max = 0;

    for (guint r = 0; r < trend->rows->len; r++)
        max = MAX (max, g_ascii_strtoll (bounce_table_get (trend, r,
                                                           "bounces"),
                                         NULL, 10));
    for (guint r = 0; r < trend->rows->len; r++) {
        gint64 n = g_ascii_strtoll (bounce_table_get (trend, r, "bounces"),
                                    NULL, 10);
        /* Nothing is the lowest bar; the busiest day the highest. */
        gint64 level = n == 0 ? 0 : (n * 7 + max - 1) / max;

        g_string_append (line, bars[level]);
    }
    *out_max = max;
    return g_string_free (line, FALSE);
}

static void
print_title (const char *title, gboolean color)
{
    if (color)
        printf ("\033[1m%s\033[0m\n", title);
    else
        printf ("%s\n", title);
}

/* Every message of the period, once: the bounces, then the notices that
 * are not (always listed), then the others when there are any. */
static void
print_messages_text (const BounceOverview *ov)
{
    printf ("  messages            %" G_GINT64_FORMAT "\n",
            bs_report_outcome_messages (ov, "all"));
    for (guint i = 0; bs_report_outcomes[i] != NULL; i++)
        printf ("    %-16s  %" G_GINT64_FORMAT "\n",
                bs_report_outcome_label (bs_report_outcomes[i]),
                bs_report_outcome_messages (ov, bs_report_outcomes[i]));
    for (guint r = 0; r < ov->outcomes->rows->len; r++) {
        const char *o = bounce_table_get (ov->outcomes, r, "outcome");

        if (g_strcmp0 (o, "unknown") == 0 || g_strcmp0 (o, "none") == 0)
            printf ("    %-16s  %s\n", bs_report_outcome_label (o),
                    bounce_table_get (ov->outcomes, r, "messages"));
    }
}

static void
print_overview_text (const BounceOverview *ov,
                     const BsQueryOptions *opts,
                     const BounceRules *rules,
                     gboolean color)
{
    const BounceTable *t = ov->totals;
    const char *first = bounce_table_get (t, 0, "first");
    const char *last = bounce_table_get (t, 0, "last");
    const char *const reason_cols[] = { "reason", "bounces", "hard", "soft",
                                        "who", NULL };
    const char *const domain_cols[] = { "domain", "bounces", "hard", "soft",
                                        NULL };
    g_autofree char *line = NULL;
    gint64 max;

    if (opts->since_utc != NULL || opts->until_utc != NULL)
        printf ("Bounces%s%s%s%s (UTC)\n",
                opts->since_utc != NULL ? " since " : "",
                opts->since_utc != NULL ? opts->since_utc : "",
                opts->until_utc != NULL ? " before " : "",
                opts->until_utc != NULL ? opts->until_utc : "");
    else if (first != NULL)
        printf ("Bounces from %s to %s (UTC)\n", first, last);
    else
        printf ("Bounces\n");
    printf ("  bounced recipients  %s (%s addresses, %s messages)\n"
            "  hard                %s\n"
            "  soft                %s\n",
            bounce_table_get (t, 0, "bounces"),
            bounce_table_get (t, 0, "recipients"),
            bounce_table_get (t, 0, "messages"),
            bounce_table_get (t, 0, "hard"), bounce_table_get (t, 0, "soft"));
    print_messages_text (ov);
    if (ov->reasons->rows->len == 0) {
        printf ("\nNo bounces in this period.\n");
        return;
    }

    printf ("\n");
    print_title ("Reasons", color);
    bs_print_table (ov->reasons, reason_cols, "  ", color);
    if (rules != NULL) {
        gboolean titled = FALSE;

        for (guint r = 0; r < ov->reasons->rows->len; r++) {
            const char *reason = bounce_table_get (ov->reasons, r, "reason");
            const char *advice = bs_advice (rules, reason);
            g_autofree char *safe = bs_sanitize (advice);

            if (advice == NULL)
                continue;
            if (!titled) {
                printf ("\n");
                print_title ("What to do", color);
                titled = TRUE;
            }
            printf ("  %s: %s\n", reason, safe);
        }
    }

    printf ("\n");
    print_title ("Top domains", color);
    bs_print_table (ov->domains, domain_cols, "  ", color);

    printf ("\n");
    line = sparkline (ov->trend, &max);
    {
        g_autofree char *title = g_strdup_printf (
            "Bounces a day, %s to %s (busiest: %" G_GINT64_FORMAT ")",
            bounce_table_get (ov->trend, 0, "day"),
            bounce_table_get (ov->trend, ov->trend->rows->len - 1, "day"),
            max);

        print_title (title, color);
    }
    printf ("  %s\n", line);
}

static void
add_rows_json (JsonObject *obj,
               const char *name,
               const BounceTable *table,
               const BounceRules *rules,
               gboolean advice)
{
    JsonArray *array = json_array_new ();

    for (guint r = 0; r < table->rows->len; r++) {
        JsonNode *node = bounce_table_row_to_json (table, r);

        if (advice) {
            const char *a =
                bs_advice (rules, bounce_table_get (table, r, "reason"));

            if (a != NULL)
                json_object_set_string_member (json_node_get_object (node),
                                               "advice", a);
            else
                json_object_set_null_member (json_node_get_object (node),
                                             "advice");
        }
        json_array_add_element (array, node);
    }
    json_object_set_array_member (obj, name, array);
}

static void
print_overview_json (const BounceOverview *ov,
                     const BsQueryOptions *opts,
                     const BounceRules *rules)
{
    g_autoptr (JsonObject) obj = json_object_new ();
    g_autoptr (JsonNode) root = json_node_new (JSON_NODE_OBJECT);

    window_json (opts, obj);
    json_object_set_member (obj, "totals",
                            bounce_table_row_to_json (ov->totals, 0));
    add_rows_json (obj, "reasons", ov->reasons, rules, TRUE);
    add_rows_json (obj, "domains", ov->domains, rules, FALSE);
    add_rows_json (obj, "trend", ov->trend, rules, FALSE);
    add_rows_json (obj, "outcomes", ov->outcomes, rules, FALSE);
    json_node_set_object (root, obj);
    bs_print_json (root);
}

/* The page: the overview, the receiving servers and the suppression
 * list of the same period. */
static int
print_overview_html (BounceReader *reader,
                     const BounceOverview *ov,
                     const BsQueryOptions *opts,
                     const BounceQueryOptions *query,
                     const BounceRules *rules)
{
    g_autoptr (BounceTable) providers = NULL;
    g_autoptr (BounceTable) suppress = NULL;
    g_autoptr (GDateTime) now = bs_now ();
    g_autoptr (GError) error = NULL;
    BounceQueryOptions q = *query;
    BsHtmlReport report = { ov, NULL, NULL, opts, rules, now };

    providers = bounce_query_report (reader, BOUNCE_GROUP_REMOTE_MTA, &q,
                                     &error);
    if (providers != NULL) {
        q.top = 0;
        suppress = bounce_query_suppress (reader, &q, &error);
    }
    if (providers == NULL || suppress == NULL) {
        bs_error ("%s", error->message);
        return bs_exit_code (error);
    }
    report.providers = providers;
    report.suppress = suppress;
    bs_report_print_html (&report);
    return EX_OK;
}

/* CSV has one table: section,name,bounces,hard,soft. */
static void
print_overview_csv (const BounceOverview *ov)
{
    const char *header[] = { "section", "name", "bounces", "hard", "soft" };
    const struct {
        const char *section;
        const BounceTable *table;
        const char *key;
    } parts[] = {
        { "total", ov->totals, NULL },
        { "reason", ov->reasons, "reason" },
        { "domain", ov->domains, "domain" },
        { "day", ov->trend, "day" },
    };

    bs_print_csv_row (header, G_N_ELEMENTS (header));
    for (guint p = 0; p < G_N_ELEMENTS (parts); p++)
        for (guint r = 0; r < parts[p].table->rows->len; r++) {
            const BounceTable *t = parts[p].table;
            const char *fields[] = {
                parts[p].section,
                parts[p].key != NULL ? bounce_table_get (t, r, parts[p].key)
                                     : "all",
                bounce_table_get (t, r, "bounces"),
                bounce_table_get (t, r, "hard"),
                bounce_table_get (t, r, "soft"),
            };

            bs_print_csv_row (fields, G_N_ELEMENTS (fields));
        }
}

/* Says on stderr when part of the history was classified by other rules
 * than the loaded ones. */
static void
note_other_rules (BounceReader *reader, const BounceRules *rules)
{
    g_autoptr (GError) error = NULL;
    gint64 total = 0;
    gint64 other;

    if (rules == NULL)
        return;
    other = bounce_query_count_other_rules (
        reader, bounce_rules_get_version (rules), &total, &error);
    if (other > 0)
        bs_error ("report: %" G_GINT64_FORMAT " of %" G_GINT64_FORMAT
                  " events were classified by other rules than the loaded "
                  "ones ('bouncestat reclassify' classifies them again)",
                  other, total);
}

int
bs_cmd_report (int argc, char **argv)
{
    g_auto (BsQueryOptions) opts = { NULL };
    g_autofree char *by = NULL;
    g_autofree char *format_name = NULL;
    g_autofree char *campaign = NULL;
    int top = G_MININT; /* not given */
    GOptionEntry entries[] = {
        { "by", 'b', 0, G_OPTION_ARG_STRING, &by,
          "Group by reason, domain, day, week, mta, remote-mta, recipient, "
          "sender, campaign or origin (message or log) (default: the "
          "overview)", "WHAT" },
        { "top", 'n', 0, G_OPTION_ARG_INT, &top,
          "Show the N largest groups only (the N latest days or weeks; in "
          "the overview, the top N domains, default 5)",
          "N" },
        { "format", 'f', 0, G_OPTION_ARG_STRING, &format_name,
          "Output format: table (default), csv, json or html (one page "
          "with charts; the overview only)", "FORMAT" },
        { "campaign-header", 0, 0, G_OPTION_ARG_STRING, &campaign,
          "The header that names the campaign (default: X-Campaign-Id)",
          "NAME" },
        { NULL },
    };
    g_autoptr (GOptionContext) context =
        g_option_context_new ("- count what bounced and why");
    g_autoptr (BounceReader) reader = NULL;
    g_autoptr (BounceRules) rules = NULL;
    g_autoptr (GError) error = NULL;
    BounceQueryOptions query;
    BsFormat format;
    BounceGroup group = BOUNCE_GROUP_REASON;
    int status = EX_OK;

    g_option_context_set_summary (
        context,
        "Counts bounced recipients (bounces), distinct addresses "
        "(recipients) and messages,\nhard and soft.  Without --by: an "
        "overview with the totals, the reasons and what\nto do about them, "
        "the top domains and a sparkline of the bounces a day.");
    if (!bs_query_options_parse (context, entries, &opts, TRUE, &argc, &argv,
                                 &status))
        return status;
    if (!bs_no_arguments ("report", argc, argv))
        return EX_USAGE;
    if (!bs_format_parse (format_name,
                          BS_FORMATS (BS_FORMAT_TABLE) |
                              BS_FORMATS (BS_FORMAT_CSV) |
                              BS_FORMATS (BS_FORMAT_JSON) |
                              BS_FORMATS (BS_FORMAT_HTML),
                          BS_FORMAT_TABLE, &format, "report"))
        return EX_USAGE;
    if (format == BS_FORMAT_HTML && by != NULL) {
        bs_error ("report: --format=html is the overview: it cannot be "
                  "--by '%s' (use --since and --until for the period)", by);
        return EX_USAGE;
    }
    if (by != NULL && !bounce_group_from_string (by, &group)) {
        bs_error ("report: cannot group by '%s' (reason, domain, day, week, "
                  "mta, remote-mta, recipient, sender, campaign or origin)",
                  by);
        return EX_USAGE;
    }
    if (top != G_MININT && top < 1) {
        bs_error ("report: --top must be 1 or more");
        return EX_USAGE;
    }
    reader = bs_query_options_open (&opts, &query, "report", &status);
    if (reader == NULL)
        return status;
    query.campaign_header = campaign;

    if (by == NULL) {
        g_autoptr (BounceOverview) ov = NULL;
        g_autofree char *first = NULL;
        g_autofree char *last = NULL;

        query.top = top > 0 ? (guint) top : OVERVIEW_TOP;
        trend_days (&opts, &first, &last);
        ov = bounce_query_overview (reader, &query, first, last, &error);
        if (ov == NULL) {
            bs_error ("%s", error->message);
            return bs_exit_code (error);
        }
        rules = bs_query_options_rules (&opts);
        if (format == BS_FORMAT_HTML) {
            status = print_overview_html (reader, ov, &opts, &query, rules);
            if (status != EX_OK)
                return status;
        } else if (format == BS_FORMAT_JSON)
            print_overview_json (ov, &opts, rules);
        else if (format == BS_FORMAT_CSV)
            print_overview_csv (ov);
        else
            print_overview_text (ov, &opts, rules, bs_use_color ());
    } else {
        g_autoptr (BounceTable) table = NULL;

        query.top = top > 0 ? (guint) top : 0;
        table = bounce_query_report (reader, group, &query, &error);
        if (table == NULL) {
            bs_error ("%s", error->message);
            return bs_exit_code (error);
        }
        if (group == BOUNCE_GROUP_REASON) {
            rules = bs_query_options_rules (&opts);
            add_advice_column (table, rules);
        }
        if (format == BS_FORMAT_JSON) {
            g_autoptr (JsonObject) obj = json_object_new ();
            g_autoptr (JsonNode) root = json_node_new (JSON_NODE_OBJECT);

            json_object_set_string_member (obj, "by",
                                           bounce_group_to_string (group));
            window_json (&opts, obj);
            json_object_set_member (obj, "rows",
                                    bounce_table_to_json (table));
            json_node_set_object (root, obj);
            bs_print_json (root);
        } else if (format == BS_FORMAT_CSV) {
            bs_print_csv (table, TRUE);
        } else if (table->rows->len == 0) {
            printf ("No bounces in this period.\n");
        } else {
            bs_print_table (table, NULL, NULL, bs_use_color ());
        }
    }
    note_other_rules (reader, rules);
    return fflush (stdout) == 0 ? EX_OK : EX_IOERR;
}
