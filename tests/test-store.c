/*
 * test-store.c - the SQLite store: creation (mode, directory, version),
 * deduplication, the raw message and its cap, schema migrations and the
 * refusal of a newer schema, a lock held past the timeout, the views'
 * suppression policy, and times: every time column in UTC that SQLite's
 * date functions read, for bounces from any zone and after migrating
 * times stored the old way.
 *
 * Reports are built by hand where the classification matters (the rules
 * are not under test here); real DSN text where parsing is part of it.
 */
#include <string.h>
#include <sys/stat.h>

#include <gio/gio.h>
#include <glib/gstdio.h>
#include <sqlite3.h>

#include "bounce-private.h"

typedef struct {
    char *dir;
    char *path;
} Fixture;

static void
fixture_set_up (Fixture *f, gconstpointer data)
{
    GError *error = NULL;

    f->dir = g_dir_make_tmp ("test-store-XXXXXX", &error);
    g_assert_no_error (error);
    f->path = g_build_filename (f->dir, "sub", "dir", "bounces.db", NULL);
}

static void
remove_tree (const char *path)
{
    g_autoptr (GDir) d = g_dir_open (path, 0, NULL);
    const char *name;

    if (d != NULL) {
        while ((name = g_dir_read_name (d)) != NULL) {
            g_autofree char *child = g_build_filename (path, name, NULL);
            remove_tree (child);
        }
    }
    g_remove (path);
}

static void
fixture_tear_down (Fixture *f, gconstpointer data)
{
    remove_tree (f->dir);
    g_free (f->dir);
    g_free (f->path);
}

/* A real RFC 3464 DSN for @rcpt, made unique by @id. */
static GBytes *
make_dsn (const char *rcpt, const char *id, const char *extra)
{
    char *text = g_strdup_printf (
        "From: Mail Delivery System <MAILER-DAEMON@mx.example.net>\r\n"
        "To: sender@example.org\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        "Date: Tue, 03 Nov 2026 10:00:00 +0100\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: multipart/report; report-type=delivery-status;\r\n"
        "  boundary=\"BOUNDARY\"\r\n"
        "\r\n"
        "--BOUNDARY\r\n"
        "Content-Type: text/plain\r\n"
        "\r\n"
        "I could not deliver your message.\r\n"
        "\r\n"
        "--BOUNDARY\r\n"
        "Content-Type: message/delivery-status\r\n"
        "\r\n"
        "Reporting-MTA: dns; mx.example.net\r\n"
        "Arrival-Date: Tue, 03 Nov 2026 09:59:00 +0100\r\n"
        "\r\n"
        "Final-Recipient: rfc822; %s\r\n"
        "Action: failed\r\n"
        "Status: 5.1.1\r\n"
        "Remote-MTA: dns; mail.mx.example.co.uk\r\n"
        "Diagnostic-Code: smtp; 550 5.1.1 no such user\r\n"
        "\r\n"
        "--BOUNDARY\r\n"
        "Content-Type: text/rfc822-headers\r\n"
        "\r\n"
        "Message-ID: <%s@example.org>\r\n"
        "From: sender@example.org\r\n"
        "To: %s\r\n"
        "Subject: hello\r\n"
        "X-Campaign-Id: spring-%s\r\n"
        "%s"
        "\r\n"
        "--BOUNDARY--\r\n",
        rcpt, id, rcpt, id, extra != NULL ? extra : "");
    return g_bytes_new_take (text, strlen (text));
}

static BounceReport *
parse (GBytes *raw)
{
    g_autoptr (BounceParser) parser = bounce_parser_new ();
    const char *headers[] = { "X-Campaign-Id", NULL };

    bounce_parser_set_extra_headers (parser, headers);
    return bounce_parser_parse (parser, raw, "test");
}

static gint64
query_int (BounceStore *store, const char *sql)
{
    sqlite3_stmt *stmt = NULL;
    gint64 v;

    g_assert_cmpint (sqlite3_prepare_v2 (bounce_store_get_db (store), sql, -1,
                                         &stmt, NULL), ==, SQLITE_OK);
    g_assert_cmpint (sqlite3_step (stmt), ==, SQLITE_ROW);
    v = sqlite3_column_int64 (stmt, 0);
    sqlite3_finalize (stmt);
    return v;
}

static char *
query_text (BounceStore *store, const char *sql)
{
    sqlite3_stmt *stmt = NULL;
    char *v = NULL;

    g_assert_cmpint (sqlite3_prepare_v2 (bounce_store_get_db (store), sql, -1,
                                         &stmt, NULL), ==, SQLITE_OK);
    if (sqlite3_step (stmt) == SQLITE_ROW &&
        sqlite3_column_type (stmt, 0) != SQLITE_NULL)
        v = g_strdup ((const char *) sqlite3_column_text (stmt, 0));
    sqlite3_finalize (stmt);
    return v;
}

static BounceStore *
open_store (Fixture *f, gsize raw_cap)
{
    g_autoptr (GError) error = NULL;
    BounceStoreOptions options;
    BounceStore *store;

    bounce_store_options_init (&options);
    options.raw_cap = raw_cap;
    options.busy_timeout_ms = 200;
    store = bounce_store_open (f->path, &options, &error);
    g_assert_no_error (error);
    g_assert_nonnull (store);
    return store;
}

/* The fetch state: IMAP per account and mailbox, replaced on update;
 * POP3 ids added and forgotten; a rolled-back batch keeps none. */
static void
test_fetch_state (Fixture *f, gconstpointer data)
{
    g_autoptr (BounceStore) store = open_store (f, 0);
    g_autoptr (GError) error = NULL;
    g_autoptr (GHashTable) uidls = NULL;
    guint32 validity = 99, last = 99;

    g_assert_true (bounce_store_get_imap_state (store, "u@h", "INBOX",
                                                &validity, &last, &error));
    g_assert_no_error (error);
    g_assert_cmpuint (validity, ==, 0);
    g_assert_cmpuint (last, ==, 0);
    g_assert_true (bounce_store_set_imap_state (store, "u@h", "INBOX", 7, 3,
                                                &error));
    g_assert_true (bounce_store_set_imap_state (store, "u@h", "INBOX", 7, 5,
                                                &error));
    g_assert_true (bounce_store_set_imap_state (store, "u@h", "Junk", 8, 1,
                                                &error));
    g_assert_no_error (error);
    g_assert_true (bounce_store_get_imap_state (store, "u@h", "INBOX",
                                                &validity, &last, &error));
    g_assert_cmpuint (validity, ==, 7);
    g_assert_cmpuint (last, ==, 5);
    g_assert_cmpint (query_int (store, "SELECT count(*) FROM fetch_imap"), ==,
                     2);
    /* In a batch rolled back: not kept. */
    g_assert_true (bounce_store_begin (store, &error));
    g_assert_true (bounce_store_set_imap_state (store, "u@h", "INBOX", 7, 9,
                                                &error));
    bounce_store_rollback (store);
    g_assert_true (bounce_store_get_imap_state (store, "u@h", "INBOX",
                                                &validity, &last, &error));
    g_assert_cmpuint (last, ==, 5);

    g_assert_true (bounce_store_set_pop3_uidl (store, "u@h", "a1", TRUE,
                                               &error));
    g_assert_true (bounce_store_set_pop3_uidl (store, "u@h", "a1", TRUE,
                                               &error));
    g_assert_true (bounce_store_set_pop3_uidl (store, "u@h", "b2", TRUE,
                                               &error));
    g_assert_true (bounce_store_set_pop3_uidl (store, "v@h", "c3", TRUE,
                                               &error));
    g_assert_true (bounce_store_set_pop3_uidl (store, "u@h", "b2", FALSE,
                                               &error));
    g_assert_no_error (error);
    uidls = bounce_store_get_pop3_uidls (store, "u@h", &error);
    g_assert_no_error (error);
    g_assert_cmpuint (g_hash_table_size (uidls), ==, 1);
    g_assert_true (g_hash_table_contains (uidls, "a1"));
}

