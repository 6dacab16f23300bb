/*
 * bounce-fetch.c - the store's memory of what `bouncestat fetch` took
 * from remote mailboxes (schema.sql, version 9: fetch_imap, fetch_pop3).
 *
 * The CLI talks to the servers (libcurl); the library only keeps, in the
 * database, where each mailbox was left, in the transaction of the
 * message stored, so that the memory is never ahead of the messages.
 */
#include <sqlite3.h>

#include "bounce-private.h"

#define NOW_FORMAT "%Y-%m-%dT%H:%M:%SZ"

/* Prepares @sql with the texts @a and @b bound to ?1 and ?2. */
static sqlite3_stmt *
prepare2 (BounceStore *store, const char *sql, const char *a, const char *b,
          const char *what, GError **error)
{
    sqlite3_stmt *stmt = NULL;
    int rc;

    if (bounce_store_get_db (store) == NULL) {
        /* A PostgreSQL store (schema-pg.sql has no fetch tables yet). */
        g_set_error (error, BOUNCE_ERROR, BOUNCE_ERROR_STORE,
                     "%s: fetch keeps its state in SQLite databases only in "
                     "this version", what);
        return NULL;
    }
    rc = sqlite3_prepare_v2 (bounce_store_get_db (store), sql, -1, &stmt,
                             NULL);
    if (rc != SQLITE_OK) {
        sqlite3_finalize (stmt);
        _bounce_store_set_error (store, rc, what, error);
        return NULL;
    }
    sqlite3_bind_text (stmt, 1, a, -1, SQLITE_TRANSIENT);
    if (b != NULL)
        sqlite3_bind_text (stmt, 2, b, -1, SQLITE_TRANSIENT);
    return stmt;
}

/* Steps @stmt to its end and finalizes it. */
static gboolean
run (BounceStore *store, sqlite3_stmt *stmt, const char *what, GError **error)
{
    int rc = sqlite3_step (stmt);

    sqlite3_finalize (stmt);
    if (rc != SQLITE_DONE)
        return _bounce_store_set_error (store, rc, what, error);
    return TRUE;
}

static char *
now_text (void)
{
    g_autoptr (GDateTime) now = g_date_time_new_now_utc ();

    return g_date_time_format (now, NOW_FORMAT);
}

gboolean
bounce_store_get_imap_state (BounceStore *store,
                             const char *account,
                             const char *mailbox,
                             guint32 *out_uidvalidity,
                             guint32 *out_last_uid,
                             GError **error)
{
    const char *what = "reading the fetch state";
    sqlite3_stmt *stmt;
    int rc;

    g_return_val_if_fail (store != NULL && account != NULL && mailbox != NULL,
                          FALSE);
    *out_uidvalidity = *out_last_uid = 0;
    stmt = prepare2 (store,
                     "SELECT uidvalidity, last_uid FROM fetch_imap"
                     " WHERE account = ?1 AND mailbox = ?2",
                     account, mailbox, what, error);
    if (stmt == NULL)
        return FALSE;
    rc = sqlite3_step (stmt);
    if (rc == SQLITE_ROW) {
        *out_uidvalidity = (guint32) sqlite3_column_int64 (stmt, 0);
        *out_last_uid = (guint32) sqlite3_column_int64 (stmt, 1);
        rc = SQLITE_DONE;
    }
    sqlite3_finalize (stmt);
    if (rc != SQLITE_DONE)
        return _bounce_store_set_error (store, rc, what, error);
    return TRUE;
}

gboolean
bounce_store_set_imap_state (BounceStore *store,
                             const char *account,
                             const char *mailbox,
                             guint32 uidvalidity,
                             guint32 last_uid,
                             GError **error)
{
    const char *what = "writing the fetch state";
    g_autofree char *now = now_text ();
    sqlite3_stmt *stmt;

    g_return_val_if_fail (store != NULL && account != NULL && mailbox != NULL,
                          FALSE);
    g_return_val_if_fail (uidvalidity > 0, FALSE);
    stmt = prepare2 (store,
                     "INSERT INTO fetch_imap"
                     " (account, mailbox, uidvalidity, last_uid, updated)"
                     " VALUES (?1, ?2, ?3, ?4, ?5)"
                     " ON CONFLICT (account, mailbox) DO UPDATE SET"
                     " uidvalidity = excluded.uidvalidity,"
                     " last_uid = excluded.last_uid, updated = excluded.updated",
                     account, mailbox, what, error);
    if (stmt == NULL)
        return FALSE;
    sqlite3_bind_int64 (stmt, 3, uidvalidity);
    sqlite3_bind_int64 (stmt, 4, last_uid);
    sqlite3_bind_text (stmt, 5, now, -1, SQLITE_TRANSIENT);
    return run (store, stmt, what, error);
}

GHashTable *
bounce_store_get_pop3_uidls (BounceStore *store,
                             const char *account,
                             GError **error)
{
    const char *what = "reading the fetch state";
    g_autoptr (GHashTable) set = g_hash_table_new_full (g_str_hash,
                                                        g_str_equal, g_free,
                                                        NULL);
    sqlite3_stmt *stmt;
    int rc;

    g_return_val_if_fail (store != NULL && account != NULL, NULL);
    stmt = prepare2 (store, "SELECT uidl FROM fetch_pop3 WHERE account = ?1",
                     account, NULL, what, error);
    if (stmt == NULL)
        return NULL;
    while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
        g_hash_table_add (set,
                          g_strdup ((const char *) sqlite3_column_text (stmt, 0)));
    sqlite3_finalize (stmt);
    if (rc != SQLITE_DONE) {
        _bounce_store_set_error (store, rc, what, error);
        return NULL;
    }
    return g_steal_pointer (&set);
}

gboolean
bounce_store_set_pop3_uidl (BounceStore *store,
                            const char *account,
                            const char *uidl,
                            gboolean stored,
                            GError **error)
{
    const char *what = "writing the fetch state";
    g_autofree char *now = now_text ();
    sqlite3_stmt *stmt;

    g_return_val_if_fail (store != NULL && account != NULL && uidl != NULL,
                          FALSE);
    stmt = prepare2 (store,
                     stored ? "INSERT OR IGNORE INTO fetch_pop3"
                              " (account, uidl, fetched) VALUES (?1, ?2, ?3)"
                            : "DELETE FROM fetch_pop3"
                              " WHERE account = ?1 AND uidl = ?2",
                     account, uidl, what, error);
    if (stmt == NULL)
        return FALSE;
    if (stored)
        sqlite3_bind_text (stmt, 3, now, -1, SQLITE_TRANSIENT);
    return run (store, stmt, what, error);
}
