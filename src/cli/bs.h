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

/* Finds @value among @choices (NULL-terminated) and sets *@out_index to
 * its place; a NULL @value leaves *@out_index as it is.  On an unknown
 * one prints "COMMAND: unknown WHAT 'VALUE' (A, B or C)" and returns
 * FALSE. */
gboolean bs_choose (const char *command,
                    const char *what,
                    const char *value,
                    const char *const *choices,
                    int *out_index);

/* Prints "COMMAND: unexpected argument 'ARG' (see --help)" and returns
 * FALSE when the command line (after the options) has any argument. */
gboolean bs_no_arguments (const char *command, int argc, char **argv);

/* The rule directories for --rules DIR (may be NULL): DIR alone, else
 * $BOUNCESTAT_RULES_DIR plus the system directory, else the "rules" list
 * of the configuration, else the installed rules plus the system
 * directory; *@out_source (may be NULL) says which (transfer full). */
GStrv bs_rules_dirs (const char *rules_dir, const char **out_source);

/* The system directory of rules (SYSCONFDIR/bouncestat/rules.d, found as
 * bs_rules_dirs finds it; transfer full). */
char *bs_system_rules_dir (void);

/* ---- Settings (bs-config.c) ---- */

/* The error of reading the configuration files, or NULL; main stops on
 * it with EX_CONFIG for every command but ingest, which decides. */
extern const GError *bs_config_error;

/* The system file (beside the system rules directory:
 * /etc/bouncestat/bouncestat.conf for the prefixes /usr and /usr/local;
 * transfer full). */
char *bs_system_config_path (void);

/* Reads the system file then $XDG_CONFIG_HOME/bouncestat/config (or
 * $BOUNCESTAT_CONFIG alone); a missing file is none.  An unreadable or
 * bad file, an unknown group or key, a bad value: G_KEY_FILE_ERROR
 * (EX_CONFIG), the message naming the file.  Once, in main. */
gboolean bs_config_load (GError **error);

/* The value of @key in the files (later file wins; lists split at ';',
 * paths made absolute from the file's directory), or NULL; *@out_file
 * (may be NULL) names the file (transfer none). */
const char *const *bs_config_get (const char *key, const char **out_file);
const char *bs_config_get_one (const char *key, const char **out_file);

/* The effective value of @key: @option if not NULL, else its environment
 * variable if set and not empty, else the files' value, else NULL;
 * *@out_source says where it came from (NULL for none) (transfer none). */
const char *bs_setting (const char *key,
                        const char *option,
                        const char **out_source);

/* A suppression threshold ("soft-count", "soft-days"): @option if >= 0,
 * else the files', else -1 (the database's). */
int bs_config_soft (const char *key, int option);

/* The one place the language is chosen (explain, report, config): the
 * @option (--lang), else the "language" setting, else the first of
 * g_get_language_names () ($LANGUAGE, $LC_ALL, $LC_MESSAGES, $LANG,
 * installed as a locale or not) that the rules speak, else "en"; the
 * rules' spelling ("pl" for pl_PL.UTF-8).  NULL when @option names a
 * language the rules do not speak.  *@out_source (may be NULL) says
 * which (transfer none). */
const char *bs_language (const BounceRules *rules,
                         const char *option,
                         const char **out_source);

/* Loads the rules; on error prints it and sets *@out_status (EX_CONFIG). */
BounceRules *bs_load_rules (const char *rules_dir, int *out_status);

/* Options shared by the subcommands that parse (bs-options.c). */
typedef struct {
    char *rules_dir;
    gboolean no_rules;
    char **headers;
    char *verp;
    char *envelope;
    char **decoders;
    char *verp_secret_file;
    char **sending_domains;
    BounceRules *rules; /* loaded by bs_parser_options_build */
    BounceVerpKey *verp_key; /* loaded by bs_parser_options_build */
} BsParserOptions;

/* Adds --rules, --no-rules, --header, --verp, --decoders,
 * --envelope-recipient, --verp-secret-file and --sending-domain,
 * stored into @opts (which must outlive the parse). */
void bs_parser_options_add (GOptionContext *context, BsParserOptions *opts);

/* A parser set up from @opts; on error prints it, sets *@out_status and
 * returns NULL.  The rules stay in @opts->rules. */