static void
test_create (Fixture *f, gconstpointer data)
{
    g_autoptr (BounceStore) store = open_store (f, 0);
    g_autofree char *dir = g_path_get_dirname (f->path);
    g_autofree char *mode = NULL;
    struct stat st;

    g_assert_cmpint (g_stat (f->path, &st), ==, 0);
    g_assert_cmpint (st.st_mode & 0777, ==, 0600);
    g_assert_cmpint (g_stat (dir, &st), ==, 0);
    g_assert_cmpint (st.st_mode & 0777, ==, 0700);
    g_assert_cmpint (bounce_store_get_schema_version (store), ==,
                     BOUNCE_STORE_SCHEMA_VERSION);
    g_assert_cmpint (query_int (store, "PRAGMA user_version"), ==,
                     BOUNCE_STORE_SCHEMA_VERSION);
    mode = query_text (store, "PRAGMA journal_mode");
    g_assert_cmpstr (mode, ==, "wal");
    g_assert_cmpint (query_int (store, "SELECT count(*) FROM reasons "
                                       "WHERE who = 'sender'"), >, 10);
}

static void
test_add_and_dedup (Fixture *f, gconstpointer data)
{
    g_autoptr (BounceStore) store = open_store (f, 0);
    g_autoptr (GBytes) raw = make_dsn ("Jane.Doe@Mail.Example.CO.UK", "1", NULL);
    g_autoptr (BounceReport) report = parse (raw);
    g_autoptr (GError) error = NULL;
    g_autofree char *with_from = NULL;
    g_autoptr (GBytes) raw2 = NULL;
    g_autofree char *s = NULL;
    gboolean dup = TRUE;

    g_assert_cmpint (report->kind, ==, BOUNCE_KIND_DSN);
    g_assert_true (bounce_store_add (store, raw, report, &dup, &error));
    g_assert_no_error (error);
    g_assert_false (dup);
    g_assert_cmpint (query_int (store, "SELECT count(*) FROM messages"), ==, 1);
    g_assert_cmpint (query_int (store, "SELECT count(*) FROM events"), ==, 1);

    /* What the event row says. */
    s = query_text (store, "SELECT address || ' ' || domain || ' ' || "
                           "registrable_domain || ' ' || outcome || ' ' || "
                           "status || ' ' || smtp_code FROM events");
    g_assert_cmpstr (s, ==, "jane.doe@mail.example.co.uk mail.example.co.uk "
                            "example.co.uk bounce 5.1.1 550");
    g_clear_pointer (&s, g_free);
    /* No Last-Attempt-Date: the Arrival-Date, in UTC. */
    s = query_text (store,
                    "SELECT event_time || ' ' || event_time_source FROM events");
    g_assert_cmpstr (s, ==, "2026-11-03T08:59:00Z arrival_date");
    g_clear_pointer (&s, g_free);
    s = query_text (store, "SELECT name || '=' || value FROM message_headers");
    g_assert_cmpstr (s, ==, "x-campaign-id=spring-1");
    g_clear_pointer (&s, g_free);
    s = query_text (store, "SELECT kind || ' ' || orig_message_id || ' ' || "
                           "warnings FROM messages");
    g_assert_cmpstr (s, ==, "dsn 1@example.org []");

    /* The same message again, and from an mbox (a "From " line and a blank
     * line more): nothing changes. */
    g_assert_true (bounce_store_add (store, raw, report, &dup, &error));
    g_assert_true (dup);
    with_from = g_strdup_printf ("From MAILER-DAEMON  Tue Nov  3 10:00:00 2026\n"
                                 "%.*s\n\n",
                                 (int) g_bytes_get_size (raw),
                                 (const char *) g_bytes_get_data (raw, NULL));
    raw2 = g_bytes_new (with_from, strlen (with_from));
    dup = FALSE;
    g_assert_true (bounce_store_add (store, raw2, report, &dup, &error));
    g_assert_true (dup);
    g_assert_cmpint (query_int (store, "SELECT count(*) FROM messages"), ==, 1);
    g_assert_cmpint (query_int (store, "SELECT count(*) FROM events"), ==, 1);
}

/* Inflates the raw message of the only message (raw_messages). */
static GBytes *
stored_raw (BounceStore *store)
{
    sqlite3_stmt *stmt = NULL;
    g_autoptr (GZlibDecompressor) z =
        g_zlib_decompressor_new (G_ZLIB_COMPRESSOR_FORMAT_ZLIB);
    g_autoptr (GInputStream) mem = NULL;
    g_autoptr (GInputStream) in = NULL;
    g_autoptr (GOutputStream) out = g_memory_output_stream_new_resizable ();
    g_autoptr (GError) error = NULL;

    g_assert_cmpint (sqlite3_prepare_v2 (bounce_store_get_db (store),
                                         "SELECT raw FROM raw_messages", -1, &stmt,
                                         NULL), ==, SQLITE_OK);
    g_assert_cmpint (sqlite3_step (stmt), ==, SQLITE_ROW);
    mem = g_memory_input_stream_new_from_data (
        g_memdup2 (sqlite3_column_blob (stmt, 0), sqlite3_column_bytes (stmt, 0)),
        sqlite3_column_bytes (stmt, 0), g_free);
    sqlite3_finalize (stmt);
    in = g_converter_input_stream_new (mem, G_CONVERTER (z));
    g_output_stream_splice (out, in, G_OUTPUT_STREAM_SPLICE_CLOSE_TARGET,
                            NULL, &error);
    g_assert_no_error (error);
    return g_memory_output_stream_steal_as_bytes (G_MEMORY_OUTPUT_STREAM (out));
}

static void
test_raw (Fixture *f, gconstpointer data)
{
    g_autoptr (GBytes) raw = make_dsn ("a@example.com", "2", NULL);
    g_autoptr (BounceReport) report = parse (raw);
    g_autoptr (GError) error = NULL;
    g_autoptr (GBytes) back = NULL;

    {
        g_autoptr (BounceStore) store = open_store (f, 0);
        g_assert_true (bounce_store_add (store, raw, report, NULL, &error));
        back = stored_raw (store);
        g_assert_true (g_bytes_equal (back, raw));
        g_assert_cmpint (query_int (store, "SELECT raw_size FROM messages"),
                         ==, g_bytes_get_size (raw));
        g_assert_cmpint (query_int (store, "SELECT raw_truncated FROM messages"),
                         ==, 0);
        g_assert_cmpint (query_int (store, "DELETE FROM messages RETURNING 1"),
                         ==, 1);
        g_clear_pointer (&back, g_bytes_unref);
    }
    {
        /* Over the cap: the first 100 bytes and a note; the parsed result
         * whole. */
        g_autoptr (BounceStore) store = open_store (f, 100);
        const char *text;
        gsize len;

        g_assert_true (bounce_store_add (store, raw, report, NULL, &error));
        g_assert_no_error (error);
        back = stored_raw (store);
        text = g_bytes_get_data (back, &len);
        g_assert_cmpmem (text, 100, g_bytes_get_data (raw, NULL), 100);
        g_assert_nonnull (g_strstr_len (text, len, "truncated"));
        g_assert_cmpint (query_int (store, "SELECT raw_truncated FROM messages"),
                         ==, 1);
        g_assert_cmpint (query_int (store, "SELECT raw_size FROM messages"),
                         ==, g_bytes_get_size (raw));
        g_assert_cmpint (query_int (store, "SELECT count(*) FROM events WHERE "
                                           "address = 'a@example.com'"),
                         ==, 1);
    }
}

