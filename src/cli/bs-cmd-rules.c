/*
 * bs-cmd-rules.c - `bouncestat rules check [DIR]`: validate the rules
 * files and name every problem by file and rule.  Exit 0 when they are
 * fine, 78 (EX_CONFIG) when not.  It does not classify anything.
 *
 * `bouncestat rules stats [PATH...]`: parse the bounces of each PATH
 * and print how often each rule decides, then the rules that decide for
 * exactly one message (each is either a general phrase family or a fit
 * to one sample: review them) and the rules that never decide.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "bs.h"

static int
rules_check (int argc, char **argv)
{
    GOptionEntry entries[] = { { NULL } };
    g_autoptr (GOptionContext) context =
        g_option_context_new ("[DIR] - validate the rules");
    g_autoptr (GPtrArray) problems = g_ptr_array_new_with_free_func (g_free);
    g_autoptr (BounceRules) rules = NULL;
    g_autoptr (GError) error = NULL;
    g_auto (GStrv) dirs = NULL;
    g_autofree char *where = NULL;
    int status = EX_OK;

    g_option_context_set_summary (
        context, "Checks the rules in DIR, or the installed rules and the "
                 "system directory\n(bad regular expressions, unknown reasons "
                 "or keys, duplicate ids or keys).");
    g_option_context_add_main_entries (context, entries, NULL);
    if (!bs_parse_options (context, &argc, &argv, &status))
        return status;
    if (argc > 2) {
        bs_error ("rules check: too many arguments (one DIR at most)");
        return EX_USAGE;
    }
    dirs = bs_rules_dirs (argc == 2 ? argv[1] : NULL, NULL);
    where = g_strjoinv (" + ", dirs);
    if (!bounce_rules_check ((const char *const *) dirs, problems)) {
        for (guint i = 0; i < problems->len; i++)
            bs_error ("%s", (const char *) problems->pdata[i]);
        bs_error ("rules check: %u problem%s in %s", problems->len,
                  problems->len == 1 ? "" : "s", where);
        return EX_CONFIG;
    }
    rules = bounce_rules_load ((const char *const *) dirs, &error);
    if (rules == NULL) {
        bs_error ("%s", error->message);
        return bs_exit_code (error);
    }
    printf ("%s: %u rules, OK\n", where, bounce_rules_count (rules));
    /* What the database records with each event it classifies. */
    printf ("version: %s\n", bounce_rules_get_version (rules));
    return EX_OK;
}

/* How often one rule decided. */
typedef struct {
    const BounceRule *rule;
    guint order;       /* matching order */
    guint messages;
    guint recipients;
    char *last_source; /* the last message it decided for */
} RuleCount;

static void
rule_count_free (RuleCount *c)
{
    g_free (c->last_source);
    g_free (c);
}

static int
rule_count_cmp (gconstpointer a, gconstpointer b)
{
    const RuleCount *ca = *(RuleCount *const *) a;
    const RuleCount *cb = *(RuleCount *const *) b;

    if (ca->messages != cb->messages)
        return ca->messages > cb->messages ? -1 : 1;
    return ca->order < cb->order ? -1 : ca->order > cb->order;
}

/* Counts the rules of one report: a message counts once per rule. */
static void
count_report (GHashTable *counts, const BounceReport *report,
              guint *recipients)
{
    g_autoptr (GHashTable) seen = g_hash_table_new (NULL, NULL);

    for (guint i = 0; i < report->recipients->len; i++) {
        const BounceRecipient *r = report->recipients->pdata[i];
        RuleCount *c;

        if (r->rule == NULL)
            continue;
        c = g_hash_table_lookup (counts, r->rule);
        if (c == NULL)
            continue; /* not a loaded rule (cannot happen) */
        (*recipients)++;
        c->recipients++;
        if (g_hash_table_add (seen, c)) {
            c->messages++;
            g_free (c->last_source);
            c->last_source = g_strdup (report->source);
        }
    }
}

static void
print_stats (const BounceRules *rules, GHashTable *counts, guint messages,
             guint recipients)
{
    g_autoptr (GPtrArray) sorted = g_ptr_array_new ();
    g_autoptr (GString) never = g_string_new (" ");
    guint deciding = 0, once = 0, never_n = 0;
    int width = 4;

    for (guint i = 0; i < bounce_rules_count (rules); i++) {
        RuleCount *c = g_hash_table_lookup (counts,
                                            bounce_rules_get_nth (rules, i)->id);
        g_ptr_array_add (sorted, c);
        width = MAX (width, (int) strlen (c->rule->id));
    }
    g_ptr_array_sort (sorted, rule_count_cmp);
    for (guint i = 0; i < sorted->len; i++) {
        const RuleCount *c = sorted->pdata[i];
        if (c->messages > 0)
            deciding++;
        if (c->messages == 1)
            once++;
    }
    printf ("%u messages, %u recipients with a rule; %u of %u rules "
            "decide\n\n", messages, recipients, deciding,
            bounce_rules_count (rules));
    printf ("%-*s  %-13s  %8s  %10s  %s\n", width, "rule", "tier",
            "messages", "recipients", "file");
    for (guint i = 0; i < sorted->len; i++) {
        const RuleCount *c = sorted->pdata[i];
        g_autofree char *base = NULL;

        if (c->messages == 0) {
            /* a list wrapped at about 78 columns, indented by 2 */
            const char *last_line = strrchr (never->str, '\n');
            gsize line_len = never->len - (last_line != NULL ?
                             (gsize) (last_line - never->str) : 0);
            if (line_len + strlen (c->rule->id) + 1 > 78)
                g_string_append (never, "\n ");
            g_string_append_printf (never, " %s", c->rule->id);
            never_n++;
            continue;
        }
        base = g_path_get_basename (c->rule->file);
        printf ("%-*s  %-13s  %8u  %10u  %s\n", width, c->rule->id,
                c->rule->tier, c->messages, c->recipients, base);
    }
    printf ("\n%u rule%s decide%s for exactly one message (a general phrase "
            "family, or a fit to one sample?):\n", once,
            once == 1 ? "" : "s", once == 1 ? "s" : "");
    for (guint i = 0; i < sorted->len; i++) {
        const RuleCount *c = sorted->pdata[i];
        g_autofree char *source = NULL;

        if (c->messages != 1)
            continue;
        source = bs_sanitize (c->last_source != NULL ? c->last_source : "-");
        printf ("  %-*s  %s\n", width, c->rule->id, source);
    }
    printf ("\n%u rule%s never decide%s:\n%s\n", never_n,
            never_n == 1 ? "" : "s", never_n == 1 ? "s" : "", never->str);
}

