/*
 * bs-cmd-reclassify.c - `bouncestat reclassify`: the current rules (and
 * decoders) over the stored raw messages, the events updated in place
 * (bounce_store_reclassify), or with --dry-run what would change.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "bs.h"

/* The progress bar is redrawn at most this often. */
#define PROGRESS_INTERVAL_US (200 * 1000)

typedef struct {
    gint64 started_us;
    gint64 drawn_us;
} Progress;

static void
draw_progress (guint64 done, guint64 total, gpointer user_data)
{
    Progress *p = user_data;
    gint64 now = g_get_monotonic_time ();
    const int width = 30;
    double frac = total > 0 ? MIN (1.0, (double) done / (double) total) : 1.0;
    double elapsed = (now - p->started_us) / 1e6;
    int fill = (int) (frac * width);
    char bar[64];

    if (done < total && now - p->drawn_us < PROGRESS_INTERVAL_US)
        return;
    p->drawn_us = now;
    memset (bar, '#', fill);
    memset (bar + fill, '-', width - fill);
    bar[width] = '\0';
    fprintf (stderr,
             "\r[%s] %3d%% %" G_GUINT64_FORMAT "/%" G_GUINT64_FORMAT
             "  %.0f msg/s\033[K",
             bar, (int) (frac * 100), done, total,
             elapsed > 0 ? done / elapsed : 0.0);
}

static const char *
or_none (const char *text)
{
    return text != NULL ? text : "(none)";
}

static void
print_text (const BounceReclassifySummary *s, gboolean dry_run)
{
    const BounceTable *r = s->reasons;
    const BounceTable *a = s->suppression;

    printf ("%s %" G_GUINT64_FORMAT " message%s (%" G_GUINT64_FORMAT
            " stored unclassified): %" G_GUINT64_FORMAT " events, %"
            G_GUINT64_FORMAT " %s.\n",
            dry_run ? "Read" : "Reclassified", s->messages,
            s->messages == 1 ? "" : "s", s->unclassified, s->events,
            s->changed, dry_run ? "would change" : "changed");
    for (guint i = 0; i < r->rows->len; i++) {
        g_autofree char *old_reason =
            bs_sanitize (or_none (bounce_table_get (r, i, "old_reason")));
        g_autofree char *new_reason =
            bs_sanitize (or_none (bounce_table_get (r, i, "new_reason")));

        printf ("  %-16s -> %-16s %s\n", old_reason, new_reason,
                bounce_table_get (r, i, "events"));
    }
    printf ("Suppression: %u address%s %s.\n", a->rows->len,
            a->rows->len == 1 ? "" : "es",
            dry_run ? "would change" : "changed");
    for (guint i = 0; i < a->rows->len; i++) {
        g_autofree char *address =
            bs_sanitize (bounce_table_get (a, i, "address"));
        const char *before = bounce_table_get (a, i, "before");
        const char *after = bounce_table_get (a, i, "after");

        if (before == NULL)
            printf ("  + %s (%s)\n", address, after);
        else if (after == NULL)
            printf ("  - %s (was %s)\n", address, before);
        else
            printf ("  ~ %s (%s, was %s)\n", address, after, before);
    }
    if (s->cut > 0)
        printf ("%" G_GUINT64_FORMAT " message%s kept cut at the raw cap "
                "(ingest --raw-cap) not read again: %s events stay.\n",
                s->cut, s->cut == 1 ? "" : "s", s->cut == 1 ? "its" : "their");
    if (dry_run)
        printf ("Dry run: nothing was written.\n");
}

static void
print_json (const BounceReclassifySummary *s, gboolean dry_run)
{
    g_autoptr (JsonBuilder) b = json_builder_new ();
    g_autoptr (JsonNode) root = NULL;

    json_builder_begin_object (b);
    json_builder_set_member_name (b, "dry_run");
    json_builder_add_boolean_value (b, dry_run);
    json_builder_set_member_name (b, "messages");
    json_builder_add_int_value (b, (gint64) s->messages);
    json_builder_set_member_name (b, "unclassified");
    json_builder_add_int_value (b, (gint64) s->unclassified);
    json_builder_set_member_name (b, "events");
    json_builder_add_int_value (b, (gint64) s->events);
    json_builder_set_member_name (b, "changed");
    json_builder_add_int_value (b, (gint64) s->changed);
    json_builder_set_member_name (b, "cut");
    json_builder_add_int_value (b, (gint64) s->cut);
    json_builder_set_member_name (b, "reasons");
    json_builder_add_value (b, bounce_table_to_json (s->reasons));
    json_builder_set_member_name (b, "suppression");
    json_builder_add_value (b, bounce_table_to_json (s->suppression));
    json_builder_end_object (b);
    root = json_builder_get_root (b);
    bs_print_json (root);
}

