/*
 * bounce-query-pg.c - the readers (report, suppress, show) on a
 * PostgreSQL store: the history is read in one consistent snapshot
 * (REPEATABLE READ, READ ONLY) into an in-memory SQLite database with
 * schema.sql, and every reader then runs its one SQLite query on it.
 * Reports are therefore the same byte for byte as on an SQLite file
 * holding the same history: there is one implementation of each report,
 * not two.  The cost is one pass over the history per command (the raw
 * messages stay on the server: no reader needs them).
 */
#include <string.h>

#include "bounce-db-private.h"
#include "bounce-query-private.h"

/* What the snapshot copies, in an order the foreign keys accept. */
static const char *const tables[] = {
    "rule_sets", "messages", "message_headers", "events", "reasons",
    "settings", "suppression_state",
};

static gboolean
sqlite_fail (GError **error, sqlite3 *db, const char *name, const char *what)
{
    g_set_error (error, BOUNCE_ERROR, BOUNCE_ERROR_STORE,
                 "%s: %s: %s", name, what, sqlite3_errmsg (db));
    return FALSE;
}

static gboolean
sqlite_exec (sqlite3 *db, const char *sql, const char *name,
             const char *what, GError **error)
{
    if (sqlite3_exec (db, sql, NULL, NULL, NULL) != SQLITE_OK)
        return sqlite_fail (error, db, name, what);
    return TRUE;
}

/* The columns of @table in the SQLite schema that PostgreSQL has too
 * (messages.raw is not there), comma-separated. */
static char *
columns_of (sqlite3 *db, const char *table, int *out_n)
{
    g_autofree char *sql = g_strdup_printf ("PRAGMA table_info (%s)", table);
    GString *cols = g_string_new (NULL);
    sqlite3_stmt *stmt = NULL;

    *out_n = 0;
    if (sqlite3_prepare_v2 (db, sql, -1, &stmt, NULL) == SQLITE_OK) {
        while (sqlite3_step (stmt) == SQLITE_ROW) {
            const char *name = (const char *) sqlite3_column_text (stmt, 1);

            if (strcmp (table, "messages") == 0 && strcmp (name, "raw") == 0)
                continue;
            g_string_append_printf (cols, "%s%s", cols->len > 0 ? ", " : "",
                                    name);
            (*out_n)++;
        }
    }
    sqlite3_finalize (stmt);
    return g_string_free (cols, FALSE);
}

/* A value of settings.value (ANY in SQLite): a number as a number, as
 * the SQLite store writes it. */
static gboolean
is_integer (const char *v)
{
    if (*v == '-')
        v++;
    if (*v == '\0')
        return FALSE;
    for (; *v != '\0'; v++)
        if (!g_ascii_isdigit (*v))
            return FALSE;
    return TRUE;
}

static gboolean
copy_table (BouncePg *pg, sqlite3 *db, const char *table, GError **error)
{
    const char *name = _bounce_pg_name (pg);
    int n = 0, rows = 0;
    g_autofree char *cols = columns_of (db, table, &n);
    g_autofree char *select = g_strdup_printf ("SELECT %s FROM %s", cols,
                                               table);
    g_autoptr (GString) insert = g_string_new (NULL);
    sqlite3_stmt *stmt = NULL;
    gpointer res;
    gboolean ok = TRUE;

    g_string_printf (insert, "INSERT OR REPLACE INTO %s (%s) VALUES (", table,
                     cols);
    for (int i = 1; i <= n; i++)
        g_string_append_printf (insert, "%s?%d", i > 1 ? ", " : "", i);
    g_string_append_c (insert, ')');
    res = _bounce_pg_query (pg, select, NULL, &rows, "reading the history",
                            error);
    if (res == NULL)
        return FALSE;
    if (sqlite3_prepare_v2 (db, insert->str, -1, &stmt, NULL) != SQLITE_OK) {
        _bounce_pg_result_free (res);
        return sqlite_fail (error, db, name, "copying the history");
    }
    for (int r = 0; r < rows && ok; r++) {
        for (int c = 0; c < n; c++) {
            const char *v = _bounce_pg_value (res, r, c);

            if (v == NULL)
                sqlite3_bind_null (stmt, c + 1);
            else if (strcmp (table, "settings") == 0 && is_integer (v))
                sqlite3_bind_int64 (stmt, c + 1, g_ascii_strtoll (v, NULL, 10));
            else
                sqlite3_bind_text (stmt, c + 1, v, -1, SQLITE_STATIC);
        }
        ok = sqlite3_step (stmt) == SQLITE_DONE;
        sqlite3_reset (stmt);
    }
    if (!ok)
        sqlite_fail (error, db, name, "copying the history");
    sqlite3_finalize (stmt);
    _bounce_pg_result_free (res);
    return ok;
}

gboolean
_bounce_reader_open_pg (BounceReader *reader, const char *spec,
                        GError **error)
{
    BouncePg *pg = _bounce_pg_connect (spec, error);
    g_autoptr (GPtrArray) sections = NULL;
    g_autofree char *version = NULL;
    const char *name;
    gpointer res;
    int rows = 0;
    gboolean ok = FALSE;

    if (pg == NULL)
        return FALSE;
    name = _bounce_pg_name (pg);
    /* Errors name the server, never the connection string (it may hold
     * a password). */
    g_free (reader->path);
    reader->path = g_strdup (name);
    res = _bounce_pg_query (pg, "SELECT count (*) FROM pg_catalog.pg_tables"
                            " WHERE tablename = 'bouncestat_schema'"
                            " AND schemaname = current_schema ()",
                            NULL, &rows, "reading the schema version", error);
    if (res == NULL)
        goto out;
    if (g_strcmp0 (_bounce_pg_value (res, 0, 0), "0") == 0) {
        g_set_error (error, BOUNCE_ERROR, BOUNCE_ERROR_INPUT,
                     "%s has no bouncestat history (run 'bouncestat "
                     "ingest' first)", name);
        _bounce_pg_result_free (res);
        goto out;
    }
    _bounce_pg_result_free (res);
    if (sqlite3_open_v2 (":memory:", &reader->db,
                         SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
                         NULL) != SQLITE_OK) {
        sqlite_fail (error, reader->db, name, "opening memory");
        goto out;
    }
    sections = _bounce_store_schema_sections ();
    for (guint v = 1; v < sections->len; v++)
        if (!sqlite_exec (reader->db, sections->pdata[v], name,
                          "building the snapshot's schema", error))
            goto out;
    version = g_strdup_printf ("PRAGMA user_version = %d",
                               BOUNCE_STORE_SCHEMA_VERSION);
    if (!sqlite_exec (reader->db, version, name, "building the snapshot",
                      error) ||
        !sqlite_exec (reader->db, "BEGIN; DELETE FROM settings", name,
                      "building the snapshot", error) ||
        !_bounce_pg_exec (pg, "BEGIN ISOLATION LEVEL REPEATABLE READ"
                              " READ ONLY", "reading the history", error))
        goto out;
    for (guint i = 0; i < G_N_ELEMENTS (tables); i++)
        if (!copy_table (pg, reader->db, tables[i], error))
            goto out;
    /* The state came with the history: nothing is stale. */
    ok = sqlite_exec (reader->db, "DELETE FROM suppression_stale; COMMIT",
                      name, "building the snapshot", error);
    reader->schema_version = BOUNCE_STORE_SCHEMA_VERSION;

out:
    _bounce_pg_free (pg);
    return ok;
}