static void
test_unparsable (Fixture *f, gconstpointer data)
{
    g_autoptr (BounceStore) store = open_store (f, 0);
    g_autoptr (GBytes) raw = g_bytes_new_static ("\x01\x02junk", 6);
    g_autoptr (BounceReport) report = parse (raw);
    g_autoptr (GError) error = NULL;
    g_autofree char *kind = NULL;

    g_assert_cmpint (report->kind, ==, BOUNCE_KIND_UNPARSABLE);
    g_assert_true (bounce_store_add (store, raw, report, NULL, &error));
    g_assert_no_error (error);
    kind = query_text (store, "SELECT kind FROM messages");
    g_assert_cmpstr (kind, ==, "unparsable");
    g_assert_cmpint (query_int (store, "SELECT count(*) FROM events"), ==, 0);
}

static void
exec_ok (sqlite3 *db, const char *sql)
{
    char *msg = NULL;

    if (sqlite3_exec (db, sql, NULL, NULL, &msg) != SQLITE_OK)
        g_error ("%s: %s", sql, msg);
}

/* Makes f->path a database of schema version @version (its sections
 * of schema.sql) holding what @sql writes. */
static void
old_database (Fixture *f, guint version, const char *sql)
{
    g_autoptr (GPtrArray) sections = _bounce_store_schema_sections ();
    g_autofree char *dir = g_path_get_dirname (f->path);
    g_autofree char *set_version =
        g_strdup_printf ("PRAGMA user_version = %u;", version);
    sqlite3 *db = NULL;

    g_assert_cmpuint (sections->len, ==, BOUNCE_STORE_SCHEMA_VERSION + 1);
    g_assert_cmpint (g_mkdir_with_parents (dir, 0700), ==, 0);
    g_assert_cmpint (sqlite3_open (f->path, &db), ==, SQLITE_OK);
    for (guint v = 1; v <= version; v++)
        exec_ok (db, sections->pdata[v]);
    exec_ok (db, sql);
    exec_ok (db, set_version);
    sqlite3_close (db);
}

/* A database of schema version 1 with one hard bounce, upgraded. */
static void
test_migrate (Fixture *f, gconstpointer data)
{
    g_autofree char *why = NULL;

    old_database (f, 1,
                  "INSERT INTO messages (id, content_hash, received_at, kind, "
                  "raw_size) VALUES (1, 'h', '2026-01-01T00:00:00Z', 'dsn', 1);"
                  "INSERT INTO events (message_id, position, address, outcome, "
                  "reason, hard, event_time, event_time_source) VALUES (1, 0, "
                  "'old@example.com', 'bounce', 'userunknown', 1, "
                  "'2026-01-01T00:00:00Z', 'received_at');");
    {
        g_autoptr (BounceStore) store = open_store (f, 0);
        g_assert_cmpint (query_int (store, "PRAGMA user_version"), ==,
                         BOUNCE_STORE_SCHEMA_VERSION);
        g_assert_cmpint (query_int (store, "SELECT count(*) FROM events"), ==, 1);
        why = query_text (store, "SELECT why FROM suppression_candidates "
                                 "WHERE address = 'old@example.com'");
        g_assert_cmpstr (why, ==, "hard");
    }
}

/* A database of schema version 8, upgraded: its messages are of origin
 * "message", without a queue id. */
static void
test_migrate_origin (Fixture *f, gconstpointer data)
{
    g_autofree char *origin = NULL;

    old_database (f, 8,
                  "INSERT INTO messages (id, content_hash, received_at, kind, "
                  "raw_size) VALUES (1, 'h', '2026-01-01T00:00:00Z', 'dsn', 1);");
    {
        g_autoptr (BounceStore) store = open_store (f, 0);

        g_assert_cmpint (query_int (store, "PRAGMA user_version"), ==,
                         BOUNCE_STORE_SCHEMA_VERSION);
        origin = query_text (store, "SELECT origin FROM messages");
        g_assert_cmpstr (origin, ==, "message");
        g_assert_cmpint (query_int (store, "SELECT count(*) FROM messages "
                                           "WHERE queue_id IS NULL"), ==, 1);
        g_assert_cmpint (query_int (store, "SELECT count(*) FROM "
                                           "event_reports"), ==, 0);
    }
}

/* A report of one failed recipient, from a bounce or a log line. */
static BounceReport *
failure_report (BounceOrigin origin, const char *queue_id,
                const char *message_id, const char *address)
{
    BounceReport *report = bounce_report_new ("t");
    BounceRecipient *r = bounce_recipient_new ();

    report->kind = origin == BOUNCE_ORIGIN_LOG ? BOUNCE_KIND_BOUNCE
                                               : BOUNCE_KIND_DSN;
    report->origin = origin;
    report->queue_id = g_strdup (queue_id);
    report->orig_message_id = g_strdup (message_id);
    r->address = g_strdup (address);
    r->action = g_strdup ("failed");
    r->status = g_strdup ("5.1.1");
    r->last_attempt = g_strdup ("2026-12-06T21:10:26Z");
    g_ptr_array_add (report->recipients, r);
    return report;
}

static void
add_failure (BounceStore *store, BounceOrigin origin, const char *queue_id,
             const char *message_id, const char *address, const char *raw)
{
    g_autoptr (BounceReport) report =
        failure_report (origin, queue_id, message_id, address);
    g_autoptr (GBytes) bytes = g_bytes_new_static (raw, strlen (raw));
    g_autoptr (GError) error = NULL;
    gboolean dup = TRUE;

    g_assert_true (bounce_store_add (store, bytes, report, &dup, &error));
    g_assert_no_error (error);
    g_assert_false (dup);
}

/* One event, not two: a log line and the bounce of the same failure
 * (the same address, queue id, else Message-ID), in either order; the
 * event is the bounce's. */
