/*
 * bounce-store.c - the history in SQLite: opening (and creating) the
 * database, bringing its schema up to date from schema.sql, and storing
 * one message with its recipient events.
 *
 * The schema lives in schema.sql only (compiled in as a GResource); its
 * "-- @version N" sections are applied in order, each database remembering
 * its version in PRAGMA user_version.  Writes happen in BEGIN IMMEDIATE
 * transactions (a batch, or one per message), in WAL mode with a busy
 * timeout, so that many ingest processes can run at once.  Every value is
 * a bound parameter.
 *
 * It also keeps what follows from the events in the same transactions:
 * the suppression state of each address (suppression_state: the
 * triggers of schema.sql mark what any write touches, and before each
 * commit the addresses marked are computed again with the one policy of
 * bounce-suppress.c), the reasons table (the loaded rules' reason table,
 * written when other rules are given: bounce_store_set_rules) and the
 * version of the rules each event was classified by (rule_sets).
 * bounce_store_reclassify() parses the raw messages (raw_messages) again
 * and updates their events in place.
 *
 * This file does not read messages or classify them (bounce-parse.c and
 * bounce-rules.c do), and it does not report: readers query the views.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gio/gio.h>
#include <libpsl.h>
#include <sqlite3.h>

#include "bounce-db-private.h"
#include "bounce-private.h"

#define SCHEMA_RESOURCE "/org/bouncestat/schema.sql"
#define SCHEMA_PG_RESOURCE "/org/bouncestat/schema-pg.sql"
/* The versions of schema-pg.sql (numbered on their own). */
#define PG_SCHEMA_VERSION 1
#define VERSION_MARK "-- @version "
/* zlib level for the raw messages: fast, and text compresses well. */
#define RAW_COMPRESSION_LEVEL 1

/* Heal: any write to events (the store's own, or by hand) marks its
 * address in suppression_stale (the triggers of schema.sql); before a
 * commit, the store computes those addresses again from their events
 * with the one policy (bounce-suppress.c), so that suppression_state is
 * right in every committed state.  Past this many stale addresses, and a
 * quarter of those the state holds, one pass over every event is cheaper
 * than a look-up per address. */
#define HEAL_FULL_THRESHOLD 20000

struct _BounceStore {
    sqlite3 *db;
    /* A PostgreSQL store (db is then NULL; bounce-db-pg.c). */
    BouncePg *pg;
    char *path;
    BounceStoreOptions options;
    int version;
    gboolean in_batch;
    sqlite3_stmt *find_hash;
    sqlite3_stmt *insert_message;
    sqlite3_stmt *insert_header;
    sqlite3_stmt *insert_event;
    sqlite3_stmt *insert_raw;
    sqlite3_stmt *state_events;   /* the events of one address */
    sqlite3_stmt *state_insert;
    /* One event, not two (schema.sql version 10, event_reports). */
    sqlite3_stmt *find_same;
    sqlite3_stmt *insert_report;
    sqlite3_stmt *delete_event;
    /* The rule_sets row of the rules given (0: none given). */
    sqlite3_int64 rule_set;
    /* Stale addresses past which the state is computed in one pass;
     * negative: always (tests). */
    gint64 heal_full;
    GZlibCompressor *compressor;
    const psl_ctx_t *psl;
};

static gboolean heal_at_open (BounceStore *store, GError **error);

/* ------------------------------------------------------------------ */
/* Errors                                                             */
/* ------------------------------------------------------------------ */

/* The BounceError for the errno of a failed system call. */
static BounceError
errno_error_code (int e)
{
    switch (e) {
    case EACCES:
    case EPERM:
    case EROFS:
        return BOUNCE_ERROR_STORE_ACCESS;
    default:
        /* ENOSPC, EDQUOT, EIO, ...: may pass; the MTA retries. */
        return BOUNCE_ERROR_STORE_FULL;
    }
}

BounceError
_bounce_sqlite_error_code (int rc, int system_errno)
{
    switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return BOUNCE_ERROR_STORE_BUSY;
    case SQLITE_READONLY:
    case SQLITE_PERM:
    case SQLITE_AUTH:
        return BOUNCE_ERROR_STORE_ACCESS;
    case SQLITE_IOERR:
    case SQLITE_CANTOPEN:
        return errno_error_code (system_errno);
    case SQLITE_FULL:
    case SQLITE_NOMEM:
    case SQLITE_PROTOCOL:
        return BOUNCE_ERROR_STORE_FULL;
    default:
        return BOUNCE_ERROR_STORE;
    }
}

/* What this user may not write, for a BOUNCE_ERROR_STORE_ACCESS about
 * @path: the file, or its directory (where SQLite also creates the -wal
 * and -shm files), or a read-only file system (transfer full). */
static char *
access_cause (const char *path)
{
    g_autofree char *dir = g_path_get_dirname (path);
    const char *suffixes[] = { "", "-wal", "-shm" };

    for (guint i = 0; i < G_N_ELEMENTS (suffixes); i++) {
        g_autofree char *file = g_strconcat (path, suffixes[i], NULL);

        if (access (file, F_OK) == 0 && access (file, R_OK | W_OK) != 0)
            return g_strdup_printf ("%s: this user (uid %u) may not write "
                                    "the file %s",
                                    g_strerror (errno), (guint) geteuid (),
                                    file);
    }
    if (access (dir, W_OK | X_OK) != 0)
        return g_strdup_printf ("%s: this user (uid %u) may not write the "
                                "directory %s, where SQLite keeps the "
                                "database's -wal and -shm files",
                                g_strerror (errno), (guint) geteuid (), dir);
    return g_strdup_printf ("permission denied (uid %u)", (guint) geteuid ());
}

static gboolean
set_sqlite_error (GError **error, BounceStore *store, int rc, const char *what)
{
    const char *msg = store->db != NULL ? sqlite3_errmsg (store->db)
                                        : sqlite3_errstr (rc);
    int sys_errno = store->db != NULL ? sqlite3_system_errno (store->db) : 0;
    BounceError code = _bounce_sqlite_error_code (rc, sys_errno);

    if (code == BOUNCE_ERROR_STORE_BUSY) {
        g_set_error (error, BOUNCE_ERROR, code,
                     "database %s: %s: still locked after %u ms (%s)",
                     store->path, what, store->options.busy_timeout_ms, msg);
    } else if (code == BOUNCE_ERROR_STORE_ACCESS) {
        g_autofree char *cause = access_cause (store->path);
        g_set_error (error, BOUNCE_ERROR, code, "database %s: %s: %s (%s)",
                     store->path, what, cause, msg);
    } else if (code == BOUNCE_ERROR_STORE_FULL && sys_errno != 0 &&
               ((rc & 0xff) == SQLITE_IOERR || (rc & 0xff) == SQLITE_CANTOPEN ||
                (rc & 0xff) == SQLITE_FULL)) {
        /* "disk I/O error" says less than ENOSPC's "No space left". */
        g_set_error (error, BOUNCE_ERROR, code, "database %s: %s: %s (%s)",
                     store->path, what, msg, g_strerror (sys_errno));
    } else {
        g_set_error (error, BOUNCE_ERROR, code, "database %s: %s: %s",
                     store->path, what, msg);
    }
    return FALSE;
}

static gboolean
exec (BounceStore *store, const char *sql, const char *what, GError **error)
{
    int rc = sqlite3_exec (store->db, sql, NULL, NULL, NULL);

    if (rc != SQLITE_OK)
        return set_sqlite_error (error, store, rc, what);
    return TRUE;
}

/* ------------------------------------------------------------------ */
/* The schema                                                         */
/* ------------------------------------------------------------------ */

/* The generated resource (bounce-resources.c). */
GResource *_bounce_get_resource (void);

/* The "-- @version N" sections of @resource; element N is version N. */
static GPtrArray *
schema_sections (const char *resource, int last)
{
    g_autoptr (GBytes) bytes = g_resource_lookup_data (
        _bounce_get_resource (), resource,
        G_RESOURCE_LOOKUP_FLAGS_NONE, NULL);
    g_autoptr (GPtrArray) sections = g_ptr_array_new_with_free_func (g_free);
    g_autofree char *text = NULL;
    const char *p;
    gsize len;

    g_assert (bytes != NULL);
    p = g_bytes_get_data (bytes, &len);
    text = g_strndup (p, len);
    /* sections->pdata[0] is what comes before "-- @version 1". */
    p = text;
    for (;;) {
        const char *mark = strstr (p, "\n" VERSION_MARK);
        int version;

        g_ptr_array_add (sections,
                         g_strndup (p, mark != NULL ? (gsize) (mark - p)
                                                    : strlen (p)));
        if (mark == NULL)
            break;
        mark += 1 + strlen (VERSION_MARK);
        version = atoi (mark);
        /* Versions are numbered 1, 2, ... in order. */
        g_assert (version == (int) sections->len);
        p = strchr (mark, '\n');
        if (p == NULL)
            p = mark + strlen (mark);
    }
    g_assert (sections->len == (guint) last + 1);
    return g_steal_pointer (&sections);
}

GPtrArray *
_bounce_store_schema_sections (void)
{
    return schema_sections (SCHEMA_RESOURCE, BOUNCE_STORE_SCHEMA_VERSION);
}

static gboolean
read_version (BounceStore *store, int *out_version, GError **error)
{
    sqlite3_stmt *stmt = NULL;
    int rc = sqlite3_prepare_v2 (store->db, "PRAGMA user_version", -1, &stmt,
                                 NULL);

    *out_version = 0;   /* set on every path (gcc -O3 cannot see it) */
    if (rc == SQLITE_OK) {
        rc = sqlite3_step (stmt);
        if (rc == SQLITE_ROW) {
            *out_version = sqlite3_column_int (stmt, 0);
            rc = SQLITE_OK;
        }
    }
    sqlite3_finalize (stmt);
    if (rc != SQLITE_OK)
        return set_sqlite_error (error, store, rc, "reading the schema version");
    return TRUE;
}

static gboolean
check_not_too_new (BounceStore *store, int version, GError **error)
{
    if (version <= BOUNCE_STORE_SCHEMA_VERSION)
        return TRUE;
    g_set_error (error, BOUNCE_ERROR, BOUNCE_ERROR_SCHEMA_TOO_NEW,
                 "database %s has schema version %d, newer than this "
                 "bouncestat knows (%d): use a newer bouncestat",
                 store->path, version, BOUNCE_STORE_SCHEMA_VERSION);
    return FALSE;
}

