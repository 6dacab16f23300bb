/*
 * bs-config.c - the settings in one place: the configuration files
 * (GKeyFile, group [bouncestat]), the environment and the options, and
 * which of them each effective setting comes from (`bouncestat config`).
 *
 * Precedence, lowest first: the built-in default, the system file
 * (SYSCONFDIR/bouncestat/bouncestat.conf, beside rules.d), the user's
 * file ($XDG_CONFIG_HOME/bouncestat/config), the environment variable
 * (where the setting has one), the command-line option.
 * $BOUNCESTAT_CONFIG=FILE reads FILE instead of both files (empty: none).
 *
 * Only the CLI reads files and the environment; the library gets the
 * resulting values through its API.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "bs.h"

#define GROUP "bouncestat"

typedef struct {
    const char *key;
    const char *env;    /* "$VARIABLE" that overrides the files, or NULL */
    const char *option; /* the option that overrides everything */
    gboolean path;      /* relative to the file's directory */
    gboolean list;      /* ';'-separated */
} Key;

static const Key keys[] = {
    { "database", "$BOUNCESTAT_DB", "--db", TRUE, FALSE },
    { "rules", "$BOUNCESTAT_RULES_DIR", "--rules", TRUE, TRUE },
    { "verp", NULL, "--verp", FALSE, FALSE },
    { "verp-secret-file", "$BOUNCESTAT_VERP_SECRET_FILE",
      "--verp-secret-file", TRUE, FALSE },
    { "verp-secret", NULL, NULL, FALSE, FALSE },
    { "sending-domains", NULL, "--sending-domain", FALSE, TRUE },
    { "soft-count", NULL, "--soft-count", FALSE, FALSE },
    { "soft-days", NULL, "--soft-days", FALSE, FALSE },
    { "language", NULL, "--lang", FALSE, FALSE },
    { "fetch-password", NULL, "--password-file", FALSE, FALSE },
};

/* The keys that hold a secret: a file that has one must not be readable
 * by others. */
static const char *const secret_keys[] = { "verp-secret", "fetch-password" };

typedef struct {
    char *path;
    gboolean read;
} File;

static struct {
    gboolean loaded;
    GHashTable *values;  /* key -> GStrv (one item unless a list) */
    GHashTable *sources; /* key -> the file it came from */
    GArray *files;       /* File, in reading order */
} config;

static const Key *
find_key (const char *name)
{
    for (guint i = 0; i < G_N_ELEMENTS (keys); i++)
        if (strcmp (keys[i].key, name) == 0)
            return &keys[i];
    return NULL;
}

static void
file_clear (File *f)
{
    g_free (f->path);
}

char *
bs_system_config_path (void)
{
    g_autofree char *rules_d = bs_system_rules_dir ();
    g_autofree char *dir = g_path_get_dirname (rules_d);

    return g_build_filename (dir, "bouncestat.conf", NULL);
}