static void
test_one_event (Fixture *f, gconstpointer data)
{
    g_autoptr (BounceStore) store = open_store (f, 0);
    const char *owner = "SELECT m.origin FROM events e JOIN messages m ON "
                        "m.id = e.message_id WHERE e.address = ";
    g_autofree char *sql_a = g_strconcat (owner, "'a@x.test'", NULL);
    g_autofree char *sql_b = g_strconcat (owner, "'b@x.test'", NULL);
    g_autofree char *a_owner = NULL;
    g_autofree char *b_owner = NULL;

    /* Log first, then the bounce (by queue id). */
    add_failure (store, BOUNCE_ORIGIN_LOG, "Q1", NULL, "a@x.test", "line 1");
    add_failure (store, BOUNCE_ORIGIN_MESSAGE, "Q1", "m1@x.test", "A@x.test",
                 "bounce 1");
    /* The bounce first, then the log line (by Message-ID). */
    add_failure (store, BOUNCE_ORIGIN_MESSAGE, NULL, "m2@x.test", "b@x.test",
                 "bounce 2");
    add_failure (store, BOUNCE_ORIGIN_LOG, "Q2", "m2@x.test", "b@x.test",
                 "line 2");
    g_assert_cmpint (query_int (store, "SELECT count(*) FROM events"), ==, 2);
    g_assert_cmpint (query_int (store, "SELECT count(*) FROM event_reports"),
                     ==, 2);
    a_owner = query_text (store, sql_a);
    b_owner = query_text (store, sql_b);
    g_assert_cmpstr (a_owner, ==, "message");
    g_assert_cmpstr (b_owner, ==, "message");
    g_assert_cmpint (query_int (store, "SELECT count(*) FROM messages WHERE "
                                       "origin = 'log'"), ==, 2);
    /* Not the same failure: another queue id with the same Message-ID
     * (a message sent again), another address, another outcome. */
    add_failure (store, BOUNCE_ORIGIN_LOG, "Q3", "m1@x.test", "a@x.test",
                 "line 3");
    add_failure (store, BOUNCE_ORIGIN_LOG, "Q1", NULL, "c@x.test", "line 4");
    g_assert_cmpint (query_int (store, "SELECT count(*) FROM events"), ==, 4);
    /* A second line of a matched failure is an event of its own. */
    add_failure (store, BOUNCE_ORIGIN_LOG, "Q1", NULL, "a@x.test", "line 5");
    g_assert_cmpint (query_int (store, "SELECT count(*) FROM events"), ==, 5);
    g_assert_cmpint (query_int (store, "SELECT count(*) FROM "
                                       "suppression_candidates"), ==, 0);
}

/* A DSN whose four dates (Date, Arrival-Date, Last-Attempt-Date and the
 * original's Date) are 2026-11-03 10:00:00 in the zone @zone. */
static GBytes *
make_dated_dsn (const char *rcpt, const char *zone)
{
    char *text = g_strdup_printf (
        "From: MAILER-DAEMON@mx.example.net\r\n"
        "To: sender@example.org\r\n"
        "Subject: Delivery Status Notification (Failure)\r\n"
        "Date: Tue, 03 Nov 2026 10:00:00 %s\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: multipart/report; report-type=delivery-status;\r\n"
        "  boundary=\"B\"\r\n"
        "\r\n"
        "--B\r\n"
        "Content-Type: message/delivery-status\r\n"
        "\r\n"
        "Reporting-MTA: dns; mx.example.net\r\n"
        "Arrival-Date: Tue, 03 Nov 2026 09:00:00 %s\r\n"
        "\r\n"
        "Final-Recipient: rfc822; %s\r\n"
        "Action: failed\r\n"
        "Status: 5.1.1\r\n"
        "Last-Attempt-Date: Tue, 03 Nov 2026 09:30:00 %s\r\n"
        "\r\n"
        "--B\r\n"
        "Content-Type: text/rfc822-headers\r\n"
        "\r\n"
        "Message-ID: <%s@example.org>\r\n"
        "Date: Tue, 03 Nov 2026 08:00:00 %s\r\n"
        "From: sender@example.org\r\n"
        "To: %s\r\n"
        "\r\n"
        "--B--\r\n",
        zone, zone, rcpt, zone, rcpt, zone, rcpt);
    return g_bytes_new_take (text, strlen (text));
}

#define UTC_GLOB                                                               \
    "'[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:"      \
    "[0-9][0-9]Z'"

/* Every time column of every table and view of @db (found by name: *_at,
 * *_date, *_time, last_attempt, first_/last_bounce) holds NULL or UTC
 * "YYYY-MM-DDTHH:MM:SSZ" that julianday() reads; returns how many
 * values were checked.  The columns the schema has today must be among
 * those found, so that a renamed one cannot slip through. */
static guint
assert_times_parse (sqlite3 *db)
{
    static const char *const expected[] = {
        "messages.received_at", "messages.arrival_date",
        "messages.bounce_date", "messages.orig_date", "events.last_attempt",
        "events.event_time", "latest_events.event_time",
        "suppression_candidates.first_bounce",
        "suppression_candidates.last_bounce", NULL
    };
    g_autoptr (GPtrArray) found = g_ptr_array_new_with_free_func (g_free);
    g_autoptr (GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
    sqlite3_stmt *stmt = NULL;
    guint checked = 0;

    g_assert_cmpint (sqlite3_prepare_v2 (db, "SELECT name FROM sqlite_schema "
                                             "WHERE type IN ('table', 'view') "
                                             "AND name NOT LIKE 'sqlite_%'",
                                         -1, &stmt, NULL), ==, SQLITE_OK);
    while (sqlite3_step (stmt) == SQLITE_ROW)
        g_ptr_array_add (names,
                         g_strdup ((const char *) sqlite3_column_text (stmt, 0)));
    sqlite3_finalize (stmt);
    for (guint i = 0; i < names->len; i++) {
        g_autofree char *sql = g_strdup_printf (
            "SELECT name FROM pragma_table_info ('%s') WHERE name LIKE '%%\\_at'"
            " ESCAPE '\\' OR name LIKE '%%\\_date' ESCAPE '\\' OR name LIKE "
            "'%%\\_time' ESCAPE '\\' OR name IN ('last_attempt', "
            "'first_bounce', 'last_bounce')",
            (const char *) names->pdata[i]);
        g_assert_cmpint (sqlite3_prepare_v2 (db, sql, -1, &stmt, NULL), ==,
                         SQLITE_OK);
        while (sqlite3_step (stmt) == SQLITE_ROW)
            g_ptr_array_add (found, g_strdup_printf (
                                        "%s.%s", (const char *) names->pdata[i],
                                        sqlite3_column_text (stmt, 0)));
        sqlite3_finalize (stmt);
    }
    for (guint i = 0; expected[i] != NULL; i++)
        g_assert_true (g_ptr_array_find_with_equal_func (found, expected[i],
                                                         g_str_equal, NULL));
    for (guint i = 0; i < found->len; i++) {
        g_auto (GStrv) tc = g_strsplit (found->pdata[i], ".", 2);
        g_autofree char *sql = g_strdup_printf (
            "SELECT \"%s\", julianday (\"%s\") IS NOT NULL AND \"%s\" GLOB "
            UTC_GLOB " FROM \"%s\" WHERE \"%s\" IS NOT NULL",
            tc[1], tc[1], tc[1], tc[0], tc[1]);

        g_assert_cmpint (sqlite3_prepare_v2 (db, sql, -1, &stmt, NULL), ==,
                         SQLITE_OK);
        while (sqlite3_step (stmt) == SQLITE_ROW) {
            if (!sqlite3_column_int (stmt, 1))
                g_error ("%s = '%s': not a UTC time SQLite reads",
                         (const char *) found->pdata[i],
                         sqlite3_column_text (stmt, 0));
            checked++;
        }
        sqlite3_finalize (stmt);
    }
    return checked;
}

/* Parsed bounces dated in zones east and west of UTC, with and without
 * minutes, and by name: every time is stored in UTC. */
static void
test_times_utc (Fixture *f, gconstpointer data)
{
    static const struct {
        const char *zone;
        const char *bounce_date; /* 10:00 there */
    } cases[] = {
        { "+0900", "2026-11-03T01:00:00Z" },
        { "-0730", "2026-11-03T17:30:00Z" },
        { "+0530", "2026-11-03T04:30:00Z" },
        { "+0000", "2026-11-03T10:00:00Z" },
        { "-0000", "2026-11-03T10:00:00Z" },
        { "GMT", "2026-11-03T10:00:00Z" },
        { "EST", "2026-11-03T15:00:00Z" },
        { "+1400", "2026-11-02T20:00:00Z" },
        { "-1200", "2026-11-03T22:00:00Z" },
    };
    g_autoptr (BounceStore) store = open_store (f, 0);
    sqlite3 *db = bounce_store_get_db (store);

    for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
        g_autofree char *rcpt = g_strdup_printf ("zone%u@example.com", i);
        g_autoptr (GBytes) raw = make_dated_dsn (rcpt, cases[i].zone);
        g_autoptr (BounceReport) report = parse (raw);
        g_autoptr (GError) error = NULL;
        g_autofree char *sql = NULL;
        g_autofree char *got = NULL;

        g_assert_true (bounce_store_add (store, raw, report, NULL, &error));
        g_assert_no_error (error);
        sql = g_strdup_printf ("SELECT m.bounce_date || ' ' || m.arrival_date "
                               "|| ' ' || m.orig_date || ' ' || e.last_attempt"
                               " || ' ' || e.event_time FROM events e JOIN "
                               "messages m ON m.id = e.message_id WHERE "
                               "e.address = '%s'", rcpt);
        got = query_text (store, sql);
        g_assert_nonnull (got);
        {
            g_auto (GStrv) t = g_strsplit (got, " ", -1);
            g_assert_cmpuint (g_strv_length (t), ==, 5);
            g_assert_cmpstr (t[0], ==, cases[i].bounce_date);
            /* Arrival 1 h, last attempt 30 min, original 2 h earlier. */
            for (guint k = 1; k < 5; k++) {
                g_autofree char *q = g_strdup_printf (
                    "SELECT CAST (round ((julianday ('%s') - julianday ('%s'))"
                    " * 1440) AS INTEGER)", t[0], t[k]);
                static const gint64 minutes[] = { 0, 60, 120, 30, 30 };
                g_assert_cmpint (query_int (store, q), ==, minutes[k]);
            }
        }
    }
    /* 9 messages, 4 times each and the event time; the views too. */
    g_assert_cmpuint (assert_times_parse (db), >=, 9 * 6);
}

