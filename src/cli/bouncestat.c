/*
 * bouncestat.c - main: the command table, usage, the one mapping of
 * errors to sysexits codes, and the checks of options and arguments the
 * subcommands share (bs_parse_options, bs_choose, bs_no_arguments).
 */
#include <locale.h>
#include <stdlib.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "bs.h"

static const BsCommand commands[] = {
    { "parse", bs_cmd_parse, "Parse bounce messages and print what they say" },
    { "ingest", bs_cmd_ingest,
      "Parse bounce messages and store them in the database" },
    { "fetch", bs_cmd_fetch,
      "Store the bounces of an IMAP or POP3 mailbox (imaps://, pop3s://)" },
    { "import-log", bs_cmd_import_log,
      "Store the delivery failures of an MTA's log (Postfix, Exim, Sendmail)" },
    { "report", bs_cmd_report, "Count what bounced and why, with advice" },
    { "suppress", bs_cmd_suppress, "List the addresses to stop mailing" },
    { "reclassify", bs_cmd_reclassify,
      "Classify the stored messages again with the current rules" },
    { "show", bs_cmd_show, "Show the history of an address or @domain" },
    { "explain", bs_cmd_explain,
      "Explain an SMTP reply or status code: reason, who acts, advice" },
    { "rules", bs_cmd_rules, "Check the classification rules and count how often each decides (rules check, rules stats)" },
    { "verp", bs_cmd_verp,
      "Sign VERP return paths, so that forged bounces do not suppress" },
    { "config", bs_cmd_config,
      "Print the effective settings and where each comes from" },
};

const GError *bs_config_error;

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
    if (error->domain == G_KEY_FILE_ERROR) /* the configuration files */
        return EX_CONFIG;
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

/* Where the rules are when --rules is not given (README, "Where the
 * rules are"): found from where the program is, never from a path it
 * happens to find.
 *   - the program of the build tree: the source tree's rules;
 *   - the program in the bin directory it was configured for: the
 *     configured rules and system directories;
 *   - a program anywhere else (cmake --install --prefix DIR, a copied
 *     tree): its own DIR/share/bouncestat/rules and
 *     DIR/etc/bouncestat/rules.d, as relative to its bin directory as
 *     the configured ones are.
 * @out_system: the system directory (added when it exists); @out_origin:
 * which case it is, for --version. */
static char *
bs_default_rules_dir (char **out_system, const char **out_origin)
{
    g_autofree char *exe = g_file_read_link ("/proc/self/exe", NULL);
    g_autofree char *exe_dir = exe != NULL ? g_path_get_dirname (exe) : NULL;
    g_autofree char *build_dir = realpath (BOUNCESTAT_BUILD_DIR, NULL);
    g_autofree char *bin_dir = realpath (BOUNCESTAT_BINDIR, NULL);

    if (exe_dir != NULL && g_strcmp0 (exe_dir, build_dir) == 0) {
        *out_origin = "the source tree's, for the program of the build tree";
        *out_system = g_strdup (BOUNCESTAT_SYSCONF_RULES_DIR);
        return g_strdup (BOUNCESTAT_SOURCE_RULES_DIR);
    }
    if (exe_dir == NULL || g_strcmp0 (exe_dir, bin_dir) == 0) {
        *out_origin = "installed";
        *out_system = g_strdup (BOUNCESTAT_SYSCONF_RULES_DIR);
        return g_strdup (BOUNCESTAT_RULES_DIR);
    }
    *out_origin = "installed, found from the program's directory";
    *out_system = g_canonicalize_filename (BOUNCESTAT_REL_SYSCONF_RULES_DIR,
                                           exe_dir);
    return g_canonicalize_filename (BOUNCESTAT_REL_RULES_DIR, exe_dir);
}

char *
bs_system_rules_dir (void)
{
    g_autofree char *installed = NULL;
    char *system = NULL;
    const char *origin;

    installed = bs_default_rules_dir (&system, &origin);
    return system;
}

GStrv
bs_rules_dirs (const char *rules_dir, const char **out_source)
{
    g_autoptr (GStrvBuilder) b = g_strv_builder_new ();
    const char *env = g_getenv ("BOUNCESTAT_RULES_DIR");
    const char *file = NULL;
    const char *const *conf = bs_config_get ("rules", &file);
    g_autofree char *system = NULL;
    g_autofree char *installed = NULL;
    const char *origin, *dummy;

    if (out_source == NULL)
        out_source = &dummy;
    if (rules_dir != NULL) {
        *out_source = "--rules";
        g_strv_builder_add (b, rules_dir);
        return g_strv_builder_end (b);
    }
    /* No fallback: a missing directory is an error that names it. */
    installed = bs_default_rules_dir (&system, &origin);
    if (env != NULL && env[0] != '\0') {
        /* $BOUNCESTAT_RULES_DIR replaces the installed rules only. */
        *out_source = "$BOUNCESTAT_RULES_DIR";
        g_strv_builder_add (b, env);
    } else if (conf != NULL && conf[0] != NULL) {
        /* The file's list replaces both, as --rules does. */
        *out_source = file;
        g_strv_builder_addv (b, (const char **) conf);
        return g_strv_builder_end (b);
    } else {
        *out_source = origin;
        g_strv_builder_add (b, installed);
    }
    if (g_file_test (system, G_FILE_TEST_IS_DIR))
        g_strv_builder_add (b, system);
    return g_strv_builder_end (b);
}

/* --version: also where the rules come from. */
static void
print_version (void)
{
    g_autofree char *system = bs_system_rules_dir ();
    const char *source;
    g_auto (GStrv) dirs = bs_rules_dirs (NULL, &source);

    printf ("bouncestat %s\n", BOUNCESTAT_VERSION);
    printf ("rules: %s (%s)\n", dirs[0], source);
    printf ("system rules: %s (%s)\n", system,
            g_strv_contains ((const char *const *) dirs, system) ? "read"
                                                                 : "absent");
}

BounceRules *
bs_load_rules (const char *rules_dir, int *out_status)
{
    g_auto (GStrv) dirs = bs_rules_dirs (rules_dir, NULL);
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
    g_autoptr (GError) config_error = NULL;
    gboolean config_ok;

    setlocale (LC_ALL, "");
    /* Without a locale (C or POSIX: a minimal system, cron) the charset
     * is ASCII and GLib prints "?" for every other character, e.g. in
     * the "[OPTION…]" of --help.  What bouncestat prints is UTF-8 (the
     * reports' bars, the bounces' own text): say so. */
    if (!g_get_charset (NULL) &&
        (strcmp (setlocale (LC_CTYPE, NULL), "C") == 0 ||
         strcmp (setlocale (LC_CTYPE, NULL), "POSIX") == 0))
        setlocale (LC_CTYPE, "C.UTF-8");

    if (argc < 2) {
        usage (stderr);
        return EX_USAGE;
    }
    /* The settings before any command: a bad file is a configuration
     * error (78), except for ingest, which decides (from a pipe it must
     * exit 75 so that the MTA keeps the message). */
    config_ok = bs_config_load (&config_error);
    if (strcmp (argv[1], "--help") == 0 || strcmp (argv[1], "-h") == 0 ||
        strcmp (argv[1], "help") == 0) {
        usage (stdout);
        return EX_OK;
    }
    if (strcmp (argv[1], "--version") == 0) {
        print_version ();
        return EX_OK;
    }
    if (!config_ok && strcmp (argv[1], "ingest") != 0) {
        bs_error ("%s", config_error->message);
        return EX_CONFIG;
    }
    bs_config_error = config_error;
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