/* A value of @key in @kf, checked; on error sets @error. */
static gboolean
read_value (GKeyFile *kf,
            const char *path,
            const Key *k,
            GStrv *out_value,
            GError **error)
{
    g_autoptr (GError) local = NULL;
    g_auto (GStrv) value = NULL;
    g_autofree char *dir = g_path_get_dirname (path);

    if (k->list) {
        value = g_key_file_get_string_list (kf, GROUP, k->key, NULL, &local);
    } else {
        char *one = g_key_file_get_string (kf, GROUP, k->key, &local);

        if (one != NULL) {
            value = g_new0 (char *, 2);
            value[0] = one;
        }
    }
    if (value == NULL) {
        g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
                     "%s: %s: %s", path, k->key, local->message);
        return FALSE;
    }
    for (guint i = 0; value[i] != NULL; i++) {
        g_strstrip (value[i]);
        /* A database may be a PostgreSQL connection string, not a
         * path. */
        if (k->path && value[i][0] != '\0' && !g_path_is_absolute (value[i]) &&
            !(strcmp (k->key, "database") == 0 &&
              bounce_store_is_connection_string (value[i]))) {
            char *abs = g_canonicalize_filename (value[i], dir);

            g_free (value[i]);
            value[i] = abs;
        }
    }
    if (strcmp (k->key, "soft-count") == 0 ||
        strcmp (k->key, "soft-days") == 0) {
        gint64 n;
        gboolean count = strcmp (k->key, "soft-count") == 0;

        if (!g_ascii_string_to_signed (value[0], 10, count ? 1 : 0, G_MAXINT,
                                       &n, NULL)) {
            g_set_error (error, G_KEY_FILE_ERROR,
                         G_KEY_FILE_ERROR_INVALID_VALUE,
                         "%s: %s must be a whole number of %s, not '%s'", path,
                         k->key, count ? "1 or more" : "0 or more", value[0]);
            return FALSE;
        }
    }
    if (strcmp (k->key, "verp-secret") == 0) {
        g_autoptr (BounceVerpKey) key = bounce_verp_key_new (
            (const guint8 *) value[0], strlen (value[0]), &local);

        if (key == NULL) {
            g_set_error (error, G_KEY_FILE_ERROR,
                         G_KEY_FILE_ERROR_INVALID_VALUE, "%s: verp-secret: %s",
                         path, local->message);
            return FALSE;
        }
    }
    if (strcmp (k->key, "language") == 0 && value[0][0] == '\0') {
        g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
                     "%s: language is empty", path);
        return FALSE;
    }
    *out_value = g_steal_pointer (&value);
    return TRUE;
}

/* Reads one file into the settings; a missing file is no error. */
static gboolean
read_file (const char *path, GError **error)
{
    g_autoptr (GKeyFile) kf = g_key_file_new ();
    g_autoptr (GError) local = NULL;
    g_auto (GStrv) groups = NULL;
    g_auto (GStrv) names = NULL;
    File f = { g_strdup (path), FALSE };
    struct stat st;

    if (!g_key_file_load_from_file (kf, path, G_KEY_FILE_NONE, &local)) {
        gboolean absent = g_error_matches (local, G_FILE_ERROR,
                                           G_FILE_ERROR_NOENT);

        g_array_append_val (config.files, f);
        if (absent)
            return TRUE;
        g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_PARSE,
                     "%s: %s", path, local->message);
        return FALSE;
    }
    f.read = TRUE;
    g_array_append_val (config.files, f);

    groups = g_key_file_get_groups (kf, NULL);
    for (guint i = 0; groups[i] != NULL; i++)
        if (strcmp (groups[i], GROUP) != 0) {
            g_set_error (error, G_KEY_FILE_ERROR,
                         G_KEY_FILE_ERROR_GROUP_NOT_FOUND,
                         "%s: unknown group [%s] (the settings are in "
                         "[" GROUP "])", path, groups[i]);
            return FALSE;
        }
    names = g_key_file_get_keys (kf, GROUP, NULL, NULL);
    for (guint i = 0; names != NULL && names[i] != NULL; i++) {
        if (find_key (names[i]) == NULL) {
            g_autoptr (GString) known = g_string_new (NULL);

            for (guint j = 0; j < G_N_ELEMENTS (keys); j++)
                g_string_append_printf (known, "%s%s", j > 0 ? ", " : "",
                                        keys[j].key);
            g_set_error (error, G_KEY_FILE_ERROR,
                         G_KEY_FILE_ERROR_KEY_NOT_FOUND,
                         "%s: unknown key '%s' (known: %s)", path, names[i],
                         known->str);
            return FALSE;
        }
    }
    if (g_key_file_has_key (kf, GROUP, "verp-secret", NULL) &&
        g_key_file_has_key (kf, GROUP, "verp-secret-file", NULL)) {
        g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
                     "%s: verp-secret and verp-secret-file: give one of them",
                     path);
        return FALSE;
    }
    for (guint i = 0; names != NULL && names[i] != NULL; i++) {
        const Key *k = find_key (names[i]);
        GStrv value = NULL;

        if (!read_value (kf, path, k, &value, error))
            return FALSE;
        g_hash_table_replace (config.values, (gpointer) k->key, value);
        g_hash_table_replace (config.sources, (gpointer) k->key,
                              g_strdup (path));
        /* The two spellings of the secret are one setting. */
        if (strcmp (k->key, "verp-secret") == 0 ||
            strcmp (k->key, "verp-secret-file") == 0) {
            const char *other = k->key[11] == '\0' ? "verp-secret-file"
                                                   : "verp-secret";

            g_hash_table_remove (config.values, other);
            g_hash_table_remove (config.sources, other);
        }
    }
    /* A secret others can read is no secret. */
    for (guint i = 0; i < G_N_ELEMENTS (secret_keys); i++)
        if (g_key_file_has_key (kf, GROUP, secret_keys[i], NULL) &&
            stat (path, &st) == 0 && (st.st_mode & (S_IRGRP | S_IROTH)) != 0)
            bs_error ("warning: %s holds %s and others can read it: "
                      "'chmod 600 %s', or name a file readable only by you "
                      "with %s", path, secret_keys[i], path,
                      i == 0 ? "verp-secret-file" : "fetch --password-file");
    return TRUE;
}