/* Every message of tests/fixtures (bounces of many MTAs, dated in
 * zones from -0800 to +1000 and by name): every stored time parses. */
static void
test_fixture_times (Fixture *f, gconstpointer data)
{
    g_autofree char *root = g_test_build_filename (G_TEST_DIST, "fixtures",
                                                   NULL);
    g_autoptr (GDir) dir = g_dir_open (root, 0, NULL);
    g_autoptr (BounceStore) store = open_store (f, 0);
    const char *name;
    guint messages = 0;

    g_assert_nonnull (dir);
    while ((name = g_dir_read_name (dir)) != NULL) {
        g_autofree char *sub = g_build_filename (root, name, NULL);
        g_autoptr (GDir) d = g_dir_open (sub, 0, NULL);
        const char *file;

        while (d != NULL && (file = g_dir_read_name (d)) != NULL) {
            g_autofree char *path = NULL;
            g_autofree char *text = NULL;
            g_autoptr (GBytes) raw = NULL;
            g_autoptr (BounceReport) report = NULL;
            g_autoptr (GError) error = NULL;
            gsize len;

            if (!g_str_has_suffix (file, ".eml"))
                continue;
            path = g_build_filename (sub, file, NULL);
            g_assert_true (g_file_get_contents (path, &text, &len, &error));
            raw = g_bytes_new_take (g_steal_pointer (&text), len);
            report = parse (raw);
            g_assert_true (bounce_store_add (store, raw, report, NULL, &error));
            g_assert_no_error (error);
            messages++;
        }
    }
    g_assert_cmpuint (messages, >=, 100);
    /* Most have a Date, many a DSN's dates too. */
    g_assert_cmpuint (assert_times_parse (bounce_store_get_db (store)), >=,
                      3 * messages);
    g_assert_cmpint (query_int (store, "SELECT count(*) FROM messages WHERE "
                                       "bounce_date IS NOT NULL"), >=,
                     messages * 9 / 10);
}

/* A database of schema version 4 holding times as GLib wrote them
 * ("+09", "+05:30", fractions) is converted to UTC by the migration. */
static void
test_migrate_times (Fixture *f, gconstpointer data)
{
    g_autoptr (GPtrArray) sections = _bounce_store_schema_sections ();
    g_autofree char *dir = g_path_get_dirname (f->path);
    sqlite3 *db = NULL;

    g_assert_cmpint (g_mkdir_with_parents (dir, 0700), ==, 0);
    g_assert_cmpint (sqlite3_open (f->path, &db), ==, SQLITE_OK);
    for (guint v = 1; v <= 4; v++)
        exec_ok (db, sections->pdata[v]);
    exec_ok (db,
             "INSERT INTO messages (id, content_hash, received_at, kind, "
             "arrival_date, bounce_date, orig_date, raw_size) VALUES "
             "(1, 'a', '2011-04-29T15:00:00Z', 'dsn', '2011-04-29T23:34:45+09',"
             " '2011-04-29T23:40:00+09', '2011-04-29T20:00:00.250000+05:30', 1),"
             "(2, 'b', '2011-05-01T00:00:00Z', 'dsn', NULL, 'not a date', "
             "'2011-04-30T10:00:00-07', 1);"
             "INSERT INTO events (message_id, position, address, outcome, "
             "reason, hard, last_attempt, event_time, event_time_source) VALUES"
             " (1, 0, 'jp@example.com', 'bounce', 'userunknown', 1, "
             "'2011-04-29T23:34:00+09', '2011-04-29T14:34:00Z', 'last_attempt'),"
             " (2, 0, 'us@example.com', 'bounce', 'mailboxfull', 0, "
             "'2011-04-30T10:00:00-07:00', '2011-04-30T17:00:00Z', "
             "'last_attempt');"
             "PRAGMA user_version = 4;");
    /* Before: SQLite cannot read them. */
    {
        sqlite3_stmt *stmt = NULL;
        g_assert_cmpint (sqlite3_prepare_v2 (db, "SELECT count(*) FROM messages"
                                                 " WHERE julianday (arrival_date)"
                                                 " IS NULL AND arrival_date IS "
                                                 "NOT NULL", -1, &stmt, NULL),
                         ==, SQLITE_OK);
        g_assert_cmpint (sqlite3_step (stmt), ==, SQLITE_ROW);
        g_assert_cmpint (sqlite3_column_int (stmt, 0), ==, 1);
        sqlite3_finalize (stmt);
    }
    sqlite3_close (db);

    {
        g_autoptr (BounceStore) store = open_store (f, 0);
        g_autofree char *m1 = query_text (
            store, "SELECT arrival_date || ' ' || bounce_date || ' ' || "
                   "orig_date FROM messages WHERE id = 1");
        g_autofree char *m2 = query_text (
            store, "SELECT coalesce (bounce_date, '-') || ' ' || orig_date "
                   "FROM messages WHERE id = 2");
        g_autofree char *e = query_text (
            store, "SELECT group_concat (last_attempt, ' ') FROM "
                   "(SELECT last_attempt FROM events ORDER BY id)");

        g_assert_cmpstr (m1, ==, "2011-04-29T14:34:45Z 2011-04-29T14:40:00Z "
                                 "2011-04-29T14:30:00Z");
        g_assert_cmpstr (m2, ==, "- 2011-04-30T17:00:00Z");
        g_assert_cmpstr (e, ==, "2011-04-29T14:34:00Z 2011-04-30T17:00:00Z");
        g_assert_cmpuint (assert_times_parse (bounce_store_get_db (store)), >=,
                          12);
    }
}

