/*
 * bs-cmd-rules.c - `bouncestat rules check [DIR]`: validate the rules
 * files and name every problem by file and rule.  Exit 0 when they are
 * fine, 78 (EX_CONFIG) when not.  It does not classify anything.
 */
#include <stdio.h>
#include <string.h>

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
    dirs = bs_rules_dirs (argc == 2 ? argv[1] : NULL);
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
    return EX_OK;
}

int
bs_cmd_rules (int argc, char **argv)
{
    if (argc < 2) {
        bs_error ("rules: missing subcommand (check)");
        return EX_USAGE;
    }
    if (strcmp (argv[1], "--help") == 0 || strcmp (argv[1], "-h") == 0) {
        printf ("Usage: bouncestat rules check [DIR]\n\n"
                "Validates the rules in DIR, or the installed rules and the "
                "system directory.\n");
        return EX_OK;
    }
    if (strcmp (argv[1], "check") == 0)
        return rules_check (argc - 1, argv + 1);
    bs_error ("rules: unknown subcommand '%s' (check)", argv[1]);
    return EX_USAGE;
}