gboolean
bs_config_load (GError **error)
{
    const char *env = g_getenv ("BOUNCESTAT_CONFIG");
    g_autoptr (GPtrArray) paths = g_ptr_array_new_with_free_func (g_free);

    g_return_val_if_fail (!config.loaded, FALSE);
    config.loaded = TRUE;
    config.values = g_hash_table_new_full (g_str_hash, g_str_equal, NULL,
                                           (GDestroyNotify) g_strfreev);
    config.sources = g_hash_table_new_full (g_str_hash, g_str_equal, NULL,
                                            g_free);
    config.files = g_array_new (FALSE, TRUE, sizeof (File));
    g_array_set_clear_func (config.files, (GDestroyNotify) file_clear);

    if (env != NULL) {
        if (env[0] != '\0')
            g_ptr_array_add (paths, g_strdup (env));
    } else {
        g_ptr_array_add (paths, bs_system_config_path ());
        g_ptr_array_add (paths, g_build_filename (g_get_user_config_dir (),
                                                  "bouncestat", "config",
                                                  NULL));
    }
    for (guint i = 0; i < paths->len; i++)
        if (!read_file (paths->pdata[i], error))
            return FALSE;
    return TRUE;
}

const char *const *
bs_config_get (const char *key, const char **out_file)
{
    const char *const *value;

    g_assert (find_key (key) != NULL);
    value = config.values != NULL ? g_hash_table_lookup (config.values, key)
                                  : NULL;
    if (out_file != NULL)
        *out_file = value != NULL ? g_hash_table_lookup (config.sources, key)
                                  : NULL;
    return value;
}

const char *
bs_config_get_one (const char *key, const char **out_file)
{
    const char *const *value = bs_config_get (key, out_file);

    return value != NULL ? value[0] : NULL;
}

const char *
bs_setting (const char *key, const char *option, const char **out_source)
{
    const Key *k = find_key (key);
    const char *env, *value;
    const char *file = NULL;

    g_assert (k != NULL);
    env = k->env != NULL ? g_getenv (k->env + 1) : NULL;
    if (option != NULL) {
        *out_source = k->option;
        return option;
    }
    if (env != NULL && env[0] != '\0') {
        *out_source = k->env;
        return env;
    }
    value = bs_config_get_one (key, &file);
    *out_source = file;
    return value;
}

int
bs_config_soft (const char *key, int option)
{
    const char *value;

    if (option >= 0)
        return option;
    value = bs_config_get_one (key, NULL);
    return value != NULL ? atoi (value) : -1;
}

/* ------------------------------------------------------------------ */
/* The language                                                       */
/* ------------------------------------------------------------------ */

/* Whether @lang (a locale name) is one the rules speak; sets *@out to
 * the rules' spelling ("pl" for "pl_PL.UTF-8"). */