static void
test_too_new (Fixture *f, gconstpointer data)
{
    g_autoptr (GError) error = NULL;
    BounceStore *store;

    {
        g_autoptr (BounceStore) s = open_store (f, 0);
        exec_ok (bounce_store_get_db (s), "PRAGMA user_version = 99");
    }
    store = bounce_store_open (f->path, NULL, &error);
    g_assert_null (store);
    g_assert_error (error, BOUNCE_ERROR, BOUNCE_ERROR_SCHEMA_TOO_NEW);
    g_assert_nonnull (strstr (error->message, "99"));
}

static void
test_must_exist (Fixture *f, gconstpointer data)
{
    g_autoptr (GError) error = NULL;
    BounceStoreOptions options;

    bounce_store_options_init (&options);
    options.must_exist = TRUE;
    g_assert_null (bounce_store_open (f->path, &options, &error));
    g_assert_error (error, BOUNCE_ERROR, BOUNCE_ERROR_STORE);
    g_assert_false (g_file_test (f->path, G_FILE_TEST_EXISTS));
}

static void
test_busy (Fixture *f, gconstpointer data)
{
    g_autoptr (BounceStore) store = open_store (f, 0);
    g_autoptr (GBytes) raw = make_dsn ("b@example.com", "3", NULL);
    g_autoptr (BounceReport) report = parse (raw);
    g_autoptr (GError) error = NULL;
    sqlite3 *other = NULL;

    g_assert_cmpint (sqlite3_open (f->path, &other), ==, SQLITE_OK);
    exec_ok (other, "BEGIN IMMEDIATE");
    g_assert_false (bounce_store_add (store, raw, report, NULL, &error));
    g_assert_error (error, BOUNCE_ERROR, BOUNCE_ERROR_STORE_BUSY);
    g_clear_error (&error);
    exec_ok (other, "ROLLBACK");
    sqlite3_close (other);
    g_assert_true (bounce_store_add (store, raw, report, NULL, &error));
    g_assert_no_error (error);
    g_assert_cmpint (query_int (store, "SELECT count(*) FROM messages"), ==, 1);
}

/* A batch rolled back stores nothing; a committed one everything. */
static void
test_batch (Fixture *f, gconstpointer data)
{
    g_autoptr (BounceStore) store = open_store (f, 0);
    g_autoptr (GError) error = NULL;

    g_assert_true (bounce_store_begin (store, &error));
    for (int i = 0; i < 3; i++) {
        g_autofree char *id = g_strdup_printf ("batch%d", i);
        g_autoptr (GBytes) raw = make_dsn ("c@example.com", id, NULL);
        g_autoptr (BounceReport) report = parse (raw);
        g_assert_true (bounce_store_add (store, raw, report, NULL, &error));
    }
    bounce_store_rollback (store);
    g_assert_cmpint (query_int (store, "SELECT count(*) FROM messages"), ==, 0);
    g_assert_true (bounce_store_begin (store, &error));
    for (int i = 0; i < 3; i++) {
        g_autofree char *id = g_strdup_printf ("batch%d", i);
        g_autoptr (GBytes) raw = make_dsn ("c@example.com", id, NULL);
        g_autoptr (BounceReport) report = parse (raw);
        g_assert_true (bounce_store_add (store, raw, report, NULL, &error));
    }
    g_assert_true (bounce_store_commit (store, &error));
    g_assert_no_error (error);
    g_assert_cmpint (query_int (store, "SELECT count(*) FROM messages"), ==, 3);
}

/* Stores a hand-made report: one recipient with the given classification
 * at @when. */
static void
add_event (BounceStore *store, const char *address, const char *action,
           const char *reason, int hard, const char *when)
{
    static int serial;
    g_autofree char *text = g_strdup_printf ("synthetic %d", ++serial);
    g_autoptr (GBytes) raw = g_bytes_new (text, strlen (text));
    g_autoptr (BounceReport) report = bounce_report_new ("synthetic");
    BounceRecipient *r = bounce_recipient_new ();
    g_autoptr (GError) error = NULL;

    report->kind = BOUNCE_KIND_DSN;
    r->address = g_strdup (address);
    r->action = g_strdup (action);
    r->reason = g_strdup (reason);
    r->hard = hard;
    r->last_attempt = g_strdup (when);
    if (g_strcmp0 (action, "failed") == 0)
        r->smtp_command = g_strdup ("RCPT");
    g_ptr_array_add (report->recipients, r);
    g_assert_true (bounce_store_add (store, raw, report, NULL, &error));
    g_assert_no_error (error);
}

static void
test_suppression_view (Fixture *f, gconstpointer data)
{
    g_autoptr (BounceStore) store = open_store (f, 0);
    g_autofree char *list = NULL;
    g_autofree char *day = NULL;

    /* A hard bounce of a recipient-side reason. */
    add_event (store, "gone@example.com", "failed", "userunknown", 1,
               "2026-11-01T10:00:00+01:00");
    /* A hard sender-side bounce: never. */
    add_event (store, "blocked@example.com", "failed", "blocked", 1,
               "2026-11-01T10:00:00Z");
    /* Three soft bounces over 8 days: yes; over 2 days: not yet. */
    add_event (store, "full@example.com", "failed", "mailboxfull", 0,
               "2026-11-01T00:00:00Z");
    add_event (store, "full@example.com", "failed", "mailboxfull", 0,
               "2026-11-04T00:00:00Z");
    add_event (store, "full@example.com", "failed", "mailboxfull", 0,
               "2026-11-09T00:00:00Z");
    add_event (store, "brief@example.com", "failed", "mailboxfull", 0,
               "2026-11-01T00:00:00Z");
    add_event (store, "brief@example.com", "failed", "mailboxfull", 0,
               "2026-11-02T00:00:00Z");
    add_event (store, "brief@example.com", "failed", "mailboxfull", 0,
               "2026-11-03T00:00:00Z");
    /* Two soft bounces over 10 days: under the count. */
    add_event (store, "twice@example.com", "failed", "mailboxfull", 0,
               "2026-11-01T00:00:00Z");
    add_event (store, "twice@example.com", "failed", "mailboxfull", 0,
               "2026-11-11T00:00:00Z");
    /* A hard bounce, then a delivery: cleared. */
    add_event (store, "back@example.com", "failed", "userunknown", 1,
               "2026-11-01T00:00:00Z");
    add_event (store, "back@example.com", "delivered", NULL, -1,
               "2026-11-05T00:00:00Z");
    /* A delay notice is not a bounce. */
    add_event (store, "slow@example.com", "delayed", "expired", 1,
               "2026-11-05T00:00:00Z");

    list = query_text (store, "SELECT group_concat (address || ':' || why, ' ')"
                              " FROM (SELECT * FROM suppression_candidates "
                              "ORDER BY address)");
    g_assert_cmpstr (list, ==, "full@example.com:soft gone@example.com:hard");

    /* The policy is data: 2 soft bounces are enough now. */
    exec_ok (bounce_store_get_db (store),
             "UPDATE settings SET value = 2 WHERE name = 'suppress_soft_count'");
    g_assert_cmpint (query_int (store, "SELECT count(*) FROM "
                                       "suppression_candidates"), ==, 3);

    /* Added in schema version 3. */
    g_assert_cmpint (query_int (store, "SELECT count(*) FROM events WHERE "
                                       "smtp_command = 'RCPT'"), ==, 11);

    /* The event time is UTC; the views group by UTC day. */
    day = query_text (store, "SELECT event_time FROM events WHERE address = "
                             "'gone@example.com'");
    g_assert_cmpstr (day, ==, "2026-11-01T09:00:00Z");
    g_assert_cmpint (query_int (store, "SELECT bounces FROM bounces_per_day "
                                       "WHERE day = '2026-11-01' AND reason = "
                                       "'mailboxfull'"), ==, 3);
    g_assert_cmpint (query_int (store, "SELECT count(*) FROM latest_events "
                                       "WHERE address = 'back@example.com' "
                                       "AND outcome = 'delivered'"), ==, 1);
}