static gboolean
migrate (BounceStore *store, GError **error)
{
    g_autoptr (GPtrArray) sections = NULL;
    g_autofree char *set_version = NULL;
    int version = 0;

    if (!read_version (store, &version, error) ||
        !check_not_too_new (store, version, error))
        return FALSE;
    if (version == BOUNCE_STORE_SCHEMA_VERSION) {
        store->version = version;
        return TRUE;
    }
    /* Another process may be migrating too: decide under the lock. */
    if (!exec (store, "BEGIN IMMEDIATE", "locking to update the schema",
               error))
        return FALSE;
    if (!read_version (store, &version, error) ||
        !check_not_too_new (store, version, error))
        goto fail;
    sections = _bounce_store_schema_sections ();
    for (int v = version + 1; v <= BOUNCE_STORE_SCHEMA_VERSION; v++) {
        g_autofree char *what =
            g_strdup_printf ("updating the schema to version %d", v);
        if (!exec (store, sections->pdata[v], what, error))
            goto fail;
    }
    set_version = g_strdup_printf ("PRAGMA user_version = %d",
                                   BOUNCE_STORE_SCHEMA_VERSION);
    if (!exec (store, set_version, "setting the schema version", error) ||
        !exec (store, "COMMIT", "committing the schema", error))
        goto fail;
    store->version = BOUNCE_STORE_SCHEMA_VERSION;
    return TRUE;

fail:
    sqlite3_exec (store->db, "ROLLBACK", NULL, NULL, NULL);
    return FALSE;
}

/* ------------------------------------------------------------------ */
/* Opening                                                            */
/* ------------------------------------------------------------------ */

void
bounce_store_options_init (BounceStoreOptions *options)
{
    g_return_if_fail (options != NULL);
    memset (options, 0, sizeof *options);
    options->busy_timeout_ms = BOUNCE_STORE_DEFAULT_BUSY_TIMEOUT_MS;
    options->raw_cap = BOUNCE_STORE_DEFAULT_RAW_CAP;
}

/* Creates the directory (0700) and an empty file (0600) unless they
 * exist, so that SQLite never creates them with the process umask. */
static gboolean
create_file (const char *path, GError **error)
{
    g_autofree char *dir = g_path_get_dirname (path);
    int fd;

    if (g_mkdir_with_parents (dir, 0700) != 0) {
        int saved = errno;
        g_set_error (error, BOUNCE_ERROR, errno_error_code (saved),
                     "database %s: cannot create the directory %s: %s "
                     "(uid %u)",
                     path, dir, g_strerror (saved), (guint) geteuid ());
        return FALSE;
    }
    fd = open (path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        int saved = errno;
        BounceError code = errno_error_code (saved);
        g_autofree char *cause = code == BOUNCE_ERROR_STORE_ACCESS
                                     ? access_cause (path)
                                     : g_strdup (g_strerror (saved));
        g_set_error (error, BOUNCE_ERROR, code,
                     "database %s: cannot create it: %s", path, cause);
        return FALSE;
    }
    close (fd);
    return TRUE;
}

static gboolean
prepare (BounceStore *store, sqlite3_stmt **stmt, const char *sql,
         GError **error)
{
    int rc = sqlite3_prepare_v3 (store->db, sql, -1, SQLITE_PREPARE_PERSISTENT,
                                 stmt, NULL);

    if (rc != SQLITE_OK)
        return set_sqlite_error (error, store, rc, "preparing a statement");
    return TRUE;
}

/* The one-event rule (schema.sql, event_reports): the event of the
 * other origin (?1: the origin it must have) of the same failure: the
 * same address (?2) and outcome (?3), the same original message (queue
 * id ?4, else Message-ID ?5), within MATCH_DAYS of each other (?6: the
 * new event's time), not matched yet; the latest first. */
#define MATCH_DAYS "10"
#define FIND_SAME_SQL                                                        \
    "SELECT e.id, e.message_id, e.position FROM events e"                    \
    " JOIN messages m ON m.id = e.message_id"                                \
    " WHERE e.address = ?2 AND e.outcome = ?3 AND m.origin = ?1"             \
    " AND ((?4 IS NOT NULL AND m.queue_id = ?4)"                             \
    " OR (?5 IS NOT NULL AND m.orig_message_id = ?5"                         \
    " AND (?4 IS NULL OR m.queue_id IS NULL)))"                              \
    " AND abs (julianday (e.event_time) - julianday (?6)) <= " MATCH_DAYS    \
    " AND NOT EXISTS (SELECT 1 FROM event_reports r WHERE r.event_id = e.id)" \
    " ORDER BY e.event_time DESC, e.id DESC LIMIT 1"

static gboolean
prepare_all (BounceStore *store, GError **error)
{
    return prepare (store, &store->find_hash,
                    "SELECT 1 FROM messages WHERE content_hash = ?1", error) &&
           prepare (store, &store->insert_message, _BOUNCE_SQL_INSERT_MESSAGE,
                    error) &&
           prepare (store, &store->find_same, FIND_SAME_SQL, error) &&
           prepare (store, &store->insert_report,
                    "INSERT OR IGNORE INTO event_reports (message_id,"
                    " position, event_id) VALUES (?1, ?2, ?3)", error) &&
           prepare (store, &store->delete_event,
                    "DELETE FROM events WHERE id = ?1", error) &&
           prepare (store, &store->insert_raw, _BOUNCE_SQL_INSERT_RAW,
                    error) &&
           prepare (store, &store->state_events,
                    _BOUNCE_SUPPRESSION_SELECT " AND e.address = ?1"
                    _BOUNCE_SUPPRESSION_ORDER, error) &&
           prepare (store, &store->state_insert, _BOUNCE_SQL_INSERT_STATE,
                    error) &&
           prepare (store, &store->insert_header, _BOUNCE_SQL_INSERT_HEADER,
                    error) &&
           prepare (store, &store->insert_event, _BOUNCE_SQL_INSERT_EVENT,
                    error);
}

/* ------------------------------------------------------------------ */
/* PostgreSQL (bounce-db-pg.c)                                        */
/* ------------------------------------------------------------------ */

/* The first column of the first row of @sql, as a number (0: none). */
static gboolean
pg_number (BounceStore *store, const char *sql, const BounceDbArgs *args,
           gint64 *out, const char *what, GError **error)
{
    int rows = 0;
    gpointer res = _bounce_pg_query (store->pg, sql, args, &rows, what, error);
    const char *v;

    if (res == NULL)
        return FALSE;
    v = _bounce_pg_value (res, 0, 0);
    *out = v != NULL ? g_ascii_strtoll (v, NULL, 10) : 0;
    _bounce_pg_result_free (res);
    return TRUE;
}

static gboolean
pg_read_version (BounceStore *store, gint64 *out, GError **error)
{
    const char *what = "reading the schema version";

    *out = 0;
    if (!pg_number (store, "SELECT count (*) FROM pg_catalog.pg_tables"
                           " WHERE tablename = 'bouncestat_schema'"
                           " AND schemaname = current_schema ()",
                    NULL, out, what, error))
        return FALSE;
    return *out == 0 ||
           pg_number (store, "SELECT max (version) FROM bouncestat_schema",
                      NULL, out, what, error);
}

static gboolean
pg_check_version (BounceStore *store, gint64 version, GError **error)
{
    if (version > PG_SCHEMA_VERSION) {
        g_set_error (error, BOUNCE_ERROR, BOUNCE_ERROR_SCHEMA_TOO_NEW,
                     "%s has schema version %" G_GINT64_FORMAT ", newer than "
                     "this bouncestat knows (%d): use a newer bouncestat",
                     _bounce_pg_name (store->pg), version, PG_SCHEMA_VERSION);
        return FALSE;
    }
    if (version == 0 && store->options.must_exist) {
        g_set_error (error, BOUNCE_ERROR, BOUNCE_ERROR_STORE,
                     "%s has no bouncestat history (run 'bouncestat ingest' "
                     "first)", _bounce_pg_name (store->pg));
        return FALSE;
    }
    return TRUE;
}

/* The versions of schema-pg.sql after the database's, in one
 * transaction, under an advisory lock: hosts starting at once migrate
 * it once. */
static gboolean
pg_migrate (BounceStore *store, GError **error)
{
    g_autoptr (GPtrArray) sections = NULL;
    g_autofree char *set_version = NULL;
    gint64 version = 0, locked = 0;

    if (!pg_read_version (store, &version, error) ||
        !pg_check_version (store, version, error))
        return FALSE;
    if (version == PG_SCHEMA_VERSION) {
        store->version = PG_SCHEMA_VERSION;
        return TRUE;
    }
    if (!_bounce_pg_exec (store->pg, "BEGIN", "starting a transaction",
                          error))
        return FALSE;
    /* The key: "bouncestat" in ASCII, the same for every version. */
    if (!pg_number (store, "SELECT count (pg_advisory_xact_lock"
                           " (7102708467373338996))", NULL, &locked,
                    "locking to update the schema", error) ||
        !pg_read_version (store, &version, error) ||
        !pg_check_version (store, version, error))
        goto fail;
    sections = schema_sections (SCHEMA_PG_RESOURCE, PG_SCHEMA_VERSION);
    for (gint64 v = version + 1; v <= PG_SCHEMA_VERSION; v++) {
        g_autofree char *what = g_strdup_printf (
            "updating the schema to version %" G_GINT64_FORMAT, v);

        if (!_bounce_pg_exec (store->pg, sections->pdata[v], what, error))
            goto fail;
    }
    set_version = g_strdup_printf ("UPDATE bouncestat_schema SET version"
                                   " = %d", PG_SCHEMA_VERSION);
    if (!_bounce_pg_exec (store->pg, set_version,
                          "setting the schema version", error) ||
        !_bounce_pg_exec (store->pg, "COMMIT", "committing the schema",
                          error))
        goto fail;
    store->version = PG_SCHEMA_VERSION;
    return TRUE;

fail:
    _bounce_pg_exec (store->pg, "ROLLBACK", "rolling back", NULL);
    return FALSE;
}

static gboolean
pg_exec_checked (BounceStore *store, const char *sql, const char *what,
                 GError **error)
{
    gpointer res = _bounce_pg_query (store->pg, sql, NULL, NULL, what, error);

    _bounce_pg_result_free (res);
    return res != NULL;
}

static BounceStore *
pg_open (BounceStore *store, GError **error)
{
    store->pg = _bounce_pg_connect (store->path, error);
    if (store->pg == NULL || !pg_migrate (store, error) ||
        !pg_exec_checked (store, "SELECT bouncestat_event_partition (to_char"
                                 " (now () AT TIME ZONE 'UTC', 'YYYY-MM-DD')),"
                                 " bouncestat_event_partition (to_char"
                                 " (now () AT TIME ZONE 'UTC' + interval"
                                 " '1 month', 'YYYY-MM-DD'))",
                          "creating the partitions of this month", error) ||
        !heal_at_open (store, error)) {
        bounce_store_close (store);
        return NULL;
    }
    store->compressor = g_zlib_compressor_new (G_ZLIB_COMPRESSOR_FORMAT_ZLIB,
                                               RAW_COMPRESSION_LEVEL);
    store->psl = psl_builtin ();
    return store;
}

