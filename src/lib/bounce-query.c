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
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

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
    BounceError code;

    switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        code = BOUNCE_ERROR_STORE_BUSY;
        break;
    case SQLITE_IOERR:
    case SQLITE_NOMEM:
        code = BOUNCE_ERROR_STORE_FULL;
        break;
    default:
        code = BOUNCE_ERROR_STORE;
        break;
    }
    g_set_error (error, BOUNCE_ERROR, code, "database %s: %s: %s",
                 reader->path, what, msg);
    return FALSE;
}

/* ------------------------------------------------------------------ */
/* BounceReader                                                       */
/* ------------------------------------------------------------------ */

BounceReader *
bounce_reader_open (const char *path, GError **error)
{
    g_autoptr (BounceReader) reader = NULL;
    sqlite3_stmt *stmt = NULL;
    int rc;

    g_return_val_if_fail (path != NULL, NULL);

    reader = g_new0 (BounceReader, 1);
    reader->path = g_strdup (path);
    if (!g_file_test (path, G_FILE_TEST_IS_REGULAR)) {
        g_set_error (error, BOUNCE_ERROR, BOUNCE_ERROR_INPUT,
                     "database %s does not exist (run 'bouncestat ingest' "
                     "first)", path);
        return NULL;
    }
    rc = sqlite3_open_v2 (path, &reader->db,
                          SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        set_db_error (error, reader, rc, "opening");
        return NULL;
    }
    sqlite3_extended_result_codes (reader->db, 1);
    sqlite3_busy_timeout (reader->db, BOUNCE_READER_BUSY_TIMEOUT_MS);

    rc = sqlite3_prepare_v2 (reader->db, "PRAGMA user_version", -1, &stmt,
                             NULL);
    if (rc == SQLITE_OK && (rc = sqlite3_step (stmt)) == SQLITE_ROW)
        reader->schema_version = sqlite3_column_int (stmt, 0);
    sqlite3_finalize (stmt);
    if (rc != SQLITE_ROW) {
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

static BounceTable *
table_new (guint n_columns)
{
    BounceTable *table = g_new0 (BounceTable, 1);

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
    g_free (table);
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

static BounceTable *
query_run (BounceReader *reader, Query *q, GError **error)
{
    g_autoptr (BounceTable) table = NULL;
    sqlite3_stmt *stmt = NULL;
    int rc;
    guint n;

    rc = sqlite3_prepare_v2 (reader->db, q->sql->str, (int) q->sql->len,
                             &stmt, NULL);
    if (rc != SQLITE_OK) {
        set_db_error (error, reader, rc, "preparing a query");
        return NULL;
    }
    for (guint i = 0; i < q->params->len; i++) {
        const Param *p = &g_array_index (q->params, Param, i);

        if (p->is_int)
            sqlite3_bind_int64 (stmt, (int) i + 1, p->number);
        else if (p->text == NULL)
            sqlite3_bind_null (stmt, (int) i + 1);
        else
            sqlite3_bind_text (stmt, (int) i + 1, p->text, -1, SQLITE_STATIC);
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

        g_string_append_printf (q->sql, " AND (%s.domain = ", alias);
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
} groups[] = {
    [BOUNCE_GROUP_REASON] = { "reason", "reason",
                              "coalesce (e.reason, 'unknown')", NULL },
    [BOUNCE_GROUP_DOMAIN] = { "domain", "domain",
                              "coalesce (e.registrable_domain, e.domain, "
                              "'(unknown)')", NULL },
    [BOUNCE_GROUP_DAY] = { "day", "day", "substr (e.event_time, 1, 10)",
                           NULL },
    /* The Monday that starts the (ISO) week. */
    [BOUNCE_GROUP_WEEK] = { "week", "week",
                            "date (e.event_time, 'weekday 0', '-6 days')",
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
    g_return_val_if_fail ((guint) group < G_N_ELEMENTS (groups), NULL);
    return groups[group].name;
}

gboolean
bounce_group_from_string (const char *name, BounceGroup *out_group)
{
    for (guint i = 0; i < G_N_ELEMENTS (groups); i++)
        if (g_ascii_strcasecmp (name, groups[i].name) == 0 ||
            g_ascii_strcasecmp (name, groups[i].column) == 0) {
            *out_group = (BounceGroup) i;
            return TRUE;
        }
    return FALSE;
}

/* The counts every report row has. */
#define COUNTS                                                               \
    "count (*) AS bounces, count (DISTINCT e.address) AS recipients, "      \
    "count (DISTINCT e.message_id) AS messages, "                           \
    "sum (e.hard IS 1) AS hard, sum (e.hard IS NOT 1) AS soft"

BounceTable *
bounce_query_report (BounceReader *reader,
                     BounceGroup group,
                     const BounceQueryOptions *options,
                     GError **error)
{
    BounceQueryOptions defaults;
    const BounceQueryOptions *o = options_or_default (options, &defaults);
    gboolean by_time = group == BOUNCE_GROUP_DAY || group == BOUNCE_GROUP_WEEK;
    BounceTable *table;
    Query q;

    g_return_val_if_fail ((guint) group < G_N_ELEMENTS (groups), NULL);

    query_init (&q);
    if (by_time)
        g_string_append (q.sql, "SELECT * FROM (");
    g_string_append_printf (q.sql, "SELECT %s AS %s, " COUNTS,
                            groups[group].key, groups[group].column);
    if (group == BOUNCE_GROUP_REASON)
        g_string_append (q.sql, ", (SELECT who FROM reasons r"
                                " WHERE r.name = e.reason) AS who");
    g_string_append (q.sql, " FROM events e");
    if (groups[group].join != NULL)
        g_string_append (q.sql, groups[group].join);
    if (group == BOUNCE_GROUP_CAMPAIGN) {
        g_autofree char *name = g_ascii_strdown (
            o->campaign_header != NULL ? o->campaign_header
                                       : DEFAULT_CAMPAIGN_HEADER, -1);

        query_add (&q, " LEFT JOIN message_headers h"
                       " ON h.message_id = e.message_id AND h.name = ?",
                   name);
    }
    g_string_append (q.sql, " WHERE e.outcome = 'bounce'");
    add_filters (&q, o, "e");
    g_string_append (q.sql, " GROUP BY 1");
    /* Times come newest first for --top, then in order. */
    if (by_time)
        g_string_append (q.sql, " ORDER BY 1 DESC");
    else
        g_string_append (q.sql, " ORDER BY bounces DESC, 1");
    if (o->top > 0)
        query_add (&q, " LIMIT #", (gint64) o->top);
    if (by_time)
        g_string_append (q.sql, ") ORDER BY 1");
    table = query_run (reader, &q, error);
    query_clear (&q);
    return table;
}

BounceTable *
bounce_query_totals (BounceReader *reader,
                     const BounceQueryOptions *options,
                     GError **error)
{
    BounceQueryOptions defaults;
    const BounceQueryOptions *o = options_or_default (options, &defaults);
    BounceTable *table;
    Query q;

    query_init (&q);
    g_string_append (q.sql, "SELECT " COUNTS ", min (e.event_time) AS first,"
                            " max (e.event_time) AS last"
                            " FROM events e WHERE e.outcome = 'bounce'");
    add_filters (&q, o, "e");
    table = query_run (reader, &q, error);
    query_clear (&q);
    return table;
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

BounceTable *
bounce_query_trend (BounceReader *reader,
                    const BounceQueryOptions *options,
                    const char *first_day,
                    const char *last_day,
                    GError **error)
{
    BounceQueryOptions defaults;
    const BounceQueryOptions *o = options_or_default (options, &defaults);
    g_autoptr (BounceTable) found = NULL;
    BounceTable *table;
    GDate day, last;
    guint next = 0;
    Query q;

    char end[16];

    if (!parse_day (first_day, &day) || !parse_day (last_day, &last)) {
        g_set_error (error, BOUNCE_ERROR, BOUNCE_ERROR_FAILED,
                     "trend: days must be YYYY-MM-DD");
        return NULL;
    }
    /* The day after the last one, the (exclusive) end. */
    g_date_add_days (&last, 1);
    g_date_strftime (end, sizeof end, "%Y-%m-%d", &last);
    g_date_subtract_days (&last, 1);
    query_init (&q);
    query_add (&q, "SELECT substr (e.event_time, 1, 10) AS day,"
                   " count (*) AS bounces, sum (e.hard IS 1) AS hard,"
                   " sum (e.hard IS NOT 1) AS soft FROM events e"
                   " WHERE e.outcome = 'bounce' AND e.event_time >= ?"
                   " AND e.event_time < ?",
               first_day, end);
    add_filters (&q, o, "e");
    g_string_append (q.sql, " GROUP BY 1 ORDER BY 1");
    found = query_run (reader, &q, error);
    query_clear (&q);
    if (found == NULL)
        return NULL;

    /* Every day from first to last, with zeros where nothing bounced. */
    table = table_new (4);
    for (guint c = 0; c < 4; c++) {
        table->columns[c] = g_strdup (found->columns[c]);
        table->types[c] = c == 0 ? BOUNCE_VALUE_TEXT : BOUNCE_VALUE_INTEGER;
    }
    for (; g_date_compare (&day, &last) <= 0; g_date_add_days (&day, 1)) {
        char key[16];
        GPtrArray *cells = g_ptr_array_new_full (4, g_free);
        GPtrArray *hit = NULL;

        g_date_strftime (key, sizeof key, "%Y-%m-%d", &day);
        if (next < found->rows->len) {
            GPtrArray *row = found->rows->pdata[next];

            if (strcmp (row->pdata[0], key) == 0) {
                hit = row;
                next++;
            }
        }
        g_ptr_array_add (cells, g_strdup (key));
        for (guint c = 1; c < 4; c++)
            g_ptr_array_add (cells, g_strdup (hit != NULL ? hit->pdata[c]
                                                          : "0"));
        g_ptr_array_add (table->rows, cells);
    }
    return table;
}

/* ------------------------------------------------------------------ */
/* suppress                                                           */
/* ------------------------------------------------------------------ */

/* The policy of the suppression_candidates view of schema.sql, with the
 * soft-bounce thresholds as parameters (the view reads them from the
 * settings table, which a read-only reader cannot change).  Keep the two
 * in step. */
BounceTable *
bounce_query_suppress (BounceReader *reader,
                       const BounceQueryOptions *options,
                       GError **error)
{
    BounceQueryOptions defaults;
    const BounceQueryOptions *o = options_or_default (options, &defaults);
    BounceTable *table;
    Query q;

    query_init (&q);
    g_string_append (q.sql, "WITH cfg AS (SELECT ");
    if (o->soft_count >= 0)
        query_add (&q, "# AS n", (gint64) o->soft_count);
    else
        g_string_append (q.sql, "(SELECT value FROM settings"
                                " WHERE name = 'suppress_soft_count') AS n");
    if (o->soft_days >= 0)
        query_add (&q, ", # AS d", (gint64) o->soft_days);
    else
        g_string_append (q.sql, ", (SELECT value FROM settings"
                                " WHERE name = 'suppress_soft_days') AS d");
    g_string_append (
        q.sql,
        "), delivered AS ("
        " SELECT d.address, max (d.event_time) AS t FROM events d"
        " WHERE d.outcome = 'delivered' AND d.address IS NOT NULL");
    if (o->match != NULL) {
        BounceQueryOptions only_match = *o;

        only_match.since = only_match.until = NULL;
        add_filters (&q, &only_match, "d");
    }
    g_string_append (
        q.sql,
        " GROUP BY d.address"
        "), counted AS ("
        " SELECT e.id, e.address, e.domain, e.registrable_domain,"
        "  e.event_time,"
        "  (e.hard IS 1 AND r.who = 'recipient') AS is_hard,"
        "  (e.hard IS NOT 1) AS is_soft"
        " FROM events e"
        " LEFT JOIN reasons r ON r.name = e.reason"
        " LEFT JOIN delivered ok ON ok.address = e.address"
        " WHERE e.outcome = 'bounce' AND e.address IS NOT NULL"
        "  AND (r.who IS NULL OR r.who <> 'sender')"
        "  AND (ok.t IS NULL OR e.event_time > ok.t)");
    add_filters (&q, o, "e");
    g_string_append (
        q.sql,
        "), per_address AS ("
        " SELECT address, domain, registrable_domain,"
        "  min (event_time) AS first_bounce,"
        /* The latest counted bounce: its time and id in one sortable
         * string, so that one max () finds it. */
        "  max (event_time || ' ' || printf ('%020d', id)) AS latest,"
        "  count (*) AS bounces,"
        "  sum (is_hard) AS hard_bounces, sum (is_soft) AS soft_bounces,"
        "  min (CASE WHEN is_soft THEN event_time END) AS first_soft,"
        "  max (CASE WHEN is_soft THEN event_time END) AS last_soft"
        " FROM counted GROUP BY address"
        ")"
        " SELECT p.address,"
        "  CASE WHEN p.hard_bounces > 0 THEN 'hard' ELSE 'soft' END AS why,"
        "  l.reason AS reason, l.status AS status,"
        "  p.first_bounce, substr (p.latest, 1, length (p.latest) - 21)"
        "   AS last_bounce,"
        "  p.bounces, p.hard_bounces, p.soft_bounces,"
        "  coalesce (p.registrable_domain, p.domain) AS domain,"
        "  l.diagnostic AS diagnostic"
        " FROM per_address p, cfg"
        " JOIN events l ON l.id = CAST (substr (p.latest, -20) AS INTEGER)"
        " WHERE p.hard_bounces > 0"
        "  OR (p.soft_bounces >= cfg.n"
        "   AND julianday (p.last_soft) - julianday (p.first_soft) >= cfg.d)"
        " ORDER BY p.address");
    table = query_run (reader, &q, error);
    query_clear (&q);
    return table;
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
        " m.orig_subject AS subject, m.source, e.message_id"
        " FROM events e JOIN messages m ON m.id = e.message_id"
        " WHERE 1");
    add_filters (&q, o, "e");
    g_string_append (q.sql, " ORDER BY e.event_time, e.id");
    table = query_run (reader, &q, error);
    query_clear (&q);
    return table;
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
