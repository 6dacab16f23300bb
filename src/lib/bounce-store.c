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

#include "bounce-private.h"

#define SCHEMA_RESOURCE "/org/bouncestat/schema.sql"
#define VERSION_MARK "-- @version "
/* zlib level for the raw messages: fast, and text compresses well. */
#define RAW_COMPRESSION_LEVEL 1

struct _BounceStore {
    sqlite3 *db;
    char *path;
    BounceStoreOptions options;
    int version;
    gboolean in_batch;
    sqlite3_stmt *find_hash;
    sqlite3_stmt *insert_message;
    sqlite3_stmt *insert_header;
    sqlite3_stmt *insert_event;
    GZlibCompressor *compressor;
    const psl_ctx_t *psl;
};

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

GPtrArray *
_bounce_store_schema_sections (void)
{
    g_autoptr (GBytes) bytes = g_resource_lookup_data (
        _bounce_get_resource (), SCHEMA_RESOURCE,
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
    g_assert (sections->len == BOUNCE_STORE_SCHEMA_VERSION + 1);
    return g_steal_pointer (&sections);
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

static gboolean
prepare_all (BounceStore *store, GError **error)
{
    return prepare (store, &store->find_hash,
                    "SELECT 1 FROM messages WHERE content_hash = ?1", error) &&
           prepare (store, &store->insert_message,
                    "INSERT INTO messages (content_hash, received_at, source,"
                    " kind, mta, reporting_mta, arrival_date, subject,"
                    " bounce_from, bounce_date, orig_message_id, orig_from,"
                    " orig_to, orig_subject, orig_date, verp_address,"
                    " warnings, recipients_dropped, raw, raw_size,"
                    " raw_truncated, classified) VALUES (?1, ?2, ?3, ?4, ?5,"
                    " ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17,"
                    " ?18, ?19, ?20, ?21, ?22)",
                    error) &&
           prepare (store, &store->insert_header,
                    "INSERT OR REPLACE INTO message_headers (message_id, name,"
                    " value) VALUES (?1, ?2, ?3)",
                    error) &&
           prepare (store, &store->insert_event,
                    "INSERT INTO events (message_id, position, address,"
                    " domain, registrable_domain, original_recipient, action,"
                    " outcome, status, status_source, smtp_code,"
                    " diagnostic_type, diagnostic, remote_mta, last_attempt,"
                    " reason, hard, permanent, rule, feedback_type,"
                    " event_time, event_time_source, smtp_command,"
                    " verified) VALUES"
                    " (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13,"
                    " ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24)",
                    error);
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
    if (options != NULL)
        store->options = *options;
    else
        bounce_store_options_init (&store->options);
    if (store->options.busy_timeout_ms == 0)
        store->options.busy_timeout_ms = BOUNCE_STORE_DEFAULT_BUSY_TIMEOUT_MS;

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
        !migrate (store, error) || !prepare_all (store, error))
        return NULL;
    store->compressor = g_zlib_compressor_new (G_ZLIB_COMPRESSOR_FORMAT_ZLIB,
                                               RAW_COMPRESSION_LEVEL);
    store->psl = psl_builtin ();
    return g_steal_pointer (&store);
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
    if (store->db != NULL)
        sqlite3_close_v2 (store->db);
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

struct sqlite3 *
bounce_store_get_db (BounceStore *store)
{
    g_return_val_if_fail (store != NULL, NULL);
    return store->db;
}

/* ------------------------------------------------------------------ */
/* Batches                                                            */
/* ------------------------------------------------------------------ */

gboolean
bounce_store_begin (BounceStore *store, GError **error)
{
    g_return_val_if_fail (store != NULL, FALSE);
    g_return_val_if_fail (!store->in_batch, FALSE);
    if (!exec (store, "BEGIN IMMEDIATE", "starting a transaction", error))
        return FALSE;
    store->in_batch = TRUE;
    return TRUE;
}

gboolean
bounce_store_commit (BounceStore *store, GError **error)
{
    g_return_val_if_fail (store != NULL, FALSE);
    g_return_val_if_fail (store->in_batch, FALSE);
    if (!exec (store, "COMMIT", "committing", error)) {
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
    if (!sqlite3_get_autocommit (store->db))
        sqlite3_exec (store->db, "ROLLBACK", NULL, NULL, NULL);
    store->in_batch = FALSE;
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

static void
bind_text (sqlite3_stmt *stmt, int idx, const char *text)
{
    if (text != NULL)
        sqlite3_bind_text (stmt, idx, text, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null (stmt, idx);
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

static gboolean
insert_message (BounceStore *store, GBytes *raw, const BounceReport *report,
                const char *hash, const char *received_at,
                sqlite3_int64 *out_id, GError **error)
{
    sqlite3_stmt *s = store->insert_message;
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

    bind_text (s, 1, hash);
    bind_text (s, 2, received_at);
    bind_text (s, 3, report->source);
    bind_text (s, 4, bounce_kind_to_string (report->kind));
    bind_text (s, 5, report->mta);
    bind_text (s, 6, report->reporting_mta);
    bind_text (s, 7, arrival_date);
    bind_text (s, 8, report->subject);
    bind_text (s, 9, report->from);
    bind_text (s, 10, bounce_date);
    bind_text (s, 11, report->orig_message_id);
    bind_text (s, 12, report->orig_from);
    bind_text (s, 13, report->orig_to);
    bind_text (s, 14, report->orig_subject);
    bind_text (s, 15, orig_date);
    bind_text (s, 16, report->verp_address);
    bind_text (s, 17, warnings);
    sqlite3_bind_int64 (s, 18, report->recipients_dropped);
    sqlite3_bind_blob64 (s, 19, g_bytes_get_data (packed, NULL),
                         g_bytes_get_size (packed), SQLITE_STATIC);
    sqlite3_bind_int64 (s, 20, (sqlite3_int64) size);
    sqlite3_bind_int (s, 21, truncated);
    sqlite3_bind_int (s, 22, !store->options.unclassified);
    if (!step_done (store, s, "storing the message", error))
        return FALSE;
    *out_id = sqlite3_last_insert_rowid (store->db);
    return TRUE;
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

        if (value == NULL)
            continue;
        sqlite3_bind_int64 (store->insert_header, 1, id);
        bind_text (store->insert_header, 2, name);
        bind_text (store->insert_header, 3, value);
        if (!step_done (store, store->insert_header, "storing a header",
                        error))
            return FALSE;
    }
    return TRUE;
}

static gboolean
insert_event (BounceStore *store, sqlite3_int64 id, guint position,
              const BounceReport *report, const BounceRecipient *r,
              const char *received_at, GError **error)
{
    sqlite3_stmt *s = store->insert_event;
    g_autofree char *address = NULL;
    g_autofree char *domain = NULL;
    g_autofree char *event_time = NULL;
    g_autofree char *last_attempt = NULL;
    const char *registrable = NULL;
    const char *time_source;

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
    if (last_attempt != NULL) {
        event_time = g_strdup (last_attempt);
        time_source = "last_attempt";
    } else if ((event_time = to_utc (report->arrival_date)) != NULL)
        time_source = "arrival_date";
    else if ((event_time = to_utc (report->date)) != NULL)
        time_source = "bounce_date";
    else {
        event_time = g_strdup (received_at);
        time_source = "received_at";
    }

    sqlite3_bind_int64 (s, 1, id);
    sqlite3_bind_int (s, 2, (int) position);
    bind_text (s, 3, address);
    bind_text (s, 4, domain);
    bind_text (s, 5, registrable);
    bind_text (s, 6, r->original_recipient);
    bind_text (s, 7, r->action);
    bind_text (s, 8, bounce_recipient_outcome (report, r));
    bind_text (s, 9, r->status);
    bind_text (s, 10, bounce_status_source_to_string (r->status_source));
    if (r->smtp_code > 0)
        sqlite3_bind_int (s, 11, r->smtp_code);
    bind_text (s, 12, r->diagnostic_type);
    bind_text (s, 13, r->diagnostic);
    bind_text (s, 14, r->remote_mta);
    bind_text (s, 15, last_attempt);
    bind_text (s, 16, r->reason);
    if (r->hard >= 0)
        sqlite3_bind_int (s, 17, r->hard > 0);
    sqlite3_bind_int (s, 18, r->permanent ? 1 : 0);
    bind_text (s, 19, r->rule);
    bind_text (s, 20, r->feedback_type);
    bind_text (s, 21, event_time);
    bind_text (s, 22, time_source);
    bind_text (s, 23, r->smtp_command);
    if (r->verified != BOUNCE_VERIFIED_UNCHECKED)
        sqlite3_bind_int (s, 24, r->verified == BOUNCE_VERIFIED_YES);
    return step_done (store, s, "storing a recipient", error);
}

/* Inside a transaction: stores the message unless its hash is known. */
static gboolean
add_locked (BounceStore *store, GBytes *raw, const BounceReport *report,
            gboolean *out_duplicate, GError **error)
{
    g_autofree char *hash = bounce_store_content_hash (raw);
    g_autoptr (GDateTime) now = g_date_time_new_now_utc ();
    g_autofree char *received_at = g_date_time_format (now, "%Y-%m-%dT%H:%M:%SZ");
    sqlite3_int64 id;
    int rc;

    bind_text (store->find_hash, 1, hash);
    rc = sqlite3_step (store->find_hash);
    sqlite3_reset (store->find_hash);
    sqlite3_clear_bindings (store->find_hash);
    if (rc == SQLITE_ROW) {
        *out_duplicate = TRUE;
        return TRUE;
    }
    if (rc != SQLITE_DONE)
        return set_sqlite_error (error, store, rc, "looking the message up");

    if (!insert_message (store, raw, report, hash, received_at, &id, error) ||
        !insert_headers (store, id, report, error))
        return FALSE;
    /* No events until it is classified: reports and the suppression list
     * count only classified bounces. */
    if (store->options.unclassified)
        return TRUE;
    for (guint i = 0; i < report->recipients->len; i++)
        if (!insert_event (store, id, i, report, report->recipients->pdata[i],
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
