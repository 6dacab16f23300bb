/*
 * bounce-db-private.h - the seam between the store and its two backends:
 * SQLite (a file path, the default) and PostgreSQL (a libpq connection
 * string: "postgresql://...", "postgres://..." or keywords such as
 * "host=db1 dbname=bounces").
 *
 * The store's statements are written once, with SQLite's "?N"
 * placeholders, in SQL both backends run (INSERT ... ON CONFLICT,
 * RETURNING); the PostgreSQL side rewrites "?N" into "$N" in one place
 * (_bounce_pg_sql).  The values of one statement are gathered in a
 * BounceDbArgs, which each backend binds its own way.  Nothing here is
 * in the public header: bounce.h stays free of sqlite3 and libpq types.
 */
#ifndef BOUNCE_DB_PRIVATE_H
#define BOUNCE_DB_PRIVATE_H

#include <glib.h>

#include "bounce.h"

G_BEGIN_DECLS

/* The statements both backends run (?N: the Nth value of the args). */
#define _BOUNCE_SQL_INSERT_MESSAGE                                           \
    "INSERT INTO messages (content_hash, received_at, source,"               \
    " kind, mta, reporting_mta, arrival_date, subject,"                      \
    " bounce_from, bounce_date, orig_message_id, orig_from,"                 \
    " orig_to, orig_subject, orig_date, verp_address,"                       \
    " warnings, recipients_dropped, raw_size,"                               \
    " raw_truncated, classified, origin, queue_id) VALUES (?1, ?2, ?3,"      \
    " ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17,"       \
    " ?18, ?19, ?20, ?21, ?22, ?23)"
#define _BOUNCE_SQL_INSERT_RAW                                               \
    "INSERT INTO raw_messages (message_id, raw) VALUES (?1, ?2)"
#define _BOUNCE_SQL_INSERT_HEADER                                            \
    "INSERT INTO message_headers (message_id, name, value)"                  \
    " VALUES (?1, ?2, ?3) ON CONFLICT (message_id, name)"                    \
    " DO UPDATE SET value = excluded.value"
#define _BOUNCE_SQL_INSERT_EVENT                                             \
    "INSERT INTO events (message_id, position, address,"                     \
    " domain, registrable_domain, original_recipient, action,"               \
    " outcome, status, status_source, smtp_code,"                            \
    " diagnostic_type, diagnostic, remote_mta, last_attempt,"                \
    " reason, hard, permanent, rule, feedback_type,"                         \
    " event_time, event_time_source, smtp_command,"                          \
    " verified, rule_set) VALUES"                                            \
    " (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13,"              \
    " ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24,"                \
    " ?25)"
#define _BOUNCE_SQL_INSERT_STATE                                             \
    "INSERT INTO suppression_state (address, domain,"                        \
    " registrable_domain, last_delivered, bounces,"                          \
    " hard_bounces, soft_bounces, first_bounce, last_bounce,"                \
    " first_soft, last_soft, last_reason, last_status,"                      \
    " last_event, hard_reason, hard_status) VALUES (?1,"                     \
    " ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14,"              \
    " ?15, ?16) ON CONFLICT (address) DO UPDATE SET"                         \
    " domain = excluded.domain,"                                             \
    " registrable_domain = excluded.registrable_domain,"                     \
    " last_delivered = excluded.last_delivered,"                             \
    " bounces = excluded.bounces, hard_bounces = excluded.hard_bounces,"     \
    " soft_bounces = excluded.soft_bounces,"                                 \
    " first_bounce = excluded.first_bounce,"                                 \
    " last_bounce = excluded.last_bounce,"                                   \
    " first_soft = excluded.first_soft, last_soft = excluded.last_soft,"     \
    " last_reason = excluded.last_reason,"                                   \
    " last_status = excluded.last_status,"                                   \
    " last_event = excluded.last_event,"                                     \
    " hard_reason = excluded.hard_reason,"                                   \
    " hard_status = excluded.hard_status"
#define _BOUNCE_SQL_INSERT_RULE_SET                                          \
    "INSERT INTO rule_sets (hash, first_used) VALUES (?1, ?2)"               \
    " ON CONFLICT (hash) DO NOTHING"