/* A DSN saying @rcpt @action ("failed" 5.1.1 user unknown, or
 * "delivered"), of the message <@id@your.domain>. */
static GBytes *
make_verp_dsn (const char *rcpt, const char *action, const char *id)
{
    gboolean failed = strcmp (action, "failed") == 0;
    char *text = g_strdup_printf (
        "From: MAILER-DAEMON@mx.example.net\r\n"
        "To: bounces@your.domain\r\n"
        "Subject: Delivery Status Notification\r\n"
        "Date: Tue, 03 Nov 2026 10:00:00 +0000\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: multipart/report; report-type=delivery-status;\r\n"
        "  boundary=\"B\"\r\n"
        "\r\n"
        "--B\r\n"
        "Content-Type: message/delivery-status\r\n"
        "\r\n"
        "Reporting-MTA: dns; mx.example.net\r\n"
        "\r\n"
        "Final-Recipient: rfc822; %s\r\n"
        "Action: %s\r\n"
        "Status: %s\r\n"
        "Diagnostic-Code: smtp; %s\r\n"
        "Last-Attempt-Date: Tue, 03 Nov 2026 %s +0000\r\n"
        "\r\n"
        "--B\r\n"
        "Content-Type: text/rfc822-headers\r\n"
        "\r\n"
        "Message-ID: <%s@your.domain>\r\n"
        "From: news@your.domain\r\n"
        "To: %s\r\n"
        "\r\n"
        "--B--\r\n",
        rcpt, action, failed ? "5.1.1" : "2.0.0",
        failed ? "550 5.1.1 <user> User unknown" : "250 2.0.0 Ok",
        failed ? "09:00:00" : "09:30:00", id, rcpt);
    return g_bytes_new_take (text, strlen (text));
}

/* Parses with the VERP secret, as ingest --verp-secret-file does, and
 * stores, the bounce having come to @envelope. */
static void
ingest_verp (BounceStore *store, const BounceVerpKey *key, GBytes *raw,
             const char *envelope)
{
    g_autoptr (BounceParser) parser = bounce_parser_new ();
    g_autoptr (BounceReport) report = NULL;
    g_autoptr (GError) error = NULL;
    g_autoptr (BounceRules) rules = NULL;
    const char *dirs[] = { g_getenv ("BOUNCESTAT_RULES_DIR"), NULL };

    g_assert_nonnull (dirs[0]);
    rules = bounce_rules_load (dirs, &error);
    g_assert_no_error (error);
    bounce_parser_set_rules (parser, rules);
    bounce_parser_set_verp_key (parser, key);
    bounce_parser_set_envelope_recipient (parser, envelope);
    report = bounce_parser_parse (parser, raw, "-");
    g_assert_true (bounce_store_add (store, raw, report, NULL, &error));
    g_assert_no_error (error);
}

/* The suppression list, from the view and from C (they must agree). */
static char *
suppressed (Fixture *f, BounceStore *store)
{
    g_autoptr (BounceReader) reader = NULL;
    g_autoptr (BounceTable) table = NULL;
    g_autoptr (GError) error = NULL;
    g_autoptr (GString) c = g_string_new (NULL);
    char *view = query_text (store, "SELECT group_concat (address, ' ') FROM "
                                    "(SELECT address FROM "
                                    "suppression_candidates ORDER BY address)");

    reader = bounce_reader_open (f->path, &error);
    g_assert_no_error (error);
    table = bounce_query_suppress (reader, NULL, &error);
    g_assert_no_error (error);
    for (guint i = 0; i < table->rows->len; i++)
        g_string_append_printf (c, "%s%s", i > 0 ? " " : "",
                                bounce_table_get (table, i, "address"));
    g_assert_cmpstr (c->str, ==, view != NULL ? view : "");
    return view;
}

/* A forged "user unknown" for a real subscriber does not suppress it; a
 * genuine one, come back to its signed return path, does; and a forged
 * delivery notice does not lift a suppression. */
static void
test_forged_bounces (Fixture *f, gconstpointer data)
{
    const char *secret = "a secret of the list software, 32b";
    g_autoptr (GError) error = NULL;
    g_autoptr (BounceVerpKey) key =
        bounce_verp_key_new ((const guint8 *) secret, strlen (secret), &error);
    g_autoptr (BounceStore) store = open_store (f, 0);
    g_autofree char *list = NULL;
    g_autofree char *alice_rp = NULL;
    g_autofree char *mallory_rp = NULL;
    g_autofree char *verified = NULL;

    g_assert_no_error (error);
    alice_rp = bounce_verp_encode (key, "bounces@your.domain",
                                   "alice@example.com", &error);
    g_assert_no_error (error);
    mallory_rp = bounce_verp_encode (key, "bounces@your.domain",
                                     "mallory@example.net", &error);
    g_assert_no_error (error);

    /* Forged, for bob: no token, a made-up one, none at all, and the
     * valid token mallory got with her own mail. */
    {
        g_autoptr (GBytes) a = make_verp_dsn ("bob@example.com", "failed", "f1");
        g_autoptr (GBytes) b = make_verp_dsn ("bob@example.com", "failed", "f2");
        g_autoptr (GBytes) c = make_verp_dsn ("bob@example.com", "failed", "f3");
        g_autoptr (GBytes) d = make_verp_dsn ("bob@example.com", "failed", "f4");

        ingest_verp (store, key, a, "bounces+bob=example.com@your.domain");
        ingest_verp (store, key, b,
                     "bounces+bob=example.com+0123456789abcdef@your.domain");
        ingest_verp (store, key, c, NULL);
        ingest_verp (store, key, d, mallory_rp);
    }
    g_assert_cmpint (query_int (store, "SELECT count(*) FROM events WHERE "
                                       "address = 'bob@example.com' AND "
                                       "verified = 0 AND reason = "
                                       "'userunknown' AND hard = 1"), ==, 4);
    list = suppressed (f, store);
    g_assert_null (list);

    /* Genuine, for alice. */
    {
        g_autoptr (GBytes) g = make_verp_dsn ("alice@example.com", "failed",
                                              "g1");
        ingest_verp (store, key, g, alice_rp);
    }
    verified = query_text (store, "SELECT verified FROM events WHERE address "
                                  "= 'alice@example.com'");
    g_assert_cmpstr (verified, ==, "1");
    g_clear_pointer (&list, g_free);
    list = suppressed (f, store);
    g_assert_cmpstr (list, ==, "alice@example.com");

    /* A forged delivery notice for alice, later: she stays suppressed. */
    {
        g_autoptr (GBytes) d = make_verp_dsn ("alice@example.com", "delivered",
                                              "f5");
        ingest_verp (store, key, d, "bounces+alice=example.com@your.domain");
    }
    g_clear_pointer (&list, g_free);
    list = suppressed (f, store);
    g_assert_cmpstr (list, ==, "alice@example.com");

    /* Without a secret, nothing is checked (NULL) and bounces count as
     * before. */
    {
        g_autoptr (GBytes) u = make_verp_dsn ("carol@example.com", "failed",
                                              "u1");
        ingest_verp (store, NULL, u, "bounces+carol=example.com@your.domain");
    }
    g_assert_cmpint (query_int (store, "SELECT count(*) FROM events WHERE "
                                       "address = 'carol@example.com' AND "
                                       "verified IS NULL"), ==, 1);
    g_clear_pointer (&list, g_free);
    list = suppressed (f, store);
    g_assert_cmpstr (list, ==, "alice@example.com carol@example.com");
}


