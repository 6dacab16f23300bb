/*
 * test-query.c - the reading side: --since/--until parsing, tables as
 * JSON, the overview's trend, and the suppression list computed in C
 * (bounce_query_suppress) against the suppression_candidates view of
 * schema.sql on random histories (verified, unverified and unchecked
 * events mixed), for several thresholds.
 *
 * Databases are created by the store (so the schema is the real one) and
 * filled with plain INSERTs: the classification is not under test.
 */
#include <string.h>

#include <glib/gstdio.h>
#include <sqlite3.h>

#include "bounce-private.h"

/* ------------------------------------------------------------------ */
/* Times                                                              */
/* ------------------------------------------------------------------ */

static void
check_time (const char *text, gboolean end, const char *expected)
{
    g_autoptr (GTimeZone) utc = g_time_zone_new_utc ();
    g_autoptr (GDateTime) now = g_date_time_new (utc, 2026, 11, 30, 12, 0, 0);
    g_autoptr (GError) error = NULL;
    g_autofree char *got = bounce_time_parse (text, now, end, &error);

    if (expected == NULL) {
        g_assert_null (got);
        g_assert_error (error, BOUNCE_ERROR, BOUNCE_ERROR_FAILED);
    } else {
        g_assert_no_error (error);
        g_assert_cmpstr (got, ==, expected);
    }
}

static void
test_time_parse (void)
{
    check_time ("30m", FALSE, "2026-11-30T11:30:00Z");
    check_time ("24h", FALSE, "2026-11-29T12:00:00Z");
    check_time ("7d", FALSE, "2026-11-23T12:00:00Z");
    check_time ("7D", TRUE, "2026-11-23T12:00:00Z");
    check_time (" 2w ", FALSE, "2026-11-16T12:00:00Z");
    check_time ("0d", FALSE, "2026-11-30T12:00:00Z");
    check_time ("2026-11-01", FALSE, "2026-11-01T00:00:00Z");
    check_time ("2026-11-01", TRUE, "2026-11-02T00:00:00Z");
    check_time ("2026-12-31", TRUE, "2027-01-01T00:00:00Z");
    check_time ("2026-11-01T08:00:00Z", TRUE, "2026-11-01T08:00:00Z");
    check_time ("2026-11-01T08:00:00+02:00", FALSE, "2026-11-01T06:00:00Z");
    check_time ("2026-11-01T08:00:00", FALSE, "2026-11-01T08:00:00Z");
    check_time ("2026-02-30", FALSE, NULL);
    check_time ("yesterday", FALSE, NULL);
    check_time ("7x", FALSE, NULL);
    check_time ("-7d", FALSE, NULL);
    check_time ("", FALSE, NULL);
    check_time ("2026-11-01junk", FALSE, NULL);
}

static void
test_groups (void)
{
    BounceGroup g;

    for (int i = BOUNCE_GROUP_REASON; i <= BOUNCE_GROUP_CAMPAIGN; i++) {
        g_assert_true (bounce_group_from_string (
            bounce_group_to_string ((BounceGroup) i), &g));
        g_assert_cmpint (g, ==, i);
    }
    g_assert_true (bounce_group_from_string ("Remote_MTA", &g));
    g_assert_cmpint (g, ==, BOUNCE_GROUP_REMOTE_MTA);
    g_assert_false (bounce_group_from_string ("color", &g));
}

/* ------------------------------------------------------------------ */
/* Databases                                                          */
/* ------------------------------------------------------------------ */

typedef struct {
    char *dir;
    char *path;
    BounceStore *store;
    sqlite3 *db;
} Fixture;

static void
fixture_set_up (Fixture *f, gconstpointer data)
{
    g_autoptr (GError) error = NULL;

    f->dir = g_dir_make_tmp ("test-query-XXXXXX", &error);
    g_assert_no_error (error);
    f->path = g_build_filename (f->dir, "bounces.db", NULL);
    f->store = bounce_store_open (f->path, NULL, &error);
    g_assert_no_error (error);
    f->db = bounce_store_get_db (f->store);
}

static void
fixture_tear_down (Fixture *f, gconstpointer data)
{
    g_autofree char *wal = g_strconcat (f->path, "-wal", NULL);
    g_autofree char *shm = g_strconcat (f->path, "-shm", NULL);

    bounce_store_close (f->store);
    g_remove (f->path);
    g_remove (wal);
    g_remove (shm);
    g_rmdir (f->dir);
    g_free (f->path);
    g_free (f->dir);
}

static void
exec_ok (sqlite3 *db, const char *sql)
{
    char *msg = NULL;

    if (sqlite3_exec (db, sql, NULL, NULL, &msg) != SQLITE_OK)
        g_error ("%s: %s", sql, msg);
}