static int
rules_stats (int argc, char **argv)
{
    g_auto (GStrv) paths = NULL;
    /* Before the parser: freed after it (the parser borrows its rules). */
    g_auto (BsParserOptions) popts = { 0 };
    GOptionEntry entries[] = {
        { G_OPTION_REMAINING, 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &paths, NULL,
          NULL },
        G_OPTION_ENTRY_NULL,
    };
    g_autoptr (GOptionContext) context = g_option_context_new (
        "[PATH...] - how often each rule decides over these bounces");
    g_autoptr (BounceParser) parser = NULL;
    g_autoptr (GHashTable) counts = NULL;
    const char *stdin_paths[] = { "-", NULL };
    const char *const *inputs;
    guint messages = 0, recipients = 0;
    int status = EX_OK;

    g_option_context_set_summary (
        context, "Parses each PATH (a message, an mbox file, a Maildir or a "
                 "folder of messages),\nor one message on standard input, and "
                 "prints how often each rule decides,\nthe rules that decide "
                 "for exactly one message, and those that never decide.");
    g_option_context_add_main_entries (context, entries, NULL);
    bs_parser_options_add (context, &popts);
    if (!bs_parse_options (context, &argc, &argv, &status))
        return status;
    if (popts.no_rules) {
        bs_error ("rules stats: --no-rules leaves no rule to count");
        return EX_USAGE;
    }
    parser = bs_parser_options_build (&popts, &status);
    if (parser == NULL)
        return status;

    counts = g_hash_table_new_full (g_str_hash, g_str_equal, NULL,
                                    (GDestroyNotify) rule_count_free);
    for (guint i = 0; i < bounce_rules_count (popts.rules); i++) {
        RuleCount *c = g_new0 (RuleCount, 1);
        c->rule = bounce_rules_get_nth (popts.rules, i);
        c->order = i;
        g_hash_table_insert (counts, (gpointer) c->rule->id, c);
    }

    inputs = paths != NULL ? (const char *const *) paths : stdin_paths;
    for (guint i = 0; inputs[i] != NULL; i++) {
        g_autoptr (GError) error = NULL;
        g_autoptr (BounceInput) input =
            bounce_input_open (inputs[i], STDIN_FILENO, &error);

        if (input == NULL) {
            bs_error ("%s", error->message);
            status = bs_exit_code (error);
            continue;
        }
        for (;;) {
            g_autoptr (GBytes) message = NULL;
            g_autofree char *source = NULL;
            g_autoptr (BounceReport) report = NULL;

            if (!bounce_input_next (input, &message, &source, &error)) {
                if (error == NULL)
                    break;
                bs_error ("%s", error->message);
                status = bs_exit_code (error);
                g_clear_error (&error);
                continue;
            }
            report = bounce_parser_parse (parser, message, source);
            messages++;
            count_report (counts, report, &recipients);
        }
    }
    print_stats (popts.rules, counts, messages, recipients);
    if (fflush (stdout) != 0) {
        bs_error ("rules stats: cannot write the output");
        return EX_IOERR;
    }
    return status;
}

int
bs_cmd_rules (int argc, char **argv)
{
    if (argc < 2) {
        bs_error ("rules: missing subcommand (check, stats)");
        return EX_USAGE;
    }
    if (strcmp (argv[1], "--help") == 0 || strcmp (argv[1], "-h") == 0) {
        printf ("Usage: bouncestat rules check [DIR]\n"
                "       bouncestat rules stats [OPTION...] [PATH...]\n\n"
                "check: validates the rules in DIR, or the installed rules "
                "and the system directory.\n"
                "stats: how often each rule decides over the bounces of "
                "PATH.\n");
        return EX_OK;
    }
    if (strcmp (argv[1], "check") == 0)
        return rules_check (argc - 1, argv + 1);
    if (strcmp (argv[1], "stats") == 0)
        return rules_stats (argc - 1, argv + 1);
    bs_error ("rules: unknown subcommand '%s' (check, stats)", argv[1]);
    return EX_USAGE;
}