#define _BOUNCE_SQL_UPSERT_REASON                                            \
    "INSERT INTO reasons (name, who, hard)"                                  \
    " VALUES (?1, ?2, ?3) ON CONFLICT (name) DO"                             \
    " UPDATE SET who = excluded.who, hard = excluded.hard"                   \
    " WHERE reasons.who <> excluded.who OR reasons.hard <> excluded.hard"
#define _BOUNCE_SQL_SET_REASONS_FROM                                         \
    "INSERT INTO settings (name, value) VALUES ('reasons_from', ?1)"         \
    " ON CONFLICT (name) DO UPDATE SET value = excluded.value"

/* The values of one statement, ?1 to ?BOUNCE_DB_MAX_ARGS; unset ones
 * are NULL.  Texts are borrowed (they must live until the statement
 * has run), numbers are kept as text for PostgreSQL. */
#define BOUNCE_DB_MAX_ARGS 32

typedef enum {
    BOUNCE_DB_NULL = 0,
    BOUNCE_DB_TEXT,
    BOUNCE_DB_INT,
    BOUNCE_DB_BLOB
} BounceDbType;

typedef struct {
    BounceDbType type[BOUNCE_DB_MAX_ARGS + 1];
    const char *text[BOUNCE_DB_MAX_ARGS + 1];
    gsize len[BOUNCE_DB_MAX_ARGS + 1];
    gint64 number[BOUNCE_DB_MAX_ARGS + 1];
    char digits[BOUNCE_DB_MAX_ARGS + 1][24];
    int count; /* the highest index set */
} BounceDbArgs;

G_GNUC_INTERNAL void _bounce_db_args_init (BounceDbArgs *args);
/* @text, or NULL as SQL NULL. */
G_GNUC_INTERNAL void _bounce_db_args_text (BounceDbArgs *args, int idx,
                                           const char *text);
G_GNUC_INTERNAL void _bounce_db_args_int (BounceDbArgs *args, int idx,
                                          gint64 n);
G_GNUC_INTERNAL void _bounce_db_args_blob (BounceDbArgs *args, int idx,
                                           gconstpointer data, gsize len);

/* Whether @spec names a PostgreSQL database (else it is an SQLite
 * path). */
G_GNUC_INTERNAL gboolean _bounce_db_is_postgres (const char *spec);

/* bounce-db-pg.c: a PostgreSQL connection. */
typedef struct _BouncePg BouncePg;

/* Connects; errors name the host and database (never the password)
 * and carry libpq's message. */
G_GNUC_INTERNAL BouncePg *_bounce_pg_connect (const char *spec,
                                              GError **error);
G_GNUC_INTERNAL void _bounce_pg_free (BouncePg *pg);
/* "PostgreSQL database D on H:P" (no password). */
G_GNUC_INTERNAL const char *_bounce_pg_name (BouncePg *pg);
/* @sql with "?N" as "$N" (outside quotes; transfer full). */
G_GNUC_INTERNAL char *_bounce_pg_sql (const char *sql);
/* Runs @sql (one or more statements, no values). */
G_GNUC_INTERNAL gboolean _bounce_pg_exec (BouncePg *pg, const char *sql,
                                          const char *what, GError **error);
/* Runs @sql ("?N" placeholders) with @args (may be NULL); the rows
 * (transfer full, a PGresult: free with _bounce_pg_result_free), or
 * NULL with @error set.  *@out_rows: how many (may be NULL). */
G_GNUC_INTERNAL gpointer _bounce_pg_query (BouncePg *pg, const char *sql,
                                           const BounceDbArgs *args,
                                           int *out_rows, const char *what,
                                           GError **error);
G_GNUC_INTERNAL void _bounce_pg_result_free (gpointer result);
/* Row @row, column @col of @result: NULL when it is NULL. */
G_GNUC_INTERNAL const char *_bounce_pg_value (gpointer result, int row,
                                              int col);

G_END_DECLS

#endif /* BOUNCE_DB_PRIVATE_H */
