/*
 * bounce-query-private.h - what the reading side's files share
 * (bounce-query.c, bounce-overview.c, bounce-suppress.c, bounce-time.c):
 * the reader, the SQL builder and the options.
 */
#ifndef BOUNCE_QUERY_PRIVATE_H
#define BOUNCE_QUERY_PRIVATE_H

#include <sqlite3.h>

#include "bounce-private.h"

G_BEGIN_DECLS

#define DEFAULT_CAMPAIGN_HEADER "x-campaign-id"

struct _BounceReader {
    sqlite3 *db;
    char *path;
    int schema_version;
};

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

/* Sets @error for the SQLite result @rc while doing @what; FALSE. */
G_GNUC_INTERNAL gboolean _bounce_reader_error (GError **error,
                                               BounceReader *reader, int rc,
                                               const char *what);

/* The SQL builder (bounce-query.c says how "?" stands for a value). */
G_GNUC_INTERNAL void _bounce_query_init (Query *q);
G_GNUC_INTERNAL void _bounce_query_clear (Query *q);
G_GNUC_INTERNAL void _bounce_query_add (Query *q, const char *fragment, ...);
G_GNUC_INTERNAL int _bounce_query_prepare (BounceReader *reader, Query *q,
                                           sqlite3_stmt **out_stmt);
G_GNUC_INTERNAL BounceTable *_bounce_query_run (BounceReader *reader,
                                                Query *q, GError **error);
/* @options, or @defaults initialised when it is NULL. */
G_GNUC_INTERNAL const BounceQueryOptions *_bounce_query_options_or_default (
    const BounceQueryOptions *options, BounceQueryOptions *defaults);
/* Appends " AND ..." for the window and match of @o over alias @alias. */
G_GNUC_INTERNAL void _bounce_query_add_filters (Query *q,
                                                const BounceQueryOptions *o,
                                                const char *alias);
/* Appends " AND ..." for @match (an address or "@domain": its domain or
 * registrable domain; NULL: nothing) over the columns of @alias. */
G_GNUC_INTERNAL void _bounce_query_add_match (Query *q, const char *match,
                                              const char *alias);
/* @n in decimal (transfer full). */
G_GNUC_INTERNAL char *_bounce_int_text (gint64 n);

/* bounce-query-pg.c: @reader on a snapshot of the PostgreSQL history
 * at @spec (a connection string); FALSE with @error set. */
G_GNUC_INTERNAL gboolean _bounce_reader_open_pg (BounceReader *reader,
                                                 const char *spec,
                                                 GError **error);

/* bounce-time.c: "YYYY-MM-DD" into @date; FALSE when it is not a date. */
G_GNUC_INTERNAL gboolean _bounce_parse_day (const char *text, GDate *date);

G_END_DECLS

#endif /* BOUNCE_QUERY_PRIVATE_H */
