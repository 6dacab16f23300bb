/*
 * bounce-query.c - the reading side of the history: a read-only
 * connection (BounceReader) and the queries behind `bouncestat report`,
 * `suppress` and `show`, returned as small result sets (BounceTable).
 *
 * Every value reaches SQLite as a bound parameter; only fixed fragments
 * of SQL are put together here (so that SQLite can use the indexes for
 * the conditions actually given).  Nothing here prints or formats: the
 * CLI does that.  Writing the database is bounce-store.c's job.
 */
#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "bounce-private.h"

/* The oldest schema the queries work with: version 2 added the reasons
 * and settings tables.  Newer schemas only add, so they are read too. */
#define READER_MIN_SCHEMA 2

#define DEFAULT_CAMPAIGN_HEADER "x-campaign-id"

struct _BounceReader {
    sqlite3 *db;
    char *path;
    int schema_version;
};

/* ------------------------------------------------------------------ */
/* Errors                                                             */
/* ------------------------------------------------------------------ */

static gboolean
set_db_error (GError **error, BounceReader *reader, int rc, const char *what)
{
    const char *msg = reader->db != NULL ? sqlite3_errmsg (reader->db)
                                         : sqlite3_errstr (rc);
    BounceError code = _bounce_sqlite_error_code (
        rc, reader->db != NULL ? sqlite3_system_errno (reader->db) : 0);

    g_set_error (error, BOUNCE_ERROR, code, "database %s: %s: %s",
                 reader->path, what, msg);
    return FALSE;
}

/* ------------------------------------------------------------------ */
/* BounceReader                                                       */
/* ------------------------------------------------------------------ */

/* Opens @uri (a file: URI) read-only and reads the schema version;
 * the SQLite result code. */
static int
reader_connect (BounceReader *reader, const char *uri)
{
    sqlite3_stmt *stmt = NULL;
    int rc;

    g_clear_pointer (&reader->db, sqlite3_close_v2);
    rc = sqlite3_open_v2 (uri, &reader->db,
                          SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX |
                              SQLITE_OPEN_URI,
                          NULL);
    if (rc != SQLITE_OK)
        return rc;
    sqlite3_extended_result_codes (reader->db, 1);
    sqlite3_busy_timeout (reader->db, BOUNCE_READER_BUSY_TIMEOUT_MS);
    rc = sqlite3_prepare_v2 (reader->db, "PRAGMA user_version", -1, &stmt,
                             NULL);
    if (rc == SQLITE_OK && (rc = sqlite3_step (stmt)) == SQLITE_ROW) {
        reader->schema_version = sqlite3_column_int (stmt, 0);
        rc = SQLITE_OK;
    }
    sqlite3_finalize (stmt);
    return rc;
}

/* TRUE when the write-ahead log of @path is missing or empty: then the
 * database file alone holds every committed transaction. */
static gboolean
wal_is_empty (const char *path)
{
    g_autofree char *wal = g_strconcat (path, "-wal", NULL);
    GStatBuf st;

    if (g_stat (wal, &st) != 0)
        return errno == ENOENT;
    return st.st_size == 0;
}

/* A reader needs no write access to the database: SQLite (3.22 and
 * later) reads a WAL database read-only when its -wal and -shm files
 * exist or can be created (https://www.sqlite.org/wal.html, "Read-Only
 * Databases").  Where they cannot (another user's directory, a read-only
 * mount) and there is no write-ahead log to read, the file is opened
 * "immutable" (https://www.sqlite.org/uri.html): without locks, which
 * is right while no one writes it; a writer that checkpoints during the
 * report may make it fail (run it again).  With a log that cannot be
 * read without write access, it is an error that says so. */
BounceReader *
bounce_reader_open (const char *path, GError **error)
{
    g_autoptr (BounceReader) reader = NULL;
    g_autofree char *absolute = NULL;
    g_autofree char *uri = NULL;
    GStatBuf st;
    int fd;
    int rc;

    g_return_val_if_fail (path != NULL, NULL);

    reader = g_new0 (BounceReader, 1);
    reader->path = g_strdup (path);
    if (g_stat (path, &st) != 0 && errno != ENOENT) {
        int saved = errno;
        g_set_error (error, BOUNCE_ERROR, BOUNCE_ERROR_INPUT,
                     "database %s: %s", path, g_strerror (saved));
        return NULL;
    }
    if (!g_file_test (path, G_FILE_TEST_IS_REGULAR)) {
        g_set_error (error, BOUNCE_ERROR, BOUNCE_ERROR_INPUT,
                     "database %s does not exist (run 'bouncestat ingest' "
                     "first)", path);
        return NULL;
    }
    /* Say why it cannot be read (SQLite only says "unable to open"). */
    fd = g_open (path, O_RDONLY | O_CLOEXEC, 0);
    if (fd < 0) {
        int saved = errno;
        g_set_error (error, BOUNCE_ERROR, BOUNCE_ERROR_INPUT,
                     "database %s: cannot read it: %s", path,
                     g_strerror (saved));
        return NULL;
    }
    close (fd);
    /* A URI, so that a path with "?" or "%" means itself. */
    absolute = g_canonicalize_filename (path, NULL);
    uri = g_filename_to_uri (absolute, NULL, NULL);
    if (uri == NULL) {
        g_set_error (error, BOUNCE_ERROR, BOUNCE_ERROR_INPUT,
                     "database %s: not a usable file name", path);
        return NULL;
    }
    rc = reader_connect (reader, uri);
    if (((rc & 0xff) == SQLITE_READONLY || (rc & 0xff) == SQLITE_CANTOPEN) &&
        reader->db != NULL) {
        /* The -shm (or -wal) file could not be created. */
        if (wal_is_empty (path)) {
            g_autofree char *immutable = g_strconcat (uri, "?immutable=1",
                                                      NULL);
            rc = reader_connect (reader, immutable);
        } else {
            g_set_error (error, BOUNCE_ERROR, BOUNCE_ERROR_STORE,
                         "database %s: cannot read it: its write-ahead log "
                         "(%s-wal) needs a -shm file this user cannot create "
                         "(%s); run it where the database's directory is "
                         "writable, or after a writer has closed it",
                         path, path, sqlite3_errmsg (reader->db));
            return NULL;
        }
    }
    if (rc != SQLITE_OK) {
        /* Not a database at all ("file is not a database"), or locked. */
        set_db_error (error, reader, rc, "reading the schema version");
        return NULL;
    }
    if (reader->schema_version < READER_MIN_SCHEMA) {
        g_set_error (error, BOUNCE_ERROR, BOUNCE_ERROR_STORE,
                     "database %s: schema version %d is too old to report "
                     "on (run 'bouncestat ingest' once to upgrade it)",
                     path, reader->schema_version);
        return NULL;
    }
    return g_steal_pointer (&reader);
}

void
bounce_reader_free (BounceReader *reader)
{
    if (reader == NULL)
        return;
    sqlite3_close_v2 (reader->db);
    g_free (reader->path);
    g_free (reader);
}

int
bounce_reader_get_schema_version (BounceReader *reader)
{
    return reader->schema_version;
}

/* ------------------------------------------------------------------ */
/* BounceTable                                                        */
/* ------------------------------------------------------------------ */

/* A table and the strings of its rows added by copy (one allocation per
 * block of strings rather than one per cell). */
typedef struct {
    BounceTable pub;
    GStringChunk *cells;
} Table;

static BounceTable *
table_new (guint n_columns)
{
    BounceTable *table = (BounceTable *) g_new0 (Table, 1);

    table->n_columns = n_columns;
    table->columns = g_new0 (char *, n_columns + 1);
    table->types = g_new0 (BounceValueType, n_columns);
    table->rows = g_ptr_array_new_with_free_func (
        (GDestroyNotify) g_ptr_array_unref);
    return table;
}

void
bounce_table_free (BounceTable *table)
{
    if (table == NULL)
        return;
    g_strfreev (table->columns);
    g_free (table->types);
    g_ptr_array_unref (table->rows);
    if (((Table *) table)->cells != NULL)
        g_string_chunk_free (((Table *) table)->cells);
    g_free (table);
}

void
_bounce_table_add_row_copy (BounceTable *table, const char *const *cells)
{
    Table *t = (Table *) table;
    GPtrArray *row = g_ptr_array_sized_new (table->n_columns);

    if (t->cells == NULL)
        t->cells = g_string_chunk_new (64 * 1024);
    for (guint c = 0; c < table->n_columns; c++)
        g_ptr_array_add (row, cells[c] != NULL
                                  ? g_string_chunk_insert (t->cells, cells[c])
                                  : NULL);
    g_ptr_array_add (table->rows, row);
}