/* Adds message @id (once) and one event of it. */
static void
add_event (sqlite3 *db,
           int message,
           const char *address,
           const char *outcome,
           const char *reason,
           int hard,
           const char *time)
{
    sqlite3_stmt *stmt;
    const char *at = address != NULL ? strchr (address, '@') : NULL;

    g_assert_cmpint (sqlite3_prepare_v2 (
                         db,
                         "INSERT OR IGNORE INTO messages (id, content_hash,"
                         " received_at, kind, raw_size) VALUES (?1, ?1, ?2,"
                         " 'dsn', 1)",
                         -1, &stmt, NULL),
                     ==, SQLITE_OK);
    sqlite3_bind_int (stmt, 1, message);
    sqlite3_bind_text (stmt, 2, time, -1, SQLITE_STATIC);
    g_assert_cmpint (sqlite3_step (stmt), ==, SQLITE_DONE);
    sqlite3_finalize (stmt);
    g_assert_cmpint (
        sqlite3_prepare_v2 (
            db,
            "INSERT INTO events (message_id, position, address, domain,"
            " registrable_domain, outcome, reason, hard, event_time,"
            " event_time_source) VALUES (?1, 0, ?2, ?3, ?3, ?4, ?5, ?6, ?7,"
            " 'last_attempt')",
            -1, &stmt, NULL),
        ==, SQLITE_OK);
    sqlite3_bind_int (stmt, 1, message);
    sqlite3_bind_text (stmt, 2, address, -1, SQLITE_STATIC);
    sqlite3_bind_text (stmt, 3, at != NULL ? at + 1 : NULL, -1,
                       SQLITE_STATIC);
    sqlite3_bind_text (stmt, 4, outcome, -1, SQLITE_STATIC);
    sqlite3_bind_text (stmt, 5, reason, -1, SQLITE_STATIC);
    if (hard < 0)
        sqlite3_bind_null (stmt, 6);
    else
        sqlite3_bind_int (stmt, 6, hard);
    sqlite3_bind_text (stmt, 7, time, -1, SQLITE_STATIC);
    g_assert_cmpint (sqlite3_step (stmt), ==, SQLITE_DONE);
    sqlite3_finalize (stmt);
}

/* The view's rows as "address why bounces hard soft first last" lines. */
static char *
view_rows (sqlite3 *db)
{
    GString *out = g_string_new (NULL);
    sqlite3_stmt *stmt;

    g_assert_cmpint (sqlite3_prepare_v2 (
                         db,
                         "SELECT address, why, bounces, hard_bounces,"
                         " soft_bounces, first_bounce, last_bounce"
                         " FROM suppression_candidates ORDER BY address",
                         -1, &stmt, NULL),
                     ==, SQLITE_OK);
    while (sqlite3_step (stmt) == SQLITE_ROW)
        g_string_append_printf (
            out, "%s %s %d %d %d %s %s\n", sqlite3_column_text (stmt, 0),
            sqlite3_column_text (stmt, 1), sqlite3_column_int (stmt, 2),
            sqlite3_column_int (stmt, 3), sqlite3_column_int (stmt, 4),
            sqlite3_column_text (stmt, 5), sqlite3_column_text (stmt, 6));
    sqlite3_finalize (stmt);
    return g_string_free (out, FALSE);
}

static char *
query_rows (const BounceTable *t)
{
    GString *out = g_string_new (NULL);

    for (guint r = 0; r < t->rows->len; r++)
        g_string_append_printf (
            out, "%s %s %s %s %s %s %s\n", bounce_table_get (t, r, "address"),
            bounce_table_get (t, r, "why"), bounce_table_get (t, r, "bounces"),
            bounce_table_get (t, r, "hard_bounces"),
            bounce_table_get (t, r, "soft_bounces"),
            bounce_table_get (t, r, "first_bounce"),
            bounce_table_get (t, r, "last_bounce"));
    return g_string_free (out, FALSE);
}

static gint64
query_count (sqlite3 *db, const char *sql)
{
    sqlite3_stmt *stmt;
    gint64 n;

    g_assert_cmpint (sqlite3_prepare_v2 (db, sql, -1, &stmt, NULL), ==,
                     SQLITE_OK);
    g_assert_cmpint (sqlite3_step (stmt), ==, SQLITE_ROW);
    n = sqlite3_column_int64 (stmt, 0);
    sqlite3_finalize (stmt);
    return n;
}

/* One of @users addresses at @domains domains, or (one time in 20)
 * NULL. */
static char *
random_address (GRand *rand, int users, int domains)
{
    if (g_rand_int_range (rand, 0, 20) == 0)
        return NULL;
    return g_strdup_printf ("u%d@d%d.example",
                            g_rand_int_range (rand, 0, users),
                            g_rand_int_range (rand, 0, domains));
}

/* The store's suppression state brought up to date (the addresses the
 * SQL above made stale computed again): what a commit does. */
