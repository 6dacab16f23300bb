/*
 * bounce-suppress.c - the suppression policy, in one place: which events
 * of an address's history count, streamed in time order.
 *
 * A bounce counts unless it is unverified (events.verified = 0: maybe
 * forged) or its reason is sender-side (reasons.who = 'sender': stopping
 * mail to the address would not help).  A counted bounce is hard when
 * the event is hard and its reason recipient-side, soft when the event
 * is not hard.  A delivery (not unverified) clears everything before it.
 * The store keeps the result per address in suppression_state
 * (bounce-store.c); `suppress` and the suppression_candidates view read
 * it, and decide with the thresholds by one SQL text: the view's, between
 * the "-- @policy" lines of schema.sql (_bounce_suppression_policy).
 * The second half of the file is the list `suppress` prints
 * (bounce_query_suppress): from the state, or from the events for a
 * window and for the addresses a write by hand made stale.
 */
#include <string.h>

#include "bounce-query-private.h"

GHashTable *
_bounce_reason_sides (sqlite3 *db, int *out_rc)
{
    GHashTable *sides =
        g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
    sqlite3_stmt *stmt = NULL;
    int rc = sqlite3_prepare_v2 (db, "SELECT name, who FROM reasons", -1,
                                 &stmt, NULL);

    while (rc == SQLITE_OK && (rc = sqlite3_step (stmt)) == SQLITE_ROW) {
        const char *name = (const char *) sqlite3_column_text (stmt, 0);
        const char *who = (const char *) sqlite3_column_text (stmt, 1);

        rc = SQLITE_OK;
        if (name != NULL && who != NULL)
            g_hash_table_insert (sides, g_strdup (name), g_strdup (who));
    }
    sqlite3_finalize (stmt);
    *out_rc = rc == SQLITE_DONE ? SQLITE_OK : rc;
    if (*out_rc != SQLITE_OK)
        g_clear_pointer (&sides, g_hash_table_unref);
    return sides;
}

static void
set (char **field, const char *value)
{
    if (g_strcmp0 (*field, value) == 0)
        return;
    g_free (*field);
    *field = g_strdup (value);
}

/* Forgets the bounces (a delivery came after them). */
static void
state_reset (BounceSuppression *s)
{
    s->bounces = s->hard = s->soft = 0;
    g_clear_pointer (&s->first_bounce, g_free);
    g_clear_pointer (&s->last_bounce, g_free);
    g_clear_pointer (&s->first_soft, g_free);
    g_clear_pointer (&s->last_soft, g_free);
    g_clear_pointer (&s->reason, g_free);
    g_clear_pointer (&s->status, g_free);
    s->last_event = 0;
    g_clear_pointer (&s->hard_reason, g_free);
    g_clear_pointer (&s->hard_status, g_free);
}

static void
state_clear (BounceSuppression *s)
{
    state_reset (s);
    g_clear_pointer (&s->address, g_free);
    g_clear_pointer (&s->domain, g_free);
    g_clear_pointer (&s->registrable_domain, g_free);
    g_clear_pointer (&s->last_delivered, g_free);
}

static void
state_finish (BounceSuppression *s, BounceSuppressionFunc func,
              gpointer user_data)
{
    if (s->address != NULL && (s->bounces > 0 || s->last_delivered != NULL))
        func (s, user_data);
    state_clear (s);
}

void
_bounce_suppression_scan_begin (BounceSuppressionScan *scan,
                                GHashTable *sides,
                                const char *since,
                                const char *until,
                                BounceSuppressionFunc func,
                                gpointer user_data)
{
    memset (scan, 0, sizeof *scan);
    scan->sides = sides;
    scan->since = since;
    scan->until = until;
    scan->func = func;
    scan->user_data = user_data;
}

