/*
 * bs-output.c - how the reporting subcommands print: aligned tables
 * (terminal-width aware), CSV (RFC 4180), JSON, colour on terminals only,
 * and the shared options of report, suppress and show (database, time
 * window, rules for the advice).
 *
 * Text printed to a terminal comes from bounce messages, i.e. from
 * strangers: control characters are replaced so that it cannot move the
 * cursor or change the terminal.  CSV and JSON keep the values as they
 * are (quoted).
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "bs-report.h"

static const char *const format_names[] = {
    [BS_FORMAT_TABLE] = "table",
    [BS_FORMAT_PLAIN] = "plain",
    [BS_FORMAT_CSV] = "csv",
    [BS_FORMAT_JSON] = "json",
    [BS_FORMAT_HTML] = "html",
};

gboolean
bs_format_parse (const char *text,
                 guint allowed,
                 BsFormat fallback,
                 BsFormat *out_format,
                 const char *command)
{
    g_autoptr (GString) names = g_string_new (NULL);

    if (text == NULL) {
        *out_format = fallback;
        return TRUE;
    }
    for (guint i = 0; i < G_N_ELEMENTS (format_names); i++) {
        if (!(allowed & (1u << i)))
            continue;
        if (strcmp (text, format_names[i]) == 0) {
            *out_format = (BsFormat) i;
            return TRUE;
        }
        g_string_append_printf (names, "%s%s", names->len ? ", " : "",
                                format_names[i]);
    }
    bs_error ("%s: unknown format '%s' (%s)", command, text, names->str);
    return FALSE;
}

gboolean
bs_use_color (void)
{
    const char *no_color = g_getenv ("NO_COLOR");

    /* https://no-color.org: set and not empty disables colour. */
    if (no_color != NULL && no_color[0] != '\0')
        return FALSE;
    return isatty (STDOUT_FILENO);
}

char *
bs_sanitize (const char *text)
{
    const char *p;
    GString *out;

    if (text == NULL)
        return NULL;
    /* Most text is printable ASCII: nothing to do. */
    for (p = text; *p >= 0x20 && *p < 0x7f; p++)
        ;
    if (*p == '\0')
        return g_strdup (text);
    if (!g_utf8_validate (text, -1, NULL))
        return g_utf8_make_valid (text, -1);
    out = g_string_sized_new (strlen (text));
    for (p = text; *p != '\0'; p = g_utf8_next_char (p)) {
        gunichar c = g_utf8_get_char (p);

        /* C0, DEL and C1 controls (ESC starts terminal sequences). */
        if (c < 0x20 || c == 0x7f || (c >= 0x80 && c < 0xa0))
            g_string_append_c (out, c == '\t' || c == '\n' || c == '\r'
                                        ? ' '
                                        : '?');
        else
            g_string_append_unichar (out, c);
    }
    return g_string_free (out, FALSE);
}

int
bs_text_width (const char *text)
{
    int width = 0;

    if (text == NULL)
        return 0;
    for (const char *p = text; *p != '\0'; p = g_utf8_next_char (p)) {
        gunichar c = g_utf8_get_char (p);

        if (g_unichar_iszerowidth (c))
            continue;
        width += g_unichar_iswide (c) ? 2 : 1;
    }
    return width;
}

/* Prints @text padded with spaces to @width columns, on the left
 * (@right) or the right. */
static void
print_padded (const char *text, int width, gboolean right)
{
    int pad = width - bs_text_width (text);

    if (right)
        for (; pad > 0; pad--)
            fputc (' ', stdout);
    fputs (text, stdout);
    if (!right)
        for (; pad > 0; pad--)
            fputc (' ', stdout);
}