static void
heal (Fixture *f)
{
    static guint calls;
    g_autoptr (GError) error = NULL;

    /* Every other time in one pass over every event, the way a store
     * computes many stale addresses at once. */
    _bounce_store_set_heal_full (f->store, calls++ % 2 == 0 ? -1 : 20000);
    g_assert_true (bounce_store_begin (f->store, &error));
    g_assert_no_error (error);
    g_assert_true (bounce_store_commit (f->store, &error));
    g_assert_no_error (error);
    g_assert_cmpint (query_count (f->db, "SELECT count (*) FROM"
                                         " suppression_stale"), ==, 0);
}

/* The list from the events alone, as from scratch: a window that holds
 * everything makes bounce_query_suppress read every history. */
static char *
from_scratch (BounceReader *reader, int n, int days)
{
    g_autoptr (BounceTable) t = NULL;
    g_autoptr (GError) error = NULL;
    BounceQueryOptions options;

    bounce_query_options_init (&options);
    options.since = "1970-01-01T00:00:00Z";
    options.soft_count = n;
    options.soft_days = days;
    t = bounce_query_suppress (reader, &options, &error);
    g_assert_no_error (error);
    return query_rows (t);
}

/* Random histories (a fixed seed): bounces of every side, hard, soft
 * and unknown, unknown reasons, deliveries, delays, feedback, and many
 * events at the same second, written in four parts out of time order,
 * the store computing the state of the addresses each part touched;
 * then events marked unverified, deleted and a reason's side changed
 * by hand.  After each step the suppression state (what `suppress`
 * and the suppression_candidates view read) must give the list a
 * recount from the events gives, for each threshold the settings table
 * can hold; so must `suppress` while addresses are stale. */
static void
test_suppress_state (Fixture *f, gconstpointer data)
{
    static const char *const reasons[] = { "userunknown", "mailboxfull",
                                           "blocked", "expired", "filtered",
                                           "spamdetected", "nosuchreason",
                                           NULL };
    static const char *const outcomes[] = { "bounce", "bounce", "bounce",
                                            "bounce", "bounce", "delivered",
                                            "delay", "feedback" };
    static const int thresholds[][2] = { { 3, 7 }, { 1, 0 }, { 2, 3 },
                                         { 5, 1 }, { 3, 30 } };
    static const char *const by_hand[] = {
        /* Verified, unverified (never counts, bounce or delivery) and
         * not checked, mixed. */
        "UPDATE events SET verified = CASE id % 4 WHEN 0 THEN 0"
        " WHEN 1 THEN NULL ELSE 1 END",
        "DELETE FROM events WHERE id % 9 = 0",
        "UPDATE reasons SET who = 'sender' WHERE name = 'mailboxfull'",
        "UPDATE events SET hard = 1 - hard WHERE id % 5 = 0",
    };
    g_autoptr (GRand) rand = g_rand_new_with_seed (20261129);
    g_autoptr (BounceReader) reader = NULL;
    g_autoptr (GError) error = NULL;
    int message = 0;

    for (int part = 0; part < 4; part++) {
        exec_ok (f->db, "BEGIN");
        for (int a = 0; a < 400; a++) {
            g_autofree char *address = g_strdup_printf ("u%d@d%d.example", a,
                                                        a % 7);
            int n = g_rand_int_range (rand, 0, 3);

            for (int i = 0; i < n; i++) {
                /* Within 40 days, on the hour: same times happen. */
                g_autofree char *time = g_strdup_printf (
                    "2026-10-%02dT%02d:00:00Z", g_rand_int_range (rand, 1, 32),
                    g_rand_int_range (rand, 0, 3));
                const char *outcome = outcomes[g_rand_int_range (
                    rand, 0, G_N_ELEMENTS (outcomes))];
                const char *reason = reasons[g_rand_int_range (
                    rand, 0, G_N_ELEMENTS (reasons))];

                add_event (f->db, ++message, address, outcome, reason,
                           g_rand_int_range (rand, -1, 2), time);
            }
        }
        if (part == 0)
            add_event (f->db, ++message, NULL, "bounce", "userunknown", 1,
                       "2026-10-05T00:00:00Z");
        exec_ok (f->db, "COMMIT");
        if (part < 3)
            heal (f);
    }

    reader = bounce_reader_open (f->path, &error);
    g_assert_no_error (error);
    /* Stale (the last part): `suppress` reads their events. */
    g_assert_cmpint (query_count (f->db, "SELECT count (*) FROM"
                                         " suppression_stale"), >, 0);
    for (guint h = 0; h <= G_N_ELEMENTS (by_hand); h++) {
        if (h > 0)
            exec_ok (f->db, by_hand[h - 1]);
        for (guint i = 0; i < G_N_ELEMENTS (thresholds); i++) {
            g_autofree char *sql = g_strdup_printf (
                "UPDATE settings SET value = %d WHERE name = "
                "'suppress_soft_count'; UPDATE settings SET value = %d WHERE "
                "name = 'suppress_soft_days'",
                thresholds[i][0], thresholds[i][1]);
            g_autoptr (BounceTable) stale = NULL;
            g_autoptr (BounceTable) from_settings = NULL;
            g_autoptr (BounceTable) from_options = NULL;
            g_autofree char *expected = NULL;
            g_autofree char *got_stale = NULL;
            g_autofree char *got = NULL;
            g_autofree char *got2 = NULL;
            g_autofree char *view = NULL;
            BounceQueryOptions options;

            exec_ok (f->db, sql);
            expected = from_scratch (reader, thresholds[i][0],
                                     thresholds[i][1]);
            g_assert_cmpuint (strlen (expected), >, 0);
            /* Before the store computes the stale addresses... */
            stale = bounce_query_suppress (reader, NULL, &error);
            g_assert_no_error (error);
            got_stale = query_rows (stale);
            g_assert_cmpstr (got_stale, ==, expected);
            /* ...and after: the thresholds from the settings table, the
             * view... */
            heal (f);
            from_settings = bounce_query_suppress (reader, NULL, &error);
            g_assert_no_error (error);
            got = query_rows (from_settings);
            g_assert_cmpstr (got, ==, expected);
            view = view_rows (f->db);
            g_assert_cmpstr (view, ==, expected);
            /* ...or from the options, whatever the table says. */
            exec_ok (f->db, "UPDATE settings SET value = 99");
            bounce_query_options_init (&options);
            options.soft_count = thresholds[i][0];
            options.soft_days = thresholds[i][1];
            from_options = bounce_query_suppress (reader, &options, &error);
            g_assert_no_error (error);
            got2 = query_rows (from_options);
            g_assert_cmpstr (got2, ==, expected);
        }
    }
}