void
_bounce_suppression_scan_row (BounceSuppressionScan *scan,
                              const BounceSuppressionRow *row)
{
    BounceSuppression *s = &scan->s;
    const char *time = row->time;
    const char *reason = row->reason;
    const char *since = scan->since, *until = scan->until;
    const char *side;

    if (row->address == NULL || time == NULL || row->outcome == NULL)
        return;
    if (s->address == NULL || strcmp (row->address, s->address) != 0) {
        state_finish (s, scan->func, scan->user_data);
        s->address = g_strdup (row->address);
    }
    if (strcmp (row->outcome, "delivered") == 0) {
        /* As of @until: later deliveries have not happened yet. */
        if (until != NULL && strcmp (time, until) >= 0)
            return;
        /* Only bounces after the last delivery count. */
        state_reset (s);
        set (&s->last_delivered, time);
        set (&s->domain, row->domain);
        set (&s->registrable_domain, row->registrable_domain);
        return;
    }
    if (s->last_delivered != NULL && strcmp (time, s->last_delivered) <= 0)
        return;
    if ((since != NULL && strcmp (time, since) < 0) ||
        (until != NULL && strcmp (time, until) >= 0))
        return;
    side = reason != NULL ? g_hash_table_lookup (scan->sides, reason) : NULL;
    if (g_strcmp0 (side, "sender") == 0)
        return;
    s->bounces++;
    if (row->hard == 1 && g_strcmp0 (side, "recipient") == 0) {
        s->hard++;
        set (&s->hard_reason, reason);
        set (&s->hard_status, row->status);
    }
    if (row->hard != 1) {
        s->soft++;
        if (s->first_soft == NULL)
            set (&s->first_soft, time);
        set (&s->last_soft, time);
    }
    if (s->first_bounce == NULL)
        set (&s->first_bounce, time);
    set (&s->last_bounce, time);
    set (&s->reason, reason);
    set (&s->status, row->status);
    s->last_event = row->id;
    set (&s->domain, row->domain);
    set (&s->registrable_domain, row->registrable_domain);
}

void
_bounce_suppression_scan_end (BounceSuppressionScan *scan, gboolean finish)
{
    if (finish)
        state_finish (&scan->s, scan->func, scan->user_data);
    state_clear (&scan->s);
}

#define COL(i) ((const char *) sqlite3_column_text (stmt, (i)))

int
_bounce_suppression_scan (sqlite3_stmt *stmt,
                          GHashTable *sides,
                          const char *since,
                          const char *until,
                          BounceSuppressionFunc func,
                          gpointer user_data)
{
    BounceSuppressionScan scan;
    int rc;

    _bounce_suppression_scan_begin (&scan, sides, since, until, func,
                                    user_data);
    while ((rc = sqlite3_step (stmt)) == SQLITE_ROW) {
        BounceSuppressionRow row = {
            .address = COL (0),
            .time = COL (1),
            .outcome = COL (2),
            .hard = sqlite3_column_type (stmt, 3) == SQLITE_NULL
                        ? -1
                        : sqlite3_column_int (stmt, 3),
            .reason = COL (4),
            .status = COL (5),
            .id = sqlite3_column_int64 (stmt, 6),
            .domain = COL (7),
            .registrable_domain = COL (8),
        };

        _bounce_suppression_scan_row (&scan, &row);
    }
    _bounce_suppression_scan_end (&scan, rc == SQLITE_DONE);
    return rc;
}

#undef COL

/* The text between the "-- @policy" lines of schema.sql's last
 * version that has them. */
const char *
_bounce_suppression_policy (void)
{
    static gsize policy;

    if (g_once_init_enter (&policy)) {
        g_autoptr (GPtrArray) sections = _bounce_store_schema_sections ();
        char *text = NULL;

        for (guint v = sections->len; v-- > 0 && text == NULL;) {
            const char *begin = strstr (sections->pdata[v],
                                        "\n-- @policy begin\n");
            const char *end = begin != NULL ? strstr (begin,
                                                      "\n-- @policy end\n")
                                            : NULL;

            if (end != NULL) {
                begin += strlen ("\n-- @policy begin\n");
                text = g_strndup (begin, (gsize) (end - begin));
            }
        }
        g_assert (text != NULL);
        g_once_init_leave (&policy, (gsize) text);
    }
    return (const char *) policy;
}