int
bounce_table_find_column (const BounceTable *table, const char *name)
{
    for (guint i = 0; i < table->n_columns; i++)
        if (strcmp (table->columns[i], name) == 0)
            return (int) i;
    return -1;
}

const char *
bounce_table_get (const BounceTable *table, guint row, const char *column)
{
    int col = bounce_table_find_column (table, column);

    g_return_val_if_fail (row < table->rows->len, NULL);
    if (col < 0)
        return NULL;
    return g_ptr_array_index ((GPtrArray *) table->rows->pdata[row],
                              (guint) col);
}

JsonNode *
bounce_table_row_to_json (const BounceTable *table, guint row)
{
    g_autoptr (JsonObject) obj = json_object_new ();
    GPtrArray *cells;
    JsonNode *node;

    g_return_val_if_fail (row < table->rows->len, NULL);
    cells = table->rows->pdata[row];
    for (guint c = 0; c < table->n_columns; c++) {
        const char *v = cells->pdata[c];

        if (v == NULL)
            json_object_set_null_member (obj, table->columns[c]);
        else if (table->types[c] == BOUNCE_VALUE_INTEGER)
            json_object_set_int_member (obj, table->columns[c],
                                        g_ascii_strtoll (v, NULL, 10));
        else if (table->types[c] == BOUNCE_VALUE_REAL)
            json_object_set_double_member (obj, table->columns[c],
                                           g_ascii_strtod (v, NULL));
        else
            json_object_set_string_member (obj, table->columns[c], v);
    }
    node = json_node_new (JSON_NODE_OBJECT);
    json_node_set_object (node, obj);
    return node;
}

JsonNode *
bounce_table_to_json (const BounceTable *table)
{
    g_autoptr (JsonArray) array = json_array_new ();
    JsonNode *node;

    for (guint r = 0; r < table->rows->len; r++)
        json_array_add_element (array, bounce_table_row_to_json (table, r));
    node = json_node_new (JSON_NODE_ARRAY);
    json_node_set_array (node, array);
    return node;
}

/* ------------------------------------------------------------------ */
/* Running SQL                                                        */
/* ------------------------------------------------------------------ */

/* A query being put together: fixed SQL fragments and the values bound
 * to their "?" placeholders. */
typedef struct {
    char *text; /* NULL: an integer (or NULL when is_int is FALSE too) */
    gint64 number;
    gboolean is_int;
} Param;

typedef struct {
    GString *sql;
    GArray *params; /* Param */
} Query;

static void
param_clear (gpointer data)
{
    g_free (((Param *) data)->text);
}

static void
query_init (Query *q)
{
    q->sql = g_string_new (NULL);
    q->params = g_array_new (FALSE, TRUE, sizeof (Param));
    g_array_set_clear_func (q->params, param_clear);
}

static void
query_clear (Query *q)
{
    g_string_free (q->sql, TRUE);
    g_array_unref (q->params);
}

/* Appends @fragment, in which "?" stands for the next text parameter
 * and "#" for the next integer one; the values follow (const char *,
 * NULL allowed, or gint64), one per placeholder. */
static void
query_add (Query *q, const char *fragment, ...)
{
    va_list args;

    va_start (args, fragment);
    for (const char *p = fragment; *p != '\0'; p++) {
        Param param = { NULL, 0, FALSE };

        if (*p == '?') {
            param.text = g_strdup (va_arg (args, const char *));
        } else if (*p == '#') {
            param.number = va_arg (args, gint64);
            param.is_int = TRUE;
        } else {
            g_string_append_c (q->sql, *p);
            continue;
        }
        g_array_append_val (q->params, param);
        g_string_append_printf (q->sql, "?%u", q->params->len);
    }
    va_end (args);
}

/* Prepares @q's SQL into *@out_stmt and binds its parameters (copied:
 * @q may be cleared before the statement is finished).  Returns the
 * SQLite result code of the preparation. */
static int
query_prepare (BounceReader *reader, Query *q, sqlite3_stmt **out_stmt)
{
    int rc;

    *out_stmt = NULL;
    rc = sqlite3_prepare_v2 (reader->db, q->sql->str, (int) q->sql->len,
                             out_stmt, NULL);
    if (rc != SQLITE_OK)
        return rc;
    for (guint i = 0; i < q->params->len; i++) {
        const Param *p = &g_array_index (q->params, Param, i);

        if (p->is_int)
            sqlite3_bind_int64 (*out_stmt, (int) i + 1, p->number);
        else if (p->text == NULL)
            sqlite3_bind_null (*out_stmt, (int) i + 1);
        else
            sqlite3_bind_text (*out_stmt, (int) i + 1, p->text, -1,
                               SQLITE_TRANSIENT);
    }
    return rc;
}

static BounceTable *
query_run (BounceReader *reader, Query *q, GError **error)
{
    g_autoptr (BounceTable) table = NULL;
    sqlite3_stmt *stmt = NULL;
    int rc;
    guint n;

    rc = query_prepare (reader, q, &stmt);
    if (rc != SQLITE_OK) {
        set_db_error (error, reader, rc, "preparing a query");
        return NULL;
    }
    n = (guint) sqlite3_column_count (stmt);
    table = table_new (n);
    for (guint c = 0; c < n; c++) {
        table->columns[c] = g_strdup (sqlite3_column_name (stmt, (int) c));
        table->types[c] = BOUNCE_VALUE_NULL;
    }
    while ((rc = sqlite3_step (stmt)) == SQLITE_ROW) {
        GPtrArray *cells = g_ptr_array_new_full (n, g_free);

        for (guint c = 0; c < n; c++) {
            int t = sqlite3_column_type (stmt, (int) c);
            BounceValueType vt;

            if (t == SQLITE_NULL) {
                g_ptr_array_add (cells, NULL);
                continue;
            }
            g_ptr_array_add (cells, g_strdup (
                (const char *) sqlite3_column_text (stmt, (int) c)));
            vt = t == SQLITE_INTEGER ? BOUNCE_VALUE_INTEGER
                 : t == SQLITE_FLOAT ? BOUNCE_VALUE_REAL
                                     : BOUNCE_VALUE_TEXT;
            /* The column type is the widest seen: INTEGER < REAL < TEXT. */
            if (vt > table->types[c])
                table->types[c] = vt;
        }
        g_ptr_array_add (table->rows, cells);
    }
    if (rc != SQLITE_DONE) {
        set_db_error (error, reader, rc, "running a query");
        sqlite3_finalize (stmt);
        return NULL;
    }
    sqlite3_finalize (stmt);
    for (guint c = 0; c < n; c++)
        if (table->types[c] == BOUNCE_VALUE_NULL)
            table->types[c] = BOUNCE_VALUE_TEXT;
    return g_steal_pointer (&table);
}

/* ------------------------------------------------------------------ */
/* Options and filters                                                */
/* ------------------------------------------------------------------ */

void
bounce_query_options_init (BounceQueryOptions *options)
{
    memset (options, 0, sizeof *options);
    options->soft_count = -1;
    options->soft_days = -1;
}

static const BounceQueryOptions *
options_or_default (const BounceQueryOptions *options,
                    BounceQueryOptions *storage)
{
    if (options != NULL)
        return options;
    bounce_query_options_init (storage);
    return storage;
}

/* Appends " AND ..." for the time window and the address or domain of
 * @o, on the events aliased @alias. */
static void
add_filters (Query *q, const BounceQueryOptions *o, const char *alias)
{
    if (o->since != NULL) {
        g_string_append_printf (q->sql, " AND %s.event_time >= ", alias);
        query_add (q, "?", o->since);
    }
    if (o->until != NULL) {
        g_string_append_printf (q->sql, " AND %s.event_time < ", alias);
        query_add (q, "?", o->until);
    }
    if (o->match != NULL && o->match[0] == '@') {
        g_autofree char *domain = g_utf8_strdown (o->match + 1, -1);
        const char *suffix = domain;

        /* The registrable domain of a domain is one of its suffixes:
         * naming them all lets SQLite use the registrable_domain index
         * (an OR with domain, which has none, would read every row). */
        g_string_append_printf (q->sql, " AND %s.registrable_domain IN (",
                                alias);
        for (guint n = 0; suffix != NULL && n < 16; n++) {
            query_add (q, n == 0 ? "?" : ", ?", suffix);
            suffix = strchr (suffix, '.');
            if (suffix != NULL)
                suffix++;
        }
        g_string_append_printf (q->sql, ") AND (%s.domain = ", alias);
        query_add (q, "?", domain);
        g_string_append_printf (q->sql, " OR %s.registrable_domain = ", alias);
        query_add (q, "?)", domain);
    } else if (o->match != NULL) {
        g_autofree char *address = g_utf8_strdown (o->match, -1);

        g_string_append_printf (q->sql, " AND %s.address = ", alias);
        query_add (q, "?", address);
    }
}

