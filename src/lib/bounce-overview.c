/*
 * bounce-overview.c - `bouncestat report`: the overview of a window and
 * the counts grouped --by reason, domain, day, week, mta, remote_mta,
 * recipient, sender or campaign.  The overview of the whole history
 * reads the sums the schema's triggers keep (report_days and the others,
 * schema version 11); with a window, and for --by, one pass over the
 * bounces (the events_report index) groups and counts them in
 * GHashTables.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "bounce-query-private.h"

/* ------------------------------------------------------------------ */
/* report                                                             */
/* ------------------------------------------------------------------ */

static const struct {
    const char *name;
    const char *column; /* the name of the key column */
    const char *key;    /* its SQL */
    const char *join;   /* what it needs joined, or NULL */
} groups_sql[] = {
    [BOUNCE_GROUP_REASON] = { "reason", "reason",
                              "coalesce (e.reason, 'unknown')", NULL },
    /* The store sets registrable_domain whenever there is a domain (the
     * domain itself when the Public Suffix List has no answer). */
    [BOUNCE_GROUP_DOMAIN] = { "domain", "domain",
                              "coalesce (e.registrable_domain, '(unknown)')",
                              NULL },
    [BOUNCE_GROUP_DAY] = { "day", "day", "substr (e.event_time, 1, 10)",
                           NULL },
    /* The day: bounce_query_report turns it into the Monday that
     * starts its (ISO) week, once a day rather than once a row. */
    [BOUNCE_GROUP_WEEK] = { "week", "week", "substr (e.event_time, 1, 10)",
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
    /* Schema version 10 (before it, every event is a message's). */
    [BOUNCE_GROUP_ORIGIN] = { "origin", "origin", "m.origin",
                              " JOIN messages m ON m.id = e.message_id" },
};

const char *
bounce_group_to_string (BounceGroup group)
{
    g_return_val_if_fail ((guint) group < G_N_ELEMENTS (groups_sql), NULL);
    return groups_sql[group].name;
}

gboolean
bounce_group_from_string (const char *name, BounceGroup *out_group)
{
    for (guint i = 0; i < G_N_ELEMENTS (groups_sql); i++)
        if (g_ascii_strcasecmp (name, groups_sql[i].name) == 0 ||
            g_ascii_strcasecmp (name, groups_sql[i].column) == 0) {
            *out_group = (BounceGroup) i;
            return TRUE;
        }
    return FALSE;
}


/* Counts of one group of the overview. */
typedef struct {
    char *key;
    guint index; /* in its Groups' items */
    gint64 bounces;
    gint64 hard;
    gint64 recipients; /* distinct addresses */
    gint64 messages;   /* distinct messages */
    gint64 side[4];    /* the overview's days: by SIDE_* of the reason */
} Counts;

static void
counts_free (gpointer data)
{
    Counts *counts = data;

    g_free (counts->key);
    g_free (counts);
}

static int
counts_by_count (gconstpointer a, gconstpointer b)
{
    const Counts *x = *(const Counts *const *) a;
    const Counts *y = *(const Counts *const *) b;

    if (x->bounces != y->bounces)
        return x->bounces > y->bounces ? -1 : 1;
    return strcmp (x->key, y->key);
}

/* Groups by their name (a GHashTable: each name its own group). */
typedef struct {
    GHashTable *by_key; /* key (borrowed from the Counts) -> Counts */
    GPtrArray *items;   /* the Counts, owned */
} Groups;

static void
groups_init (Groups *g)
{
    g->by_key = g_hash_table_new (g_str_hash, g_str_equal);
    g->items = g_ptr_array_new_with_free_func (counts_free);
}

/* The group @key, added when new. */
static Counts *
groups_get (Groups *g, const char *key)
{
    Counts *counts = g_hash_table_lookup (g->by_key, key);

    if (counts == NULL) {
        counts = g_new0 (Counts, 1);
        counts->key = g_strdup (key);
        counts->index = g->items->len;
        g_hash_table_insert (g->by_key, counts->key, counts);
        g_ptr_array_add (g->items, counts);
    }
    return counts;
}

/* Counts @n bounces of group @key, hard or not. */
static void
groups_add (Groups *g, const char *key, gboolean hard, gint64 n)
{
    Counts *counts = groups_get (g, key);

    counts->bounces += n;
    counts->hard += hard ? n : 0;
}

static void
groups_clear (Groups *g)
{
    g_clear_pointer (&g->by_key, g_hash_table_unref);
    g_clear_pointer (&g->items, g_ptr_array_unref);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (Groups, groups_clear)

/* A set of (group, value) pairs, for the distinct counts of each group:
 * the group is its index, the value a message id or the number of an
 * address in @names (the kind tells which).  Where a pointer holds 64
 * bits and the three fit, the
 * pair is the key itself (no memory of its own to reach); else it is a
 * Pair, kept in blocks rather than allocated one by one. */
typedef struct {
    guint group;
    guint kind; /* PAIR_MESSAGE or PAIR_NAME */
    gint64 value;
} Pair;

enum { PAIR_MESSAGE, PAIR_NAME };

#define PAIR_BLOCK 4096
/* Packed: (group + 1) << (PAIR_VALUE_BITS + 1) | kind << PAIR_VALUE_BITS
 * | value. */
#define PAIR_VALUE_BITS 40
#define PAIR_GROUPS_MAX \
    ((G_GUINT64_CONSTANT (1) << (63 - PAIR_VALUE_BITS)) - 1)

static guint
mix_hash (guint64 h)
{
    /* splitmix64's finaliser */
    h ^= h >> 30;
    h *= G_GUINT64_CONSTANT (0xbf58476d1ce4e5b9);
    h ^= h >> 27;
    h *= G_GUINT64_CONSTANT (0x94d049bb133111eb);
    return (guint) (h ^ (h >> 31));
}

static guint
packed_hash (gconstpointer p)
{
    return mix_hash ((guint64) GPOINTER_TO_SIZE (p));
}

static guint
pair_hash (gconstpointer p)
{
    const Pair *pair = p;

    return mix_hash ((guint64) pair->value ^
                     ((guint64) pair->group << 32 | pair->group) ^
                     ((guint64) pair->kind << 63));
}

static gboolean
pair_equal (gconstpointer a, gconstpointer b)
{
    const Pair *x = a, *y = b;

    return x->group == y->group && x->kind == y->kind &&
           x->value == y->value;
}

typedef struct {
    GHashTable *packed; /* packed pairs */
    GHashTable *pairs;  /* Pair (in blocks): those that do not pack */
    GHashTable *names;  /* the addresses (owned) -> their number + 1 */
    GPtrArray *blocks;  /* of PAIR_BLOCK Pairs */
    guint used;         /* of the last block */
} PairSet;

static void
pair_set_init (PairSet *set)
{
    set->packed = g_hash_table_new (packed_hash, g_direct_equal);
    set->pairs = g_hash_table_new (pair_hash, pair_equal);
    set->names = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
    set->blocks = g_ptr_array_new_with_free_func (g_free);
    set->used = PAIR_BLOCK;
}

/* Adds (@group, @kind, @value); 1 if it was not in the set yet, else
 * 0. */
static int
pair_set_add (PairSet *set, const Counts *group, guint kind, gint64 value)
{
    Pair *pair;

    if (sizeof (gpointer) >= sizeof (guint64) && value >= 0 &&
        value < (G_GINT64_CONSTANT (1) << PAIR_VALUE_BITS) &&
        group->index < PAIR_GROUPS_MAX) {
        guint64 key = ((guint64) group->index + 1) << (PAIR_VALUE_BITS + 1) |
                      (guint64) kind << PAIR_VALUE_BITS | (guint64) value;

        return g_hash_table_add (set->packed, GSIZE_TO_POINTER ((gsize) key));
    }
    if (set->used == PAIR_BLOCK) {
        g_ptr_array_add (set->blocks, g_new (Pair, PAIR_BLOCK));
        set->used = 0;
    }
    pair = (Pair *) g_ptr_array_index (set->blocks, set->blocks->len - 1) +
           set->used;
    pair->group = group->index;
    pair->kind = kind;
    pair->value = value;
    /* The slot is kept only when the pair is new. */
    if (!g_hash_table_insert (set->pairs, pair, NULL))
        return 0;
    set->used++;
    return 1;
}

/* Adds (@group, @name). */
static int
pair_set_add_name (PairSet *set, const Counts *group, const char *name)
{
    gpointer number = g_hash_table_lookup (set->names, name);

    if (number == NULL) {
        number = GUINT_TO_POINTER (g_hash_table_size (set->names) + 1);
        g_hash_table_insert (set->names, g_strdup (name), number);
    }
    return pair_set_add (set, group, PAIR_NAME,
                         GPOINTER_TO_UINT (number) - 1);
}

static void
pair_set_clear (PairSet *set)
{
    g_clear_pointer (&set->packed, g_hash_table_unref);
    g_clear_pointer (&set->pairs, g_hash_table_unref);
    g_clear_pointer (&set->names, g_hash_table_unref);
    g_clear_pointer (&set->blocks, g_ptr_array_unref);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (PairSet, pair_set_clear)

/* The Counts of @items that counted a bounce, by count (a new array;
 * the Counts borrowed). */
static GPtrArray *
items_sorted (GPtrArray *items)
{
    GPtrArray *sorted = g_ptr_array_sized_new (items->len);

    for (guint i = 0; i < items->len; i++)
        if (((Counts *) items->pdata[i])->bounces > 0)
            g_ptr_array_add (sorted, items->pdata[i]);
    g_ptr_array_sort (sorted, counts_by_count);
    return sorted;
}

/* The reasons table: name -> who (borrowed from the hash table). */
static GHashTable *
load_reasons (BounceReader *reader, GError **error)
{
    g_autoptr (BounceTable) rows = NULL;
    GHashTable *who;
    Query q;

    _bounce_query_init (&q);
    g_string_append (q.sql, "SELECT name, who FROM reasons");
    rows = _bounce_query_run (reader, &q, error);
    _bounce_query_clear (&q);
    if (rows == NULL)
        return NULL;
    who = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
    for (guint r = 0; r < rows->rows->len; r++) {
        GPtrArray *cells = rows->rows->pdata[r];

        if (cells->pdata[0] != NULL && cells->pdata[1] != NULL)
            g_hash_table_insert (who, g_strdup (cells->pdata[0]),
                                 g_strdup (cells->pdata[1]));
    }
    return who;
}

/* ------------------------------------------------------------------ */
/* report --by                                                        */
/* ------------------------------------------------------------------ */

static int
counts_by_key (gconstpointer a, gconstpointer b)
{
    const Counts *x = *(const Counts *const *) a;
    const Counts *y = *(const Counts *const *) b;

    return strcmp (x->key, y->key);
}

/* Message ids up to this are mapped in a plain array. */
#define MESSAGE_MAP_MAX (G_GINT64_CONSTANT (1) << 26)

/* For the groups that are a property of the message (mta, sender,
 * campaign), over the whole history: the group of every message, read
 * in one pass (from the messages_report or message_headers index) into
 * an array indexed by message id.  Looking the message up for each
 * bounce instead costs a B-tree search a row, five times the rest of
 * the report.  NULL when not worth it or not possible (ids too large):
 * the caller joins instead. */
static GPtrArray *
message_groups (BounceReader *reader,
                BounceGroup group,
                const BounceQueryOptions *o,
                Groups *groups,
                GError **error)
{
    g_autoptr (GPtrArray) map = NULL;
    sqlite3_stmt *stmt = NULL;
    gint64 max_id = -1;
    const char *sql;
    int rc;

    if ((group != BOUNCE_GROUP_MTA && group != BOUNCE_GROUP_SENDER &&
         group != BOUNCE_GROUP_CAMPAIGN) ||
        o->since != NULL || o->until != NULL || o->match != NULL)
        return NULL;
    if (sqlite3_prepare_v2 (reader->db,
                            "SELECT min (id) >= 0, max (id), count (*)"
                            " FROM messages",
                            -1, &stmt, NULL) == SQLITE_OK &&
        sqlite3_step (stmt) == SQLITE_ROW &&
        sqlite3_column_int (stmt, 0) == 1) {
        max_id = sqlite3_column_int64 (stmt, 1);
        /* Ids are dense (INTEGER PRIMARY KEY from 1): the array is at
         * most twice the messages, or not used. */
        if (max_id >= 2 * sqlite3_column_int64 (stmt, 2) + 65536)
            max_id = -1;
    }
    sqlite3_finalize (stmt);
    if (max_id < 0 || max_id >= MESSAGE_MAP_MAX)
        return NULL;

    sql = group == BOUNCE_GROUP_MTA
              ? "SELECT id, coalesce (mta, '(unknown)') FROM messages"
          : group == BOUNCE_GROUP_SENDER
              ? "SELECT id, coalesce (orig_from, '(unknown)') FROM messages"
              : "SELECT message_id, value FROM message_headers"
                " WHERE name = ?1";
    rc = sqlite3_prepare_v2 (reader->db, sql, -1, &stmt, NULL);
    if (rc == SQLITE_OK && group == BOUNCE_GROUP_CAMPAIGN) {
        g_autofree char *name = g_ascii_strdown (
            o->campaign_header != NULL ? o->campaign_header
                                       : DEFAULT_CAMPAIGN_HEADER, -1);

        sqlite3_bind_text (stmt, 1, name, -1, SQLITE_TRANSIENT);
    }
    map = g_ptr_array_new ();
    g_ptr_array_set_size (map, (guint) max_id + 1);
    while (rc == SQLITE_OK && (rc = sqlite3_step (stmt)) == SQLITE_ROW) {
        gint64 id = sqlite3_column_int64 (stmt, 0);
        const char *key = (const char *) sqlite3_column_text (stmt, 1);

        rc = SQLITE_OK;
        if (id >= 0 && id <= max_id && key != NULL)
            map->pdata[id] = groups_get (groups, key);
    }
    sqlite3_finalize (stmt);
    if (rc != SQLITE_DONE) {
        _bounce_reader_error (error, reader, rc, "reading the messages");
        return NULL;
    }
    return g_steal_pointer (&map);
}

/* One pass over the bounces, as for the overview: SQLite only reads the
 * rows (mostly from the events_report index) and the grouping, counting
 * and distinct counts happen here.  GROUP BY with count (DISTINCT ...)
 * would sort the million rows once per distinct count.  The distinct
 * addresses and messages of each group are counted in two sets of
 * (group, value) pairs. */
BounceTable *
bounce_query_report (BounceReader *reader,
                     BounceGroup group,
                     const BounceQueryOptions *options,
                     GError **error)
{
    BounceQueryOptions defaults;
    const BounceQueryOptions *o = _bounce_query_options_or_default (options, &defaults);
    gboolean by_time = group == BOUNCE_GROUP_DAY || group == BOUNCE_GROUP_WEEK;
    g_autoptr (GHashTable) who = NULL;
    g_autoptr (GPtrArray) sorted = NULL;
    g_auto (Groups) groups = { NULL };
    g_auto (PairSet) pairs = { NULL };
    g_autofree char *spec = NULL;
    g_autofree char *last_key = NULL;
    g_autoptr (GPtrArray) by_message = NULL;
    char week_day[16] = "", week_key[16] = "";
    Counts *no_group = NULL;
    Counts *last = NULL;
    BounceTable *table;
    sqlite3_stmt *stmt = NULL;
    guint first, end;
    Query q;
    int rc;

    g_return_val_if_fail ((guint) group < G_N_ELEMENTS (groups_sql), NULL);

    if (group == BOUNCE_GROUP_REASON) {
        who = load_reasons (reader, error);
        if (who == NULL)
            return NULL;
    }
    groups_init (&groups);
    pair_set_init (&pairs);
    by_message = message_groups (reader, group, o, &groups, error);
    if (by_message == NULL && error != NULL && *error != NULL)
        return NULL;
    if (by_message != NULL)
        no_group = groups_get (&groups, group == BOUNCE_GROUP_CAMPAIGN
                                            ? "(none)"
                                            : "(unknown)");

    _bounce_query_init (&q);
    if (by_message != NULL)
        g_string_append (q.sql, "SELECT NULL, e.hard, e.address,"
                                " e.message_id FROM events e");
    else
        g_string_append_printf (q.sql, "SELECT %s, e.hard, e.address,"
                                       " e.message_id FROM events e",
                                group == BOUNCE_GROUP_ORIGIN &&
                                        reader->schema_version <
                                            _BOUNCE_SCHEMA_VERSION_ORIGIN
                                    ? "'message'"
                                    : groups_sql[group].key);
    if (by_message == NULL && groups_sql[group].join != NULL)
        g_string_append (q.sql, groups_sql[group].join);
    if (by_message == NULL && group == BOUNCE_GROUP_CAMPAIGN) {
        g_autofree char *name = g_ascii_strdown (
            o->campaign_header != NULL ? o->campaign_header
                                       : DEFAULT_CAMPAIGN_HEADER, -1);

        _bounce_query_add (&q, " LEFT JOIN message_headers h"
                       " ON h.message_id = e.message_id AND h.name = ?",
                   name);
    }
    g_string_append (q.sql, " WHERE e.outcome = 'bounce'");
    _bounce_query_add_filters (&q, o, "e");
    rc = _bounce_query_prepare (reader, &q, &stmt);
    _bounce_query_clear (&q);
    while (rc == SQLITE_OK && (rc = sqlite3_step (stmt)) == SQLITE_ROW) {
        const char *key = (const char *) sqlite3_column_text (stmt, 0);
        gboolean is_hard = sqlite3_column_int (stmt, 1) == 1;
        const char *address = (const char *) sqlite3_column_text (stmt, 2);
        gint64 message = sqlite3_column_int64 (stmt, 3);
        Counts *c;

        rc = SQLITE_OK;
        if (key == NULL)
            key = "";
        if (group == BOUNCE_GROUP_WEEK) {
            /* Rows come in time order: a new day is rare. */
            if (strcmp (key, week_day) != 0) {
                GDate date;

                g_strlcpy (week_day, key, sizeof week_day);
                if (_bounce_parse_day (key, &date)) {
                    g_date_subtract_days (
                        &date, g_date_get_weekday (&date) - G_DATE_MONDAY);
                    g_date_strftime (week_key, sizeof week_key, "%Y-%m-%d",
                                     &date);
                } else {
                    g_strlcpy (week_key, key, sizeof week_key);
                }
            }
            key = week_key;
        }
        if (by_message != NULL) {
            c = message >= 0 && (guint64) message < by_message->len
                    ? by_message->pdata[message]
                    : NULL;
            if (c == NULL)
                c = no_group;
        } else if (last != NULL && strcmp (key, last_key) == 0) {
            /* Rows often come in runs of one key (days, in time order). */
            c = last;
        } else {
            c = groups_get (&groups, key);
            last = c;
            g_free (last_key);
            last_key = g_strdup (key);
        }
        c->bounces++;
        c->hard += is_hard;
        if (address != NULL)
            c->recipients += pair_set_add_name (&pairs, c, address);
        c->messages += pair_set_add (&pairs, c, PAIR_MESSAGE, message);
    }
    if (rc != SQLITE_DONE) {
        _bounce_reader_error (error, reader, rc, "reading the bounces");
        sqlite3_finalize (stmt);
        return NULL;
    }
    sqlite3_finalize (stmt);

    sorted = items_sorted (groups.items);
    if (by_time)
        g_ptr_array_sort (sorted, counts_by_key);
    /* --top: the largest groups, or the latest days and weeks. */
    first = 0;
    end = sorted->len;
    if (o->top > 0 && o->top < sorted->len) {
        if (by_time)
            first = sorted->len - o->top;
        else
            end = o->top;
    }
    spec = g_strdup_printf ("%s,bounces:i,recipients:i,messages:i,hard:i,"
                            "soft:i%s",
                            groups_sql[group].column,
                            group == BOUNCE_GROUP_REASON ? ",who" : "");
    table = _bounce_table_new_from_spec (spec);
    for (guint i = first; i < end; i++) {
        const Counts *c = sorted->pdata[i];

        if (group == BOUNCE_GROUP_REASON)
            _bounce_table_take_row (table, g_strdup (c->key), _bounce_int_text (c->bounces),
                            _bounce_int_text (c->recipients), _bounce_int_text (c->messages),
                            _bounce_int_text (c->hard), _bounce_int_text (c->bounces - c->hard),
                            g_strdup (g_hash_table_lookup (who, c->key)));
        else
            _bounce_table_take_row (table, g_strdup (c->key), _bounce_int_text (c->bounces),
                            _bounce_int_text (c->recipients), _bounce_int_text (c->messages),
                            _bounce_int_text (c->hard),
                            _bounce_int_text (c->bounces - c->hard));
    }
    return table;
}

/* ------------------------------------------------------------------ */
/* The overview                                                       */
/* ------------------------------------------------------------------ */

/* A set of row ids: a bitmap for the usual small positive ones, a hash
 * table for the others. */
typedef struct {
    GByteArray *bits;
    GHashTable *others;
} IdSet;

#define ID_SET_MAX_BITMAP (G_GINT64_CONSTANT (1) << 28)

/* Adds @id; 1 if it was not in the set yet, else 0. */
static int
id_set_add (IdSet *set, gint64 id)
{
    if (id >= 0 && id < ID_SET_MAX_BITMAP) {
        guint byte = (guint) (id / 8);
        guint8 bit = (guint8) (1u << (id % 8));

        if (set->bits == NULL)
            set->bits = g_byte_array_new ();
        if (byte >= set->bits->len) {
            guint old = set->bits->len;

            g_byte_array_set_size (set->bits, MAX (byte + 1, old * 2));
            memset (set->bits->data + old, 0, set->bits->len - old);
        }
        if (set->bits->data[byte] & bit)
            return 0;
        set->bits->data[byte] |= bit;
        return 1;
    }
    if (set->others == NULL)
        set->others = g_hash_table_new_full (g_int64_hash, g_int64_equal,
                                             g_free, NULL);
    if (g_hash_table_contains (set->others, &id))
        return 0;
    g_hash_table_add (set->others, g_memdup2 (&id, sizeof id));
    return 1;
}

static void
id_set_clear (IdSet *set)
{
    g_clear_pointer (&set->bits, g_byte_array_unref);
    g_clear_pointer (&set->others, g_hash_table_unref);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (IdSet, id_set_clear)

void
bounce_overview_free (BounceOverview *overview)
{
    if (overview == NULL)
        return;
    bounce_table_free (overview->totals);
    bounce_table_free (overview->reasons);
    bounce_table_free (overview->domains);
    bounce_table_free (overview->trend);
    bounce_table_free (overview->outcomes);
    g_free (overview);
}

/* Whose side a reason is on, for the overview's days (the columns
 * who_recipient, who_sender, who_receiving_admin, who_other). */
enum { SIDE_RECIPIENT, SIDE_SENDER, SIDE_RECEIVING, SIDE_OTHER };

static int
side_of (GHashTable *who, const char *reason)
{
    const char *w = reason != NULL ? g_hash_table_lookup (who, reason) : NULL;

    if (g_strcmp0 (w, "recipient") == 0)
        return SIDE_RECIPIENT;
    if (g_strcmp0 (w, "sender") == 0)
        return SIDE_SENDER;
    if (g_strcmp0 (w, "receiving-admin") == 0)
        return SIDE_RECEIVING;
    return SIDE_OTHER;
}

/* The outcomes after bounce in the order that decides under which a
 * message with several is counted: report_outcomes has it since schema
 * version 11; this is that table's order, for older databases. */
static const char *const outcome_order_before_sums[] = {
    "delay", "delivered", "feedback", "autoreply", "unknown"
};

/* The outcomes after bounce, in that order (transfer full). */
static GPtrArray *
outcome_order (BounceReader *reader, GError **error)
{
    g_autoptr (GPtrArray) order = g_ptr_array_new_with_free_func (g_free);
    sqlite3_stmt *stmt = NULL;
    int rc;

    if (reader->schema_version < _BOUNCE_SCHEMA_VERSION_SUMS) {
        for (guint i = 0; i < G_N_ELEMENTS (outcome_order_before_sums); i++)
            g_ptr_array_add (order, g_strdup (outcome_order_before_sums[i]));
        return g_steal_pointer (&order);
    }
    rc = sqlite3_prepare_v2 (reader->db,
                             "SELECT outcome FROM report_outcomes"
                             " WHERE outcome <> 'bounce' ORDER BY rank",
                             -1, &stmt, NULL);
    while (rc == SQLITE_OK && (rc = sqlite3_step (stmt)) == SQLITE_ROW) {
        rc = SQLITE_OK;
        g_ptr_array_add (order, g_strdup ((const char *) sqlite3_column_text (
                                    stmt, 0)));
    }
    sqlite3_finalize (stmt);
    if (rc != SQLITE_DONE) {
        _bounce_reader_error (error, reader, rc, "reading the outcomes");
        return NULL;
    }
    return g_steal_pointer (&order);
}

/* What the overview counts of the bounces, from the events or from the
 * sums (report_days and the others). */
typedef struct {
    gint64 bounces, hard;
    gint64 n_addresses, n_messages;
    char first[64], last[64];
    Groups reasons, domains, days;
} Tally;

static void
tally_clear (Tally *t)
{
    groups_clear (&t->reasons);
    groups_clear (&t->domains);
    groups_clear (&t->days);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (Tally, tally_clear)

/* Counts @n bounces of one day, reason (NULL: none) and hardness. */
static void
tally_day (Tally *t, GHashTable *who, const char *day, const char *reason,
           gboolean hard, gint64 n, Counts **day_counts)
{
    if (*day_counts == NULL || strncmp (day, (*day_counts)->key, 10) != 0) {
        char key[11];

        g_strlcpy (key, day, sizeof key);
        *day_counts = groups_get (&t->days, key);
    }
    (*day_counts)->bounces += n;
    (*day_counts)->hard += hard ? n : 0;
    (*day_counts)->side[side_of (who, reason)] += n;
}

/* The messages of the window by what they are: each message once, under
 * the first outcome of bounce, outcome_order () that its recipients
 * have ("none" for the messages without any, by the time they were
 * received).  @messages holds the messages with bounces (@n_bounce of
 * them, @bounces recipients); the others are added to it. */
static BounceTable *
query_outcomes (BounceReader *reader,
                const BounceQueryOptions *o,
                IdSet *messages,
                gint64 n_bounce,
                gint64 bounces,
                GError **error)
{
    g_autoptr (BounceTable) table =
        _bounce_table_new_from_spec ("outcome,messages:i,recipients:i");
    g_autoptr (GPtrArray) order = outcome_order (reader, error);
    gint64 all = n_bounce;
    sqlite3_stmt *stmt = NULL;
    Query q;
    int rc;

    if (order == NULL)
        return NULL;
    _bounce_table_take_row (table, g_strdup ("bounce"), _bounce_int_text (n_bounce),
                    _bounce_int_text (bounces));
    /* One outcome at a time (the events_report index): a message
     * already seen has an outcome that comes first. */
    for (guint i = 0; i < order->len; i++) {
        gint64 n = 0, recipients = 0;

        _bounce_query_init (&q);
        _bounce_query_add (&q, "SELECT e.message_id FROM events e WHERE"
                       " e.outcome = ?", order->pdata[i]);
        _bounce_query_add_filters (&q, o, "e");
        rc = _bounce_query_prepare (reader, &q, &stmt);
        while (rc == SQLITE_OK && (rc = sqlite3_step (stmt)) == SQLITE_ROW) {
            rc = SQLITE_OK;
            recipients++;
            n += id_set_add (messages, sqlite3_column_int64 (stmt, 0));
        }
        sqlite3_finalize (stmt);
        _bounce_query_clear (&q);
        if (rc != SQLITE_DONE) {
            _bounce_reader_error (error, reader, rc, "counting the messages");
            return NULL;
        }
        if (recipients > 0)
            _bounce_table_take_row (table, g_strdup (order->pdata[i]),
                            _bounce_int_text (n), _bounce_int_text (recipients));
        all += n;
    }
    /* Messages with no recipient at all (not bounces, unparsable). */
    if (o->match == NULL) {
        g_autoptr (BounceTable) none = NULL;

        _bounce_query_init (&q);
        g_string_append (q.sql, "SELECT count (*) FROM messages m WHERE NOT"
                                " EXISTS (SELECT 1 FROM events e WHERE"
                                " e.message_id = m.id)");
        if (o->since != NULL)
            _bounce_query_add (&q, " AND m.received_at >= ?", o->since);
        if (o->until != NULL)
            _bounce_query_add (&q, " AND m.received_at < ?", o->until);
        none = _bounce_query_run (reader, &q, error);
        _bounce_query_clear (&q);
        if (none == NULL)
            return NULL;
        if (g_strcmp0 (bounce_table_get (none, 0, "count (*)"), "0") != 0) {
            _bounce_table_take_row (table, g_strdup ("none"),
                            g_strdup (bounce_table_get (none, 0,
                                                        "count (*)")),
                            _bounce_int_text (0));
            all += g_ascii_strtoll (bounce_table_get (none, 0, "count (*)"),
                                    NULL, 10);
        }
    }
    _bounce_table_take_row (table, g_strdup ("all"), _bounce_int_text (all), NULL);
    return g_steal_pointer (&table);
}

/* One pass over the bounces of the window (the events_report index
 * holds every column read, in time order): the totals, reasons, domains
 * and days are counted here rather than in four GROUP BY queries, each
 * of which would sort a million rows.  The messages with bounces are
 * left in @message_set for query_outcomes. */
static gboolean
tally_events (BounceReader *reader, const BounceQueryOptions *o,
              GHashTable *who, Tally *t, IdSet *message_set, GError **error)
{
    g_autoptr (GHashTable) addresses =
        g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
    Counts *day_counts = NULL;
    sqlite3_stmt *stmt = NULL;
    Query q;
    int rc;

    _bounce_query_init (&q);
    g_string_append (q.sql, "SELECT e.event_time, e.reason, e.hard,"
                            " e.registrable_domain, e.address, e.message_id"
                            " FROM events e WHERE e.outcome = 'bounce'");
    _bounce_query_add_filters (&q, o, "e");
    rc = _bounce_query_prepare (reader, &q, &stmt);
    _bounce_query_clear (&q);
    while (rc == SQLITE_OK && (rc = sqlite3_step (stmt)) == SQLITE_ROW) {
        rc = SQLITE_OK;
        const char *time = (const char *) sqlite3_column_text (stmt, 0);
        const char *reason = (const char *) sqlite3_column_text (stmt, 1);
        gboolean is_hard = sqlite3_column_int (stmt, 2) == 1;
        const char *domain = (const char *) sqlite3_column_text (stmt, 3);
        const char *address = (const char *) sqlite3_column_text (stmt, 4);
        gint64 message = sqlite3_column_int64 (stmt, 5);

        t->bounces++;
        t->hard += is_hard;
        if (t->first[0] == '\0' || strcmp (time, t->first) < 0)
            g_strlcpy (t->first, time, sizeof t->first);
        if (strcmp (time, t->last) > 0)
            g_strlcpy (t->last, time, sizeof t->last);
        groups_add (&t->reasons, reason != NULL ? reason : "unknown", is_hard, 1);
        groups_add (&t->domains, domain != NULL ? domain : "(unknown)",
                    is_hard, 1);
        /* Rows come in time order: most are on the day of the last one. */
        tally_day (t, who, time, reason, is_hard, 1, &day_counts);
        if (address != NULL && !g_hash_table_contains (addresses, address)) {
            g_hash_table_add (addresses, g_strdup (address));
            t->n_addresses++;
        }
        t->n_messages += id_set_add (message_set, message);
    }
    sqlite3_finalize (stmt);
    if (rc != SQLITE_DONE)
        return _bounce_reader_error (error, reader, rc, "reading the bounces");
    return TRUE;
}

#define COL(i) ((const char *) sqlite3_column_text (stmt, (i)))
/* '' stands for NULL in the sums' keys. */
#define KEY(i) (COL (i) != NULL && COL (i)[0] != '\0' ? COL (i) : NULL)

/* The same from the sums the triggers keep (schema version 11), for the
 * whole history: a few thousand rows instead of every bounce.  Adds
 * the outcomes table to @overview. */
static gboolean
tally_sums (BounceReader *reader, const char *first_day,
            const char *last_day, GHashTable *who, Tally *t,
            BounceOverview *overview, GError **error)
{
    static const char *const sql[] = {
        /* 0: the totals */
        "SELECT (SELECT coalesce (sum (events), 0) FROM report_days"
        "         WHERE outcome = 'bounce'),"
        " (SELECT coalesce (sum (events), 0) FROM report_days"
        "   WHERE outcome = 'bounce' AND hard = 1),"
        " (SELECT count (*) FROM report_addresses),"
        " (SELECT messages FROM report_outcomes WHERE outcome = 'bounce'),"
        " (SELECT min (event_time) FROM events WHERE outcome = 'bounce'),"
        " (SELECT max (event_time) FROM events WHERE outcome = 'bounce'),"
        " (SELECT count (*) FROM messages)"
        "  - (SELECT sum (messages) FROM report_outcomes)",
        /* 1: the reasons */
        "SELECT reason, hard, sum (events) FROM report_days"
        " WHERE outcome = 'bounce' GROUP BY reason, hard",
        /* 2: the domains */
        "SELECT registrable_domain, hard, bounces FROM report_domains",
        /* 3: the days of the trend */
        "SELECT day, reason, hard, events FROM report_days"
        " WHERE outcome = 'bounce' AND day >= ?1 AND day <= ?2",
        /* 4: the outcomes */
        "SELECT o.outcome, o.messages, (SELECT coalesce (sum (d.events), 0)"
        " FROM report_days d WHERE d.outcome = o.outcome)"
        " FROM report_outcomes o ORDER BY o.rank",
    };
    g_autoptr (BounceTable) outcomes =
        _bounce_table_new_from_spec ("outcome,messages:i,recipients:i");
    Counts *day_counts = NULL;
    gint64 none = 0, all = 0;
    int rc = SQLITE_OK;

    for (guint i = 0; i < G_N_ELEMENTS (sql) && rc == SQLITE_OK; i++) {
        sqlite3_stmt *stmt = NULL;

        rc = sqlite3_prepare_v2 (reader->db, sql[i], -1, &stmt, NULL);
        if (rc == SQLITE_OK && i == 3) {
            sqlite3_bind_text (stmt, 1, first_day, -1, SQLITE_STATIC);
            sqlite3_bind_text (stmt, 2, last_day, -1, SQLITE_STATIC);
        }
        while (rc == SQLITE_OK && (rc = sqlite3_step (stmt)) == SQLITE_ROW) {
            gboolean hard = sqlite3_column_int (stmt, 1) == 1;

            rc = SQLITE_OK;
            if (i == 0) {
                t->bounces = sqlite3_column_int64 (stmt, 0);
                t->hard = sqlite3_column_int64 (stmt, 1);
                t->n_addresses = sqlite3_column_int64 (stmt, 2);
                t->n_messages = sqlite3_column_int64 (stmt, 3);
                g_strlcpy (t->first, COL (4) != NULL ? COL (4) : "",
                           sizeof t->first);
                g_strlcpy (t->last, COL (5) != NULL ? COL (5) : "",
                           sizeof t->last);
                none = sqlite3_column_int64 (stmt, 6);
            } else if (i == 1) {
                groups_add (&t->reasons, KEY (0) != NULL ? KEY (0) : "unknown",
                            hard, sqlite3_column_int64 (stmt, 2));
            } else if (i == 2) {
                groups_add (&t->domains,
                            KEY (0) != NULL ? KEY (0) : "(unknown)", hard,
                            sqlite3_column_int64 (stmt, 2));
            } else if (i == 3) {
                tally_day (t, who, COL (0), KEY (1),
                           sqlite3_column_int (stmt, 2) == 1,
                           sqlite3_column_int64 (stmt, 3), &day_counts);
            } else {
                gint64 messages = sqlite3_column_int64 (stmt, 1);
                gint64 recipients = sqlite3_column_int64 (stmt, 2);

                /* The bounce row is always there, the others when any
                 * recipient has them (as query_outcomes). */
                if (recipients > 0 || g_strcmp0 (COL (0), "bounce") == 0)
                    _bounce_table_take_row (outcomes, g_strdup (COL (0)),
                                            _bounce_int_text (messages),
                                            _bounce_int_text (recipients));
                all += messages;
            }
        }
        sqlite3_finalize (stmt);
        rc = rc == SQLITE_DONE ? SQLITE_OK : rc;
    }
    if (rc != SQLITE_OK)
        return _bounce_reader_error (error, reader, rc, "reading the sums");
    if (none != 0)
        _bounce_table_take_row (outcomes, g_strdup ("none"),
                                _bounce_int_text (none), _bounce_int_text (0));
    _bounce_table_take_row (outcomes, g_strdup ("all"),
                            _bounce_int_text (all + none), NULL);
    overview->outcomes = g_steal_pointer (&outcomes);
    return TRUE;
}

#undef KEY
#undef COL

/* The totals, reasons, domains and days: from the sums for the whole
 * history (schema version 11), else from the bounces of the window. */
BounceOverview *
bounce_query_overview (BounceReader *reader,
                       const BounceQueryOptions *options,
                       const char *first_day,
                       const char *last_day,
                       GError **error)
{
    BounceQueryOptions defaults;
    const BounceQueryOptions *o = _bounce_query_options_or_default (options, &defaults);
    g_autoptr (GHashTable) who = NULL;
    g_auto (Tally) t;
    g_auto (IdSet) message_set = { NULL, NULL };
    g_autoptr (GPtrArray) sorted = NULL;
    g_autoptr (BounceOverview) overview = NULL;
    GDate day, end;

    memset (&t, 0, sizeof t);
    if (!_bounce_parse_day (first_day, &day) || !_bounce_parse_day (last_day, &end)) {
        g_set_error (error, BOUNCE_ERROR, BOUNCE_ERROR_FAILED,
                     "overview: the trend's days must be YYYY-MM-DD");
        return NULL;
    }
    who = load_reasons (reader, error);
    if (who == NULL)
        return NULL;
    groups_init (&t.reasons);
    groups_init (&t.domains);
    groups_init (&t.days);
    overview = g_new0 (BounceOverview, 1);
    if (reader->schema_version >= _BOUNCE_SCHEMA_VERSION_SUMS &&
        o->since == NULL && o->until == NULL && o->match == NULL) {
        if (!tally_sums (reader, first_day, last_day, who, &t, overview,
                         error))
            return NULL;
    } else {
        if (!tally_events (reader, o, who, &t, &message_set, error))
            return NULL;
        overview->outcomes = query_outcomes (reader, o, &message_set,
                                             t.n_messages, t.bounces, error);
        if (overview->outcomes == NULL)
            return NULL;
    }

    overview->totals = _bounce_table_new_from_spec (
        "bounces:i,recipients:i,messages:i,hard:i,soft:i,first,last");
    _bounce_table_take_row (overview->totals, _bounce_int_text (t.bounces),
                    _bounce_int_text (t.n_addresses),
                    _bounce_int_text (t.n_messages), _bounce_int_text (t.hard),
                    _bounce_int_text (t.bounces - t.hard),
                    t.first[0] != '\0' ? g_strdup (t.first) : NULL,
                    t.last[0] != '\0' ? g_strdup (t.last) : NULL);

    overview->reasons = _bounce_table_new_from_spec ("reason,who,bounces:i,hard:i,"
                                             "soft:i");
    sorted = items_sorted (t.reasons.items);
    for (guint i = 0; i < sorted->len; i++) {
        const Counts *c = sorted->pdata[i];

        _bounce_table_take_row (overview->reasons, g_strdup (c->key),
                        g_strdup (g_hash_table_lookup (who, c->key)),
                        _bounce_int_text (c->bounces), _bounce_int_text (c->hard),
                        _bounce_int_text (c->bounces - c->hard));
    }
    g_ptr_array_unref (sorted);

    overview->domains = _bounce_table_new_from_spec ("domain,bounces:i,hard:i,"
                                             "soft:i");
    sorted = items_sorted (t.domains.items);
    for (guint i = 0; i < sorted->len && (o->top == 0 || i < o->top); i++) {
        const Counts *c = sorted->pdata[i];

        _bounce_table_take_row (overview->domains, g_strdup (c->key),
                        _bounce_int_text (c->bounces), _bounce_int_text (c->hard),
                        _bounce_int_text (c->bounces - c->hard));
    }

    overview->trend = _bounce_table_new_from_spec (
        "day,bounces:i,hard:i,soft:i,who_recipient:i,who_sender:i,"
        "who_receiving_admin:i,who_other:i");
    for (; g_date_compare (&day, &end) <= 0; g_date_add_days (&day, 1)) {
        char key[16];
        const Counts *c;

        g_date_strftime (key, sizeof key, "%Y-%m-%d", &day);
        c = g_hash_table_lookup (t.days.by_key, key);
        _bounce_table_take_row (overview->trend, g_strdup (key),
                        _bounce_int_text (c != NULL ? c->bounces : 0),
                        _bounce_int_text (c != NULL ? c->hard : 0),
                        _bounce_int_text (c != NULL ? c->bounces - c->hard : 0),
                        _bounce_int_text (c != NULL ? c->side[SIDE_RECIPIENT] : 0),
                        _bounce_int_text (c != NULL ? c->side[SIDE_SENDER] : 0),
                        _bounce_int_text (c != NULL ? c->side[SIDE_RECEIVING] : 0),
                        _bounce_int_text (c != NULL ? c->side[SIDE_OTHER] : 0));
    }
    return g_steal_pointer (&overview);
}