static int
compare_strings (gconstpointer a, gconstpointer b)
{
    return strcmp (*(const char *const *) a, *(const char *const *) b);
}

/* Every --by grouping against GROUP BY with count (DISTINCT ...) in
 * SQL, on random bounces (several per message, no address, headers). */
static void
test_report_matches_sql (Fixture *f, gconstpointer data)
{
    static const char *const keys[] = {
        [BOUNCE_GROUP_REASON] = "coalesce (e.reason, 'unknown')",
        [BOUNCE_GROUP_DOMAIN] = "coalesce (e.registrable_domain, '(unknown)')",
        [BOUNCE_GROUP_DAY] = "substr (e.event_time, 1, 10)",
        [BOUNCE_GROUP_WEEK] = "date (e.event_time, 'weekday 0', '-6 days')",
        [BOUNCE_GROUP_MTA] = "coalesce (m.mta, '(unknown)')",
        [BOUNCE_GROUP_REMOTE_MTA] = "coalesce (e.remote_mta, '(unknown)')",
        [BOUNCE_GROUP_RECIPIENT] = "coalesce (e.address, '(unknown)')",
        [BOUNCE_GROUP_SENDER] = "coalesce (m.orig_from, '(unknown)')",
        [BOUNCE_GROUP_CAMPAIGN] = "coalesce (h.value, '(none)')",
    };
    static const char *const reasons[] = { "userunknown", "mailboxfull",
                                           "blocked", NULL };
    g_autoptr (GRand) rand = g_rand_new_with_seed (7);
    g_autoptr (BounceReader) reader = NULL;
    g_autoptr (GError) error = NULL;

    exec_ok (f->db, "BEGIN");
    for (int m = 1; m <= 300; m++) {
        int n = g_rand_int_range (rand, 1, 4);

        for (int i = 0; i < n; i++) {
            g_autofree char *address = random_address (rand, 60, 5);
            g_autofree char *time = g_strdup_printf (
                "2026-%02d-%02dT10:00:00Z", g_rand_int_range (rand, 9, 12),
                g_rand_int_range (rand, 1, 29));

            add_event (f->db, m, address,
                       g_rand_int_range (rand, 0, 5) ? "bounce" : "delay",
                       reasons[g_rand_int_range (rand, 0, 4)],
                       g_rand_int_range (rand, -1, 2), time);
        }
    }
    exec_ok (f->db,
             "UPDATE messages SET mta = CASE id % 3 WHEN 0 THEN 'postfix'"
             " WHEN 1 THEN 'exim' END, orig_from = 's' || (id % 4) || '@x';"
             " UPDATE events SET remote_mta = 'mx' || (id % 5);"
             " INSERT INTO message_headers SELECT id, 'x-campaign-id',"
             " 'c' || (id % 6) FROM messages WHERE id % 7 <> 0;"
             " COMMIT");
    reader = bounce_reader_open (f->path, &error);
    g_assert_no_error (error);
    for (int g = BOUNCE_GROUP_REASON; g <= BOUNCE_GROUP_CAMPAIGN; g++) {
        g_autofree char *sql = g_strdup_printf (
            "SELECT %s AS k, count (*), count (DISTINCT e.address),"
            " count (DISTINCT e.message_id), sum (e.hard IS 1),"
            " sum (e.hard IS NOT 1) FROM events e"
            " JOIN messages m ON m.id = e.message_id"
            " LEFT JOIN message_headers h ON h.message_id = e.message_id"
            " AND h.name = 'x-campaign-id'"
            " WHERE e.outcome = 'bounce' GROUP BY 1 ORDER BY 1",
            keys[g]);
        g_autoptr (BounceTable) t = NULL;
        g_autoptr (GString) expected = g_string_new (NULL);
        g_autoptr (GPtrArray) lines = g_ptr_array_new_with_free_func (g_free);
        g_autofree char *got = NULL;
        sqlite3_stmt *stmt;

        g_assert_cmpint (sqlite3_prepare_v2 (f->db, sql, -1, &stmt, NULL), ==,
                         SQLITE_OK);
        while (sqlite3_step (stmt) == SQLITE_ROW)
            g_string_append_printf (
                expected, "%s %d %d %d %d %d\n", sqlite3_column_text (stmt, 0),
                sqlite3_column_int (stmt, 1), sqlite3_column_int (stmt, 2),
                sqlite3_column_int (stmt, 3), sqlite3_column_int (stmt, 4),
                sqlite3_column_int (stmt, 5));
        sqlite3_finalize (stmt);

        /* Without a window message groups come from a map of the
         * messages; with one, from a join: both must agree. */
        for (int windowed = 0; windowed < 2; windowed++) {
            BounceQueryOptions options;

            bounce_query_options_init (&options);
            if (windowed)
                options.since = "2026-01-01T00:00:00Z";
            g_clear_pointer (&t, bounce_table_free);
            g_ptr_array_set_size (lines, 0);
            g_clear_pointer (&got, g_free);
            t = bounce_query_report (reader, (BounceGroup) g, &options, &error);
            g_assert_no_error (error);
            for (guint r = 0; r < t->rows->len; r++) {
                GPtrArray *row = t->rows->pdata[r];

                g_ptr_array_add (lines, g_strdup_printf (
                                            "%s %s %s %s %s %s\n",
                                            (char *) row->pdata[0],
                                            (char *) row->pdata[1],
                                            (char *) row->pdata[2],
                                            (char *) row->pdata[3],
                                            (char *) row->pdata[4],
                                            (char *) row->pdata[5]));
            }
            /* By key, as the SQL orders them. */
            g_ptr_array_sort (lines, compare_strings);
            g_ptr_array_add (lines, NULL);
            got = g_strjoinv ("", (char **) lines->pdata);
            g_test_message ("by %s", bounce_group_to_string ((BounceGroup) g));
            g_assert_cmpstr (got, ==, expected->str);
            g_assert_cmpuint (strlen (got), >, 0);
        }
    }
}

