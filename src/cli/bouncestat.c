/*
 * bouncestat.c - main: the command table, usage, the one mapping of
 * errors to sysexits codes, and the checks of options and arguments the
 * subcommands share (bs_parse_options, bs_choose, bs_no_arguments).
 */
#include <locale.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "bs.h"

static const BsCommand commands[] = {
    { "parse", bs_cmd_parse, "Parse bounce messages and print what they say" },
    { "ingest", bs_cmd_ingest,
      "Parse bounce messages and store them in the database" },
    { "report", bs_cmd_report, "Count what bounced and why, with advice" },
    { "suppress", bs_cmd_suppress, "List the addresses to stop mailing" },
    { "show", bs_cmd_show, "Show the history of an address or @domain" },
    { "explain", bs_cmd_explain,
      "Explain an SMTP reply or status code: reason, who acts, advice" },
    { "rules", bs_cmd_rules, "Check the classification rules (rules check)" },
};

int
bs_exit_code (const GError *error)
{
    if (error == NULL)
        return EX_OK;
    if (error->domain == G_OPTION_ERROR)
        return EX_USAGE;
    if (error->domain == BOUNCE_ERROR) {
        switch ((BounceError) error->code) {
        case BOUNCE_ERROR_INPUT:
            return EX_NOINPUT;
        case BOUNCE_ERROR_RULES:
        case BOUNCE_ERROR_SCHEMA_TOO_NEW:
            return EX_CONFIG;
        case BOUNCE_ERROR_STORE:
            return EX_IOERR;
        case BOUNCE_ERROR_STORE_BUSY:
        case BOUNCE_ERROR_STORE_FULL:
            return EX_TEMPFAIL;
        case BOUNCE_ERROR_STORE_ACCESS:
            return EX_CANTCREAT;
        case BOUNCE_ERROR_FAILED:
        default:
            return EX_SOFTWARE;
        }
    }
    if (error->domain == G_FILE_ERROR)
        return EX_NOINPUT;
    return EX_SOFTWARE;
}

void
bs_error (const char *format, ...)
{
    va_list args;
    g_autofree char *text = NULL;

    va_start (args, format);
    text = g_strdup_vprintf (format, args);
    va_end (args);
    fprintf (stderr, "bouncestat: %s\n", text);
}

gboolean
bs_parse_options (GOptionContext *context,
                  int *argc,
                  char ***argv,
                  int *out_status)
{
    g_autoptr (GError) error = NULL;

    if (!g_option_context_parse (context, argc, argv, &error)) {
        bs_error ("%s (see --help)", error->message);
        *out_status = EX_USAGE;
        return FALSE;
    }
    return TRUE;
}

gboolean
bs_choose (const char *command,
           const char *what,
           const char *value,
           const char *const *choices,
           int *out_index)
{
    g_autoptr (GString) names = g_string_new (NULL);

    if (value == NULL)
        return TRUE;
    for (int i = 0; choices[i] != NULL; i++) {
        if (strcmp (value, choices[i]) == 0) {
            *out_index = i;
            return TRUE;
        }
        if (i > 0)
            g_string_append (names, choices[i + 1] != NULL ? ", " : " or ");
        g_string_append (names, choices[i]);
    }
    bs_error ("%s: unknown %s '%s' (%s)", command, what, value, names->str);
    return FALSE;
}

gboolean
bs_no_arguments (const char *command, int argc, char **argv)
{
    if (argc > 1) {
        bs_error ("%s: unexpected argument '%s' (see --help)", command,
                  argv[1]);
        return FALSE;
    }
    return TRUE;
}

GStrv
bs_rules_dirs (const char *rules_dir)
{
    g_autoptr (GStrvBuilder) b = g_strv_builder_new ();
    const char *env = g_getenv ("BOUNCESTAT_RULES_DIR");

    if (rules_dir != NULL) {
        g_strv_builder_add (b, rules_dir);
        return g_strv_builder_end (b);
    }
    if (env != NULL && env[0] != '\0')
        g_strv_builder_add (b, env);
    else if (g_file_test (BOUNCESTAT_RULES_DIR, G_FILE_TEST_IS_DIR))
        g_strv_builder_add (b, BOUNCESTAT_RULES_DIR);
    else
        /* Run from the build tree: the rules of the source tree. */
        g_strv_builder_add (b, BOUNCESTAT_SOURCE_RULES_DIR);
    if (g_file_test (BOUNCESTAT_SYSCONF_RULES_DIR, G_FILE_TEST_IS_DIR))
        g_strv_builder_add (b, BOUNCESTAT_SYSCONF_RULES_DIR);
    return g_strv_builder_end (b);
}

BounceRules *
bs_load_rules (const char *rules_dir, int *out_status)
{
    g_auto (GStrv) dirs = bs_rules_dirs (rules_dir);
    g_autoptr (GError) error = NULL;
    BounceRules *rules = bounce_rules_load ((const char *const *) dirs, &error);

    if (rules == NULL) {
        bs_error ("%s", error->message);
        *out_status = bs_exit_code (error);
    }
    return rules;
}

static void
usage (FILE *out)
{
    fprintf (out, "Usage: bouncestat COMMAND [OPTION...] [ARG...]\n\n"
                  "Read bounce messages, tell why each delivery failed, and "
                  "keep the history.\n\nCommands:\n");
    for (guint i = 0; i < G_N_ELEMENTS (commands); i++)
        fprintf (out, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf (out, "\nRun 'bouncestat COMMAND --help' for the options of one "
                  "command.\n");
}

int
main (int argc, char **argv)
{
    setlocale (LC_ALL, "");

    if (argc < 2) {
        usage (stderr);
        return EX_USAGE;
    }
    if (strcmp (argv[1], "--help") == 0 || strcmp (argv[1], "-h") == 0 ||
        strcmp (argv[1], "help") == 0) {
        usage (stdout);
        return EX_OK;
    }
    if (strcmp (argv[1], "--version") == 0) {
        printf ("bouncestat %s\n", BOUNCESTAT_VERSION);
        return EX_OK;
    }
    for (guint i = 0; i < G_N_ELEMENTS (commands); i++)
        if (strcmp (argv[1], commands[i].name) == 0) {
            g_autofree char *name = g_strdup_printf ("bouncestat %s",
                                                     commands[i].name);

            /* --help then says "Usage: bouncestat report [OPTION...]". */
            g_set_prgname (name);
            return commands[i].run (argc - 1, argv + 1);
        }
    bs_error ("unknown command '%s' (see 'bouncestat --help')", argv[1]);
    return EX_USAGE;
}