void
bs_print_table (const BounceTable *table,
                const char *const *columns,
                const char *indent,
                gboolean color)
{
    g_autoptr (GArray) cols = g_array_new (FALSE, FALSE, sizeof (int));
    g_autoptr (GPtrArray) cells = g_ptr_array_new_with_free_func (g_free);
    g_autofree int *widths = NULL;
    guint n;

    if (columns != NULL) {
        for (guint i = 0; columns[i] != NULL; i++) {
            int c = bounce_table_find_column (table, columns[i]);

            if (c >= 0)
                g_array_append_val (cols, c);
        }
    } else {
        for (int c = 0; c < (int) table->n_columns; c++)
            g_array_append_val (cols, c);
    }
    n = cols->len;
    widths = g_new0 (int, n);
    /* Row 0 of cells is the header; "-" stands for no value. */
    for (guint r = 0; r <= table->rows->len; r++) {
        for (guint i = 0; i < n; i++) {
            int c = g_array_index (cols, int, i);
            const char *v;
            char *text;

            if (r == 0) {
                v = table->columns[c];
            } else {
                v = g_ptr_array_index (
                    (GPtrArray *) table->rows->pdata[r - 1], (guint) c);
                if (v == NULL)
                    v = "-";
            }
            text = bs_sanitize (v);
            widths[i] = MAX (widths[i], bs_text_width (text));
            g_ptr_array_add (cells, text);
        }
    }
    for (guint r = 0; r <= table->rows->len; r++) {
        fputs (indent != NULL ? indent : "", stdout);
        if (r == 0 && color)
            fputs ("\033[1m", stdout);
        for (guint i = 0; i < n; i++) {
            int c = g_array_index (cols, int, i);
            gboolean number = table->types[c] != BOUNCE_VALUE_TEXT;
            const char *text = cells->pdata[r * n + i];

            if (i > 0)
                fputs ("  ", stdout);
            /* The last column is not padded (no trailing blanks). */
            if (i + 1 == n && !number)
                fputs (text, stdout);
            else
                print_padded (text, widths[i], number);
        }
        if (r == 0 && color)
            fputs ("\033[0m", stdout);
        fputc ('\n', stdout);
    }
}

static void
print_csv_field (const char *text)
{
    if (text == NULL)
        return;
    if (strpbrk (text, ",\"\r\n") == NULL) {
        fputs (text, stdout);
        return;
    }
    fputc ('"', stdout);
    for (const char *p = text; *p != '\0'; p++) {
        if (*p == '"')
            fputc ('"', stdout);
        fputc (*p, stdout);
    }
    fputc ('"', stdout);
}

void
bs_print_csv_row (const char *const *fields, guint n)
{
    for (guint i = 0; i < n; i++) {
        if (i > 0)
            fputc (',', stdout);
        print_csv_field (fields[i]);
    }
    /* RFC 4180 ends records with CRLF; "\n" is what Unix tools expect
     * and what every CSV reader accepts. */
    fputc ('\n', stdout);
}

void
bs_print_csv (const BounceTable *table, gboolean header)
{
    if (header)
        bs_print_csv_row ((const char *const *) table->columns,
                          table->n_columns);
    for (guint r = 0; r < table->rows->len; r++) {
        GPtrArray *row = table->rows->pdata[r];

        bs_print_csv_row ((const char *const *) row->pdata, row->len);
    }
}

void
bs_print_json (JsonNode *node)
{
    g_autoptr (JsonGenerator) gen = json_generator_new ();
    g_autofree char *text = NULL;

    json_generator_set_pretty (gen, TRUE);
    json_generator_set_indent (gen, 2);
    json_generator_set_root (gen, node);
    text = json_generator_to_data (gen, NULL);
    fputs (text, stdout);
    fputc ('\n', stdout);
}

/* ------------------------------------------------------------------ */
/* The options report, suppress and show share                        */
/* ------------------------------------------------------------------ */

void
bs_query_options_add (GOptionContext *context,
                      BsQueryOptions *opts,
                      gboolean with_rules)
{
    GOptionEntry entries[] = {
        { "db", 0, 0, G_OPTION_ARG_FILENAME, &opts->db,
          "The database (default: $BOUNCESTAT_DB, else the configuration's "
          "database, else $XDG_DATA_HOME/bouncestat/bounces.db)", "PATH" },
        { "since", 0, 0, G_OPTION_ARG_STRING, &opts->since,
          "Only events since WHEN: 30m, 24h, 7d, 2w back from now, a date "
          "(2026-11-01) or an ISO 8601 time", "WHEN" },
        { "until", 0, 0, G_OPTION_ARG_STRING, &opts->until,
          "Only events before WHEN (a date includes that day)", "WHEN" },
        { "rules", 0, 0, G_OPTION_ARG_FILENAME, &opts->rules_dir,
          "Read the advice from the rules in DIR", "DIR" },
        { "no-rules", 0, 0, G_OPTION_ARG_NONE, &opts->no_rules,
          "Do not read the rules (no advice)", NULL },
        { NULL },
    };

    if (!with_rules)
        entries[3] = entries[5];
    g_option_context_add_main_entries (context, entries, NULL);
}