/* @args bound to @stmt (SQLite). */
static void
bind_args (sqlite3_stmt *stmt, const BounceDbArgs *args)
{
    for (int i = 1; i <= args->count; i++) {
        switch (args->type[i]) {
        case BOUNCE_DB_TEXT:
            sqlite3_bind_text (stmt, i, args->text[i], (int) args->len[i],
                               SQLITE_STATIC);
            break;
        case BOUNCE_DB_INT:
            sqlite3_bind_int64 (stmt, i, args->number[i]);
            break;
        case BOUNCE_DB_BLOB:
            sqlite3_bind_blob64 (stmt, i, args->text[i], args->len[i],
                                 SQLITE_STATIC);
            break;
        case BOUNCE_DB_NULL:
        default:
            sqlite3_bind_null (stmt, i);
            break;
        }
    }
}

BounceStore *
bounce_store_open (const char *path,
                   const BounceStoreOptions *options,
                   GError **error)
{
    g_autoptr (BounceStore) store = NULL;
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX;
    int rc;

    g_return_val_if_fail (path != NULL, NULL);

    store = g_new0 (BounceStore, 1);
    store->path = g_strdup (path);
    store->heal_full = HEAL_FULL_THRESHOLD;
    if (options != NULL)
        store->options = *options;
    else
        bounce_store_options_init (&store->options);
    if (store->options.busy_timeout_ms == 0)
        store->options.busy_timeout_ms = BOUNCE_STORE_DEFAULT_BUSY_TIMEOUT_MS;
    if (_bounce_db_is_postgres (path))
        return pg_open (g_steal_pointer (&store), error);

    if (store->options.must_exist) {
        if (!g_file_test (path, G_FILE_TEST_IS_REGULAR)) {
            g_set_error (error, BOUNCE_ERROR, BOUNCE_ERROR_STORE,
                         "database %s does not exist (run 'bouncestat "
                         "ingest' first)", path);
            return NULL;
        }
    } else if (!g_file_test (path, G_FILE_TEST_EXISTS) &&
               !create_file (path, error)) {
        return NULL;
    }

    rc = sqlite3_open_v2 (path, &store->db, flags, NULL);
    if (rc != SQLITE_OK) {
        set_sqlite_error (error, store, rc, "opening");
        return NULL;
    }
    sqlite3_extended_result_codes (store->db, 1);
    sqlite3_busy_timeout (store->db, (int) store->options.busy_timeout_ms);
    /* WAL lets readers and one writer work at once; synchronous=FULL makes
     * a commit durable before ingest tells the MTA it has the message. */
    if (!exec (store, "PRAGMA journal_mode = WAL", "switching to WAL", error) ||
        !exec (store, "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON",
               "setting it up", error) ||
        !migrate (store, error) || !prepare_all (store, error) ||
        !heal_at_open (store, error))
        return NULL;
    store->compressor = g_zlib_compressor_new (G_ZLIB_COMPRESSOR_FORMAT_ZLIB,
                                               RAW_COMPRESSION_LEVEL);
    store->psl = psl_builtin ();
    return g_steal_pointer (&store);
}

gboolean
bounce_store_is_connection_string (const char *db)
{
    return _bounce_db_is_postgres (db);
}

void
bounce_store_close (BounceStore *store)
{
    if (store == NULL)
        return;
    if (store->in_batch)
        bounce_store_rollback (store);
    sqlite3_finalize (store->find_hash);
    sqlite3_finalize (store->insert_message);
    sqlite3_finalize (store->insert_header);
    sqlite3_finalize (store->insert_event);
    sqlite3_finalize (store->insert_raw);
    sqlite3_finalize (store->state_events);
    sqlite3_finalize (store->state_insert);
    sqlite3_finalize (store->find_same);
    sqlite3_finalize (store->insert_report);
    sqlite3_finalize (store->delete_event);
    if (store->db != NULL)
        sqlite3_close_v2 (store->db);
    _bounce_pg_free (store->pg);
    g_clear_object (&store->compressor);
    g_free (store->path);
    g_free (store);
}

int
bounce_store_get_schema_version (BounceStore *store)
{
    g_return_val_if_fail (store != NULL, 0);
    return store->version;
}

gboolean
_bounce_store_set_error (BounceStore *store, int rc, const char *what,
                         GError **error)
{
    return set_sqlite_error (error, store, rc, what);
}

struct sqlite3 *
bounce_store_get_db (BounceStore *store)
{
    g_return_val_if_fail (store != NULL, NULL);
    return store->db;
}

/* ------------------------------------------------------------------ */
/* The suppression state                                              */
/* ------------------------------------------------------------------ */


typedef struct {
    BounceStore *store;
    int rc;
    GError *error; /* PostgreSQL: the first failure */
} StateWrite;

/* @text, or NULL as SQL NULL; the text must live until the statement
 * is stepped (every caller steps it before its strings go). */
