/*
 * bench-rules.c - classification cost against parse time, in one
 * process: reads every message of the given paths into memory, then
 * alternately times parsing them all (no rules) and classifying the
 * parsed reports with the rules, and prints the fastest of each.
 * Built and run by tools/bench-rules.py --inprocess; not installed,
 * not a test (no timing assertions).
 *
 *   bench-rules RULES_DIR REPS PATH...
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "bounce.h"

static double
cpu_now (void)
{
    struct timespec ts;

    clock_gettime (CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

int
main (int argc, char **argv)
{
    g_autoptr (GPtrArray) messages = g_ptr_array_new_with_free_func (
        (GDestroyNotify) g_bytes_unref);
    g_autoptr (GPtrArray) reports = g_ptr_array_new_with_free_func (
        (GDestroyNotify) bounce_report_free);
    g_autoptr (BounceParser) parser = NULL;
    g_autoptr (BounceRules) rules = NULL;
    g_autoptr (GError) error = NULL;
    const char *dirs[2] = { NULL, NULL };
    double best_parse = 1e9, best_classify = 1e9;
    guint recipients = 0;
    int reps;

    if (argc < 4) {
        fprintf (stderr, "usage: bench-rules RULES_DIR REPS PATH...\n");
        return 64;
    }
    dirs[0] = argv[1];
    reps = atoi (argv[2]);
    rules = bounce_rules_load (dirs, &error);
    if (rules == NULL) {
        fprintf (stderr, "bench-rules: %s\n", error->message);
        return 78;
    }
    for (int i = 3; i < argc; i++) {
        g_autoptr (BounceInput) input = bounce_input_open (argv[i], -1, &error);
        GBytes *message;
        char *source;

        if (input == NULL) {
            fprintf (stderr, "bench-rules: %s\n", error->message);
            return 66;
        }
        while (bounce_input_next (input, &message, &source, &error)) {
            g_ptr_array_add (messages, message);
            g_free (source);
        }
        g_clear_error (&error);
    }
    parser = bounce_parser_new ();

    for (int rep = 0; rep < reps; rep++) {
        double t0, t1;

        /* Parse everything without rules. */
        g_ptr_array_set_size (reports, 0);
        t0 = cpu_now ();
        for (guint i = 0; i < messages->len; i++)
            g_ptr_array_add (reports, bounce_parser_parse (parser,
                                                           messages->pdata[i],
                                                           "bench"));
        t1 = cpu_now ();
        best_parse = MIN (best_parse, t1 - t0);

        /* Classify the parsed reports. */
        recipients = 0;
        t0 = cpu_now ();
        for (guint i = 0; i < reports->len; i++) {
            BounceReport *report = reports->pdata[i];
            bounce_rules_classify (rules, report);
            recipients += report->recipients->len;
        }
        t1 = cpu_now ();
        best_classify = MIN (best_classify, t1 - t0);
    }
    printf ("in-process: %u messages, %u recipients, %d repetitions (fastest of each)\n",
            messages->len, recipients, reps);
    printf ("parse (no rules): %.1f ms = %.1f us/message\n", best_parse * 1e3,
            best_parse * 1e6 / MAX (messages->len, 1));
    printf ("classification:   %.1f ms = %.1f us/message, %.1f us/recipient = "
            "%.1f%% of parse time\n", best_classify * 1e3,
            best_classify * 1e6 / MAX (messages->len, 1),
            best_classify * 1e6 / MAX (recipients, 1),
            100.0 * best_classify / best_parse);
    return 0;
}
