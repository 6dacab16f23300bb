/*
 * bs-cmd-parse.c - `bouncestat parse`: print what each message says,
 * as a readable summary or as JSON Lines (docs/output-format.md).
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "bs.h"

/* The reason and what it means for the address: hard or soft says
 * something of failures only; the other notices say what they are. */
static char *
what_it_is (const BounceReport *report, const BounceRecipient *r)
{
    const char *outcome = bounce_recipient_outcome (report, r);
    const char *what = NULL;

    if (strcmp (outcome, "delay") == 0)
        what = "a delay notice, still being tried";
    else if (strcmp (outcome, "delivered") == 0)
        what = "a success notice, not a bounce";
    else if (strcmp (outcome, "feedback") == 0)
        what = "a complaint report, not a bounce";
    else if (strcmp (outcome, "autoreply") == 0)
        what = "an auto-reply, not a bounce";
    if (what != NULL)
        return g_strdup_printf ("%s (%s)", r->reason, what);
    return g_strdup_printf ("%s, %s", r->reason,
                            r->hard > 0 ? "hard" : "soft");
}

static void
print_text (const BounceReport *report)
{
    printf ("%s: %s", report->source, bounce_kind_to_string (report->kind));
    if (report->mta != NULL)
        printf (" (%s)", report->mta);
    if (report->subject != NULL)
        printf (" \"%s\"", report->subject);
    printf ("\n");
    if (report->reporting_mta != NULL)
        printf ("  reported by %s\n", report->reporting_mta);
    if (report->orig_message_id != NULL || report->orig_subject != NULL)
        printf ("  original%s%s%s%s%s\n",
                report->orig_message_id ? " " : "",
                report->orig_message_id ? report->orig_message_id : "",
                report->orig_subject ? " \"" : "",
                report->orig_subject ? report->orig_subject : "",
                report->orig_subject ? "\"" : "");
    for (guint i = 0; i < report->recipients->len; i++) {
        const BounceRecipient *r = report->recipients->pdata[i];
        printf ("  %s %s", r->address ? r->address : "(unknown address)",
                r->action ? r->action : "-");
        if (r->status != NULL)
            printf (" %s", r->status);
        if (r->smtp_code > 0)
            printf (" (%d)", r->smtp_code);
        if (r->reason != NULL) {
            g_autofree char *what = what_it_is (report, r);

            printf (" %s", what);
        }
        if (r->rule != NULL)
            printf (" [%s]", r->rule);
        printf ("\n");
        if (r->diagnostic != NULL)
            printf ("    %s\n", r->diagnostic);
    }
    for (guint i = 0; i < report->warnings->len; i++)
        printf ("  warning: %s\n", (const char *) report->warnings->pdata[i]);
}

/* The JSON line of @report (made by the workers: bs-pool.c). */
static char *
render_json (const BounceReport *report)
{
    g_autoptr (JsonNode) node = bounce_report_to_json (report);

    return json_to_string (node, FALSE);
}

/* Prints the results due (all of them with @all), in input order. */
static void
print_due (BsPool *pool, gboolean all)
{
    GBytes *message;
    char *source, *text;
    BounceReport *report;

    while (bs_pool_next (pool, all, &message, &source, &report, &text)) {
        if (text != NULL) {
            fputs (text, stdout);
            fputc ('\n', stdout);
        } else {
            print_text (report);
        }
        g_bytes_unref (message);
        g_free (source);
        g_clear_pointer (&report, bounce_report_free);
        g_free (text);
    }
}

/* --format: json, or text (the default). */
static const char *const format_names[] = { "json", "text", NULL };
enum { FORMAT_JSON, FORMAT_TEXT };

int
bs_cmd_parse (int argc, char **argv)
{
    g_autofree char *format = NULL;
    g_auto (GStrv) paths = NULL;
    int jobs = 0;
    /* Before the parser: freed after it (the parser borrows its rules). */
    g_auto (BsParserOptions) popts = { 0 };
    GOptionEntry entries[] = {
        { "format", 'f', 0, G_OPTION_ARG_STRING, &format,
          "Output format: text (default) or json (JSON Lines)", "FORMAT" },
        { "jobs", 'j', 0, G_OPTION_ARG_INT, &jobs,
          "Parse on N threads (default: one per core; 1: no threads)", "N" },
        { G_OPTION_REMAINING, 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &paths, NULL,
          NULL },
        G_OPTION_ENTRY_NULL,
    };
    g_autoptr (GOptionContext) context =
        g_option_context_new ("[PATH...] - parse bounce messages");
    g_autoptr (BounceParser) parser = NULL;
    g_autoptr (BsPool) pool = NULL;
    const char *stdin_paths[] = { "-", NULL };
    const char *const *inputs;
    int format_index = FORMAT_TEXT;
    gboolean json;
    int status = EX_OK;

    g_option_context_set_summary (
        context, "Reads each PATH (a message, an mbox file, a Maildir or a "
                 "folder of messages),\nor one message on standard input, and "
                 "prints one result per message.");
    g_option_context_add_main_entries (context, entries, NULL);
    bs_parser_options_add (context, &popts);
    if (!bs_parse_options (context, &argc, &argv, &status))
        return status;
    if (!bs_choose ("parse", "format", format, format_names, &format_index))
        return EX_USAGE;
    json = format_index == FORMAT_JSON;
    if (jobs < 0) {
        bs_error ("parse: --jobs must be >= 1");
        return EX_USAGE;
    }

    parser = bs_parser_options_build (&popts, &status);
    if (parser == NULL)
        return status;

    inputs = paths != NULL ? (const char *const *) paths : stdin_paths;
    /* Standard input is one message: no threads for it. */
    pool = bs_pool_new (parser, paths == NULL ? 1 : jobs > 0 ? (guint) jobs
                                                             : bs_pool_default_jobs (),
                        json ? render_json : NULL);
    for (guint i = 0; inputs[i] != NULL; i++) {
        g_autoptr (GError) error = NULL;
        g_autoptr (BounceInput) input =
            bounce_input_open (inputs[i], STDIN_FILENO, &error);

        if (input == NULL) {
            print_due (pool, TRUE);
            bs_error ("%s", error->message);
            status = bs_exit_code (error);
            continue;
        }
        for (;;) {
            GBytes *message = NULL;
            char *source = NULL;

            if (!bounce_input_next (input, &message, &source, &error)) {
                if (error == NULL)
                    break;
                /* What came before first, as without threads. */
                print_due (pool, TRUE);
                bs_error ("%s", error->message);
                status = bs_exit_code (error);
                g_clear_error (&error);
                continue;
            }
            bs_pool_push (pool, input, message, source);
            print_due (pool, FALSE);
        }
    }
    print_due (pool, TRUE);
    if (fflush (stdout) != 0) {
        bs_error ("parse: cannot write the output");
        return EX_IOERR;
    }
    return status;
}