/* The reasons table is the loaded rules' reason table: every reason with
 * its side as who, one added in a second directory (rules.d) included,
 * written again when other rules are given and not when the same are;
 * each event records the rules' version. */
static void
test_rules_reasons (Fixture *f, gconstpointer data)
{
    const char *base = g_getenv ("BOUNCESTAT_RULES_DIR");
    g_autoptr (GError) error = NULL;
    g_autofree char *local = g_dir_make_tmp ("bouncestat-rules.d-XXXXXX",
                                             &error);
    g_autofree char *file = g_build_filename (local, "50-local.rules", NULL);
    const char *with_local[] = { base, local, NULL };
    const char *alone[] = { base, NULL };
    g_autoptr (BounceRules) rules = NULL;
    g_autoptr (BounceRules) again = NULL;
    g_autoptr (BounceRules) plain = NULL;
    g_autoptr (BounceStore) store = open_store (f, 0);
    g_autoptr (GPtrArray) names = NULL;
    g_autoptr (BounceParser) parser = bounce_parser_new ();
    g_autoptr (GBytes) raw = make_dsn ("a@example.com", "1", NULL);
    g_autoptr (BounceReport) report = NULL;
    g_autofree char *sql = NULL;
    g_autofree char *from = NULL;

    g_assert_nonnull (base);
    g_assert_no_error (error);
    g_file_set_contents (file,
                         "[reason localgone]\nmeaning = gone here\n"
                         "meaning[pl] = nie ma\nhard = true\nwho = sender\n"
                         "side = recipient\nadvice = check it\n"
                         "advice[pl] = sprawdz\n",
                         -1, &error);
    g_assert_no_error (error);
    rules = bounce_rules_load (with_local, &error);
    g_assert_no_error (error);
    again = bounce_rules_load (with_local, &error);
    g_assert_no_error (error);
    plain = bounce_rules_load (alone, &error);
    g_assert_no_error (error);
    /* The version: the same files the same, another file another. */
    g_assert_cmpuint (strlen (bounce_rules_get_version (rules)), ==, 64);
    g_assert_cmpstr (bounce_rules_get_version (rules), ==,
                     bounce_rules_get_version (again));
    g_assert_cmpstr (bounce_rules_get_version (rules), !=,
                     bounce_rules_get_version (plain));

    g_assert_true (bounce_store_set_rules (store, rules, &error));
    g_assert_no_error (error);
    names = bounce_rules_list_reasons (rules);
    g_assert_cmpint (query_int (store, "SELECT count (*) FROM reasons"), ==,
                     names->len);
    for (guint i = 0; i < names->len; i++) {
        const BounceReason *r = bounce_rules_get_reason (rules,
                                                         names->pdata[i]);
        g_autofree char *q = g_strdup_printf (
            "SELECT who FROM reasons WHERE name = '%s'", r->name);
        g_autofree char *who = query_text (store, q);

        g_assert_cmpstr (who, ==, r->side);
    }
    g_assert_cmpint (query_int (store, "SELECT count (*) FROM reasons WHERE"
                                       " name = 'localgone' AND who ="
                                       " 'recipient' AND hard = 1"), ==, 1);
    /* userunknown: who must act is the sender, the cause the recipient's. */
    g_assert_cmpstr (bounce_rules_get_reason (rules, "userunknown")->who, ==,
                     "sender");
    from = query_text (store, "SELECT who FROM reasons"
                              " WHERE name = 'userunknown'");
    g_assert_cmpstr (from, ==, "recipient");

    /* Each event records the rules that classified it. */
    bounce_parser_set_rules (parser, rules);
    report = bounce_parser_parse (parser, raw, "test");
    g_assert_true (bounce_store_add (store, raw, report, NULL, &error));
    g_assert_no_error (error);
    sql = g_strdup_printf ("SELECT count (*) FROM events e JOIN rule_sets r"
                           " ON r.id = e.rule_set WHERE r.hash = '%s'",
                           bounce_rules_get_version (rules));
    g_assert_cmpint (query_int (store, sql), ==, 1);

    /* The same rules again: nothing written; other rules: rewritten. */
    g_assert_true (bounce_store_set_rules (store, again, &error));
    g_assert_no_error (error);
    g_assert_cmpint (query_int (store, "SELECT count (*) FROM rule_sets"), ==,
                     1);
    g_assert_true (bounce_store_set_rules (store, plain, &error));
    g_assert_no_error (error);
    g_assert_cmpint (query_int (store, "SELECT count (*) FROM reasons"
                                       " WHERE name = 'localgone'"), ==, 0);
    g_assert_cmpint (query_int (store, "SELECT count (*) FROM rule_sets"), ==,
                     2);
    g_remove (file);
    g_rmdir (local);
}

int
main (int argc, char **argv)
{
    g_test_init (&argc, &argv, NULL);
    bounce_init ();

#define ADD(name, fn)                                                          \
    g_test_add ("/store/" name, Fixture, NULL, fixture_set_up, fn,             \
                fixture_tear_down)
    ADD ("create", test_create);
    ADD ("fetch-state", test_fetch_state);
    ADD ("add-and-dedup", test_add_and_dedup);
    ADD ("raw", test_raw);
    ADD ("unparsable", test_unparsable);
    ADD ("migrate", test_migrate);
    ADD ("migrate-origin", test_migrate_origin);
    ADD ("one-event", test_one_event);
    ADD ("rules-reasons", test_rules_reasons);
    ADD ("too-new", test_too_new);
    ADD ("times-utc", test_times_utc);
    ADD ("migrate-times", test_migrate_times);
    ADD ("fixture-times", test_fixture_times);
    ADD ("must-exist", test_must_exist);
    ADD ("busy", test_busy);
    ADD ("batch", test_batch);
    ADD ("suppression-view", test_suppression_view);
    ADD ("forged-bounces", test_forged_bounces);
#undef ADD
    return g_test_run ();
}
