/*
 * bounce-db-pg.c - the PostgreSQL side of the store's backend seam
 * (bounce-db-private.h): the connection, errors in the BOUNCE_ERROR
 * domain, and statements run with their values.
 *
 * Credentials come the libpq way only (~/.pgpass, PGPASSFILE, service
 * files, the connection string): nothing here reads or prints a
 * password.  Errors name the database by PQhost/PQport/PQdb, which never
 * hold it.
 */
#include <string.h>

#include <libpq-fe.h>

#include "bounce-db-private.h"
#include "bounce-private.h"

/* Seconds a connection attempt waits for an unreachable host, unless
 * the connection string says (connect_timeout). */
#define CONNECT_TIMEOUT "10"

struct _BouncePg {
    PGconn *conn;
    char *name;
};

gboolean
_bounce_db_is_postgres (const char *spec)
{
    PQconninfoOption *opts;
    char *err = NULL;

    if (spec == NULL)
        return FALSE;
    if (g_str_has_prefix (spec, "postgresql://") ||
        g_str_has_prefix (spec, "postgres://"))
        return TRUE;
    /* Keywords ("host=db1 dbname=bounces"); a path never starts a
     * keyword=value pair that libpq accepts. */
    if (strchr (spec, '=') == NULL || spec[0] == '/' || spec[0] == '.')
        return FALSE;
    opts = PQconninfoParse (spec, &err);
    PQfreemem (err);
    if (opts == NULL)
        return FALSE;
    PQconninfoFree (opts);
    return TRUE;
}

/* ------------------------------------------------------------------ */
/* Errors                                                             */
/* ------------------------------------------------------------------ */

/* The BounceError for SQLSTATE @state (NULL: the connection was lost or
 * the server gave none). */
static BounceError
state_error_code (const char *state)
{
    if (state == NULL)
        return BOUNCE_ERROR_STORE_BUSY;
    if (g_str_has_prefix (state, "08") ||     /* connection exception */
        strcmp (state, "53300") == 0 ||       /* too many connections */
        g_str_has_prefix (state, "57P") ||    /* shutdown, cannot connect */
        strcmp (state, "40001") == 0 ||       /* serialization failure */
        strcmp (state, "40P01") == 0 ||       /* deadlock detected */
        strcmp (state, "55P03") == 0 ||       /* lock not available */
        strcmp (state, "57014") == 0)         /* statement timeout */
        return BOUNCE_ERROR_STORE_BUSY;
    if (g_str_has_prefix (state, "53") ||     /* disk full, out of memory */
        g_str_has_prefix (state, "58"))       /* system (I/O) error */
        return BOUNCE_ERROR_STORE_FULL;
    if (strcmp (state, "25006") == 0 ||       /* read-only transaction */
        strcmp (state, "42501") == 0 ||       /* insufficient privilege */
        g_str_has_prefix (state, "28"))       /* authorization */
        return BOUNCE_ERROR_STORE_ACCESS;
    return BOUNCE_ERROR_STORE;
}

/* libpq's message on one line, without its trailing newline. */
static char *
one_line (const char *msg)
{
    g_autofree char *s = g_strdup (msg != NULL && msg[0] != '\0'
                                       ? msg : "no message from libpq");
    g_auto (GStrv) lines = NULL;

    g_strstrip (s);
    lines = g_strsplit (s, "\n", -1);
    for (guint i = 0; lines[i] != NULL; i++)
        g_strstrip (lines[i]);
    return g_strjoinv ("; ", lines);
}

static gboolean
set_error (GError **error, BouncePg *pg, PGresult *res, const char *what)
{
    const char *state = res != NULL
                            ? PQresultErrorField (res, PG_DIAG_SQLSTATE)
                            : NULL;
    g_autofree char *msg = one_line (res != NULL ? PQresultErrorMessage (res)
                                                 : PQerrorMessage (pg->conn));
    BounceError code = PQstatus (pg->conn) == CONNECTION_BAD
                           ? BOUNCE_ERROR_STORE_BUSY
                           : state_error_code (state);

    if (state != NULL)
        g_set_error (error, BOUNCE_ERROR, code, "%s: %s: %s (SQLSTATE %s)",
                     pg->name, what, msg, state);
    else
        g_set_error (error, BOUNCE_ERROR, code, "%s: %s: %s", pg->name, what,
                     msg);
    return FALSE;
}

/* ------------------------------------------------------------------ */
/* The connection                                                     */
/* ------------------------------------------------------------------ */