int
_bounce_suppression_prepare_decide (sqlite3 *db, gint64 soft_count,
                                    gint64 soft_days, sqlite3_stmt **out)
{
    g_autofree char *sql = g_strdup_printf (
        "SELECT %s FROM (SELECT ?1 AS hard_bounces, ?2 AS soft_bounces,"
        " ?3 AS first_soft, ?4 AS last_soft) s, (SELECT ?5 AS soft_count,"
        " ?6 AS soft_days) t",
        _bounce_suppression_policy ());
    int rc = sqlite3_prepare_v2 (db, sql, -1, out, NULL);

    if (rc == SQLITE_OK) {
        sqlite3_bind_int64 (*out, 5, soft_count);
        sqlite3_bind_int64 (*out, 6, soft_days);
    }
    return rc;
}

const char *
_bounce_suppression_why (const char *why)
{
    if (g_strcmp0 (why, "hard") == 0)
        return "hard";
    if (g_strcmp0 (why, "soft") == 0)
        return "soft";
    return NULL;
}

const char *
_bounce_suppression_decide (sqlite3_stmt *decide, const BounceSuppression *s)
{
    const char *why = NULL;

    sqlite3_reset (decide);
    sqlite3_bind_int64 (decide, 1, s->hard);
    sqlite3_bind_int64 (decide, 2, s->soft);
    sqlite3_bind_text (decide, 3, s->first_soft, -1, SQLITE_STATIC);
    sqlite3_bind_text (decide, 4, s->last_soft, -1, SQLITE_STATIC);
    if (sqlite3_step (decide) == SQLITE_ROW)
        why = _bounce_suppression_why ((const char *) sqlite3_column_text (decide, 0));
    sqlite3_reset (decide);
    return why;
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

typedef struct {
    BounceSuppressFunc emit;
    gpointer data;
    gint64 n, days;
    /* The policy over one state (_bounce_suppression_prepare_decide). */
    sqlite3_stmt *decide;
    /* The stale addresses' rows, to merge in address order. */
    BounceTable *stale;
    guint next_stale;
} SuppressRows;

/* The row of @st in the list, suppressed because @why. */
static void
emit_row (const BounceSuppression *st, const char *why, SuppressRows *out,
          const char *bounces, const char *hard_bounces,
          const char *soft_bounces)
{
    gboolean hard = st->hard > 0;
    const char *at = strrchr (st->address, '@');

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

/* A row of the list for @st (from the events) if the policy suppresses
 * it. */
static void
suppress_row (const BounceSuppression *st, gpointer user_data)
{
    SuppressRows *out = user_data;
    const char *why = _bounce_suppression_decide (out->decide, st);
    char bounces[24], hard_bounces[24], soft_bounces[24];

    if (why == NULL)
        return;
    g_snprintf (bounces, sizeof bounces, "%" G_GINT64_FORMAT, st->bounces);
    g_snprintf (hard_bounces, sizeof hard_bounces, "%" G_GINT64_FORMAT,
                st->hard);
    g_snprintf (soft_bounces, sizeof soft_bounces, "%" G_GINT64_FORMAT,
                st->soft);
    emit_row (st, why, out, bounces, hard_bounces, soft_bounces);
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

/* The addresses of suppression_state that no write has made stale and
 * that the policy (schema.sql's text) suppresses. */
static int
suppress_from_state (BounceReader *reader, const BounceQueryOptions *o,
                     SuppressRows *out)
{
    sqlite3_stmt *stmt = NULL;
    Query q;
    int rc;

    _bounce_query_init (&q);
    g_string_append (q.sql,
                     "SELECT s.address, ");
    g_string_append (q.sql, _bounce_suppression_policy ());
    g_string_append (q.sql, " AS why, s.bounces, s.hard_bounces,"
                            " s.soft_bounces, s.first_bounce, s.last_bounce,"
                            " s.last_reason, s.last_status, s.hard_reason,"
                            " s.hard_status FROM suppression_state s, ");
    _bounce_query_add (&q, "(SELECT # AS soft_count, # AS soft_days) t",
                       out->n, out->days);
    g_string_append (q.sql, " WHERE s.bounces > 0");
    if (any_stale (reader))
        g_string_append (q.sql, " AND NOT EXISTS (SELECT 1 FROM"
                                " suppression_stale x"
                                " WHERE x.address = s.address)");
    _bounce_query_add_match (&q, o->match, "s");
    g_string_append (q.sql, " ORDER BY s.address");
    rc = _bounce_query_prepare (reader, &q, &stmt);
    _bounce_query_clear (&q);
    while (rc == SQLITE_OK && (rc = sqlite3_step (stmt)) == SQLITE_ROW) {
        BounceSuppression st;

        memset (&st, 0, sizeof st);
        st.address = COL (0);
        st.bounces = sqlite3_column_int64 (stmt, 2);
        st.hard = sqlite3_column_int64 (stmt, 3);
        st.soft = sqlite3_column_int64 (stmt, 4);
        st.first_bounce = COL (5);
        st.last_bounce = COL (6);
        st.reason = COL (7);
        st.status = COL (8);
        st.hard_reason = COL (9);
        st.hard_status = COL (10);
        /* The counts as SQLite writes them; why NULL: not suppressed. */
        if (st.address != NULL && COL (1) != NULL)
            emit_row (&st, _bounce_suppression_why (COL (1)), out, COL (2), COL (3),
                      COL (4));
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

    _bounce_query_init (&q);
    g_string_append (q.sql, _BOUNCE_SUPPRESSION_SELECT_ALL);
    /* Unverified events (maybe forged) never count, neither bounces nor
     * deliveries. */
    if (reader->schema_version >= _BOUNCE_SCHEMA_VERSION_VERIFIED)
        g_string_append (q.sql, _BOUNCE_SUPPRESSION_VERIFIED);
    if (where != NULL)
        g_string_append (q.sql, where);
    _bounce_query_add_match (&q, o->match, "e");
    g_string_append (q.sql, _BOUNCE_SUPPRESSION_ORDER);
    rc = _bounce_query_prepare (reader, &q, &stmt);
    _bounce_query_clear (&q);
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
    const BounceQueryOptions *o = _bounce_query_options_or_default (options, &defaults);
    g_autoptr (GHashTable) sides = NULL;
    g_autoptr (BounceTable) stale = NULL;
    SuppressRows out = { func, user_data, 0, 0, NULL, NULL, 0 };
    int rc;

    g_return_val_if_fail (reader != NULL && func != NULL, FALSE);
    sides = _bounce_reason_sides (reader->db, &rc);
    if (sides == NULL) {
        _bounce_reader_error (error, reader, rc, "reading the reasons");
        return FALSE;
    }
    out.n = o->soft_count >= 0 ? o->soft_count
                               : read_setting (reader, "suppress_soft_count", 3);
    out.days = o->soft_days >= 0 ? o->soft_days
                                 : read_setting (reader, "suppress_soft_days",
                                                 7);
    rc = _bounce_suppression_prepare_decide (reader->db, out.n, out.days,
                                             &out.decide);
    if (rc != SQLITE_OK) {
        sqlite3_finalize (out.decide);
        return _bounce_reader_error (error, reader, rc, "reading the policy");
    }
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
    sqlite3_finalize (out.decide);
    if (rc != SQLITE_OK && rc != SQLITE_DONE) {
        _bounce_reader_error (error, reader, rc, "reading the history");
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
