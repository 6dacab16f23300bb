/*
 * bs-ingest.c - what the commands that store messages share (ingest,
 * fetch): the options of the database written (--db, --raw-cap,
 * --busy-timeout, --max-input) and opening it with the rules; reading one
 * message from a descriptor, parsing it and noting a cut; the counts,
 * the progress bar on a terminal and the summary line.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "bs.h"

/* Progress is redrawn at most this often (microseconds). */
#define PROGRESS_INTERVAL_US 100000

void
bs_store_args_add (GOptionContext *context, BsStoreArgs *args)
{
    GOptionEntry entries[] = {
        { "db", 0, 0, G_OPTION_ARG_FILENAME, &args->db,
          "The database (default: $BOUNCESTAT_DB, else the configuration's "
          "database, else $XDG_DATA_HOME/bouncestat/bounces.db)",
          "PATH" },
        { "raw-cap", 0, 0, G_OPTION_ARG_INT64, &args->raw_cap,
          "Keep at most BYTES of each raw message (0: all; default 1 MiB)",
          "BYTES" },
        { "busy-timeout", 0, 0, G_OPTION_ARG_INT, &args->busy_timeout,
          "Wait up to MS milliseconds for a locked database, then exit 75 "
          "(default 10000)",
          "MS" },
        { "max-input", 0, 0, G_OPTION_ARG_INT64, &args->max_input,
          "Read at most BYTES of one message (1 to the default, 64 MiB); "
          "the rest is read past and dropped, the message stored cut "
          "(raw_truncated)",
          "BYTES" },
        { NULL },
    };

    args->raw_cap = BOUNCE_STORE_DEFAULT_RAW_CAP;
    args->busy_timeout = BOUNCE_STORE_DEFAULT_BUSY_TIMEOUT_MS;
    args->max_input = BOUNCE_MAX_INPUT_BYTES;
    g_option_context_add_main_entries (context, entries, NULL);
}

gboolean
bs_store_args_check (const BsStoreArgs *args, const char *command)
{
    if (args->raw_cap < 0 || args->busy_timeout < 1 || args->max_input < 1 ||
        args->max_input > BOUNCE_MAX_INPUT_BYTES) {
        bs_error ("%s: --raw-cap must be >= 0, --busy-timeout >= 1, "
                  "--max-input from 1 to %u (see --help)",
                  command, (guint) BOUNCE_MAX_INPUT_BYTES);
        return FALSE;
    }
    return TRUE;
}

BounceStore *
bs_store_args_open (BsStoreArgs *args,
                    const BounceRules *rules,
                    gboolean unclassified,
                    GError **error)
{
    BounceStoreOptions options;
    g_autoptr (BounceStore) store = NULL;

    bounce_store_options_init (&options);
    options.raw_cap = (gsize) args->raw_cap;
    options.busy_timeout_ms = (guint) args->busy_timeout;
    options.unclassified = unclassified;
    if (args->db == NULL)
        args->db = bs_db_path (NULL);
    store = bounce_store_open (args->db, &options, error);
    /* The rules' version with each event, and their reasons in the
     * database. */
    if (store != NULL && !unclassified &&
        !bounce_store_set_rules (store, rules, error))
        return NULL;
    return g_steal_pointer (&store);
}

void
bs_store_args_clear (BsStoreArgs *args)
{
    g_clear_pointer (&args->db, g_free);
}

BounceReport *
bs_ingest_read (BounceParser *parser,
                int fd,
                gsize max_input,
                const char *source,
                const char *label,
                GBytes **out_message,
                GError **error)
{
    g_autoptr (BounceInput) input = bounce_input_open ("-", fd, error);
    g_autoptr (GBytes) message = NULL;
    g_autofree char *input_source = NULL;
    BounceReport *report;

    if (input == NULL)
        return NULL;
    bounce_input_set_max_bytes (input, max_input);
    if (!bounce_input_next (input, &message, &input_source, error)) {
        if (error != NULL && *error == NULL)
            g_set_error (error, BOUNCE_ERROR, BOUNCE_ERROR_INPUT,
                         "no message");
        return NULL;
    }
    report = bounce_parser_parse (parser, message,
                                  source != NULL ? source : input_source);
    bounce_input_annotate (input, report);
    if (bounce_input_get_message_size (input) > g_bytes_get_size (message))
        bs_error ("%s: message of %" G_GUINT64_FORMAT " bytes: the first %"
                  G_GSIZE_FORMAT " were kept and classified, the rest read "
                  "and dropped; stored cut (raw_truncated)",
                  label, bounce_input_get_message_size (input),
                  g_bytes_get_size (message));
    *out_message = g_steal_pointer (&message);
    return report;
}

