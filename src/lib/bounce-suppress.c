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
 * it, and decide with the thresholds (_bounce_suppression_decide and the
 * view's WHERE, which tests/test-query.c holds to the same list).
 */
#include <string.h>

#include <sqlite3.h>

#include "bounce-private.h"

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

static gint64
seconds (const char *iso)
{
    g_autoptr (GTimeZone) utc = g_time_zone_new_utc ();
    g_autoptr (GDateTime) t = iso != NULL
                                  ? g_date_time_new_from_iso8601 (iso, utc)
                                  : NULL;

    return t != NULL ? g_date_time_to_unix (t) : G_MININT64;
}

static void
state_finish (BounceSuppression *s, BounceSuppressionFunc func,
              gpointer user_data)
{
    if (s->address != NULL && (s->bounces > 0 || s->last_delivered != NULL)) {
        gint64 first = seconds (s->first_soft);
        gint64 last = seconds (s->last_soft);

        s->soft_span = first != G_MININT64 && last != G_MININT64
                           ? last - first
                           : -1;
        func (s, user_data);
    }
    state_clear (s);
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
    BounceSuppression s;
    int rc;

    memset (&s, 0, sizeof s);
    while ((rc = sqlite3_step (stmt)) == SQLITE_ROW) {
        const char *address = COL (0);
        const char *time = COL (1);
        const char *outcome = COL (2);
        int hard = sqlite3_column_type (stmt, 3) == SQLITE_NULL
                       ? -1
                       : sqlite3_column_int (stmt, 3);
        const char *reason = COL (4);
        const char *side;

        if (address == NULL || time == NULL || outcome == NULL)
            continue;
        if (s.address == NULL || strcmp (address, s.address) != 0) {
            state_finish (&s, func, user_data);
            s.address = g_strdup (address);
        }
        if (strcmp (outcome, "delivered") == 0) {
            /* As of @until: later deliveries have not happened yet. */
            if (until != NULL && strcmp (time, until) >= 0)
                continue;
            /* Only bounces after the last delivery count. */
            state_reset (&s);
            set (&s.last_delivered, time);
            set (&s.domain, COL (7));
            set (&s.registrable_domain, COL (8));
            continue;
        }
        if (s.last_delivered != NULL && strcmp (time, s.last_delivered) <= 0)
            continue;
        if ((since != NULL && strcmp (time, since) < 0) ||
            (until != NULL && strcmp (time, until) >= 0))
            continue;
        side = reason != NULL ? g_hash_table_lookup (sides, reason) : NULL;
        if (g_strcmp0 (side, "sender") == 0)
            continue;
        s.bounces++;
        if (hard == 1 && g_strcmp0 (side, "recipient") == 0) {
            s.hard++;
            set (&s.hard_reason, reason);
            set (&s.hard_status, COL (5));
        }
        if (hard != 1) {
            s.soft++;
            if (s.first_soft == NULL)
                set (&s.first_soft, time);
            set (&s.last_soft, time);
        }
        if (s.first_bounce == NULL)
            set (&s.first_bounce, time);
        set (&s.last_bounce, time);
        set (&s.reason, reason);
        set (&s.status, COL (5));
        s.last_event = sqlite3_column_int64 (stmt, 6);
        set (&s.domain, COL (7));
        set (&s.registrable_domain, COL (8));
    }
    if (rc == SQLITE_DONE)
        state_finish (&s, func, user_data);
    state_clear (&s);
    return rc;
}

const char *
_bounce_suppression_decide (const BounceSuppression *s,
                            gint64 soft_count,
                            gint64 soft_days)
{
    if (s->hard > 0)
        return "hard";
    if (s->soft == 0 || s->soft < soft_count || s->soft_span < 0)
        return NULL;
    return s->soft_span >= soft_days * 86400 ? "soft" : NULL;
}
