/*
 * bs.h - what the subcommands of the bouncestat CLI share.
 *
 * The CLI is thin: it reads options, resolves paths from the environment,
 * calls libbounce, prints, and turns GErrors into sysexits codes.
 */
#ifndef BS_H
#define BS_H

#include <sysexits.h>

#include "bounce.h"

typedef struct {
    const char *name;
    int (*run) (int argc, char **argv);
    const char *summary;
} BsCommand;

/* The sysexits code for @error (EX_SOFTWARE for unknown ones). */
int bs_exit_code (const GError *error);

/* Prints "bouncestat: message" on stderr. */
void bs_error (const char *format, ...) G_GNUC_PRINTF (1, 2);

/* Parses the options of subcommand @name; on a usage error prints it and
 * returns FALSE with *@out_status set to EX_USAGE (or 0 for --help). */
gboolean bs_parse_options (GOptionContext *context,
                           int *argc,
                           char ***argv,
                           int *out_status);

/* The rule directories for --rules DIR (may be NULL): DIR alone, or the
 * installed rules plus the system directory (transfer full). */
GStrv bs_rules_dirs (const char *rules_dir);

/* Loads the rules; on error prints it and sets *@out_status (EX_CONFIG). */
BounceRules *bs_load_rules (const char *rules_dir, int *out_status);

/* Options shared by the subcommands that parse (bs-options.c). */
typedef struct {
    char *rules_dir;
    gboolean no_rules;
    char **headers;
    char *verp;
    char *envelope;
    BounceRules *rules; /* loaded by bs_parser_options_build */
} BsParserOptions;

/* Adds --rules, --no-rules, --header, --verp and --envelope-recipient,
 * stored into @opts (which must outlive the parse). */
void bs_parser_options_add (GOptionContext *context, BsParserOptions *opts);

/* A parser set up from @opts; on error prints it, sets *@out_status and
 * returns NULL.  The rules stay in @opts->rules. */
BounceParser *bs_parser_options_build (BsParserOptions *opts,
                                       int *out_status);

void bs_parser_options_clear (BsParserOptions *opts);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (BsParserOptions, bs_parser_options_clear)

/* The database path: @option (--db), else $BOUNCESTAT_DB, else
 * $XDG_DATA_HOME/bouncestat/bounces.db (~/.local/share when unset)
 * (transfer full). */
char *bs_db_path (const char *option);

int bs_cmd_parse (int argc, char **argv);
int bs_cmd_ingest (int argc, char **argv);

#endif /* BS_H */