BounceParser *bs_parser_options_build (BsParserOptions *opts,
                                       int *out_status);

void bs_parser_options_clear (BsParserOptions *opts);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (BsParserOptions, bs_parser_options_clear)

/* The database path: @option (--db), else $BOUNCESTAT_DB, else the
 * configuration's database, else $XDG_DATA_HOME/bouncestat/bounces.db
 * (~/.local/share when unset) (transfer full). */
char *bs_db_path (const char *option);

/* ---- Storing messages: what ingest and fetch share (bs-ingest.c) ---- */

/* The options of the database written. */
typedef struct {
    char *db;
    gint64 raw_cap;
    int busy_timeout;
    gint64 max_input;
} BsStoreArgs;

/* Adds --db, --raw-cap, --busy-timeout and --max-input, stored into
 * @args (set to their defaults here; @args must outlive the parse). */
void bs_store_args_add (GOptionContext *context, BsStoreArgs *args);

/* FALSE, with the message printed for @command, when a value is out of
 * range. */
gboolean bs_store_args_check (const BsStoreArgs *args, const char *command);

/* Opens the database (@args->db, else bs_db_path ()) for writing, and
 * gives it @rules (bounce_store_set_rules) unless @unclassified. */
BounceStore *bs_store_args_open (BsStoreArgs *args,
                                 const BounceRules *rules,
                                 gboolean unclassified,
                                 GError **error);

void bs_store_args_clear (BsStoreArgs *args);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (BsStoreArgs, bs_store_args_clear)

/* Reads one message from @fd (not closed) as ingest reads standard
 * input, keeping at most @max_input bytes, and parses it as @source
 * (NULL: "-"); a cut message is annotated and said on stderr after
 * @label.  *@out_message: the bytes read (transfer full).  NULL with
 * @error set when it cannot be read. */
BounceReport *bs_ingest_read (BounceParser *parser,
                              int fd,
                              gsize max_input,
                              const char *source,
                              const char *label,
                              GBytes **out_message,
                              GError **error);

/* The counts of a run, its progress bar (on a terminal) and summary. */
typedef struct {
    const char *command; /* the summary's first word */
    guint64 seen;
    guint64 stored;
    guint64 duplicates;
    guint64 kinds[BOUNCE_KIND_DELIVERED + 1];
    gboolean progress; /* stderr is a terminal */
    gint64 total;      /* -1 when unknown */
    gint64 started_us;
    gint64 drawn_us;
} BsTally;

void bs_tally_init (BsTally *tally, const char *command);
/* Redraws the bar (at most every 0.1 s unless @force). */
void bs_tally_draw (BsTally *tally, gboolean force);
void bs_tally_clear_line (BsTally *tally);
/* "COMMAND: N messages in S s (R/s): N stored, ...[; EXTRA]" on stderr. */
void bs_tally_summary (BsTally *tally, const char *extra);

/* Output of the reporting subcommands (bs-output.c). */
typedef enum {
    BS_FORMAT_TABLE,
    BS_FORMAT_PLAIN,
    BS_FORMAT_CSV,
    BS_FORMAT_JSON,
    BS_FORMAT_HTML,
} BsFormat;

#define BS_FORMATS(a) (1u << (a))

/* Parses --format (NULL: @fallback) among the @allowed (BS_FORMATS ()
 * ORed); on an unknown one prints the error and returns FALSE. */
gboolean bs_format_parse (const char *text,
                          guint allowed,
                          BsFormat fallback,
                          BsFormat *out_format,
                          const char *command);

/* Colour: on a terminal only, and never with NO_COLOR set. */
gboolean bs_use_color (void);

/* @text safe for a terminal: valid UTF-8, controls replaced
 * (transfer full). */
char *bs_sanitize (const char *text);

/* Terminal columns @text takes (wide characters count 2). */
int bs_text_width (const char *text);

/* Prints @table aligned (numbers on the right, "-" for no value), the
 * header in bold with @color; only @columns (NULL-terminated; NULL for
 * all), each line after @indent. */
void bs_print_table (const BounceTable *table,
                     const char *const *columns,
                     const char *indent,
                     gboolean color);