/* The overview: totals, and a trend with every day of the range. */
static void
test_overview (Fixture *f, gconstpointer data)
{
    g_autoptr (BounceReader) reader = NULL;
    g_autoptr (BounceOverview) ov = NULL;
    g_autoptr (GError) error = NULL;
    g_autoptr (JsonNode) json = NULL;
    g_autoptr (JsonGenerator) gen = json_generator_new ();
    g_autofree char *text = NULL;
    BounceQueryOptions options;

    add_event (f->db, 1, "a@x.example", "bounce", "userunknown", 1,
               "2026-11-02T10:00:00Z");
    add_event (f->db, 1, "b@x.example", "bounce", "userunknown", 1,
               "2026-11-02T10:00:00Z");
    add_event (f->db, 2, "a@x.example", "bounce", "mailboxfull", 0,
               "2026-11-04T23:59:59Z");
    add_event (f->db, 3, "c@y.example", "bounce", NULL, -1,
               "2026-11-05T00:00:00Z");
    add_event (f->db, 4, "c@y.example", "delivered", "delivered", 0,
               "2026-11-06T00:00:00Z");
    reader = bounce_reader_open (f->path, &error);
    g_assert_no_error (error);
    bounce_query_options_init (&options);
    options.until = "2026-11-05T00:00:00Z";
    options.top = 1;
    ov = bounce_query_overview (reader, &options, "2026-11-01", "2026-11-05",
                                &error);
    g_assert_no_error (error);

    json = bounce_table_to_json (ov->totals);
    json_generator_set_root (gen, json);
    text = json_generator_to_data (gen, NULL);
    g_assert_cmpstr (text, ==,
                     "[{\"bounces\":3,\"recipients\":2,\"messages\":2,"
                     "\"hard\":2,\"soft\":1,"
                     "\"first\":\"2026-11-02T10:00:00Z\","
                     "\"last\":\"2026-11-04T23:59:59Z\"}]");
    g_assert_cmpuint (ov->reasons->rows->len, ==, 2);
    g_assert_cmpstr (bounce_table_get (ov->reasons, 0, "reason"), ==,
                     "userunknown");
    g_assert_cmpstr (bounce_table_get (ov->reasons, 0, "who"), ==,
                     "recipient");
    g_assert_cmpuint (ov->domains->rows->len, ==, 1);
    g_assert_cmpstr (bounce_table_get (ov->domains, 0, "domain"), ==,
                     "x.example");
    g_assert_cmpuint (ov->trend->rows->len, ==, 5);
    for (guint r = 0; r < 5; r++) {
        static const char *const counts[] = { "0", "2", "0", "1", "0" };

        g_assert_cmpstr (bounce_table_get (ov->trend, r, "bounces"), ==,
                         counts[r]);
    }
    g_assert_cmpstr (bounce_table_get (ov->trend, 4, "day"), ==,
                     "2026-11-05");

    /* A NULL value is null in JSON, an unknown column NULL. */
    {
        g_autoptr (BounceTable) t = bounce_query_history (reader, NULL,
                                                          &error);
        g_autoptr (JsonNode) row = NULL;

        g_assert_no_error (error);
        g_assert_cmpuint (t->rows->len, ==, 5);
        g_assert_null (bounce_table_get (t, 3, "reason"));
        g_assert_null (bounce_table_get (t, 0, "no such column"));
        row = bounce_table_row_to_json (t, 3);
        g_assert_true (json_object_get_null_member (
            json_node_get_object (row), "reason"));
        g_assert_cmpint (json_object_get_int_member (
                             json_node_get_object (row), "message_id"),
                         ==, 3);
    }
}