static gboolean
speaks (const char *const *langs, const char *lang, const char **out)
{
    g_auto (GStrv) variants = NULL;

    if (strcmp (lang, "C") == 0 || strcmp (lang, "POSIX") == 0 ||
        g_str_has_prefix (lang, "C.")) {
        *out = "en";
        return TRUE;
    }
    variants = g_get_locale_variants (lang);
    for (guint i = 0; variants[i] != NULL; i++)
        if (g_strv_contains (langs, variants[i])) {
            *out = g_intern_string (variants[i]);
            return TRUE;
        }
    return FALSE;
}

const char *
bs_language (const BounceRules *rules, const char *option,
             const char **out_source)
{
    static const char *const english[] = { "en", NULL };
    g_auto (GStrv) have = rules != NULL ? bounce_rules_get_languages (rules)
                                        : NULL;
    const char *const *langs = have != NULL ? (const char *const *) have
                                            : english;
    const char *file = NULL;
    const char *conf = bs_config_get_one ("language", &file);
    const char *const *names;
    const char *lang;
    const char *source_dummy;

    if (out_source == NULL)
        out_source = &source_dummy;
    if (option != NULL) {
        *out_source = "--lang";
        return speaks (langs, option, &lang) ? lang : NULL;
    }
    if (conf != NULL && speaks (langs, conf, &lang)) {
        *out_source = file;
        return lang;
    }
    /* $LANGUAGE, $LC_ALL, $LC_MESSAGES, $LANG, whether the locale is
     * installed or not (setlocale would say "C" for one that is not). */
    names = g_get_language_names ();
    for (guint i = 0; names[i] != NULL; i++)
        if (speaks (langs, names[i], &lang)) {
            *out_source = strcmp (names[i], "C") == 0
                              ? "default"
                              : "the locale ($LANGUAGE, $LC_ALL, "
                                "$LC_MESSAGES, $LANG)";
            return lang;
        }
    *out_source = "default";
    return "en";
}

/* ------------------------------------------------------------------ */
/* bouncestat config                                                  */
/* ------------------------------------------------------------------ */

typedef struct {
    const char *key;
    char *value;   /* NULL: not set */
    const char *source;
} Row;

static void
row_clear (Row *row)
{
    g_free (row->value);
}

static void
add_row (GArray *rows, const char *key, char *value, const char *source)
{
    Row row = { key, value, source != NULL ? source : "default" };

    g_array_append_val (rows, row);
}

static char *
join (const char *const *value)
{
    return value != NULL ? g_strjoinv (";", (char **) value) : NULL;
}