/* CSV (RFC 4180 quoting, "\n" line ends). */
void bs_print_csv_row (const char *const *fields, guint n);
void bs_print_csv (const BounceTable *table, gboolean header);

/* Pretty JSON and a newline. */
void bs_print_json (JsonNode *node);

/* The options of report, suppress and show. */
typedef struct {
    char *db;
    char *since;
    char *until;
    char *rules_dir;
    gboolean no_rules;
    char *since_utc; /* parsed by bs_query_options_open */
    char *until_utc;
} BsQueryOptions;

/* Adds --db, --since, --until (and --rules, --no-rules with
 * @with_rules). */
void bs_query_options_add (GOptionContext *context,
                           BsQueryOptions *opts,
                           gboolean with_rules);

/* Adds @entries and the options above to @context (as
 * bs_query_options_add), then parses the command line as
 * bs_parse_options. */
gboolean bs_query_options_parse (GOptionContext *context,
                                 const GOptionEntry *entries,
                                 BsQueryOptions *opts,
                                 gboolean with_rules,
                                 int *argc,
                                 char ***argv,
                                 int *out_status);

/* Parses the times into @query (initialised here) and opens the database
 * read-only; on error prints it, sets *@out_status, returns NULL. */
BounceReader *bs_query_options_open (BsQueryOptions *opts,
                                     BounceQueryOptions *query,
                                     const char *command,
                                     int *out_status);

/* The rules for the advice, or NULL (--no-rules, or with a warning
 * printed when they cannot be loaded). */
BounceRules *bs_query_options_rules (BsQueryOptions *opts);

void bs_query_options_clear (BsQueryOptions *opts);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (BsQueryOptions, bs_query_options_clear)

/* "Now": $BOUNCESTAT_NOW (ISO 8601) if set, for reproducible output. */
GDateTime *bs_now (void);

/* The advice for @reason in the user's language (bs_language), or NULL. */
const char *bs_advice (const BounceRules *rules, const char *reason);

int bs_cmd_parse (int argc, char **argv);
int bs_cmd_ingest (int argc, char **argv);
int bs_cmd_import_log (int argc, char **argv);
int bs_cmd_report (int argc, char **argv);
int bs_cmd_suppress (int argc, char **argv);
int bs_cmd_show (int argc, char **argv);
int bs_cmd_explain (int argc, char **argv);
int bs_cmd_rules (int argc, char **argv);
int bs_cmd_verp (int argc, char **argv);
int bs_cmd_reclassify (int argc, char **argv);
int bs_cmd_config (int argc, char **argv);
int bs_cmd_fetch (int argc, char **argv);

/* The VERP key: from the file @option, else $BOUNCESTAT_VERP_SECRET_FILE,
 * else the configuration's verp-secret-file or verp-secret.  NULL with
 * *@out_status EX_OK when there is none; on error prints it and sets
 * *@out_status (transfer full). */
BounceVerpKey *bs_verp_key (const char *option, int *out_status);

/* Parsing on every core, results in input order (bs-pool.c). */
typedef struct _BsPool BsPool;

/* What a worker makes of a report besides parsing it (the line to print),
 * or NULL. */
typedef char *(*BsPoolRender) (const BounceReport *report);

/* --jobs default: the number of cores. */
guint bs_pool_default_jobs (void);

/* @jobs workers sharing @parser (borrowed); 1: no thread, each message
 * parsed when pushed. */
BsPool *bs_pool_new (BounceParser *parser, guint jobs, BsPoolRender render);

/* Queues @message read from @input (annotated from it:
 * bounce_input_annotate); takes @message and @source. */
void bs_pool_push (BsPool *pool, BounceInput *input, GBytes *message, char *source);

/* The oldest result (all transfer full; with a render function @text is
 * set and @report NULL, else @text is NULL), waiting for it when needed; FALSE when none is due: fewer
 * in flight than keep the workers busy, unless @all; or none left. */
gboolean bs_pool_next (BsPool *pool, gboolean all, GBytes **message, char **source,
                       BounceReport **report, char **text);

/* Waits for the workers; drops what was not taken back. */
void bs_pool_free (BsPool *pool);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (BsPool, bs_pool_free)

#endif /* BS_H */