/* The overview's messages: each once, under its first outcome; those
 * without recipients by when they came; the days by whose side. */
static void
test_overview_outcomes (Fixture *f, gconstpointer data)
{
    g_autoptr (BounceReader) reader = NULL;
    g_autoptr (BounceOverview) ov = NULL;
    g_autoptr (GError) error = NULL;
    g_autoptr (GString) got = g_string_new (NULL);
    BounceQueryOptions options;

    /* A bounce and a delay in one message: counted as a bounce. */
    add_event (f->db, 1, "a@x.example", "bounce", "userunknown", 1,
               "2026-11-02T10:00:00Z");
    add_event (f->db, 1, "b@x.example", "delay", "mailboxfull", 0,
               "2026-11-02T10:00:00Z");
    add_event (f->db, 2, "c@x.example", "delay", "mailboxfull", 0,
               "2026-11-03T10:00:00Z");
    add_event (f->db, 3, "d@x.example", "delivered", "delivered", 0,
               "2026-11-03T11:00:00Z");
    add_event (f->db, 4, "e@x.example", "feedback", "feedback", 0,
               "2026-11-03T12:00:00Z");
    add_event (f->db, 5, "f@x.example", "autoreply", "vacation", 0,
               "2026-11-04T12:00:00Z");
    add_event (f->db, 6, "g@x.example", "bounce", "blocked", 0,
               "2026-11-04T12:00:00Z");
    add_event (f->db, 7, "h@x.example", "bounce", "networkerror", 0,
               "2026-11-04T13:00:00Z");
    add_event (f->db, 8, "i@x.example", "bounce", NULL, -1,
               "2026-11-04T14:00:00Z");
    /* Outside the window. */
    add_event (f->db, 9, "j@x.example", "bounce", "userunknown", 1,
               "2026-10-04T14:00:00Z");
    /* Without recipients: one in the window, one before it. */
    exec_ok (f->db, "INSERT INTO messages (id, content_hash, received_at,"
                    " kind, raw_size) VALUES (10, 'h10',"
                    " '2026-11-03T00:00:00Z', 'not-bounce', 1),"
                    " (11, 'h11', '2026-10-01T00:00:00Z', 'unparsable', 1)");
    reader = bounce_reader_open (f->path, &error);
    g_assert_no_error (error);
    bounce_query_options_init (&options);
    options.since = "2026-11-01T00:00:00Z";
    options.until = "2026-11-10T00:00:00Z";
    ov = bounce_query_overview (reader, &options, "2026-11-02", "2026-11-04",
                                &error);
    g_assert_no_error (error);

    for (guint r = 0; r < ov->outcomes->rows->len; r++)
        g_string_append_printf (
            got, "%s %s %s;", bounce_table_get (ov->outcomes, r, "outcome"),
            bounce_table_get (ov->outcomes, r, "messages"),
            bounce_table_get (ov->outcomes, r, "recipients") != NULL
                ? bounce_table_get (ov->outcomes, r, "recipients")
                : "-");
    g_assert_cmpstr (got->str, ==,
                     "bounce 4 4;delay 1 2;delivered 1 1;feedback 1 1;"
                     "autoreply 1 1;none 1 0;all 9 -;");
    g_assert_cmpstr (bounce_table_get (ov->totals, 0, "messages"), ==, "4");

    g_string_truncate (got, 0);
    for (guint r = 0; r < ov->trend->rows->len; r++)
        g_string_append_printf (
            got, "%s %s: %s %s %s %s;",
            bounce_table_get (ov->trend, r, "day"),
            bounce_table_get (ov->trend, r, "bounces"),
            bounce_table_get (ov->trend, r, "who_recipient"),
            bounce_table_get (ov->trend, r, "who_sender"),
            bounce_table_get (ov->trend, r, "who_receiving_admin"),
            bounce_table_get (ov->trend, r, "who_other"));
    g_assert_cmpstr (got->str, ==,
                     "2026-11-02 1: 1 0 0 0;2026-11-03 0: 0 0 0 0;"
                     "2026-11-04 3: 0 1 1 1;");
}