int
bs_cmd_config (int argc, char **argv)
{
    g_autofree char *format = NULL;
    GOptionEntry entries[] = {
        { "format", 'f', 0, G_OPTION_ARG_STRING, &format,
          "Output format: text (default) or json", "FORMAT" },
        { NULL },
    };
    static const char *const format_names[] = { "text", "json", NULL };
    g_autoptr (GOptionContext) context =
        g_option_context_new ("- print the effective settings");
    g_autoptr (GArray) rows = g_array_new (FALSE, TRUE, sizeof (Row));
    g_autoptr (BounceRules) rules = NULL;
    g_auto (GStrv) dirs = NULL;
    const char *source, *value, *file;
    int format_index = 0;
    int status = EX_OK;

    g_array_set_clear_func (rows, (GDestroyNotify) row_clear);
    g_option_context_set_summary (
        context,
        "Prints each setting, its effective value and where it comes from: "
        "the\nsystem file, the user's file, the environment or the default "
        "(the options of\neach command override them).  The files are "
        "GKeyFiles with a [bouncestat] group.");
    g_option_context_add_main_entries (context, entries, NULL);
    if (!bs_parse_options (context, &argc, &argv, &status))
        return status;
    if (!bs_no_arguments ("config", argc, argv) ||
        !bs_choose ("config", "format", format, format_names, &format_index))
        return EX_USAGE;

    {
        g_autofree char *db = bs_db_path (NULL);

        bs_setting ("database", NULL, &source);
        add_row (rows, "database", g_steal_pointer (&db),
                 source != NULL ? source
                                : "default: $XDG_DATA_HOME/bouncestat/"
                                  "bounces.db");
    }
    dirs = bs_rules_dirs (NULL, &source);
    add_row (rows, "rules", join ((const char *const *) dirs), source);
    value = bs_config_get_one ("verp", &file);
    add_row (rows, "verp", g_strdup (value), file);
    value = bs_setting ("verp-secret-file", NULL, &source);
    if (value != NULL) {
        add_row (rows, "verp-secret-file", g_strdup (value), source);
    } else {
        value = bs_config_get_one ("verp-secret", &file);
        add_row (rows, "verp-secret",
                 value != NULL ? g_strdup ("(set, not shown)") : NULL, file);
    }
    value = bs_config_get_one ("fetch-password", &file);
    add_row (rows, "fetch-password",
             value != NULL ? g_strdup ("(set, not shown)") : NULL, file);
    add_row (rows, "sending-domains",
             join (bs_config_get ("sending-domains", &file)), file);
    value = bs_config_get_one ("soft-count", &file);
    add_row (rows, "soft-count", g_strdup (value != NULL ? value : "3"),
             file != NULL ? file : "default: the database's setting");
    value = bs_config_get_one ("soft-days", &file);
    add_row (rows, "soft-days", g_strdup (value != NULL ? value : "7"),
             file != NULL ? file : "default: the database's setting");
    {
        g_autoptr (GError) error = NULL;
        g_auto (GStrv) rdirs = bs_rules_dirs (NULL, NULL);

        /* The language is one the rules speak; without them, English. */
        rules = bounce_rules_load ((const char *const *) rdirs, &error);
        value = bs_config_get_one ("language", &file);
        if (rules == NULL && value != NULL) {
            add_row (rows, "language", g_strdup (value), file);
        } else {
            value = bs_language (rules, NULL, &source);
            add_row (rows, "language", g_strdup (value), source);
        }
    }

    if (format_index == 1) {
        g_autoptr (JsonBuilder) b = json_builder_new ();
        g_autoptr (JsonNode) root = NULL;

        json_builder_begin_object (b);
        json_builder_set_member_name (b, "files");
        json_builder_begin_array (b);
        for (guint i = 0; i < config.files->len; i++) {
            const File *f = &g_array_index (config.files, File, i);

            json_builder_begin_object (b);
            json_builder_set_member_name (b, "path");
            json_builder_add_string_value (b, f->path);
            json_builder_set_member_name (b, "read");
            json_builder_add_boolean_value (b, f->read);
            json_builder_end_object (b);
        }
        json_builder_end_array (b);
        json_builder_set_member_name (b, "settings");
        json_builder_begin_object (b);
        for (guint i = 0; i < rows->len; i++) {
            const Row *row = &g_array_index (rows, Row, i);

            json_builder_set_member_name (b, row->key);
            json_builder_begin_object (b);
            json_builder_set_member_name (b, "value");
            json_builder_add_string_value (b, row->value);
            json_builder_set_member_name (b, "source");
            json_builder_add_string_value (b, row->source);
            json_builder_end_object (b);
        }
        json_builder_end_object (b);
        json_builder_end_object (b);
        root = json_builder_get_root (b);
        bs_print_json (root);
    } else {
        for (guint i = 0; i < config.files->len; i++) {
            const File *f = &g_array_index (config.files, File, i);
            g_autofree char *safe = bs_sanitize (f->path);

            printf ("# %s: %s\n", safe, f->read ? "read" : "absent");
        }
        for (guint i = 0; i < rows->len; i++) {
            const Row *row = &g_array_index (rows, Row, i);
            g_autofree char *v = bs_sanitize (row->value != NULL ? row->value
                                                                 : "-");
            g_autofree char *s = bs_sanitize (row->source);

            printf ("%-16s = %s  # %s\n", row->key, v, s);
        }
    }
    return fflush (stdout) == 0 ? EX_OK : EX_IOERR;
}