int
bs_cmd_reclassify (int argc, char **argv)
{
    g_auto (BsParserOptions) popts = { NULL };
    g_autofree char *db = NULL;
    g_autofree char *since_text = NULL;
    g_autofree char *format_name = NULL;
    g_autofree char *since = NULL;
    gboolean dry_run = FALSE;
    GOptionEntry entries[] = {
        { "db", 0, 0, G_OPTION_ARG_FILENAME, &db,
          "The database (default: $BOUNCESTAT_DB, else "
          "$XDG_DATA_HOME/bouncestat/bounces.db)", "PATH" },
        { "since", 0, 0, G_OPTION_ARG_STRING, &since_text,
          "Only the messages received since WHEN (30m, 24h, 7d, 2w, a date "
          "or an ISO 8601 time)", "WHEN" },
        { "dry-run", 'n', 0, G_OPTION_ARG_NONE, &dry_run,
          "Print what would change and write nothing", NULL },
        { "format", 'f', 0, G_OPTION_ARG_STRING, &format_name,
          "Output format: plain (the default) or json", "FORMAT" },
        { NULL },
    };
    g_autoptr (GOptionContext) context = g_option_context_new (
        "- classify the stored messages again with the current rules");
    g_autoptr (BounceParser) parser = NULL;
    g_autoptr (BounceStore) store = NULL;
    g_autoptr (BounceReclassifySummary) summary = NULL;
    g_autoptr (GError) error = NULL;
    BounceStoreOptions store_options;
    BounceReclassifyOptions options;
    Progress progress = { 0, 0 };
    BsFormat format;
    int status = EX_OK;

    g_option_context_set_summary (
        context,
        "Parses every stored raw message again with the current rules and "
        "decoders and\nupdates its events in place (in batches, each one "
        "transaction), the messages\nstored unclassified included; the "
        "suppression list follows.  Prints how many\nevents changed, per "
        "old and new reason, and the addresses whose suppression\n"
        "changed.  With --dry-run nothing is written.");
    g_option_context_add_main_entries (context, entries, NULL);
    bs_parser_options_add (context, &popts);
    if (!bs_parse_options (context, &argc, &argv, &status))
        return status;
    if (!bs_no_arguments ("reclassify", argc, argv))
        return EX_USAGE;
    if (!bs_format_parse (format_name,
                          BS_FORMATS (BS_FORMAT_PLAIN) |
                              BS_FORMATS (BS_FORMAT_JSON),
                          BS_FORMAT_PLAIN, &format, "reclassify"))
        return EX_USAGE;
    if (popts.no_rules) {
        bs_error ("reclassify: --no-rules: there is nothing to classify "
                  "with");
        return EX_USAGE;
    }
    if (since_text != NULL) {
        g_autoptr (GDateTime) now = bs_now ();

        since = bounce_time_parse (since_text, now, FALSE, &error);
        if (since == NULL) {
            bs_error ("reclassify: --since: %s", error->message);
            return EX_USAGE;
        }
    }
    parser = bs_parser_options_build (&popts, &status);
    if (parser == NULL)
        return status;

    bounce_store_options_init (&store_options);
    store_options.must_exist = TRUE;
    if (db == NULL)
        db = bs_db_path (NULL);
    if (!g_file_test (db, G_FILE_TEST_IS_REGULAR)) {
        bs_error ("reclassify: database %s does not exist", db);
        return EX_NOINPUT;
    }
    store = bounce_store_open (db, &store_options, &error);
    if (store == NULL) {
        bs_error ("reclassify: %s", error->message);
        return bs_exit_code (error);
    }

    bounce_reclassify_options_init (&options);
    options.since = since;
    options.dry_run = dry_run;
    if (isatty (STDERR_FILENO)) {
        progress.started_us = g_get_monotonic_time ();
        options.progress = draw_progress;
        options.progress_data = &progress;
    }
    summary = bounce_store_reclassify (store, parser, popts.rules, &options,
                                       &error);
    if (options.progress != NULL)
        fprintf (stderr, "\r\033[K");
    if (summary == NULL) {
        bs_error ("reclassify: %s", error->message);
        return bs_exit_code (error);
    }
    if (format == BS_FORMAT_JSON)
        print_json (summary, dry_run);
    else
        print_text (summary, dry_run);
    return fflush (stdout) == 0 ? EX_OK : EX_IOERR;
}
