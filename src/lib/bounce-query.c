/*
 * bounce-query.c - the reading side of the history: a read-only
 * connection (BounceReader), the result sets the queries return
 * (BounceTable), the SQL builder they share, and `show` (the history of
 * an address).  The other questions have their own files:
 * bounce-overview.c (`report`: the overview and --by groups),
 * bounce-suppress.c (`suppress`: the policy and its list),
 * bounce-time.c (--since and --until).
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

#include "bounce-query-private.h"

/* The oldest schema the queries work with: version 2 added the reasons
 * and settings tables.  Newer schemas only add, so they are read too. */
#define READER_MIN_SCHEMA 2


/* ------------------------------------------------------------------ */
/* Errors                                                             */
/* ------------------------------------------------------------------ */

gboolean
_bounce_reader_error (GError **error, BounceReader *reader, int rc, const char *what)
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
    if (bounce_store_is_connection_string (path)) {
        /* bounce-query-pg.c: a snapshot of the history. */
        if (!_bounce_reader_open_pg (reader, path, error))
            return NULL;
        return g_steal_pointer (&reader);
    }
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
        _bounce_reader_error (error, reader, rc, "reading the schema version");
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


static void
param_clear (gpointer data)
{
    g_free (((Param *) data)->text);
}

void
_bounce_query_init (Query *q)
{
    q->sql = g_string_new (NULL);
    q->params = g_array_new (FALSE, TRUE, sizeof (Param));
    g_array_set_clear_func (q->params, param_clear);
}

void
_bounce_query_clear (Query *q)
{
    g_string_free (q->sql, TRUE);
    g_array_unref (q->params);
}

/* Appends @fragment, in which "?" stands for the next text parameter
 * and "#" for the next integer one; the values follow (const char *,
 * NULL allowed, or gint64), one per placeholder. */
void
_bounce_query_add (Query *q, const char *fragment, ...)
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
int
_bounce_query_prepare (BounceReader *reader, Query *q, sqlite3_stmt **out_stmt)
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

BounceTable *
_bounce_query_run (BounceReader *reader, Query *q, GError **error)
{
    g_autoptr (BounceTable) table = NULL;
    sqlite3_stmt *stmt = NULL;
    int rc;
    guint n;

    rc = _bounce_query_prepare (reader, q, &stmt);
    if (rc != SQLITE_OK) {
        _bounce_reader_error (error, reader, rc, "preparing a query");
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
        _bounce_reader_error (error, reader, rc, "running a query");
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

const BounceQueryOptions *
_bounce_query_options_or_default (const BounceQueryOptions *options,
                    BounceQueryOptions *storage)
{
    if (options != NULL)
        return options;
    bounce_query_options_init (storage);
    return storage;
}

/* Appends " AND ..." for the time window and the address or domain of
 * @o, on the events aliased @alias. */
void
_bounce_query_add_filters (Query *q, const BounceQueryOptions *o, const char *alias)
{
    if (o->since != NULL) {
        g_string_append_printf (q->sql, " AND %s.event_time >= ", alias);
        _bounce_query_add (q, "?", o->since);
    }
    if (o->until != NULL) {
        g_string_append_printf (q->sql, " AND %s.event_time < ", alias);
        _bounce_query_add (q, "?", o->until);
    }
    _bounce_query_add_match (q, o->match, alias);
}

/* Appends " AND ..." for an address or "@domain" (NULL: nothing) over
 * the address, domain and registrable_domain columns of @alias (the
 * events, or the suppression state). */
void
_bounce_query_add_match (Query *q, const char *match, const char *alias)
{
    if (match != NULL && match[0] == '@') {
        g_autofree char *domain = g_utf8_strdown (match + 1, -1);
        const char *suffix = domain;

        /* The registrable domain of a domain is one of its suffixes:
         * naming them all lets SQLite use the registrable_domain index
         * (an OR with domain, which has none, would read every row). */
        g_string_append_printf (q->sql, " AND %s.registrable_domain IN (",
                                alias);
        for (guint n = 0; suffix != NULL && n < 16; n++) {
            _bounce_query_add (q, n == 0 ? "?" : ", ?", suffix);
            suffix = strchr (suffix, '.');
            if (suffix != NULL)
                suffix++;
        }
        g_string_append_printf (q->sql, ") AND (%s.domain = ", alias);
        _bounce_query_add (q, "?", domain);
        g_string_append_printf (q->sql, " OR %s.registrable_domain = ", alias);
        _bounce_query_add (q, "?)", domain);
    } else if (match != NULL) {
        g_autofree char *address = g_utf8_strdown (match, -1);

        g_string_append_printf (q->sql, " AND %s.address = ", alias);
        _bounce_query_add (q, "?", address);
    }
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

char *
_bounce_int_text (gint64 n)
{
    return g_strdup_printf ("%" G_GINT64_FORMAT, n);
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
    const BounceQueryOptions *o = _bounce_query_options_or_default (options, &defaults);
    BounceTable *table;
    Query q;

    _bounce_query_init (&q);
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
    /* Schema version 10: where it comes from (a message or the MTA's
     * log), and how many other reports of the same failure were linked
     * to it (a bounce's log line). */
    g_string_append (q.sql, reader->schema_version >=
                                    _BOUNCE_SCHEMA_VERSION_ORIGIN
                                ? ", m.origin, (SELECT count (*) FROM"
                                  " event_reports r WHERE r.event_id = e.id)"
                                  " AS linked"
                                : ", 'message' AS origin, 0 AS linked");
    g_string_append (q.sql,
        " FROM events e JOIN messages m ON m.id = e.message_id"
        " WHERE 1");
    _bounce_query_add_filters (&q, o, "e");
    g_string_append (q.sql, " ORDER BY e.event_time, e.id");
    table = _bounce_query_run (reader, &q, error);
    _bounce_query_clear (&q);
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
        _bounce_reader_error (error, reader, rc, "reading the rules versions");
        return -1;
    }
    if (out_total != NULL)
        *out_total = total;
    return other;
}