/* ------------------------------------------------------------------ */
/* report                                                             */
/* ------------------------------------------------------------------ */

static const struct {
    const char *name;
    const char *column; /* the name of the key column */
    const char *key;    /* its SQL */
    const char *join;   /* what it needs joined, or NULL */
} groups_sql[] = {
    [BOUNCE_GROUP_REASON] = { "reason", "reason",
                              "coalesce (e.reason, 'unknown')", NULL },
    /* The store sets registrable_domain whenever there is a domain (the
     * domain itself when the Public Suffix List has no answer). */
    [BOUNCE_GROUP_DOMAIN] = { "domain", "domain",
                              "coalesce (e.registrable_domain, '(unknown)')",
                              NULL },
    [BOUNCE_GROUP_DAY] = { "day", "day", "substr (e.event_time, 1, 10)",
                           NULL },
    /* The day: bounce_query_report turns it into the Monday that
     * starts its (ISO) week, once a day rather than once a row. */
    [BOUNCE_GROUP_WEEK] = { "week", "week", "substr (e.event_time, 1, 10)",
                            NULL },
    [BOUNCE_GROUP_MTA] = { "mta", "mta", "coalesce (m.mta, '(unknown)')",
                           " JOIN messages m ON m.id = e.message_id" },
    [BOUNCE_GROUP_REMOTE_MTA] = { "remote-mta", "remote_mta",
                                  "coalesce (e.remote_mta, '(unknown)')",
                                  NULL },
    [BOUNCE_GROUP_RECIPIENT] = { "recipient", "recipient",
                                 "coalesce (e.address, '(unknown)')", NULL },
    [BOUNCE_GROUP_SENDER] = { "sender", "sender",
                              "coalesce (m.orig_from, '(unknown)')",
                              " JOIN messages m ON m.id = e.message_id" },
    [BOUNCE_GROUP_CAMPAIGN] = { "campaign", "campaign",
                                "coalesce (h.value, '(none)')", NULL },
};

const char *
bounce_group_to_string (BounceGroup group)
{
    g_return_val_if_fail ((guint) group < G_N_ELEMENTS (groups_sql), NULL);
    return groups_sql[group].name;
}

gboolean
bounce_group_from_string (const char *name, BounceGroup *out_group)
{
    for (guint i = 0; i < G_N_ELEMENTS (groups_sql); i++)
        if (g_ascii_strcasecmp (name, groups_sql[i].name) == 0 ||
            g_ascii_strcasecmp (name, groups_sql[i].column) == 0) {
            *out_group = (BounceGroup) i;
            return TRUE;
        }
    return FALSE;
}

static gboolean
parse_day (const char *text, GDate *date)
{
    int y, m, d;

    if (text == NULL || sscanf (text, "%4d-%2d-%2d", &y, &m, &d) != 3 ||
        !g_date_valid_dmy ((GDateDay) d, (GDateMonth) m, (GDateYear) y))
        return FALSE;
    g_date_set_dmy (date, (GDateDay) d, (GDateMonth) m, (GDateYear) y);
    return TRUE;
}

/* ------------------------------------------------------------------ */
/* Building tables in C                                               */
/* ------------------------------------------------------------------ */

/* A table with the columns of @spec: "name:i" (integer) or "name"
 * (text), separated by commas. */
BounceTable *
_bounce_table_new_from_spec (const char *spec)
{
    g_auto (GStrv) names = g_strsplit (spec, ",", -1);
    BounceTable *table = table_new (g_strv_length (names));

    for (guint c = 0; names[c] != NULL; c++) {
        char *colon = strchr (names[c], ':');

        table->types[c] = colon != NULL ? BOUNCE_VALUE_INTEGER
                                        : BOUNCE_VALUE_TEXT;
        if (colon != NULL)
            *colon = '\0';
        table->columns[c] = g_strdup (names[c]);
    }
    return table;
}

/* Appends a row; the cells follow as char * (taken, NULL allowed). */
void
_bounce_table_take_row (BounceTable *table, ...)
{
    GPtrArray *cells = g_ptr_array_new_full (table->n_columns, g_free);
    va_list args;

    va_start (args, table);
    for (guint c = 0; c < table->n_columns; c++)
        g_ptr_array_add (cells, va_arg (args, char *));
    va_end (args);
    g_ptr_array_add (table->rows, cells);
}

static char *
int_text (gint64 n)
{
    return g_strdup_printf ("%" G_GINT64_FORMAT, n);
}

/* Counts of one group of the overview. */
typedef struct {
    char *key;
    gint64 bounces;
    gint64 hard;
    gint64 recipients; /* distinct addresses */
    gint64 messages;   /* distinct messages */
    gint64 side[4];    /* the overview's days: by SIDE_* of the reason */
} Counts;

static void
counts_free (gpointer data)
{
    Counts *counts = data;

    g_free (counts->key);
    g_free (counts);
}

static void
counts_add (GHashTable *by_key, const char *key, gboolean hard)
{
    Counts *counts = g_hash_table_lookup (by_key, key);

    if (counts == NULL) {
        counts = g_new0 (Counts, 1);
        counts->key = g_strdup (key);
        g_hash_table_insert (by_key, counts->key, counts);
    }
    counts->bounces++;
    counts->hard += hard;
}

static int
counts_by_count (gconstpointer a, gconstpointer b)
{
    const Counts *x = *(const Counts *const *) a;
    const Counts *y = *(const Counts *const *) b;

    if (x->bounces != y->bounces)
        return x->bounces > y->bounces ? -1 : 1;
    return strcmp (x->key, y->key);
}

/* Groups keyed by a 64-bit hash of their name, in an open-addressing
 * table: the overview looks one up for every row, and comparing the
 * hash alone (FNV-1a, then mixed) is what makes a million rows fast.
 * Two names with one 64-bit hash would be counted together; with the
 * numbers of addresses a database holds that is far below one chance
 * in a million. */
typedef struct {
    guint64 *keys; /* 0: empty */
    guint32 *values; /* index + 1 in items */
    gsize size; /* a power of two */
    gsize used;
    GPtrArray *items; /* Counts; NULL for a set */
} Groups;

/* splitmix64's finaliser; never 0 (the mark of an empty slot). */
static guint64
mix64 (guint64 h)
{
    h ^= h >> 30;
    h *= G_GUINT64_CONSTANT (0xbf58476d1ce4e5b9);
    h ^= h >> 27;
    h *= G_GUINT64_CONSTANT (0x94d049bb133111eb);
    h ^= h >> 31;
    return h != 0 ? h : 1;
}

static guint64
hash64 (const char *text)
{
    guint64 h = G_GUINT64_CONSTANT (14695981039346656037);

    for (const guchar *p = (const guchar *) text; *p != '\0'; p++) {
        h ^= *p;
        h *= G_GUINT64_CONSTANT (1099511628211);
    }
    /* splitmix64's finaliser spreads FNV's low bits. */
    return mix64 (h);
}

static gsize
groups_probe (const Groups *g, guint64 h)
{
    gsize i = (gsize) h & (g->size - 1);

    while (g->keys[i] != 0 && g->keys[i] != h)
        i = (i + 1) & (g->size - 1);
    return i;
}

static void
groups_grow (Groups *g)
{
    guint64 *old_keys = g->keys;
    guint32 *old_values = g->values;
    gsize old_size = g->size;

    g->size = old_size != 0 ? old_size * 2 : 256;
    g->keys = g_new0 (guint64, g->size);
    g->values = g_new0 (guint32, g->size);
    for (gsize i = 0; i < old_size; i++)
        if (old_keys[i] != 0) {
            gsize j = groups_probe (g, old_keys[i]);

            g->keys[j] = old_keys[i];
            g->values[j] = old_values[i];
        }
    g_free (old_keys);
    g_free (old_values);
}

/* Finds the group @key, adding it when new (*@out_new set); returns its
 * Counts, or NULL for a set. */
static Counts *
groups_get_hashed (Groups *g, guint64 h, const char *key, gboolean *out_new)
{
    Counts *counts;
    gsize i;

    if ((g->used + 1) * 2 > g->size)
        groups_grow (g);
    i = groups_probe (g, h);
    if (g->keys[i] != 0) {
        *out_new = FALSE;
        return g->items != NULL ? g->items->pdata[g->values[i] - 1] : NULL;
    }
    g->keys[i] = h;
    g->used++;
    *out_new = TRUE;
    if (g->items == NULL)
        return NULL;
    counts = g_new0 (Counts, 1);
    counts->key = g_strdup (key);
    g_ptr_array_add (g->items, counts);
    g->values[i] = g->items->len;
    return counts;
}