/* ---- Counts, progress and summary ---- */

void
bs_tally_init (BsTally *tally, const char *command)
{
    memset (tally, 0, sizeof *tally);
    tally->command = command;
    tally->total = -1;
    tally->started_us = g_get_monotonic_time ();
    tally->progress = isatty (STDERR_FILENO);
}

static void
format_duration (char *buf, gsize size, double seconds)
{
    guint64 s = (guint64) (seconds + 0.5);

    if (s >= 3600)
        g_snprintf (buf, size, "%" G_GUINT64_FORMAT ":%02u:%02u", s / 3600,
                    (guint) (s / 60 % 60), (guint) (s % 60));
    else
        g_snprintf (buf, size, "%u:%02u", (guint) (s / 60), (guint) (s % 60));
}

void
bs_tally_draw (BsTally *tally, gboolean force)
{
    gint64 now = g_get_monotonic_time ();
    double elapsed, rate;

    if (!tally->progress ||
        (!force && now - tally->drawn_us < PROGRESS_INTERVAL_US))
        return;
    tally->drawn_us = now;
    elapsed = (now - tally->started_us) / 1e6;
    rate = elapsed > 0 ? tally->seen / elapsed : 0;
    if (tally->total > 0) {
        const int width = 30;
        double frac = MIN (1.0, (double) tally->seen / (double) tally->total);
        int fill = (int) (frac * width);
        char bar[64];
        char eta[32] = "--:--";

        memset (bar, '#', fill);
        memset (bar + fill, '-', width - fill);
        bar[width] = '\0';
        if (rate > 0)
            format_duration (eta, sizeof eta,
                             (double) (tally->total - (gint64) tally->seen) /
                                 rate);
        fprintf (stderr,
                 "\r[%s] %3d%% %" G_GUINT64_FORMAT "/%" G_GINT64_FORMAT
                 "  %.0f msg/s  ETA %s\033[K",
                 bar, (int) (frac * 100), tally->seen, tally->total, rate, eta);
    } else {
        fprintf (stderr, "\r%" G_GUINT64_FORMAT " messages  %.0f msg/s\033[K",
                 tally->seen, rate);
    }
}

void
bs_tally_clear_line (BsTally *tally)
{
    if (tally->progress)
        fprintf (stderr, "\r\033[K");
}

void
bs_tally_summary (BsTally *tally, const char *extra)
{
    g_autoptr (GString) s = g_string_new (NULL);
    double elapsed = (g_get_monotonic_time () - tally->started_us) / 1e6;

    g_string_append_printf (
        s, "%s: %" G_GUINT64_FORMAT " messages in %.1f s (%.0f/s): %"
           G_GUINT64_FORMAT " stored, %" G_GUINT64_FORMAT " duplicates, %"
           G_GUINT64_FORMAT " unparsable",
        tally->command, tally->seen, elapsed,
        elapsed > 0 ? tally->seen / elapsed : 0.0, tally->stored,
        tally->duplicates, tally->kinds[BOUNCE_KIND_UNPARSABLE]);
    for (int k = 0; k <= BOUNCE_KIND_DELIVERED; k++) {
        if (k == BOUNCE_KIND_UNPARSABLE || tally->kinds[k] == 0)
            continue;
        g_string_append_printf (s, ", %s %" G_GUINT64_FORMAT,
                                bounce_kind_to_string (k), tally->kinds[k]);
    }
    if (extra != NULL)
        g_string_append_printf (s, "; %s", extra);
    fprintf (stderr, "%s\n", s->str);
}