/* The overview's tables as one text. */
static char *
overview_text (const BounceOverview *ov)
{
    const BounceTable *tables[] = { ov->totals, ov->reasons, ov->domains,
                                    ov->trend, ov->outcomes };
    g_autoptr (JsonGenerator) gen = json_generator_new ();
    GString *out = g_string_new (NULL);

    for (guint i = 0; i < G_N_ELEMENTS (tables); i++) {
        g_autoptr (JsonNode) json = bounce_table_to_json (tables[i]);
        g_autofree char *text = NULL;

        json_generator_set_root (gen, json);
        text = json_generator_to_data (gen, NULL);
        g_string_append_printf (out, "%s\n", text);
    }
    return g_string_free (out, FALSE);
}

/* The overview of the whole history from the sums (schema version 11)
 * and from the events (a window that holds everything). */
static void
check_sums (Fixture *f)
{
    g_autoptr (BounceReader) reader = NULL;
    g_autoptr (BounceOverview) sums = NULL;
    g_autoptr (BounceOverview) events = NULL;
    g_autoptr (GError) error = NULL;
    g_autofree char *from_sums = NULL;
    g_autofree char *from_events = NULL;
    BounceQueryOptions options;

    reader = bounce_reader_open (f->path, &error);
    g_assert_no_error (error);
    bounce_query_options_init (&options);
    options.top = 3;
    sums = bounce_query_overview (reader, &options, "2026-10-25",
                                  "2026-11-20", &error);
    g_assert_no_error (error);
    options.since = "1970-01-01T00:00:00Z";
    options.until = "2100-01-01T00:00:00Z";
    events = bounce_query_overview (reader, &options, "2026-10-25",
                                    "2026-11-20", &error);
    g_assert_no_error (error);
    from_sums = overview_text (sums);
    from_events = overview_text (events);
    g_assert_cmpstr (from_sums, ==, from_events);
    /* Not an empty comparison. */
    g_assert_nonnull (strstr (from_sums, "\"outcome\":\"delay\""));
}

/* The sums the triggers keep (report_days and the others) give the
 * overview the events give: on random histories (NULL reasons,
 * addresses and hardness, several outcomes in a message, messages
 * without events), then after UPDATEs and DELETEs by hand. */
static void
test_overview_sums (Fixture *f, gconstpointer data)
{
    static const char *const outcomes[] = { "bounce", "bounce", "bounce",
                                            "delay", "delivered",
                                            "feedback", "autoreply",
                                            "unknown" };
    static const char *const reasons[] = { "userunknown", "mailboxfull",
                                           "blocked", "expired", NULL,
                                           "nosuchreason" };
    g_autoptr (GRand) rand = g_rand_new_with_seed (13);

    exec_ok (f->db, "BEGIN");
    for (int i = 0; i < 3000; i++) {
        int message = 1 + g_rand_int_range (rand, 0, 900);
        g_autofree char *address = random_address (rand, 300, 12);
        g_autofree char *time = g_strdup_printf (
            "2026-11-%02dT%02d:00:00Z", g_rand_int_range (rand, 1, 31),
            g_rand_int_range (rand, 0, 24));

        add_event (f->db, message, address,
                   outcomes[g_rand_int_range (rand, 0,
                                              G_N_ELEMENTS (outcomes))],
                   reasons[g_rand_int_range (rand, 0, G_N_ELEMENTS (reasons))],
                   g_rand_int_range (rand, -1, 2), time);
    }
    exec_ok (f->db, "INSERT INTO messages (id, content_hash, received_at,"
                    " kind, raw_size) VALUES (5000, 'h5000',"
                    " '2026-11-03T00:00:00Z', 'not-bounce', 1)");
    exec_ok (f->db, "COMMIT");
    check_sums (f);

    exec_ok (f->db, "UPDATE events SET outcome = 'delay' WHERE id % 5 = 0");
    exec_ok (f->db, "UPDATE events SET reason = NULL, hard = 1"
                    " WHERE id % 7 = 0");
    exec_ok (f->db, "UPDATE events SET registrable_domain = NULL,"
                    " address = upper (address) WHERE id % 11 = 0");
    exec_ok (f->db, "UPDATE events SET message_id = (SELECT min (id) FROM"
                    " messages),"
                    " event_time = '2026-10-30T00:00:00Z' WHERE id % 13 = 0");
    exec_ok (f->db, "DELETE FROM events WHERE id % 17 = 0");
    exec_ok (f->db, "DELETE FROM messages WHERE id % 19 = 0");
    check_sums (f);
}