gboolean
bs_query_options_parse (GOptionContext *context,
                        const GOptionEntry *entries,
                        BsQueryOptions *opts,
                        gboolean with_rules,
                        int *argc,
                        char ***argv,
                        int *out_status)
{
    g_option_context_add_main_entries (context, entries, NULL);
    bs_query_options_add (context, opts, with_rules);
    return bs_parse_options (context, argc, argv, out_status);
}

GDateTime *
bs_now (void)
{
    const char *env = g_getenv ("BOUNCESTAT_NOW");

    /* Fixed "now" for reproducible reports (and tests). */
    if (env != NULL && env[0] != '\0') {
        g_autoptr (GTimeZone) utc = g_time_zone_new_utc ();
        GDateTime *t = g_date_time_new_from_iso8601 (env, utc);

        if (t != NULL)
            return t;
        bs_error ("BOUNCESTAT_NOW='%s' is not an ISO 8601 time; ignored",
                  env);
    }
    return g_date_time_new_now_utc ();
}

BounceReader *
bs_query_options_open (BsQueryOptions *opts,
                       BounceQueryOptions *query,
                       const char *command,
                       int *out_status)
{
    g_autoptr (GDateTime) now = bs_now ();
    g_autoptr (GError) error = NULL;
    g_autofree char *path = NULL;
    BounceReader *reader;

    bounce_query_options_init (query);
    if (opts->since != NULL) {
        opts->since_utc = bounce_time_parse (opts->since, now, FALSE, &error);
        if (opts->since_utc == NULL) {
            bs_error ("%s: --since: %s", command, error->message);
            *out_status = EX_USAGE;
            return NULL;
        }
    }
    if (opts->until != NULL) {
        opts->until_utc = bounce_time_parse (opts->until, now, TRUE, &error);
        if (opts->until_utc == NULL) {
            bs_error ("%s: --until: %s", command, error->message);
            *out_status = EX_USAGE;
            return NULL;
        }
    }
    /* Both are UTC "YYYY-MM-DDTHH:MM:SSZ": they compare as strings. */
    if (opts->since_utc != NULL && opts->until_utc != NULL &&
        strcmp (opts->until_utc, opts->since_utc) < 0) {
        bs_error ("%s: --until %s is before --since %s", command,
                  opts->until, opts->since);
        *out_status = EX_USAGE;
        return NULL;
    }
    query->since = opts->since_utc;
    query->until = opts->until_utc;

    path = bs_db_path (opts->db);
    reader = bounce_reader_open (path, &error);
    if (reader == NULL) {
        bs_error ("%s", error->message);
        *out_status = bs_exit_code (error);
        return NULL;
    }
    return reader;
}

BounceRules *
bs_query_options_rules (BsQueryOptions *opts)
{
    g_auto (GStrv) dirs = NULL;
    g_autoptr (GError) error = NULL;
    BounceRules *rules;

    if (opts->no_rules)
        return NULL;
    dirs = bs_rules_dirs (opts->rules_dir, NULL);
    rules = bounce_rules_load ((const char *const *) dirs, &error);

    /* The advice is a help, not a must: report without it. */
    if (rules == NULL)
        bs_error ("warning: no advice: %s", error->message);
    return rules;
}

const char *
bs_advice (const BounceRules *rules, const char *reason)
{
    if (rules == NULL || reason == NULL)
        return NULL;
    return bounce_rules_get_advice (rules, reason, NULL,
                                    bs_language (rules, NULL, NULL));
}

const char *
bs_meaning (const BounceRules *rules, const char *reason)
{
    if (rules == NULL || reason == NULL)
        return NULL;
    return bounce_rules_get_meaning (rules, reason,
                                     bs_language (rules, NULL, NULL));
}

void
bs_query_options_clear (BsQueryOptions *opts)
{
    g_clear_pointer (&opts->db, g_free);
    g_clear_pointer (&opts->since, g_free);
    g_clear_pointer (&opts->until, g_free);
    g_clear_pointer (&opts->rules_dir, g_free);
    g_clear_pointer (&opts->since_utc, g_free);
    g_clear_pointer (&opts->until_utc, g_free);
}