static char *
describe (PGconn *conn)
{
    const char *host = PQhost (conn);
    const char *port = PQport (conn);
    const char *db = PQdb (conn);

    if (host == NULL || host[0] == '\0')
        host = "localhost";
    return g_strdup_printf ("PostgreSQL database %s on %s%s%s",
                            db != NULL && db[0] != '\0' ? db : "(default)",
                            host, port != NULL && port[0] != '\0' ? ":" : "",
                            port != NULL ? port : "");
}

static void
quiet_notice (void *arg, const char *message)
{
    (void) arg;
    (void) message;
}

BouncePg *
_bounce_pg_connect (const char *spec, GError **error)
{
    /* connect_timeout first: the connection string (expanded from
     * dbname) overrides it. */
    const char *const keys[] = { "connect_timeout",
                                 "fallback_application_name", "dbname",
                                 NULL };
    const char *const values[] = { CONNECT_TIMEOUT, "bouncestat", spec,
                                   NULL };
    BouncePg *pg = g_new0 (BouncePg, 1);
    PGresult *res;

    pg->conn = PQconnectdbParams (keys, values, 1);
    pg->name = describe (pg->conn);
    if (PQstatus (pg->conn) != CONNECTION_OK) {
        g_autofree char *msg = one_line (PQerrorMessage (pg->conn));

        /* Down, unreachable, out of connections, refused: the server
         * gives no SQLSTATE before the session starts; all may pass. */
        g_set_error (error, BOUNCE_ERROR, BOUNCE_ERROR_STORE_BUSY,
                     "%s: cannot connect: %s", pg->name, msg);
        _bounce_pg_free (pg);
        return NULL;
    }
    /* Quiet NOTICEs ("relation exists, skipping"): the library never
     * prints. */
    res = PQexec (pg->conn, "SET client_min_messages = warning");
    PQclear (res);
    PQsetNoticeProcessor (pg->conn, quiet_notice, NULL);
    return pg;
}

void
_bounce_pg_free (BouncePg *pg)
{
    if (pg == NULL)
        return;
    PQfinish (pg->conn);
    g_free (pg->name);
    g_free (pg);
}

const char *
_bounce_pg_name (BouncePg *pg)
{
    return pg->name;
}

/* ------------------------------------------------------------------ */
/* Statements                                                         */
/* ------------------------------------------------------------------ */

char *
_bounce_pg_sql (const char *sql)
{
    GString *out = g_string_sized_new (strlen (sql) + 16);
    char quote = 0;

    for (const char *p = sql; *p != '\0'; p++) {
        if (quote != 0) {
            if (*p == quote)
                quote = 0;
        } else if (*p == '\'' || *p == '"') {
            quote = *p;
        } else if (*p == '?' && g_ascii_isdigit (p[1])) {
            g_string_append_c (out, '$');
            continue;
        }
        g_string_append_c (out, *p);
    }
    return g_string_free (out, FALSE);
}

gboolean
_bounce_pg_exec (BouncePg *pg, const char *sql, const char *what,
                 GError **error)
{
    PGresult *res = PQexec (pg->conn, sql);
    ExecStatusType st = PQresultStatus (res);
    gboolean ok = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;

    if (!ok)
        set_error (error, pg, res, what);
    PQclear (res);
    return ok;
}

gpointer
_bounce_pg_query (BouncePg *pg, const char *sql, const BounceDbArgs *args,
                  int *out_rows, const char *what, GError **error)
{
    g_autofree char *text = _bounce_pg_sql (sql);
    const char *values[BOUNCE_DB_MAX_ARGS];
    int lengths[BOUNCE_DB_MAX_ARGS];
    int formats[BOUNCE_DB_MAX_ARGS];
    int n = args != NULL ? args->count : 0;
    PGresult *res;
    ExecStatusType st;

    for (int i = 0; i < n; i++) {
        BounceDbType t = args->type[i + 1];

        values[i] = t == BOUNCE_DB_NULL ? NULL : args->text[i + 1];
        lengths[i] = (int) args->len[i + 1];
        formats[i] = t == BOUNCE_DB_BLOB ? 1 : 0;
    }
    res = PQexecParams (pg->conn, text, n, NULL, values, lengths, formats, 0);
    st = PQresultStatus (res);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        set_error (error, pg, res, what);
        PQclear (res);
        return NULL;
    }
    if (out_rows != NULL)
        *out_rows = PQntuples (res);
    return res;
}

void
_bounce_pg_result_free (gpointer result)
{
    PQclear (result);
}

const char *
_bounce_pg_value (gpointer result, int row, int col)
{
    if (row >= PQntuples (result) || PQgetisnull (result, row, col))
        return NULL;
    return PQgetvalue (result, row, col);
}