/* The thresholds are compared by one text: the view's, which the
 * reader and the store run too. */
static void
test_policy_once (Fixture *f, gconstpointer data)
{
    const char *policy = _bounce_suppression_policy ();
    sqlite3_stmt *stmt;
    const char *view;

    g_assert_nonnull (strstr (policy, "t.soft_count"));
    g_assert_nonnull (strstr (policy, "t.soft_days"));
    g_assert_cmpint (sqlite3_prepare_v2 (f->db,
                                         "SELECT sql FROM sqlite_schema"
                                         " WHERE name ="
                                         " 'suppression_candidates'",
                                         -1, &stmt, NULL),
                     ==, SQLITE_OK);
    g_assert_cmpint (sqlite3_step (stmt), ==, SQLITE_ROW);
    view = (const char *) sqlite3_column_text (stmt, 0);
    g_assert_nonnull (strstr (view, policy));
    /* Once in the view, too. */
    g_assert_null (strstr (strstr (view, policy) + 1, policy));
    sqlite3_finalize (stmt);
}

static void
test_reader_errors (Fixture *f, gconstpointer data)
{
    g_autoptr (GError) error = NULL;
    g_autofree char *junk = g_build_filename (f->dir, "junk.db", NULL);
    BounceReader *reader;

    reader = bounce_reader_open ("/nonexistent/bounces.db", &error);
    g_assert_null (reader);
    g_assert_error (error, BOUNCE_ERROR, BOUNCE_ERROR_INPUT);
    g_clear_error (&error);

    g_assert_true (g_file_set_contents (junk, "not a database at all, "
                                              "really not", -1, NULL));
    reader = bounce_reader_open (junk, &error);
    g_assert_null (reader);
    g_assert_error (error, BOUNCE_ERROR, BOUNCE_ERROR_STORE);
    g_clear_error (&error);
    g_remove (junk);

    /* A newer schema is read (versions only add). */
    exec_ok (f->db, "PRAGMA user_version = 99");
    reader = bounce_reader_open (f->path, &error);
    g_assert_no_error (error);
    g_assert_cmpint (bounce_reader_get_schema_version (reader), ==, 99);
    bounce_reader_free (reader);
    /* One before version 2 (no reasons table) is not. */
    exec_ok (f->db, "PRAGMA user_version = 1");
    reader = bounce_reader_open (f->path, &error);
    g_assert_null (reader);
    g_assert_error (error, BOUNCE_ERROR, BOUNCE_ERROR_STORE);
    exec_ok (f->db, "PRAGMA user_version = " G_STRINGIFY (
                        BOUNCE_STORE_SCHEMA_VERSION));
}

int
main (int argc, char **argv)
{
    g_test_init (&argc, &argv, NULL);
    g_test_add_func ("/query/time-parse", test_time_parse);
    g_test_add_func ("/query/groups", test_groups);
    g_test_add ("/query/suppress-state", Fixture, NULL,
                fixture_set_up, test_suppress_state,
                fixture_tear_down);
    g_test_add ("/query/report-matches-sql", Fixture, NULL, fixture_set_up,
                test_report_matches_sql, fixture_tear_down);
    g_test_add ("/query/overview", Fixture, NULL, fixture_set_up,
                test_overview, fixture_tear_down);
    g_test_add ("/query/overview-outcomes", Fixture, NULL, fixture_set_up,
                test_overview_outcomes, fixture_tear_down);
    g_test_add ("/query/overview-sums", Fixture, NULL, fixture_set_up,
                test_overview_sums, fixture_tear_down);
    g_test_add ("/query/policy-once", Fixture, NULL, fixture_set_up,
                test_policy_once, fixture_tear_down);
    g_test_add ("/query/reader-errors", Fixture, NULL, fixture_set_up,
                test_reader_errors, fixture_tear_down);
    return g_test_run ();
}