static void
bind_text (sqlite3_stmt *stmt, int idx, const char *text)
{
    if (text != NULL)
        sqlite3_bind_text (stmt, idx, text, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null (stmt, idx);
}

static void
state_write (const BounceSuppression *st, gpointer user_data)
{
    StateWrite *w = user_data;
    sqlite3_stmt *s = w->store->state_insert;
    BounceDbArgs a;
    int rc;

    if (w->rc != SQLITE_DONE || w->error != NULL)
        return;
    _bounce_db_args_init (&a);
    _bounce_db_args_text (&a, 1, st->address);
    _bounce_db_args_text (&a, 2, st->domain);
    _bounce_db_args_text (&a, 3, st->registrable_domain);
    _bounce_db_args_text (&a, 4, st->last_delivered);
    _bounce_db_args_int (&a, 5, st->bounces);
    _bounce_db_args_int (&a, 6, st->hard);
    _bounce_db_args_int (&a, 7, st->soft);
    _bounce_db_args_text (&a, 8, st->first_bounce);
    _bounce_db_args_text (&a, 9, st->last_bounce);
    _bounce_db_args_text (&a, 10, st->first_soft);
    _bounce_db_args_text (&a, 11, st->last_soft);
    _bounce_db_args_text (&a, 12, st->reason);
    _bounce_db_args_text (&a, 13, st->status);
    if (st->last_event > 0)
        _bounce_db_args_int (&a, 14, st->last_event);
    _bounce_db_args_text (&a, 15, st->hard_reason);
    _bounce_db_args_text (&a, 16, st->hard_status);
    if (w->store->pg != NULL) {
        gpointer res = _bounce_pg_query (w->store->pg,
                                         _BOUNCE_SQL_INSERT_STATE, &a, NULL,
                                         "updating the suppression state",
                                         &w->error);

        if (res != NULL)
            _bounce_pg_result_free (res);
        return;
    }
    bind_args (s, &a);
    rc = sqlite3_step (s);
    sqlite3_reset (s);
    sqlite3_clear_bindings (s);
    w->rc = rc;
}

/* PostgreSQL: the reasons' sides (name -> who). */
static GHashTable *
pg_reason_sides (BounceStore *store, GError **error)
{
    GHashTable *sides =
        g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
    int rows = 0;
    gpointer res = _bounce_pg_query (store->pg, "SELECT name, who FROM"
                                     " reasons", NULL, &rows,
                                     "reading the reasons", error);

    if (res == NULL) {
        g_hash_table_unref (sides);
        return NULL;
    }
    for (int i = 0; i < rows; i++)
        g_hash_table_insert (sides, g_strdup (_bounce_pg_value (res, i, 0)),
                             g_strdup (_bounce_pg_value (res, i, 1)));
    _bounce_pg_result_free (res);
    return sides;
}

/* PostgreSQL: the state of the addresses this transaction made stale
 * (the triggers of schema-pg.sql).  A stale row is held by the
 * transaction that wrote it until it commits, so that a concurrent
 * writer of the same address waits, and then computes it again with
 * both writers' events. */
static gboolean
pg_heal (BounceStore *store, GError **error)
{
    g_autoptr (GHashTable) sides = NULL;
    StateWrite w = { store, SQLITE_DONE, NULL };
    BounceSuppressionScan scan;
    gpointer res;
    int rows = 0;

    if ((sides = pg_reason_sides (store, error)) == NULL)
        return FALSE;
    /* One statement: the stale rows (this transaction's, and any that
     * another left: a crash, a write by hand) taken, their state
     * cleared, and their events read (from the snapshot before). */
    res = _bounce_pg_query (store->pg,
                            "WITH stale AS (DELETE FROM suppression_stale"
                            " RETURNING address), cleared AS (DELETE FROM"
                            " suppression_state WHERE address IN (SELECT"
                            " address FROM stale)) "
                            _BOUNCE_SUPPRESSION_SELECT
                            " AND e.address IN (SELECT address FROM stale)"
                            _BOUNCE_SUPPRESSION_ORDER,
                            NULL, &rows, "updating the suppression state",
                            error);
    if (res == NULL)
        return FALSE;
    _bounce_suppression_scan_begin (&scan, sides, NULL, NULL, state_write,
                                    &w);
    for (int i = 0; i < rows && w.error == NULL; i++) {
        const char *hard = _bounce_pg_value (res, i, 3);
        const char *id = _bounce_pg_value (res, i, 6);
        BounceSuppressionRow row = {
            .address = _bounce_pg_value (res, i, 0),
            .time = _bounce_pg_value (res, i, 1),
            .outcome = _bounce_pg_value (res, i, 2),
            .hard = hard != NULL ? atoi (hard) : -1,
            .reason = _bounce_pg_value (res, i, 4),
            .status = _bounce_pg_value (res, i, 5),
            .id = id != NULL ? g_ascii_strtoll (id, NULL, 10) : 0,
            .domain = _bounce_pg_value (res, i, 7),
            .registrable_domain = _bounce_pg_value (res, i, 8),
        };

        _bounce_suppression_scan_row (&scan, &row);
    }
    _bounce_suppression_scan_end (&scan, w.error == NULL);
    _bounce_pg_result_free (res);
    if (w.error != NULL) {
        g_propagate_error (error, w.error);
        return FALSE;
    }
    return TRUE;
}

static gint64
query_count (BounceStore *store, const char *sql, int *out_rc)
{
    sqlite3_stmt *stmt = NULL;
    gint64 n = 0;
    int rc = sqlite3_prepare_v2 (store->db, sql, -1, &stmt, NULL);

    if (rc == SQLITE_OK && (rc = sqlite3_step (stmt)) == SQLITE_ROW) {
        n = sqlite3_column_int64 (stmt, 0);
        rc = SQLITE_OK;
    }
    sqlite3_finalize (stmt);
    *out_rc = rc;
    return n;
}

static gboolean
heal_suppression (BounceStore *store, GError **error)
{
    g_autoptr (GHashTable) sides = NULL;
    sqlite3_stmt *stmt = NULL;
    StateWrite w = { store, SQLITE_DONE, NULL };
    gint64 stale;
    int rc;

    if (store->pg != NULL)
        return pg_heal (store, error);
    stale = query_count (store, "SELECT count (*) FROM suppression_stale",
                         &rc);
    if (rc != SQLITE_OK)
        return set_sqlite_error (error, store, rc, "reading the stale "
                                 "suppression state");
    if (stale == 0)
        return TRUE;
    sides = _bounce_reason_sides (store->db, &rc);
    if (sides == NULL)
        return set_sqlite_error (error, store, rc, "reading the reasons");
    if (store->heal_full < 0 ||
        (stale > store->heal_full &&
         stale > query_count (store, "SELECT count (*) / 4 FROM"
                                     " suppression_state", &rc))) {
        if (!exec (store, "DELETE FROM suppression_state",
                   "clearing the suppression state", error))
            return FALSE;
        rc = sqlite3_prepare_v2 (store->db,
                                 _BOUNCE_SUPPRESSION_SELECT
                                 _BOUNCE_SUPPRESSION_ORDER,
                                 -1, &stmt, NULL);
        if (rc == SQLITE_OK)
            rc = _bounce_suppression_scan (stmt, sides, NULL, NULL,
                                           state_write, &w);
        sqlite3_finalize (stmt);
    } else {
        g_autoptr (GPtrArray) addresses =
            g_ptr_array_new_with_free_func (g_free);

        rc = sqlite3_prepare_v2 (store->db,
                                 "SELECT address FROM suppression_stale", -1,
                                 &stmt, NULL);
        while (rc == SQLITE_OK && (rc = sqlite3_step (stmt)) == SQLITE_ROW) {
            g_ptr_array_add (addresses,
                             g_strdup ((const char *)
                                           sqlite3_column_text (stmt, 0)));
            rc = SQLITE_OK;
        }
        sqlite3_finalize (stmt);
        stmt = NULL;
        if (rc == SQLITE_DONE)
            rc = sqlite3_prepare_v2 (store->db,
                                     "DELETE FROM suppression_state"
                                     " WHERE address = ?1",
                                     -1, &stmt, NULL);
        for (guint i = 0; i < addresses->len && rc == SQLITE_OK; i++) {
            const char *address = addresses->pdata[i];

            sqlite3_bind_text (stmt, 1, address, -1, SQLITE_STATIC);
            rc = sqlite3_step (stmt);
            sqlite3_reset (stmt);
            if (rc != SQLITE_DONE)
                break;
            sqlite3_bind_text (store->state_events, 1, address, -1,
                               SQLITE_STATIC);
            rc = _bounce_suppression_scan (store->state_events, sides, NULL,
                                           NULL, state_write, &w);
            sqlite3_reset (store->state_events);
            sqlite3_clear_bindings (store->state_events);
            if (rc == SQLITE_DONE)
                rc = SQLITE_OK;
        }
        sqlite3_finalize (stmt);
        if (rc == SQLITE_OK || rc == SQLITE_DONE)
            rc = SQLITE_DONE;
    }
    if (rc != SQLITE_DONE || w.rc != SQLITE_DONE)
        return set_sqlite_error (error, store, rc != SQLITE_DONE ? rc : w.rc,
                                 "updating the suppression state");
    return exec (store, "DELETE FROM suppression_stale",
                 "updating the suppression state", error);
}

/* A database just migrated (every address is stale) or written by
 * other means since: its suppression state brought up to date now, so
 * that the view is right before the next write. */
static gboolean
heal_at_open (BounceStore *store, GError **error)
{
    int rc;
    gint64 stale;

    if (store->pg != NULL) {
        if (!pg_number (store, "SELECT count (*) FROM (SELECT 1 FROM"
                               " suppression_stale LIMIT 1) s", NULL, &stale,
                        "reading the stale suppression state", error))
            return FALSE;
        if (stale == 0)
            return TRUE;
        if (!bounce_store_begin (store, error))
            return FALSE;
        return bounce_store_commit (store, error);
    }
    stale = query_count (store, "SELECT EXISTS (SELECT 1 FROM"
                                " suppression_stale)", &rc);
    if (rc != SQLITE_OK)
        return set_sqlite_error (error, store, rc, "reading the stale "
                                 "suppression state");
    if (stale == 0)
        return TRUE;
    if (!exec (store, "BEGIN IMMEDIATE", "starting a transaction", error))
        return FALSE;
    if (!heal_suppression (store, error) ||
        !exec (store, "COMMIT", "committing", error)) {
        sqlite3_exec (store->db, "ROLLBACK", NULL, NULL, NULL);
        return FALSE;
    }
    return TRUE;
}

/* ------------------------------------------------------------------ */
/* Batches                                                            */
/* ------------------------------------------------------------------ */

gboolean
bounce_store_begin (BounceStore *store, GError **error)
{
    g_return_val_if_fail (store != NULL, FALSE);
    g_return_val_if_fail (!store->in_batch, FALSE);
    if (store->pg != NULL
            ? !_bounce_pg_exec (store->pg, "BEGIN", "starting a transaction",
                                error)
            : !exec (store, "BEGIN IMMEDIATE", "starting a transaction",
                     error))
        return FALSE;
    store->in_batch = TRUE;
    return TRUE;
}

gboolean
bounce_store_commit (BounceStore *store, GError **error)
{
    g_return_val_if_fail (store != NULL, FALSE);
    g_return_val_if_fail (store->in_batch, FALSE);
    if (!heal_suppression (store, error) ||
        (store->pg != NULL
             ? !_bounce_pg_exec (store->pg, "COMMIT", "committing", error)
             : !exec (store, "COMMIT", "committing", error))) {
        bounce_store_rollback (store);
        return FALSE;
    }
    store->in_batch = FALSE;
    return TRUE;
}

void
bounce_store_rollback (BounceStore *store)
{
    g_return_if_fail (store != NULL);
    if (store->pg != NULL)
        _bounce_pg_exec (store->pg, "ROLLBACK", "rolling back", NULL);
    else if (!sqlite3_get_autocommit (store->db))
        sqlite3_exec (store->db, "ROLLBACK", NULL, NULL, NULL);
    store->in_batch = FALSE;
}


/* ------------------------------------------------------------------ */
/* The rules                                                          */
/* ------------------------------------------------------------------ */

static gboolean
run_text (BounceStore *store, const char *sql, const char *a, const char *b,
          const char *c, const char *what, GError **error)
{
    sqlite3_stmt *stmt = NULL;
    int rc;

    if (store->pg != NULL) {
        BounceDbArgs args;
        gpointer res;

        _bounce_db_args_init (&args);
        _bounce_db_args_text (&args, 1, a);
        if (strstr (sql, "?2") != NULL)
            _bounce_db_args_text (&args, 2, b);
        if (strstr (sql, "?3") != NULL)
            _bounce_db_args_text (&args, 3, c);
        res = _bounce_pg_query (store->pg, sql, &args, NULL, what, error);
        _bounce_pg_result_free (res);
        return res != NULL;
    }
    rc = sqlite3_prepare_v2 (store->db, sql, -1, &stmt, NULL);
    if (rc == SQLITE_OK) {
        bind_text (stmt, 1, a);
        if (sqlite3_bind_parameter_count (stmt) >= 2)
            bind_text (stmt, 2, b);
        if (sqlite3_bind_parameter_count (stmt) >= 3)
            bind_text (stmt, 3, c);
        rc = sqlite3_step (stmt);
        if (rc == SQLITE_ROW || rc == SQLITE_DONE)
            rc = SQLITE_OK;
    }
    sqlite3_finalize (stmt);
    if (rc != SQLITE_OK)
        return set_sqlite_error (error, store, rc, what);
    return TRUE;
}

/* The first column of the first row of @sql with ?1 = @arg into
 * *@out_value (NULL: no row, or NULL). */
static gboolean
lookup_text (BounceStore *store, const char *sql, const char *arg,
             char **out_value, const char *what, GError **error)
{
    sqlite3_stmt *stmt = NULL;
    int rc;

    *out_value = NULL;
    if (store->pg != NULL) {
        BounceDbArgs args;
        gpointer res;

        _bounce_db_args_init (&args);
        if (arg != NULL)
            _bounce_db_args_text (&args, 1, arg);
        res = _bounce_pg_query (store->pg, sql, &args, NULL, what, error);
        if (res == NULL)
            return FALSE;
        *out_value = g_strdup (_bounce_pg_value (res, 0, 0));
        _bounce_pg_result_free (res);
        return TRUE;
    }
    rc = sqlite3_prepare_v2 (store->db, sql, -1, &stmt, NULL);
    if (rc == SQLITE_OK) {
        bind_text (stmt, 1, arg);
        rc = sqlite3_step (stmt);
        if (rc == SQLITE_ROW) {
            *out_value = g_strdup ((const char *) sqlite3_column_text (stmt,
                                                                        0));
            rc = SQLITE_OK;
        } else if (rc == SQLITE_DONE) {
            rc = SQLITE_OK;
        }
    }
    sqlite3_finalize (stmt);
    if (rc != SQLITE_OK)
        return set_sqlite_error (error, store, rc, what);
    return TRUE;
}

/* Inside a transaction: the rule_sets row, and the reasons table
 * rewritten from the rules when other rules wrote it. */
static gboolean
set_rules_locked (BounceStore *store, const BounceRules *rules,
                  GError **error)
{
    const char *version = bounce_rules_get_version (rules);
    g_autoptr (GDateTime) now = g_date_time_new_now_utc ();
    g_autofree char *first_used = g_date_time_format (now, "%Y-%m-%dT%H:%M:%SZ");
    g_autofree char *id = NULL;
    g_autofree char *from = NULL;
    g_autoptr (GPtrArray) names = NULL;
    g_autoptr (GString) keep = NULL;

    if (!run_text (store, _BOUNCE_SQL_INSERT_RULE_SET, version, first_used,
                   NULL, "recording the rules version", error) ||
        !lookup_text (store, "SELECT id FROM rule_sets WHERE hash = ?1",
                      version, &id, "reading the rules version", error))
        return FALSE;
    if (id == NULL) {
        g_set_error (error, BOUNCE_ERROR, BOUNCE_ERROR_STORE,
                     "database %s: reading the rules version: no row",
                     store->path);
        return FALSE;
    }
    store->rule_set = g_ascii_strtoll (id, NULL, 10);
    if (!lookup_text (store, "SELECT value FROM settings"
                             " WHERE name = 'reasons_from'", NULL, &from,
                      "reading the settings", error))
        return FALSE;
    if (g_strcmp0 (from, version) == 0)
        return TRUE;
    /* Only the rows that differ are written: the triggers mark the
     * addresses of those reasons' events for the suppression state. */
    names = bounce_rules_list_reasons (rules);
    keep = g_string_new ("[");
    for (guint i = 0; i < names->len; i++) {
        const BounceReason *r = bounce_rules_get_reason (rules,
                                                         names->pdata[i]);
        const char *hard = r->hard || r->hard_when_permanent ? "1" : "0";

        if (!run_text (store, _BOUNCE_SQL_UPSERT_REASON, r->name, r->side,
                       hard, "writing the reasons", error))
            return FALSE;
    }
    {
        /* The names as a JSON array, for one DELETE of the others. */
        g_autoptr (JsonBuilder) b = json_builder_new ();
        g_autoptr (JsonGenerator) gen = json_generator_new ();
        g_autoptr (JsonNode) root = NULL;
        g_autofree char *json = NULL;

        json_builder_begin_array (b);
        for (guint i = 0; i < names->len; i++)
            json_builder_add_string_value (b, names->pdata[i]);
        json_builder_end_array (b);
        root = json_builder_get_root (b);
        json_generator_set_root (gen, root);
        json = json_generator_to_data (gen, NULL);
        if (!run_text (store, store->pg != NULL
                                  ? "DELETE FROM reasons WHERE name NOT IN"
                                    " (SELECT json_array_elements_text"
                                    " (?1::json))"
                                  : "DELETE FROM reasons WHERE name NOT IN"
                                    " (SELECT value FROM json_each (?1))",
                       json, NULL, NULL, "writing the reasons", error))
            return FALSE;
    }
    return run_text (store, _BOUNCE_SQL_SET_REASONS_FROM, version, NULL,
                     NULL, "writing the settings", error);
}

gboolean
bounce_store_set_rules (BounceStore *store,
                        const BounceRules *rules,
                        GError **error)
{
    gboolean own = FALSE;

    g_return_val_if_fail (store != NULL, FALSE);
    if (rules == NULL) {
        store->rule_set = 0;
        return TRUE;
    }
    /* Known rules that wrote the reasons: nothing to write. */
    if (!store->in_batch) {
        g_autofree char *id = NULL;

        if (lookup_text (store, "SELECT r.id FROM rule_sets r, settings s"
                                " WHERE r.hash = ?1 AND s.name ="
                                " 'reasons_from' AND s.value = r.hash",
                         bounce_rules_get_version (rules), &id,
                         "reading the rules version", NULL) &&
            id != NULL) {
            store->rule_set = g_ascii_strtoll (id, NULL, 10);
            return TRUE;
        }
    }
    if (!store->in_batch) {
        if (!bounce_store_begin (store, error))
            return FALSE;
        own = TRUE;
    }
    if (!set_rules_locked (store, rules, error)) {
        bounce_store_rollback (store);
        return FALSE;
    }
    return !own || bounce_store_commit (store, error);
}

/* ------------------------------------------------------------------ */
/* One message                                                        */
/* ------------------------------------------------------------------ */

/* The message without a leading mbox "From " line and trailing blank
 * lines: the same message read from an mbox, a file or an MTA pipe. */
static const guint8 *
message_core (GBytes *raw, gsize *out_len)
{
    gsize len;
    const guint8 *p = g_bytes_get_data (raw, &len);
    gsize skip = _bounce_message_start (p, len);

    p += skip;
    len -= skip;
    while (len > 0 && (p[len - 1] == '\n' || p[len - 1] == '\r'))
        len--;
    *out_len = len;
    return p;
}

char *
bounce_store_content_hash (GBytes *raw)
{
    gsize len;
    const guint8 *p;

    g_return_val_if_fail (raw != NULL, NULL);
    p = message_core (raw, &len);
    return g_compute_checksum_for_data (G_CHECKSUM_SHA256, p, len);
}

/* zlib-compresses @len bytes of @data, then @tail (may be NULL). */
static GBytes *
compress (BounceStore *store, const guint8 *data, gsize len, const char *tail,
          GError **error)
{
    GConverter *conv = G_CONVERTER (store->compressor);
    gsize tail_len = tail != NULL ? strlen (tail) : 0;
    gsize cap = len / 2 + tail_len + 256;
    g_autoptr (GByteArray) out = g_byte_array_sized_new ((guint) cap);
    const guint8 *in = data;
    gsize left = len;
    gsize used = 0;
    gboolean in_tail = FALSE;

    g_converter_reset (conv);
    g_byte_array_set_size (out, (guint) cap);
    for (;;) {
        GConverterResult res;
        gsize nread = 0, nwritten = 0;
        g_autoptr (GError) local = NULL;
        gboolean at_end = tail == NULL || in_tail;

        res = g_converter_convert (conv, in, left, out->data + used,
                                   out->len - used,
                                   at_end ? G_CONVERTER_INPUT_AT_END
                                          : G_CONVERTER_NO_FLAGS,
                                   &nread, &nwritten, &local);
        if (res == G_CONVERTER_ERROR) {
            if (g_error_matches (local, G_IO_ERROR, G_IO_ERROR_NO_SPACE)) {
                g_byte_array_set_size (out, out->len * 2);
                continue;
            }
            g_set_error (error, BOUNCE_ERROR, BOUNCE_ERROR_STORE,
                         "cannot compress the message: %s", local->message);
            return NULL;
        }
        in += nread;
        left -= nread;
        used += nwritten;
        if (res == G_CONVERTER_FINISHED)
            break;
        if (left == 0 && !at_end) {
            in = (const guint8 *) tail;
            left = tail_len;
            in_tail = TRUE;
        }
        if (out->len - used < 64)
            g_byte_array_set_size (out, out->len * 2);
    }
    g_byte_array_set_size (out, (guint) used);
    return g_byte_array_free_to_bytes (g_steal_pointer (&out));
}

/* ISO 8601 with any offset (as GLib writes it: "2011-04-29T23:34:45+09",
 * which SQLite's date functions do not read) -> UTC
 * "YYYY-MM-DDTHH:MM:SSZ", the one form every stored time has; NULL when
 * it is not a time (or its year has no four digits). */
static char *
to_utc (const char *iso)
{
    g_autoptr (GTimeZone) utc = NULL;
    g_autoptr (GDateTime) dt = NULL;
    g_autoptr (GDateTime) u = NULL;

    if (iso == NULL || iso[0] == '\0')
        return NULL;
    utc = g_time_zone_new_utc ();
    dt = g_date_time_new_from_iso8601 (iso, utc);
    if (dt == NULL)
        return NULL;
    u = g_date_time_to_utc (dt);
    if (g_date_time_get_year (u) < 1000)
        return NULL;
    return g_date_time_format (u, "%Y-%m-%dT%H:%M:%SZ");
}

static gboolean
step_done (BounceStore *store, sqlite3_stmt *stmt, const char *what,
           GError **error)
{
    int rc = sqlite3_step (stmt);

    sqlite3_reset (stmt);
    sqlite3_clear_bindings (stmt);
    if (rc != SQLITE_DONE)
        return set_sqlite_error (error, store, rc, what);
    return TRUE;
}

static char *
warnings_json (const BounceReport *report)
{
    g_autoptr (JsonBuilder) b = json_builder_new ();
    g_autoptr (JsonGenerator) gen = json_generator_new ();
    g_autoptr (JsonNode) root = NULL;

    json_builder_begin_array (b);
    for (guint i = 0; i < report->warnings->len; i++)
        json_builder_add_string_value (b, report->warnings->pdata[i]);
    json_builder_end_array (b);
    root = json_builder_get_root (b);
    json_generator_set_root (gen, root);
    return json_generator_to_data (gen, NULL);
}

/* Runs @stmt (SQLite) or @sql (PostgreSQL) with @args. */
static gboolean
run_args (BounceStore *store, sqlite3_stmt *stmt, const char *sql,
          const BounceDbArgs *args, const char *what, GError **error)
{
    if (store->pg != NULL) {
        gpointer res = _bounce_pg_query (store->pg, sql, args, NULL, what,
                                         error);

        _bounce_pg_result_free (res);
        return res != NULL;
    }
    bind_args (stmt, args);
    return step_done (store, stmt, what, error);
}

/* Stores the message row (and its raw message): *@out_id, or 0 when
 * PostgreSQL already has it (another host stored it; the SQLite store
 * looked it up first, under its lock). */
static gboolean
insert_message (BounceStore *store, GBytes *raw, const BounceReport *report,
                const char *hash, const char *received_at,
                sqlite3_int64 *out_id, GError **error)
{
    BounceDbArgs a, r;
    g_autofree char *warnings = warnings_json (report);
    g_autofree char *note = NULL;
    g_autofree char *arrival_date = to_utc (report->arrival_date);
    g_autofree char *bounce_date = to_utc (report->date);
    g_autofree char *orig_date = to_utc (report->orig_date);
    g_autoptr (GBytes) packed = NULL;
    gsize raw_len;
    const guint8 *raw_data = g_bytes_get_data (raw, &raw_len);
    gsize keep = raw_len;
    /* The input may have kept only the first part (report->size). */
    guint64 size = MAX ((guint64) raw_len, report->size);
    gboolean truncated = size > raw_len;

    /* An unclassified message is kept whole: it is parsed again when it
     * is classified. */
    if (store->options.raw_cap > 0 && raw_len > store->options.raw_cap &&
        !store->options.unclassified) {
        keep = store->options.raw_cap;
        truncated = TRUE;
    }
    if (truncated)
        note = g_strdup_printf ("\n\n[bouncestat: message truncated: the "
                                "first %" G_GSIZE_FORMAT " of %" G_GUINT64_FORMAT
                                " bytes are kept]\n",
                                keep, size);
    packed = compress (store, raw_data, keep, note, error);
    if (packed == NULL)
        return FALSE;

    _bounce_db_args_init (&a);
    _bounce_db_args_text (&a, 1, hash);
    _bounce_db_args_text (&a, 2, received_at);
    _bounce_db_args_text (&a, 3, report->source);
    _bounce_db_args_text (&a, 4, bounce_kind_to_string (report->kind));
    _bounce_db_args_text (&a, 5, report->mta);
    _bounce_db_args_text (&a, 6, report->reporting_mta);
    _bounce_db_args_text (&a, 7, arrival_date);
    _bounce_db_args_text (&a, 8, report->subject);
    _bounce_db_args_text (&a, 9, report->from);
    _bounce_db_args_text (&a, 10, bounce_date);
    _bounce_db_args_text (&a, 11, report->orig_message_id);
    _bounce_db_args_text (&a, 12, report->orig_from);
    _bounce_db_args_text (&a, 13, report->orig_to);
    _bounce_db_args_text (&a, 14, report->orig_subject);
    _bounce_db_args_text (&a, 15, orig_date);
    _bounce_db_args_text (&a, 16, report->verp_address);
    _bounce_db_args_text (&a, 17, warnings);
    _bounce_db_args_int (&a, 18, report->recipients_dropped);
    _bounce_db_args_int (&a, 19, (gint64) size);
    _bounce_db_args_int (&a, 20, truncated);
    _bounce_db_args_int (&a, 21, !store->options.unclassified);
    _bounce_db_args_text (&a, 22, bounce_origin_to_string (report->origin));
    _bounce_db_args_text (&a, 23, report->queue_id);
    if (store->pg != NULL) {
        /* Race-safe between hosts: a concurrent writer of the same
         * message waits for the first one's commit, then stores
         * nothing. */
        int rows = 0;
        gpointer res = _bounce_pg_query (
            store->pg, _BOUNCE_SQL_INSERT_MESSAGE
            " ON CONFLICT (content_hash) DO NOTHING RETURNING id",
            &a, &rows, "storing the message", error);
        const char *id;

        if (res == NULL)
            return FALSE;
        id = _bounce_pg_value (res, 0, 0);
        *out_id = id != NULL ? g_ascii_strtoll (id, NULL, 10) : 0;
        _bounce_pg_result_free (res);
        if (*out_id == 0)
            return TRUE;
    } else {
        bind_args (store->insert_message, &a);
        if (!step_done (store, store->insert_message, "storing the message",
                        error))
            return FALSE;
        *out_id = sqlite3_last_insert_rowid (store->db);
    }
    _bounce_db_args_init (&r);
    _bounce_db_args_int (&r, 1, *out_id);
    _bounce_db_args_blob (&r, 2, g_bytes_get_data (packed, NULL),
                          g_bytes_get_size (packed));
    return run_args (store, store->insert_raw, _BOUNCE_SQL_INSERT_RAW, &r,
                     "storing the raw message", error);
}

static gboolean
insert_headers (BounceStore *store, sqlite3_int64 id,
                const BounceReport *report, GError **error)
{
    GHashTableIter iter;
    gpointer key, value;

    if (report->extra_headers == NULL)
        return TRUE;
    g_hash_table_iter_init (&iter, report->extra_headers);
    while (g_hash_table_iter_next (&iter, &key, &value)) {
        g_autofree char *name = g_ascii_strdown (key, -1);

        BounceDbArgs a;

        if (value == NULL)
            continue;
        _bounce_db_args_init (&a);
        _bounce_db_args_int (&a, 1, id);
        _bounce_db_args_text (&a, 2, name);
        _bounce_db_args_text (&a, 3, value);
        if (!run_args (store, store->insert_header, _BOUNCE_SQL_INSERT_HEADER,
                       &a, "storing a header", error))
            return FALSE;
    }
    return TRUE;
}

/* When the event of @r happened (UTC): the first known of its
 * Last-Attempt-Date, the Arrival-Date, the bounce's Date and
 * @received_at; *@out_source names which (transfer full). */
static char *
event_time_for (const BounceReport *report, const BounceRecipient *r,
                const char *received_at, const char **out_source)
{
    char *t;

    if ((t = to_utc (r->last_attempt)) != NULL)
        *out_source = "last_attempt";
    else if ((t = to_utc (report->arrival_date)) != NULL)
        *out_source = "arrival_date";
    else if ((t = to_utc (report->date)) != NULL)
        *out_source = "bounce_date";
    else {
        t = g_strdup (received_at);
        *out_source = "received_at";
    }
    return t;
}

/* Binds the values of recipient @r to @s (insert_event, or
 * update_event with @event_id as ?26) and runs it; *@out_changed (may be
 * NULL): whether a row changed. */
static gboolean
write_event (BounceStore *store, sqlite3_stmt *s, sqlite3_int64 event_id,
             sqlite3_int64 id, guint position, const BounceReport *report,
             const BounceRecipient *r, const char *received_at,
             gboolean *out_changed, GError **error)
{
    g_autofree char *address = NULL;
    g_autofree char *domain = NULL;
    g_autofree char *event_time = NULL;
    g_autofree char *last_attempt = NULL;
    const char *registrable = NULL;
    const char *time_source;
    BounceDbArgs a;

    if (r->address != NULL && r->address[0] != '\0') {
        const char *at;

        address = g_utf8_strdown (r->address, -1);
        at = strrchr (address, '@');
        if (at != NULL && at[1] != '\0') {
            gsize n;

            domain = g_strdup (at + 1);
            n = strlen (domain);
            if (n > 0 && domain[n - 1] == '.')
                domain[n - 1] = '\0';
            if (domain[0] != '[')
                registrable = psl_registrable_domain (store->psl, domain);
            if (registrable == NULL)
                registrable = domain;
        }
    }
    last_attempt = to_utc (r->last_attempt);
    event_time = event_time_for (report, r, received_at, &time_source);

    _bounce_db_args_init (&a);
    _bounce_db_args_int (&a, 1, id);
    _bounce_db_args_int (&a, 2, (gint64) position);
    _bounce_db_args_text (&a, 3, address);
    _bounce_db_args_text (&a, 4, domain);
    _bounce_db_args_text (&a, 5, registrable);
    _bounce_db_args_text (&a, 6, r->original_recipient);
    _bounce_db_args_text (&a, 7, r->action);
    _bounce_db_args_text (&a, 8, bounce_recipient_outcome (report, r));
    _bounce_db_args_text (&a, 9, r->status);
    _bounce_db_args_text (&a, 10,
                          bounce_status_source_to_string (r->status_source));
    if (r->smtp_code > 0)
        _bounce_db_args_int (&a, 11, r->smtp_code);
    _bounce_db_args_text (&a, 12, r->diagnostic_type);
    _bounce_db_args_text (&a, 13, r->diagnostic);
    _bounce_db_args_text (&a, 14, r->remote_mta);
    _bounce_db_args_text (&a, 15, last_attempt);
    _bounce_db_args_text (&a, 16, r->reason);
    if (r->hard >= 0)
        _bounce_db_args_int (&a, 17, r->hard > 0);
    _bounce_db_args_int (&a, 18, r->permanent ? 1 : 0);
    _bounce_db_args_text (&a, 19, r->rule);
    _bounce_db_args_text (&a, 20, r->feedback_type);
    _bounce_db_args_text (&a, 21, event_time);
    _bounce_db_args_text (&a, 22, time_source);
    _bounce_db_args_text (&a, 23, r->smtp_command);
    if (r->verified != BOUNCE_VERIFIED_UNCHECKED)
        _bounce_db_args_int (&a, 24, r->verified == BOUNCE_VERIFIED_YES);
    if (store->rule_set > 0)
        _bounce_db_args_int (&a, 25, store->rule_set);
    else
        _bounce_db_args_text (&a, 25, NULL);
    if (event_id > 0)
        _bounce_db_args_int (&a, 26, event_id);
    if (!run_args (store, s, _BOUNCE_SQL_INSERT_EVENT, &a,
                   "storing a recipient", error))
        return FALSE;
    if (out_changed != NULL)
        *out_changed = store->db != NULL && sqlite3_changes (store->db) > 0;
    return TRUE;
}

static gboolean
insert_event (BounceStore *store, sqlite3_int64 id, guint position,
              const BounceReport *report, const BounceRecipient *r,
              const char *received_at, GError **error)
{
    return write_event (store, store->insert_event, 0, id, position, report,
                        r, received_at, NULL, error);
}

/* Stores the event of recipient @r of message @id, or links it to the
 * event of the other origin that reported the same failure (schema.sql,
 * event_reports): a log line adds no event of its own then, and a
 * bounce takes the place of the log line's event. */
static gboolean
place_event (BounceStore *store, sqlite3_int64 id, guint position,
             const BounceReport *report, const BounceRecipient *r,
             const char *received_at, GError **error)
{
    sqlite3_stmt *s = store->find_same;
    const char *outcome = bounce_recipient_outcome (report, r);
    gboolean from_log = report->origin == BOUNCE_ORIGIN_LOG;
    g_autofree char *address = NULL;
    g_autofree char *time = NULL;
    const char *time_source;
    sqlite3_int64 same = 0, same_message = 0, same_position = 0;
    int rc;

    /* PostgreSQL: no log lines to match (import-log is SQLite only in
     * this version). */
    if (store->pg != NULL || r->address == NULL || r->address[0] == '\0' ||
        (report->queue_id == NULL && report->orig_message_id == NULL) ||
        (strcmp (outcome, "bounce") != 0 && strcmp (outcome, "delay") != 0))
        return insert_event (store, id, position, report, r, received_at,
                             error);
    address = g_utf8_strdown (r->address, -1);
    time = event_time_for (report, r, received_at, &time_source);
    bind_text (s, 1, bounce_origin_to_string (from_log ? BOUNCE_ORIGIN_MESSAGE
                                                       : BOUNCE_ORIGIN_LOG));
    bind_text (s, 2, address);
    bind_text (s, 3, outcome);
    bind_text (s, 4, report->queue_id);
    bind_text (s, 5, report->orig_message_id);
    bind_text (s, 6, time);
    rc = sqlite3_step (s);
    if (rc == SQLITE_ROW) {
        same = sqlite3_column_int64 (s, 0);
        same_message = sqlite3_column_int64 (s, 1);
        same_position = sqlite3_column_int64 (s, 2);
    }
    sqlite3_reset (s);
    sqlite3_clear_bindings (s);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return set_sqlite_error (error, store, rc, "finding the same failure");
    if (same == 0)
        return insert_event (store, id, position, report, r, received_at,
                             error);
    if (!from_log) {
        /* The bounce says more: its event replaces the log line's. */
        sqlite3_bind_int64 (store->delete_event, 1, same);
        if (!step_done (store, store->delete_event, "replacing an event",
                        error) ||
            !insert_event (store, id, position, report, r, received_at,
                           error))
            return FALSE;
        same = sqlite3_last_insert_rowid (store->db);
        id = same_message;
        position = (guint) same_position;
    }
    sqlite3_bind_int64 (store->insert_report, 1, id);
    sqlite3_bind_int64 (store->insert_report, 2, position);
    sqlite3_bind_int64 (store->insert_report, 3, same);
    return step_done (store, store->insert_report, "linking the same failure",
                      error);
}

/* Inside a transaction: stores the message unless its hash is known. */
static gboolean
add_locked (BounceStore *store, GBytes *raw, const BounceReport *report,
            gboolean *out_duplicate, GError **error)
{
    g_autofree char *hash = bounce_store_content_hash (raw);
    g_autoptr (GDateTime) now = g_date_time_new_now_utc ();
    g_autofree char *received_at = g_date_time_format (now, "%Y-%m-%dT%H:%M:%SZ");
    sqlite3_int64 id = 0;
    int rc;

    if (store->pg == NULL) {
        bind_text (store->find_hash, 1, hash);
        rc = sqlite3_step (store->find_hash);
        sqlite3_reset (store->find_hash);
        sqlite3_clear_bindings (store->find_hash);
        if (rc == SQLITE_ROW) {
            *out_duplicate = TRUE;
            return TRUE;
        }
        if (rc != SQLITE_DONE)
            return set_sqlite_error (error, store, rc,
                                     "looking the message up");
    }
    if (!insert_message (store, raw, report, hash, received_at, &id, error))
        return FALSE;
    if (id == 0) {
        *out_duplicate = TRUE;
        return TRUE;
    }
    if (!insert_headers (store, id, report, error))
        return FALSE;
    /* No events until it is classified: reports and the suppression list
     * count only classified bounces. */
    if (store->options.unclassified)
        return TRUE;
    for (guint i = 0; i < report->recipients->len; i++)
        if (!place_event (store, id, i, report, report->recipients->pdata[i],
                          received_at, error))
            return FALSE;
    return TRUE;
}

gboolean
bounce_store_add (BounceStore *store,
                  GBytes *raw,
                  const BounceReport *report,
                  gboolean *out_duplicate,
                  GError **error)
{
    gboolean duplicate = FALSE;
    gboolean own = FALSE;

    g_return_val_if_fail (store != NULL, FALSE);
    g_return_val_if_fail (raw != NULL, FALSE);
    g_return_val_if_fail (report != NULL, FALSE);

    if (!store->in_batch) {
        if (!bounce_store_begin (store, error))
            return FALSE;
        own = TRUE;
    }
    if (!add_locked (store, raw, report, &duplicate, error)) {
        /* The batch cannot go on half-written: roll it back whole. */
        bounce_store_rollback (store);
        return FALSE;
    }
    if (own && !bounce_store_commit (store, error))
        return FALSE;
    if (out_duplicate != NULL)
        *out_duplicate = duplicate;
    return TRUE;
}

/* ------------------------------------------------------------------ */
/* Reclassifying the history                                          */
/* ------------------------------------------------------------------ */

#define RECLASSIFY_BATCH 500

/* The classification of an event again: only the columns the parse and
 * the rules decide, and only when one differs (the change is then
 * counted).  The address stays when the parse finds none (a VERP
 * envelope recipient is not stored), and verified stays: it was checked
 * with the envelope of the delivery (or set by hand). */
#define UPDATE_EVENT_SQL                                                     \
    "UPDATE events SET position = ?2,"                                       \
    " address = coalesce (?3, address),"                                     \
    " domain = CASE WHEN ?3 IS NULL THEN domain ELSE ?4 END,"                \
    " registrable_domain = CASE WHEN ?3 IS NULL THEN registrable_domain"     \
    " ELSE ?5 END, original_recipient = ?6, action = ?7, outcome = ?8,"      \
    " status = ?9, status_source = ?10, smtp_code = ?11,"                    \
    " diagnostic_type = ?12, diagnostic = ?13, remote_mta = ?14,"            \
    " last_attempt = ?15, reason = ?16, hard = ?17, permanent = ?18,"        \
    " rule = ?19, feedback_type = ?20, event_time = ?21,"                    \
    " event_time_source = ?22, smtp_command = ?23, rule_set = ?25"           \
    " WHERE id = ?26 AND (position IS NOT ?2"                                \
    " OR (?3 IS NOT NULL AND address IS NOT ?3) OR action IS NOT ?7"         \
    " OR outcome IS NOT ?8 OR status IS NOT ?9 OR smtp_code IS NOT ?11"      \
    " OR diagnostic IS NOT ?13 OR reason IS NOT ?16 OR hard IS NOT ?17"      \
    " OR permanent IS NOT ?18 OR rule IS NOT ?19 OR event_time IS NOT ?21"   \
    " OR smtp_command IS NOT ?23)"

typedef struct {
    sqlite3_int64 id;
    char *reason;
} OldEvent;

static void
old_event_free (gpointer data)
{
    OldEvent *e = data;

    g_free (e->reason);
    g_free (e);
}

typedef struct {
    sqlite3_int64 id;
    char *source;
    char *received_at;
    gboolean classified;
    GBytes *raw;
} Pending;

static void
pending_free (gpointer data)
{
    Pending *p = data;

    g_free (p->source);
    g_free (p->received_at);
    g_clear_pointer (&p->raw, g_bytes_unref);
    g_free (p);
}

void
bounce_reclassify_summary_free (BounceReclassifySummary *summary)
{
    if (summary == NULL)
        return;
    g_clear_pointer (&summary->reasons, bounce_table_free);
    g_clear_pointer (&summary->suppression, bounce_table_free);
    g_free (summary);
}

static GBytes *
inflate (const void *data, gsize len, GError **error)
{
    g_autoptr (GZlibDecompressor) z =
        g_zlib_decompressor_new (G_ZLIB_COMPRESSOR_FORMAT_ZLIB);
    g_autoptr (GInputStream) mem =
        g_memory_input_stream_new_from_data (data, (gssize) len, NULL);
    g_autoptr (GInputStream) in =
        g_converter_input_stream_new (mem, G_CONVERTER (z));
    g_autoptr (GOutputStream) out = g_memory_output_stream_new_resizable ();

    if (g_output_stream_splice (out, in,
                                G_OUTPUT_STREAM_SPLICE_CLOSE_SOURCE |
                                    G_OUTPUT_STREAM_SPLICE_CLOSE_TARGET,
                                NULL, error) < 0)
        return NULL;
    return g_memory_output_stream_steal_as_bytes (
        G_MEMORY_OUTPUT_STREAM (out));
}

/* address -> "hard" or "soft" (static strings) for every address the
 * state suppresses with the settings' thresholds. */
static GHashTable *
suppressed_now (BounceStore *store, int *out_rc)
{
    GHashTable *map = g_hash_table_new_full (g_str_hash, g_str_equal,
                                             g_free, NULL);
    sqlite3_stmt *stmt = NULL;
    gint64 n = 3, days = 7;
    int rc;

    rc = sqlite3_prepare_v2 (store->db,
                             "SELECT (SELECT value FROM settings WHERE name ="
                             " 'suppress_soft_count'), (SELECT value FROM"
                             " settings WHERE name = 'suppress_soft_days')",
                             -1, &stmt, NULL);
    if (rc == SQLITE_OK && (rc = sqlite3_step (stmt)) == SQLITE_ROW) {
        if (sqlite3_column_type (stmt, 0) != SQLITE_NULL)
            n = sqlite3_column_int64 (stmt, 0);
        if (sqlite3_column_type (stmt, 1) != SQLITE_NULL)
            days = sqlite3_column_int64 (stmt, 1);
        rc = SQLITE_OK;
    }
    sqlite3_finalize (stmt);
    stmt = NULL;
    if (rc == SQLITE_OK) {
        g_autofree char *sql = g_strdup_printf (
            "SELECT s.address, %s FROM suppression_state s,"
            " (SELECT ?1 AS soft_count, ?2 AS soft_days) t"
            " WHERE s.bounces > 0", _bounce_suppression_policy ());

        rc = sqlite3_prepare_v2 (store->db, sql, -1, &stmt, NULL);
    }
    if (rc == SQLITE_OK) {
        sqlite3_bind_int64 (stmt, 1, n);
        sqlite3_bind_int64 (stmt, 2, days);
    }
    while (rc == SQLITE_OK && (rc = sqlite3_step (stmt)) == SQLITE_ROW) {
        const char *why = _bounce_suppression_why (
            (const char *) sqlite3_column_text (stmt, 1));

        if (why != NULL)
            g_hash_table_insert (
                map, g_strdup ((const char *) sqlite3_column_text (stmt, 0)),
                (gpointer) why);
        rc = SQLITE_OK;
    }
    sqlite3_finalize (stmt);
    *out_rc = rc == SQLITE_DONE ? SQLITE_OK : rc;
    if (*out_rc != SQLITE_OK)
        g_clear_pointer (&map, g_hash_table_unref);
    return map;
}

static void
count_change (GHashTable *changes, const char *old_reason,
              const char *new_reason)
{
    g_autofree char *key = g_strdup_printf ("%s\x1f%s",
                                            old_reason != NULL ? old_reason
                                                               : "",
                                            new_reason != NULL ? new_reason
                                                               : "");
    gpointer n = g_hash_table_lookup (changes, key);

    g_hash_table_replace (changes, g_steal_pointer (&key),
                          GSIZE_TO_POINTER (GPOINTER_TO_SIZE (n) + 1));
}

/* Inside a transaction: the events of message @p from @report. */
static gboolean
reclassify_message (BounceStore *store, const Pending *p,
                    const BounceReport *report, sqlite3_stmt *select_old,
                    sqlite3_stmt *update, sqlite3_stmt *update_set,
                    sqlite3_stmt *delete_event, sqlite3_stmt *update_message,
                    GHashTable *changes, BounceReclassifySummary *summary,
                    GError **error)
{
    g_autoptr (GPtrArray) old = g_ptr_array_new_with_free_func (old_event_free);
    guint n_new = report->recipients->len;
    int rc;

    sqlite3_bind_int64 (select_old, 1, p->id);
    while ((rc = sqlite3_step (select_old)) == SQLITE_ROW) {
        OldEvent *e = g_new0 (OldEvent, 1);

        e->id = sqlite3_column_int64 (select_old, 0);
        e->reason = g_strdup ((const char *) sqlite3_column_text (select_old,
                                                                  1));
        g_ptr_array_add (old, e);
    }
    sqlite3_reset (select_old);
    if (rc != SQLITE_DONE)
        return set_sqlite_error (error, store, rc, "reading the events");

    for (guint i = 0; i < n_new; i++) {
        const BounceRecipient *r = report->recipients->pdata[i];
        gboolean changed = TRUE;

        if (i < old->len) {
            OldEvent *e = old->pdata[i];

            if (!write_event (store, update, e->id, p->id, i, report, r,
                              p->received_at, &changed, error))
                return FALSE;
            if (store->rule_set > 0) {
                sqlite3_bind_int64 (update_set, 1, store->rule_set);
                sqlite3_bind_int64 (update_set, 2, e->id);
                if (!step_done (store, update_set, "storing a recipient",
                                error))
                    return FALSE;
            }
            if (changed)
                count_change (changes, e->reason, r->reason);
        } else {
            /* A message stored unclassified may have had its log line
             * stored since: one event, not two. */
            if (!place_event (store, p->id, i, report, r, p->received_at,
                              error))
                return FALSE;
            count_change (changes, NULL, r->reason);
        }
        if (changed)
            summary->changed++;
    }
    for (guint i = n_new; i < old->len; i++) {
        OldEvent *e = old->pdata[i];

        sqlite3_bind_int64 (delete_event, 1, e->id);
        if (!step_done (store, delete_event, "removing a recipient", error))
            return FALSE;
        count_change (changes, e->reason, NULL);
        summary->changed++;
    }
    summary->events += n_new;
    if (!p->classified)
        summary->unclassified++;
    sqlite3_bind_int64 (update_message, 1, p->id);
    bind_text (update_message, 2, bounce_kind_to_string (report->kind));
    bind_text (update_message, 3, report->mta);
    bind_text (update_message, 4, report->reporting_mta);
    return step_done (store, update_message, "updating the message", error);
}

static int
change_by_count (gconstpointer a, gconstpointer b)
{
    GPtrArray *x = *(GPtrArray *const *) a;
    GPtrArray *y = *(GPtrArray *const *) b;
    gint64 nx = g_ascii_strtoll (x->pdata[2], NULL, 10);
    gint64 ny = g_ascii_strtoll (y->pdata[2], NULL, 10);

    if (nx != ny)
        return nx > ny ? -1 : 1;
    return g_strcmp0 (x->pdata[0], y->pdata[0]) != 0
               ? g_strcmp0 (x->pdata[0], y->pdata[0])
               : g_strcmp0 (x->pdata[1], y->pdata[1]);
}

static int
row_by_first (gconstpointer a, gconstpointer b)
{
    GPtrArray *x = *(GPtrArray *const *) a;
    GPtrArray *y = *(GPtrArray *const *) b;

    return g_strcmp0 (x->pdata[0], y->pdata[0]);
}

static void
fill_summary (BounceReclassifySummary *summary, GHashTable *changes,
              GHashTable *before, GHashTable *after)
{
    GHashTableIter iter;
    gpointer key, value;

    summary->reasons =
        _bounce_table_new_from_spec ("old_reason,new_reason,events:i");
    g_hash_table_iter_init (&iter, changes);
    while (g_hash_table_iter_next (&iter, &key, &value)) {
        const char *sep = strchr (key, '\x1f');
        g_autofree char *old_reason = g_strndup (key, (gsize) (sep - (char *) key));

        _bounce_table_take_row (
            summary->reasons,
            old_reason[0] != '\0' ? g_steal_pointer (&old_reason) : NULL,
            sep[1] != '\0' ? g_strdup (sep + 1) : NULL,
            g_strdup_printf ("%" G_GSIZE_FORMAT, GPOINTER_TO_SIZE (value)));
    }
    g_ptr_array_sort (summary->reasons->rows, change_by_count);

    summary->suppression =
        _bounce_table_new_from_spec ("address,before,after");
    g_hash_table_iter_init (&iter, before);
    while (g_hash_table_iter_next (&iter, &key, &value)) {
        const char *now = g_hash_table_lookup (after, key);

        if (g_strcmp0 (now, value) != 0)
            _bounce_table_take_row (summary->suppression, g_strdup (key),
                                    g_strdup (value), g_strdup (now));
    }
    g_hash_table_iter_init (&iter, after);
    while (g_hash_table_iter_next (&iter, &key, &value))
        if (!g_hash_table_contains (before, key))
            _bounce_table_take_row (summary->suppression, g_strdup (key),
                                    NULL, g_strdup (value));
    g_ptr_array_sort (summary->suppression->rows, row_by_first);
}

void
bounce_reclassify_options_init (BounceReclassifyOptions *options)
{
    g_return_if_fail (options != NULL);
    memset (options, 0, sizeof *options);
}

BounceReclassifySummary *
bounce_store_reclassify (BounceStore *store,
                         BounceParser *parser,
                         const BounceRules *rules,
                         const BounceReclassifyOptions *options,
                         GError **error)
{
    BounceReclassifyOptions defaults;
    const BounceReclassifyOptions *o = options;
    g_autoptr (BounceReclassifySummary) summary =
        g_new0 (BounceReclassifySummary, 1);
    g_autoptr (GHashTable) changes =
        g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
    g_autoptr (GHashTable) before = NULL;
    g_autoptr (GHashTable) after = NULL;
    sqlite3_stmt *select_batch = NULL, *select_old = NULL, *update = NULL;
    sqlite3_stmt *update_set = NULL, *delete_event = NULL;
    sqlite3_stmt *update_message = NULL, *count = NULL;
    sqlite3_int64 last_id = 0;
    sqlite3_int64 rule_set = store->rule_set;
    guint64 total = 0, done = 0;
    guint batch;
    gboolean ok = FALSE;
    int rc;

    g_return_val_if_fail (store != NULL, NULL);
    g_return_val_if_fail (parser != NULL, NULL);
    g_return_val_if_fail (!store->in_batch, NULL);
    if (store->pg != NULL) {
        g_set_error (error, BOUNCE_ERROR, BOUNCE_ERROR_STORE,
                     "%s: reclassify works on SQLite only in this version",
                     _bounce_pg_name (store->pg));
        return NULL;
    }
    if (o == NULL) {
        bounce_reclassify_options_init (&defaults);
        o = &defaults;
    }
    batch = o->batch_size > 0 ? o->batch_size : RECLASSIFY_BATCH;

#define PREP(stmt, sql)                                                      \
    (rc = sqlite3_prepare_v2 (store->db, (sql), -1, &(stmt), NULL)) ==       \
        SQLITE_OK
    /* A message whose raw bytes were cut at the cap is not parsed again:
     * its cut copy may say less than the message did (a recipient past
     * the cut).  One stored unclassified is kept whole. */
/* Lines of an MTA's log (origin 'log') are not messages: the parser
 * cannot read them again, and they keep their events as stored. */
#define RECLASSIFIABLE " AND (m.raw_truncated = 0 OR m.classified = 0)"      \
                       " AND m.origin = 'message'"
    if (!(PREP (count, "SELECT count (*), sum (m.raw_truncated = 1"
                       " AND m.classified = 1) FROM messages m"
                       " JOIN raw_messages r ON r.message_id = m.id"
                       " WHERE (?1 IS NULL OR m.received_at >= ?1)"
                       " AND m.origin = 'message'") &&
          PREP (select_batch,
                "SELECT m.id, m.source, m.received_at, m.classified, r.raw"
                " FROM messages m JOIN raw_messages r ON r.message_id = m.id"
                " WHERE m.id > ?1 AND (?2 IS NULL OR m.received_at >= ?2)"
                RECLASSIFIABLE " ORDER BY m.id LIMIT ?3") &&
          PREP (select_old, "SELECT id, reason FROM events"
                            " WHERE message_id = ?1 ORDER BY position, id") &&
          PREP (update, UPDATE_EVENT_SQL) &&
          PREP (update_set, "UPDATE events SET rule_set = ?1"
                            " WHERE id = ?2 AND rule_set IS NOT ?1") &&
          PREP (delete_event, "DELETE FROM events WHERE id = ?1") &&
          PREP (update_message, "UPDATE messages SET kind = ?2, mta = ?3,"
                                " reporting_mta = ?4, classified = 1"
                                " WHERE id = ?1"))) {
        set_sqlite_error (error, store, rc, "preparing a statement");
        goto out;
    }
#undef PREP
#undef RECLASSIFIABLE
    bind_text (count, 1, o->since);
    if ((rc = sqlite3_step (count)) != SQLITE_ROW) {
        set_sqlite_error (error, store, rc, "counting the messages");
        goto out;
    }
    summary->cut = (guint64) sqlite3_column_int64 (count, 1);
    total = (guint64) sqlite3_column_int64 (count, 0) - summary->cut;

    if (!bounce_store_begin (store, error))
        goto out;
    /* The list before, from a state that is up to date. */
    if (!heal_suppression (store, error))
        goto fail;
    before = suppressed_now (store, &rc);
    if (before == NULL) {
        set_sqlite_error (error, store, rc, "reading the suppression state");
        goto fail;
    }
    if (rules != NULL && !set_rules_locked (store, rules, error))
        goto fail;
    if (o->progress != NULL)
        o->progress (0, total, o->progress_data);
    for (;;) {
        g_autoptr (GPtrArray) pending =
            g_ptr_array_new_with_free_func (pending_free);

        sqlite3_bind_int64 (select_batch, 1, last_id);
        bind_text (select_batch, 2, o->since);
        sqlite3_bind_int (select_batch, 3, (int) batch);
        while ((rc = sqlite3_step (select_batch)) == SQLITE_ROW) {
            Pending *p = g_new0 (Pending, 1);
            g_autoptr (GError) local = NULL;

            p->id = sqlite3_column_int64 (select_batch, 0);
            p->source = g_strdup (
                (const char *) sqlite3_column_text (select_batch, 1));
            p->received_at = g_strdup (
                (const char *) sqlite3_column_text (select_batch, 2));
            p->classified = sqlite3_column_int (select_batch, 3);
            p->raw = inflate (sqlite3_column_blob (select_batch, 4),
                              (gsize) sqlite3_column_bytes (select_batch, 4),
                              &local);
            last_id = p->id;
            if (p->raw == NULL) {
                g_set_error (error, BOUNCE_ERROR, BOUNCE_ERROR_STORE,
                             "database %s: message %" G_GINT64_FORMAT
                             ": cannot read its raw bytes: %s",
                             store->path, (gint64) p->id, local->message);
                pending_free (p);
                sqlite3_reset (select_batch);
                goto fail;
            }
            g_ptr_array_add (pending, p);
        }
        sqlite3_reset (select_batch);
        if (rc != SQLITE_DONE) {
            set_sqlite_error (error, store, rc, "reading the messages");
            goto fail;
        }
        if (pending->len == 0)
            break;
        for (guint i = 0; i < pending->len; i++) {
            const Pending *p = pending->pdata[i];
            g_autoptr (BounceReport) report =
                bounce_parser_parse (parser, p->raw, p->source);

            if (!reclassify_message (store, p, report, select_old, update,
                                     update_set, delete_event,
                                     update_message, changes, summary,
                                     error))
                goto fail;
            summary->messages++;
        }
        done += pending->len;
        /* Each batch its own transaction, unless nothing is written. */
        if (!o->dry_run) {
            if (!bounce_store_commit (store, error) ||
                !bounce_store_begin (store, error))
                goto out;
        }
        if (o->progress != NULL)
            o->progress (done, total, o->progress_data);
    }
    if (!heal_suppression (store, error))
        goto fail;
    after = suppressed_now (store, &rc);
    if (after == NULL) {
        set_sqlite_error (error, store, rc, "reading the suppression state");
        goto fail;
    }
    if (o->dry_run) {
        bounce_store_rollback (store);
        store->rule_set = rule_set;
    } else if (!bounce_store_commit (store, error))
        goto out;
    fill_summary (summary, changes, before, after);
    ok = TRUE;
    goto out;

fail:
    bounce_store_rollback (store);
    store->rule_set = rule_set;
out:
    sqlite3_finalize (count);
    sqlite3_finalize (select_batch);
    sqlite3_finalize (select_old);
    sqlite3_finalize (update);
    sqlite3_finalize (update_set);
    sqlite3_finalize (delete_event);
    sqlite3_finalize (update_message);
    return ok ? g_steal_pointer (&summary) : NULL;
}

void
_bounce_store_set_heal_full (BounceStore *store, gint64 threshold)
{
    store->heal_full = threshold;
}