static Counts *
groups_get (Groups *g, const char *key, gboolean *out_new)
{
    return groups_get_hashed (g, hash64 (key), key, out_new);
}

/* Mixes @value into @h (splitmix64's finaliser): the key of a pair. */
static guint64
hash_pair (guint64 h, guint64 value)
{
    h ^= (value + 1) * G_GUINT64_CONSTANT (0x9e3779b97f4a7c15);
    return mix64 (h);
}

static void
groups_add (Groups *g, const char *key, gboolean hard)
{
    gboolean is_new;
    Counts *counts = groups_get (g, key, &is_new);

    counts->bounces++;
    counts->hard += hard;
}

static void
groups_clear (Groups *g)
{
    g_clear_pointer (&g->keys, g_free);
    g_clear_pointer (&g->values, g_free);
    g_clear_pointer (&g->items, g_ptr_array_unref);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (Groups, groups_clear)

/* The Counts of @items that counted a bounce, by count (a new array;
 * the Counts borrowed). */
static GPtrArray *
items_sorted (GPtrArray *items)
{
    GPtrArray *sorted = g_ptr_array_sized_new (items->len);

    for (guint i = 0; i < items->len; i++)
        if (((Counts *) items->pdata[i])->bounces > 0)
            g_ptr_array_add (sorted, items->pdata[i]);
    g_ptr_array_sort (sorted, counts_by_count);
    return sorted;
}

/* The reasons table: name -> who (borrowed from the hash table). */
static GHashTable *
load_reasons (BounceReader *reader, GError **error)
{
    g_autoptr (BounceTable) rows = NULL;
    GHashTable *who;
    Query q;

    query_init (&q);
    g_string_append (q.sql, "SELECT name, who FROM reasons");
    rows = query_run (reader, &q, error);
    query_clear (&q);
    if (rows == NULL)
        return NULL;
    who = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
    for (guint r = 0; r < rows->rows->len; r++) {
        GPtrArray *cells = rows->rows->pdata[r];

        if (cells->pdata[0] != NULL && cells->pdata[1] != NULL)
            g_hash_table_insert (who, g_strdup (cells->pdata[0]),
                                 g_strdup (cells->pdata[1]));
    }
    return who;
}

/* ------------------------------------------------------------------ */
/* report --by                                                        */
/* ------------------------------------------------------------------ */

static int
counts_by_key (gconstpointer a, gconstpointer b)
{
    const Counts *x = *(const Counts *const *) a;
    const Counts *y = *(const Counts *const *) b;

    return strcmp (x->key, y->key);
}

/* Message ids up to this are mapped in a plain array. */
#define MESSAGE_MAP_MAX (G_GINT64_CONSTANT (1) << 26)

/* For the groups that are a property of the message (mta, sender,
 * campaign), over the whole history: the group of every message, read
 * in one pass (from the messages_report or message_headers index) into
 * an array indexed by message id.  Looking the message up for each
 * bounce instead costs a B-tree search a row, five times the rest of
 * the report.  NULL when not worth it or not possible (ids too large):
 * the caller joins instead. */
static GPtrArray *
message_groups (BounceReader *reader,
                BounceGroup group,
                const BounceQueryOptions *o,
                Groups *groups,
                GError **error)
{
    g_autoptr (GPtrArray) map = NULL;
    sqlite3_stmt *stmt = NULL;
    gint64 max_id = -1;
    const char *sql;
    int rc;

    if ((group != BOUNCE_GROUP_MTA && group != BOUNCE_GROUP_SENDER &&
         group != BOUNCE_GROUP_CAMPAIGN) ||
        o->since != NULL || o->until != NULL || o->match != NULL)
        return NULL;
    if (sqlite3_prepare_v2 (reader->db,
                            "SELECT min (id) >= 0, max (id), count (*)"
                            " FROM messages",
                            -1, &stmt, NULL) == SQLITE_OK &&
        sqlite3_step (stmt) == SQLITE_ROW &&
        sqlite3_column_int (stmt, 0) == 1) {
        max_id = sqlite3_column_int64 (stmt, 1);
        /* Ids are dense (INTEGER PRIMARY KEY from 1): the array is at
         * most twice the messages, or not used. */
        if (max_id >= 2 * sqlite3_column_int64 (stmt, 2) + 65536)
            max_id = -1;
    }
    sqlite3_finalize (stmt);
    if (max_id < 0 || max_id >= MESSAGE_MAP_MAX)
        return NULL;

    sql = group == BOUNCE_GROUP_MTA
              ? "SELECT id, coalesce (mta, '(unknown)') FROM messages"
          : group == BOUNCE_GROUP_SENDER
              ? "SELECT id, coalesce (orig_from, '(unknown)') FROM messages"
              : "SELECT message_id, value FROM message_headers"
                " WHERE name = ?1";
    rc = sqlite3_prepare_v2 (reader->db, sql, -1, &stmt, NULL);
    if (rc == SQLITE_OK && group == BOUNCE_GROUP_CAMPAIGN) {
        g_autofree char *name = g_ascii_strdown (
            o->campaign_header != NULL ? o->campaign_header
                                       : DEFAULT_CAMPAIGN_HEADER, -1);

        sqlite3_bind_text (stmt, 1, name, -1, SQLITE_TRANSIENT);
    }
    map = g_ptr_array_new ();
    g_ptr_array_set_size (map, (guint) max_id + 1);
    while (rc == SQLITE_OK && (rc = sqlite3_step (stmt)) == SQLITE_ROW) {
        gint64 id = sqlite3_column_int64 (stmt, 0);
        const char *key = (const char *) sqlite3_column_text (stmt, 1);
        gboolean is_new;

        rc = SQLITE_OK;
        if (id >= 0 && id <= max_id && key != NULL)
            map->pdata[id] = groups_get (groups, key, &is_new);
    }
    sqlite3_finalize (stmt);
    if (rc != SQLITE_DONE) {
        set_db_error (error, reader, rc, "reading the messages");
        return NULL;
    }
    return g_steal_pointer (&map);
}

/* One pass over the bounces, as for the overview: SQLite only reads the
 * rows (mostly from the events_report index) and the grouping, counting
 * and distinct counts happen here.  GROUP BY with count (DISTINCT ...)
 * would sort the million rows once per distinct count.  The distinct
 * addresses and messages of each group are counted in two sets of
 * (group, value) pairs. */
BounceTable *
bounce_query_report (BounceReader *reader,
                     BounceGroup group,
                     const BounceQueryOptions *options,
                     GError **error)
{
    BounceQueryOptions defaults;
    const BounceQueryOptions *o = options_or_default (options, &defaults);
    gboolean by_time = group == BOUNCE_GROUP_DAY || group == BOUNCE_GROUP_WEEK;
    g_autoptr (GHashTable) who = NULL;
    g_autoptr (GPtrArray) sorted = NULL;
    g_auto (Groups) groups = { NULL };
    g_auto (Groups) address_pairs = { NULL };
    g_auto (Groups) message_pairs = { NULL };
    g_autofree char *spec = NULL;
    g_autofree char *last_key = NULL;
    g_autoptr (GPtrArray) by_message = NULL;
    char week_day[16] = "", week_key[16] = "";
    Counts *no_group = NULL;
    gboolean no_group_new;
    Counts *last = NULL;
    BounceTable *table;
    sqlite3_stmt *stmt = NULL;
    guint first, end;
    Query q;
    int rc;

    g_return_val_if_fail ((guint) group < G_N_ELEMENTS (groups_sql), NULL);

    if (group == BOUNCE_GROUP_REASON) {
        who = load_reasons (reader, error);
        if (who == NULL)
            return NULL;
    }
    groups.items = g_ptr_array_new_with_free_func (counts_free);
    by_message = message_groups (reader, group, o, &groups, error);
    if (by_message == NULL && error != NULL && *error != NULL)
        return NULL;
    if (by_message != NULL)
        no_group = groups_get (&groups,
                               group == BOUNCE_GROUP_CAMPAIGN ? "(none)"
                                                              : "(unknown)",
                               &no_group_new);

    query_init (&q);
    if (by_message != NULL)
        g_string_append (q.sql, "SELECT NULL, e.hard, e.address,"
                                " e.message_id FROM events e");
    else
        g_string_append_printf (q.sql, "SELECT %s, e.hard, e.address,"
                                       " e.message_id FROM events e",
                                groups_sql[group].key);
    if (by_message == NULL && groups_sql[group].join != NULL)
        g_string_append (q.sql, groups_sql[group].join);
    if (by_message == NULL && group == BOUNCE_GROUP_CAMPAIGN) {
        g_autofree char *name = g_ascii_strdown (
            o->campaign_header != NULL ? o->campaign_header
                                       : DEFAULT_CAMPAIGN_HEADER, -1);

        query_add (&q, " LEFT JOIN message_headers h"
                       " ON h.message_id = e.message_id AND h.name = ?",
                   name);
    }
    g_string_append (q.sql, " WHERE e.outcome = 'bounce'");
    add_filters (&q, o, "e");
    rc = query_prepare (reader, &q, &stmt);
    query_clear (&q);
    while (rc == SQLITE_OK && (rc = sqlite3_step (stmt)) == SQLITE_ROW) {
        const char *key = (const char *) sqlite3_column_text (stmt, 0);
        gboolean is_hard = sqlite3_column_int (stmt, 1) == 1;
        const char *address = (const char *) sqlite3_column_text (stmt, 2);
        gint64 message = sqlite3_column_int64 (stmt, 3);
        guint64 group_hash;
        gboolean is_new;
        Counts *c;

        rc = SQLITE_OK;
        if (key == NULL)
            key = "";
        if (group == BOUNCE_GROUP_WEEK) {
            /* Rows come in time order: a new day is rare. */
            if (strcmp (key, week_day) != 0) {
                GDate date;

                g_strlcpy (week_day, key, sizeof week_day);
                if (parse_day (key, &date)) {
                    g_date_subtract_days (
                        &date, g_date_get_weekday (&date) - G_DATE_MONDAY);
                    g_date_strftime (week_key, sizeof week_key, "%Y-%m-%d",
                                     &date);
                } else {
                    g_strlcpy (week_key, key, sizeof week_key);
                }
            }
            key = week_key;
        }
        if (by_message != NULL) {
            c = message >= 0 && (guint64) message < by_message->len
                    ? by_message->pdata[message]
                    : NULL;
            if (c == NULL)
                c = no_group;
        } else if (last != NULL && strcmp (key, last_key) == 0) {
            /* Rows often come in runs of one key (days, in time order). */
            c = last;
        } else {
            c = groups_get (&groups, key, &is_new);
            last = c;
            g_free (last_key);
            last_key = g_strdup (key);
        }
        c->bounces++;
        c->hard += is_hard;
        /* The group's Counts pointer identifies it within this pass. */
        group_hash = hash_pair (GPOINTER_TO_SIZE (c), 0);
        if (address != NULL) {
            groups_get_hashed (&address_pairs,
                               hash_pair (group_hash, hash64 (address)), NULL,
                               &is_new);
            c->recipients += is_new;
        }
        groups_get_hashed (&message_pairs,
                           hash_pair (group_hash, (guint64) message), NULL,
                           &is_new);
        c->messages += is_new;
    }
    if (rc != SQLITE_DONE) {
        set_db_error (error, reader, rc, "reading the bounces");
        sqlite3_finalize (stmt);
        return NULL;
    }
    sqlite3_finalize (stmt);

    sorted = items_sorted (groups.items);
    if (by_time)
        g_ptr_array_sort (sorted, counts_by_key);
    /* --top: the largest groups, or the latest days and weeks. */
    first = 0;
    end = sorted->len;
    if (o->top > 0 && o->top < sorted->len) {
        if (by_time)
            first = sorted->len - o->top;
        else
            end = o->top;
    }
    spec = g_strdup_printf ("%s,bounces:i,recipients:i,messages:i,hard:i,"
                            "soft:i%s",
                            groups_sql[group].column,
                            group == BOUNCE_GROUP_REASON ? ",who" : "");
    table = _bounce_table_new_from_spec (spec);
    for (guint i = first; i < end; i++) {
        const Counts *c = sorted->pdata[i];

        if (group == BOUNCE_GROUP_REASON)
            _bounce_table_take_row (table, g_strdup (c->key), int_text (c->bounces),
                            int_text (c->recipients), int_text (c->messages),
                            int_text (c->hard), int_text (c->bounces - c->hard),
                            g_strdup (g_hash_table_lookup (who, c->key)));
        else
            _bounce_table_take_row (table, g_strdup (c->key), int_text (c->bounces),
                            int_text (c->recipients), int_text (c->messages),
                            int_text (c->hard),
                            int_text (c->bounces - c->hard));
    }
    return table;
}

/* ------------------------------------------------------------------ */
/* The overview                                                       */
/* ------------------------------------------------------------------ */

/* A set of row ids: a bitmap for the usual small positive ones, a hash
 * table for the others. */
typedef struct {
    GByteArray *bits;
    GHashTable *others;
} IdSet;

#define ID_SET_MAX_BITMAP (G_GINT64_CONSTANT (1) << 28)

/* Adds @id; 1 if it was not in the set yet, else 0. */
static int
id_set_add (IdSet *set, gint64 id)
{
    if (id >= 0 && id < ID_SET_MAX_BITMAP) {
        guint byte = (guint) (id / 8);
        guint8 bit = (guint8) (1u << (id % 8));

        if (set->bits == NULL)
            set->bits = g_byte_array_new ();
        if (byte >= set->bits->len) {
            guint old = set->bits->len;

            g_byte_array_set_size (set->bits, MAX (byte + 1, old * 2));
            memset (set->bits->data + old, 0, set->bits->len - old);
        }
        if (set->bits->data[byte] & bit)
            return 0;
        set->bits->data[byte] |= bit;
        return 1;
    }
    if (set->others == NULL)
        set->others = g_hash_table_new_full (g_int64_hash, g_int64_equal,
                                             g_free, NULL);
    if (g_hash_table_contains (set->others, &id))
        return 0;
    g_hash_table_add (set->others, g_memdup2 (&id, sizeof id));
    return 1;
}

static void
id_set_clear (IdSet *set)
{
    g_clear_pointer (&set->bits, g_byte_array_unref);
    g_clear_pointer (&set->others, g_hash_table_unref);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (IdSet, id_set_clear)

void
bounce_overview_free (BounceOverview *overview)
{
    if (overview == NULL)
        return;
    bounce_table_free (overview->totals);
    bounce_table_free (overview->reasons);
    bounce_table_free (overview->domains);
    bounce_table_free (overview->trend);
    bounce_table_free (overview->outcomes);
    g_free (overview);
}

/* Whose side a reason is on, for the overview's days (the columns
 * who_recipient, who_sender, who_receiving_admin, who_other). */
enum { SIDE_RECIPIENT, SIDE_SENDER, SIDE_RECEIVING, SIDE_OTHER };

static int
side_of (GHashTable *who, const char *reason)
{
    const char *w = reason != NULL ? g_hash_table_lookup (who, reason) : NULL;

    if (g_strcmp0 (w, "recipient") == 0)
        return SIDE_RECIPIENT;
    if (g_strcmp0 (w, "sender") == 0)
        return SIDE_SENDER;
    if (g_strcmp0 (w, "receiving-admin") == 0)
        return SIDE_RECEIVING;
    return SIDE_OTHER;
}

/* The outcomes of the overview's messages, in the order that decides
 * under which a message with several is counted. */
static const char *const outcome_order[] = { "delay", "delivered",
                                             "feedback", "autoreply",
                                             "unknown" };

/* The messages of the window by what they are: each message once, under
 * the first outcome of bounce, outcome_order that its recipients have
 * ("none" for the messages without any, by the time they were
 * received).  @messages holds the messages with bounces (@n_bounce of
 * them, @bounces recipients); the others are added to it. */
static BounceTable *
query_outcomes (BounceReader *reader,
                const BounceQueryOptions *o,
                IdSet *messages,
                gint64 n_bounce,
                gint64 bounces,
                GError **error)
{
    g_autoptr (BounceTable) table =
        _bounce_table_new_from_spec ("outcome,messages:i,recipients:i");
    gint64 all = n_bounce;
    sqlite3_stmt *stmt = NULL;
    Query q;
    int rc;

    _bounce_table_take_row (table, g_strdup ("bounce"), int_text (n_bounce),
                    int_text (bounces));
    /* One outcome at a time (the events_outcome_time index): a message
     * already seen has an outcome that comes first. */
    for (guint i = 0; i < G_N_ELEMENTS (outcome_order); i++) {
        gint64 n = 0, recipients = 0;

        query_init (&q);
        query_add (&q, "SELECT e.message_id FROM events e WHERE"
                       " e.outcome = ?", outcome_order[i]);
        add_filters (&q, o, "e");
        rc = query_prepare (reader, &q, &stmt);
        while (rc == SQLITE_OK && (rc = sqlite3_step (stmt)) == SQLITE_ROW) {
            rc = SQLITE_OK;
            recipients++;
            n += id_set_add (messages, sqlite3_column_int64 (stmt, 0));
        }
        sqlite3_finalize (stmt);
        query_clear (&q);
        if (rc != SQLITE_DONE) {
            set_db_error (error, reader, rc, "counting the messages");
            return NULL;
        }
        if (recipients > 0)
            _bounce_table_take_row (table, g_strdup (outcome_order[i]),
                            int_text (n), int_text (recipients));
        all += n;
    }
    /* Messages with no recipient at all (not bounces, unparsable). */
    if (o->match == NULL) {
        g_autoptr (BounceTable) none = NULL;

        query_init (&q);
        g_string_append (q.sql, "SELECT count (*) FROM messages m WHERE NOT"
                                " EXISTS (SELECT 1 FROM events e WHERE"
                                " e.message_id = m.id)");
        if (o->since != NULL)
            query_add (&q, " AND m.received_at >= ?", o->since);
        if (o->until != NULL)
            query_add (&q, " AND m.received_at < ?", o->until);
        none = query_run (reader, &q, error);
        query_clear (&q);
        if (none == NULL)
            return NULL;
        if (g_strcmp0 (bounce_table_get (none, 0, "count (*)"), "0") != 0) {
            _bounce_table_take_row (table, g_strdup ("none"),
                            g_strdup (bounce_table_get (none, 0,
                                                        "count (*)")),
                            int_text (0));
            all += g_ascii_strtoll (bounce_table_get (none, 0, "count (*)"),
                                    NULL, 10);
        }
    }
    _bounce_table_take_row (table, g_strdup ("all"), int_text (all), NULL);
    return g_steal_pointer (&table);
}

/* One pass over the bounces of the window (the events_report index
 * holds every column read, in time order): the totals, reasons, domains
 * and days are counted here rather than in four GROUP BY queries, each
 * of which would sort a million rows. */
BounceOverview *
bounce_query_overview (BounceReader *reader,
                       const BounceQueryOptions *options,
                       const char *first_day,
                       const char *last_day,
                       GError **error)
{
    BounceQueryOptions defaults;
    const BounceQueryOptions *o = options_or_default (options, &defaults);
    g_autoptr (GHashTable) who = NULL;
    g_auto (Groups) reasons = { NULL };
    g_auto (Groups) domains = { NULL };
    g_auto (Groups) addresses = { NULL };
    g_autoptr (GHashTable) days = NULL;
    gint64 n_addresses = 0;
    g_auto (IdSet) message_set = { NULL, NULL };
    g_autoptr (GPtrArray) sorted = NULL;
    char first[64] = "", last[64] = "";
    Counts *day_counts = NULL;
    gint64 n_messages = 0;
    BounceOverview *overview;
    sqlite3_stmt *stmt = NULL;
    gint64 bounces = 0, hard = 0;
    GDate day, end;
    Query q;
    int rc;

    if (!parse_day (first_day, &day) || !parse_day (last_day, &end)) {
        g_set_error (error, BOUNCE_ERROR, BOUNCE_ERROR_FAILED,
                     "overview: the trend's days must be YYYY-MM-DD");
        return NULL;
    }
    who = load_reasons (reader, error);
    if (who == NULL)
        return NULL;
    reasons.items = g_ptr_array_new_with_free_func (counts_free);
    domains.items = g_ptr_array_new_with_free_func (counts_free);
    days = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, counts_free);

    query_init (&q);
    g_string_append (q.sql, "SELECT e.event_time, e.reason, e.hard,"
                            " e.registrable_domain, e.address, e.message_id"
                            " FROM events e WHERE e.outcome = 'bounce'");
    add_filters (&q, o, "e");
    rc = query_prepare (reader, &q, &stmt);
    while (rc == SQLITE_OK && (rc = sqlite3_step (stmt)) == SQLITE_ROW) {
        rc = SQLITE_OK;
        const char *time = (const char *) sqlite3_column_text (stmt, 0);
        const char *reason = (const char *) sqlite3_column_text (stmt, 1);
        gboolean is_hard = sqlite3_column_int (stmt, 2) == 1;
        const char *domain = (const char *) sqlite3_column_text (stmt, 3);
        const char *address = (const char *) sqlite3_column_text (stmt, 4);
        gint64 message = sqlite3_column_int64 (stmt, 5);

        bounces++;
        hard += is_hard;
        if (first[0] == '\0' || strcmp (time, first) < 0)
            g_strlcpy (first, time, sizeof first);
        if (strcmp (time, last) > 0)
            g_strlcpy (last, time, sizeof last);
        groups_add (&reasons, reason != NULL ? reason : "unknown", is_hard);
        groups_add (&domains, domain != NULL ? domain : "(unknown)", is_hard);
        /* Rows come in time order: most are on the day of the last one. */
        if (day_counts == NULL || strncmp (time, day_counts->key, 10) != 0) {
            char key[11];

            g_strlcpy (key, time, sizeof key);
            counts_add (days, key, FALSE);
            day_counts = g_hash_table_lookup (days, key);
            day_counts->bounces--;
        }
        day_counts->bounces++;
        day_counts->hard += is_hard;
        day_counts->side[side_of (who, reason)]++;
        if (address != NULL) {
            gboolean is_new;

            groups_get (&addresses, address, &is_new);
            n_addresses += is_new;
        }
        n_messages += id_set_add (&message_set, message);
    }
    if (rc != SQLITE_DONE) {
        set_db_error (error, reader, rc, "reading the bounces");
        sqlite3_finalize (stmt);
        query_clear (&q);
        return NULL;
    }
    sqlite3_finalize (stmt);
    query_clear (&q);

    overview = g_new0 (BounceOverview, 1);
    overview->totals = _bounce_table_new_from_spec (
        "bounces:i,recipients:i,messages:i,hard:i,soft:i,first,last");
    _bounce_table_take_row (overview->totals, int_text (bounces),
                    int_text (n_addresses),
                    int_text (n_messages), int_text (hard),
                    int_text (bounces - hard),
                    first[0] != '\0' ? g_strdup (first) : NULL,
                    last[0] != '\0' ? g_strdup (last) : NULL);

    overview->reasons = _bounce_table_new_from_spec ("reason,who,bounces:i,hard:i,"
                                             "soft:i");
    sorted = items_sorted (reasons.items);
    for (guint i = 0; i < sorted->len; i++) {
        const Counts *c = sorted->pdata[i];

        _bounce_table_take_row (overview->reasons, g_strdup (c->key),
                        g_strdup (g_hash_table_lookup (who, c->key)),
                        int_text (c->bounces), int_text (c->hard),
                        int_text (c->bounces - c->hard));
    }
    g_ptr_array_unref (sorted);

    overview->domains = _bounce_table_new_from_spec ("domain,bounces:i,hard:i,"
                                             "soft:i");
    sorted = items_sorted (domains.items);
    for (guint i = 0; i < sorted->len && (o->top == 0 || i < o->top); i++) {
        const Counts *c = sorted->pdata[i];

        _bounce_table_take_row (overview->domains, g_strdup (c->key),
                        int_text (c->bounces), int_text (c->hard),
                        int_text (c->bounces - c->hard));
    }

    overview->outcomes = query_outcomes (reader, o, &message_set,
                                         n_messages, bounces, error);
    if (overview->outcomes == NULL) {
        bounce_overview_free (overview);
        return NULL;
    }

    overview->trend = _bounce_table_new_from_spec (
        "day,bounces:i,hard:i,soft:i,who_recipient:i,who_sender:i,"
        "who_receiving_admin:i,who_other:i");
    for (; g_date_compare (&day, &end) <= 0; g_date_add_days (&day, 1)) {
        char key[16];
        const Counts *c;

        g_date_strftime (key, sizeof key, "%Y-%m-%d", &day);
        c = g_hash_table_lookup (days, key);
        _bounce_table_take_row (overview->trend, g_strdup (key),
                        int_text (c != NULL ? c->bounces : 0),
                        int_text (c != NULL ? c->hard : 0),
                        int_text (c != NULL ? c->bounces - c->hard : 0),
                        int_text (c != NULL ? c->side[SIDE_RECIPIENT] : 0),
                        int_text (c != NULL ? c->side[SIDE_SENDER] : 0),
                        int_text (c != NULL ? c->side[SIDE_RECEIVING] : 0),
                        int_text (c != NULL ? c->side[SIDE_OTHER] : 0));
    }
    return overview;
}

/* ------------------------------------------------------------------ */
/* suppress                                                           */
/* ------------------------------------------------------------------ */

static gint64
read_setting (BounceReader *reader, const char *name, gint64 fallback)
{
    sqlite3_stmt *stmt = NULL;
    gint64 value = fallback;

    if (sqlite3_prepare_v2 (reader->db,
                            "SELECT value FROM settings WHERE name = ?1", -1,
                            &stmt, NULL) == SQLITE_OK) {
        sqlite3_bind_text (stmt, 1, name, -1, SQLITE_STATIC);
        if (sqlite3_step (stmt) == SQLITE_ROW &&
            sqlite3_column_type (stmt, 0) != SQLITE_NULL)
            value = sqlite3_column_int64 (stmt, 0);
    }
    sqlite3_finalize (stmt);
    return value;
}

/* Appends " AND (COLUMN is the address, or in the domain)" for
 * options->match. */
static void
add_address_match (Query *q, const char *column, const char *match)
{
    if (match != NULL && match[0] == '@') {
        g_autofree char *domain = g_utf8_strdown (match + 1, -1);
        g_autoptr (GString) escaped = g_string_new (NULL);
        g_autofree char *exact = NULL;
        g_autofree char *below = NULL;
        g_autofree char *sql = NULL;

        /* LIKE's wildcards in the domain stand for themselves. */
        for (const char *p = domain; *p != '\0'; p++) {
            if (*p == '%' || *p == '_' || *p == '\\')
                g_string_append_c (escaped, '\\');
            g_string_append_c (escaped, *p);
        }
        exact = g_strconcat ("%@", escaped->str, NULL);
        below = g_strconcat ("%.", escaped->str, NULL);
        /* The domain or one below it (the registrable domain's). */
        sql = g_strdup_printf (" AND (%s LIKE ? ESCAPE '\\'"
                               " OR %s LIKE ? ESCAPE '\\')", column, column);
        query_add (q, sql, exact, below);
    } else if (match != NULL) {
        g_autofree char *address = g_utf8_strdown (match, -1);
        g_autofree char *sql = g_strdup_printf (" AND %s = ?", column);

        query_add (q, sql, address);
    }
}

typedef struct {
    BounceSuppressFunc emit;
    gpointer data;
    gint64 n, days;
    /* The stale addresses' rows, to merge in address order. */
    BounceTable *stale;
    guint next_stale;
} SuppressRows;

/* A row of the list for @st if the policy suppresses it. */
static void
suppress_row (const BounceSuppression *st, gpointer user_data)
{
    SuppressRows *out = user_data;
    const char *why = _bounce_suppression_decide (st, out->n, out->days);
    char bounces[24], hard_bounces[24], soft_bounces[24];
    gboolean hard;
    const char *at;

    if (why == NULL)
        return;
    hard = st->hard > 0;
    at = strrchr (st->address, '@');
    g_snprintf (bounces, sizeof bounces, "%" G_GINT64_FORMAT, st->bounces);
    g_snprintf (hard_bounces, sizeof hard_bounces, "%" G_GINT64_FORMAT,
                st->hard);
    g_snprintf (soft_bounces, sizeof soft_bounces, "%" G_GINT64_FORMAT,
                st->soft);
    {
        const char *cells[] = {
            st->address, why, hard ? st->hard_reason : st->reason,
            hard ? st->hard_status : st->status, st->first_bounce,
            st->last_bounce, bounces, hard_bounces, soft_bounces,
            at != NULL ? at + 1 : NULL,
        };

        out->emit (cells, out->data);
    }
}

static int
row_by_address (gconstpointer a, gconstpointer b)
{
    GPtrArray *x = *(GPtrArray *const *) a;
    GPtrArray *y = *(GPtrArray *const *) b;

    return strcmp (x->pdata[0], y->pdata[0]);
}

#define COL(i) ((char *) sqlite3_column_text (stmt, (i)))

/* Whether any address is stale (then the state's rows for them are
 * skipped: their events answer). */
static gboolean
any_stale (BounceReader *reader)
{
    sqlite3_stmt *stmt = NULL;
    gboolean any = TRUE;

    if (sqlite3_prepare_v2 (reader->db, "SELECT EXISTS (SELECT 1 FROM"
                                        " suppression_stale)",
                            -1, &stmt, NULL) == SQLITE_OK &&
        sqlite3_step (stmt) == SQLITE_ROW)
        any = sqlite3_column_int (stmt, 0) != 0;
    sqlite3_finalize (stmt);
    return any;
}

/* The addresses of suppression_state that no write has made stale. */
static int
suppress_from_state (BounceReader *reader, const BounceQueryOptions *o,
                     SuppressRows *out)
{
    sqlite3_stmt *stmt = NULL;
    Query q;
    int rc;

    query_init (&q);
    g_string_append (q.sql,
                     "SELECT s.address, s.bounces, s.hard_bounces,"
                     " s.soft_bounces, s.first_bounce, s.last_bounce,"
                     " s.first_soft, s.last_soft, s.last_reason,"
                     " s.last_status, s.hard_reason, s.hard_status,"
                     " CAST (strftime ('%s', s.last_soft) AS INTEGER)"
                     " - CAST (strftime ('%s', s.first_soft) AS INTEGER)"
                     " FROM suppression_state s WHERE s.bounces > 0");
    /* Only those that can be suppressed (_bounce_suppression_decide). */
    g_string_append_printf (q.sql, " AND (s.hard_bounces > 0"
                                   " OR s.soft_bounces >= %" G_GINT64_FORMAT
                                   ")", MAX (out->n, (gint64) 1));
    if (any_stale (reader))
        g_string_append (q.sql, " AND NOT EXISTS (SELECT 1 FROM"
                                " suppression_stale x"
                                " WHERE x.address = s.address)");
    add_address_match (&q, "s.address", o->match);
    rc = query_prepare (reader, &q, &stmt);
    query_clear (&q);
    while (rc == SQLITE_OK && (rc = sqlite3_step (stmt)) == SQLITE_ROW) {
        BounceSuppression st;

        memset (&st, 0, sizeof st);
        st.address = COL (0);
        st.bounces = sqlite3_column_int64 (stmt, 1);
        st.hard = sqlite3_column_int64 (stmt, 2);
        st.soft = sqlite3_column_int64 (stmt, 3);
        st.first_bounce = COL (4);
        st.last_bounce = COL (5);
        st.first_soft = COL (6);
        st.last_soft = COL (7);
        st.reason = COL (8);
        st.status = COL (9);
        st.hard_reason = COL (10);
        st.hard_status = COL (11);
        st.soft_span = sqlite3_column_type (stmt, 12) == SQLITE_NULL
                           ? -1
                           : sqlite3_column_int64 (stmt, 12);
        if (st.address != NULL)
            suppress_row (&st, out);
        rc = SQLITE_OK;
    }
    sqlite3_finalize (stmt);
    return rc == SQLITE_ROW ? SQLITE_OK : rc;
}

#undef COL

/* The addresses' histories through the policy: those of @where (" AND
 * ..." over events e; may be NULL), in the window of @o. */
static int
suppress_from_events (BounceReader *reader, const BounceQueryOptions *o,
                      GHashTable *sides, const char *where,
                      SuppressRows *out)
{
    sqlite3_stmt *stmt = NULL;
    Query q;
    int rc;

    query_init (&q);
    g_string_append (q.sql, _BOUNCE_SUPPRESSION_SELECT_ALL);
    /* Unverified events (maybe forged) never count, neither bounces nor
     * deliveries. */
    if (reader->schema_version >= _BOUNCE_SCHEMA_VERSION_VERIFIED)
        g_string_append (q.sql, _BOUNCE_SUPPRESSION_VERIFIED);
    if (where != NULL)
        g_string_append (q.sql, where);
    add_address_match (&q, "e.address", o->match);
    g_string_append (q.sql, _BOUNCE_SUPPRESSION_ORDER);
    rc = query_prepare (reader, &q, &stmt);
    query_clear (&q);
    if (rc == SQLITE_OK)
        rc = _bounce_suppression_scan (stmt, sides, o->since, o->until,
                                       suppress_row, out);
    sqlite3_finalize (stmt);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* The policy is bounce-suppress.c's.  Without a window, the state the
 * store keeps (suppression_state) answers, and only the addresses a
 * write by other means made stale are read from their events; with
 * --since or --until (or a database older than the state), every
 * history in the window is. */
static void
add_copy (const char *const *cells, gpointer user_data)
{
    _bounce_table_add_row_copy (user_data, cells);
}

/* Emits the stale rows that sort before @address (NULL: all left). */
static void
flush_stale (SuppressRows *out, const char *address)
{
    while (out->next_stale < out->stale->rows->len) {
        GPtrArray *row = out->stale->rows->pdata[out->next_stale];

        if (address != NULL && strcmp (row->pdata[0], address) > 0)
            break;
        out->emit ((const char *const *) row->pdata, out->data);
        out->next_stale++;
    }
}

static void
emit_merged (const char *const *cells, gpointer user_data)
{
    SuppressRows *out = user_data;

    flush_stale (out, cells[0]);
    out->emit (cells, out->data);
}

#define SUPPRESS_COLUMNS                                                     \
    "address,why,reason,status,first_bounce,last_bounce,bounces:i,"          \
    "hard_bounces:i,soft_bounces:i,domain"

gboolean
bounce_query_suppress_foreach (BounceReader *reader,
                               const BounceQueryOptions *options,
                               BounceSuppressFunc func,
                               gpointer user_data,
                               GError **error)
{
    BounceQueryOptions defaults;
    const BounceQueryOptions *o = options_or_default (options, &defaults);
    g_autoptr (GHashTable) sides = NULL;
    g_autoptr (BounceTable) stale = NULL;
    SuppressRows out = { func, user_data, 0, 0, NULL, 0 };
    int rc;

    g_return_val_if_fail (reader != NULL && func != NULL, FALSE);
    sides = _bounce_reason_sides (reader->db, &rc);
    if (sides == NULL) {
        set_db_error (error, reader, rc, "reading the reasons");
        return FALSE;
    }
    out.n = o->soft_count >= 0 ? o->soft_count
                               : read_setting (reader, "suppress_soft_count", 3);
    out.days = o->soft_days >= 0 ? o->soft_days
                                 : read_setting (reader, "suppress_soft_days",
                                                 7);
    if (reader->schema_version >= _BOUNCE_SCHEMA_VERSION_STATE &&
        o->since == NULL && o->until == NULL) {
        SuppressRows merged = out;

        /* The stale addresses first (usually none), by address... */
        stale = _bounce_table_new_from_spec (SUPPRESS_COLUMNS);
        out.emit = add_copy;
        out.data = stale;
        rc = suppress_from_events (
            reader, o, sides,
            " AND e.address IN (SELECT address FROM suppression_stale)",
            &out);
        g_ptr_array_sort (stale->rows, row_by_address);
        /* ...then the state (by address: its key), the two merged. */
        merged.stale = stale;
        out.emit = emit_merged;
        out.data = &merged;
        if (rc == SQLITE_OK || rc == SQLITE_DONE)
            rc = suppress_from_state (reader, o, &out);
        if (rc == SQLITE_OK || rc == SQLITE_DONE)
            flush_stale (&merged, NULL);
    } else {
        rc = suppress_from_events (reader, o, sides, NULL, &out);
    }
    if (rc != SQLITE_OK && rc != SQLITE_DONE) {
        set_db_error (error, reader, rc, "reading the history");
        return FALSE;
    }
    return TRUE;
}

BounceTable *
bounce_query_suppress (BounceReader *reader,
                       const BounceQueryOptions *options,
                       GError **error)
{
    g_autoptr (BounceTable) table =
        _bounce_table_new_from_spec (SUPPRESS_COLUMNS);

    if (!bounce_query_suppress_foreach (reader, options, add_copy, table,
                                        error))
        return NULL;
    return g_steal_pointer (&table);
}

/* ------------------------------------------------------------------ */
/* show                                                               */
/* ------------------------------------------------------------------ */

BounceTable *
bounce_query_history (BounceReader *reader,
                      const BounceQueryOptions *options,
                      GError **error)
{
    BounceQueryOptions defaults;
    const BounceQueryOptions *o = options_or_default (options, &defaults);
    BounceTable *table;
    Query q;

    query_init (&q);
    g_string_append (
        q.sql,
        "SELECT e.event_time AS time, e.address, e.outcome, e.action,"
        " e.status, e.smtp_code, e.reason, e.hard, e.rule, e.diagnostic,"
        " e.remote_mta, m.mta, m.reporting_mta, m.orig_message_id,"
        " m.orig_subject AS subject, m.source, e.message_id");
    /* Schema version 3 added the SMTP command the reply answered. */
    g_string_append (q.sql, reader->schema_version >= 3
                                ? ", e.smtp_command"
                                : ", NULL AS smtp_command");
    /* Whether the bounce is authentic (docs/verp.md). */
    g_string_append (q.sql, reader->schema_version >=
                                    _BOUNCE_SCHEMA_VERSION_VERIFIED
                                ? ", e.verified"
                                : ", NULL AS verified");
    g_string_append (q.sql,
        " FROM events e JOIN messages m ON m.id = e.message_id"
        " WHERE 1");
    add_filters (&q, o, "e");
    g_string_append (q.sql, " ORDER BY e.event_time, e.id");
    table = query_run (reader, &q, error);
    query_clear (&q);
    return table;
}

/* ------------------------------------------------------------------ */
/* Which rules classified the history                                 */
/* ------------------------------------------------------------------ */

gint64
bounce_query_count_other_rules (BounceReader *reader,
                                const char *version,
                                gint64 *out_total,
                                GError **error)
{
    sqlite3_stmt *stmt = NULL;
    gint64 other = 0, total = 0;
    int rc;

    g_return_val_if_fail (reader != NULL && version != NULL, -1);
    if (out_total != NULL)
        *out_total = 0;
    if (reader->schema_version < _BOUNCE_SCHEMA_VERSION_STATE)
        return 0;
    /* Ranges of the events_rule_set index on each side of the id. */
    rc = sqlite3_prepare_v2 (
        reader->db,
        "WITH me AS (SELECT coalesce ((SELECT id FROM rule_sets"
        " WHERE hash = ?1), 0) AS id)"
        " SELECT (SELECT count (*) FROM events, me WHERE rule_set IS NULL"
        " OR rule_set < me.id OR rule_set > me.id),"
        " (SELECT count (*) FROM events)",
        -1, &stmt, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text (stmt, 1, version, -1, SQLITE_STATIC);
        rc = sqlite3_step (stmt);
        if (rc == SQLITE_ROW) {
            other = sqlite3_column_int64 (stmt, 0);
            total = sqlite3_column_int64 (stmt, 1);
            rc = SQLITE_OK;
        }
    }
    sqlite3_finalize (stmt);
    if (rc != SQLITE_OK) {
        set_db_error (error, reader, rc, "reading the rules versions");
        return -1;
    }
    if (out_total != NULL)
        *out_total = total;
    return other;
}

/* ------------------------------------------------------------------ */
/* Times                                                              */
/* ------------------------------------------------------------------ */

char *
bounce_time_parse (const char *text,
                   GDateTime *now,
                   gboolean end_of_day,
                   GError **error)
{
    g_autoptr (GDateTime) t = NULL;
    g_autoptr (GRegex) re = NULL;
    g_autoptr (GMatchInfo) match = NULL;

    g_return_val_if_fail (text != NULL && now != NULL, NULL);

    /* A duration back from now: 30m, 24h, 7d, 2w. */
    re = g_regex_new ("^\\s*([0-9]{1,6})\\s*([mhdw])\\s*$",
                      G_REGEX_CASELESS, 0, NULL);
    if (g_regex_match (re, text, 0, &match)) {
        g_autofree char *num = g_match_info_fetch (match, 1);
        g_autofree char *unit = g_match_info_fetch (match, 2);
        gint64 n = g_ascii_strtoll (num, NULL, 10);
        GTimeSpan span;

        switch (g_ascii_tolower (unit[0])) {
        case 'm':
            span = G_TIME_SPAN_MINUTE;
            break;
        case 'h':
            span = G_TIME_SPAN_HOUR;
            break;
        case 'd':
            span = G_TIME_SPAN_DAY;
            break;
        default:
            span = 7 * G_TIME_SPAN_DAY;
            break;
        }
        t = g_date_time_add (now, -n * span);
    } else {
        GDate date;
        int y, m, d, consumed = 0;

        if (sscanf (text, "%4d-%2d-%2d%n", &y, &m, &d, &consumed) == 3 &&
            text[consumed] == '\0') {
            g_autoptr (GTimeZone) utc = g_time_zone_new_utc ();

            if (!parse_day (text, &date)) {
                g_set_error (error, BOUNCE_ERROR, BOUNCE_ERROR_FAILED,
                             "'%s' is not a valid date", text);
                return NULL;
            }
            t = g_date_time_new (utc, y, m, d, 0, 0, 0);
            if (t != NULL && end_of_day) {
                GDateTime *next = g_date_time_add_days (t, 1);

                g_date_time_unref (t);
                t = next;
            }
        } else {
            g_autoptr (GTimeZone) utc = g_time_zone_new_utc ();

            /* A full ISO 8601 time; without an offset it is UTC. */
            t = g_date_time_new_from_iso8601 (text, utc);
        }
    }
    if (t == NULL) {
        g_set_error (error, BOUNCE_ERROR, BOUNCE_ERROR_FAILED,
                     "'%s' is not a time: use a duration back from now "
                     "(30m, 24h, 7d, 2w), a date (2026-11-01) or an ISO 8601 "
                     "time (2026-11-01T08:00:00Z)", text);
        return NULL;
    }
    {
        g_autoptr (GDateTime) utc_time = g_date_time_to_utc (t);

        return g_date_time_format (utc_time, "%Y-%m-%dT%H:%M:%SZ");
    }
}
