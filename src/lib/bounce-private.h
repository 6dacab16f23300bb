/*
 * bounce-private.h - internals shared by the modules of libbounce.
 * Nothing here is public: the CLI and tests use bounce.h only (tests may
 * include this header to reach the pieces they test one by one).
 */
#ifndef BOUNCE_PRIVATE_H
#define BOUNCE_PRIVATE_H

#include <gmime/gmime.h>

#include "bounce.h"

struct sqlite3;
struct sqlite3_stmt;

G_BEGIN_DECLS

/* GMime 3.2 declares no autoptr cleanups (checked against 3.2.13). */
G_DEFINE_AUTOPTR_CLEANUP_FUNC (GMimeObject, g_object_unref)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (GMimeMessage, g_object_unref)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (GMimeParser, g_object_unref)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (GMimeStream, g_object_unref)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (GMimeParserOptions, g_mime_parser_options_free)

/* bounce-text.c: text helpers */

/* Copies @len bytes of @text as valid UTF-8 with line ends folded to
 * "\n" (CRLF and lone CR alike), cut at @max bytes (transfer full). */
G_GNUC_INTERNAL char *_bounce_text_normalize (const char *text,
                                              gsize len,
                                              gsize max);

/* Collapses runs of white space to one space and trims (in place). */
G_GNUC_INTERNAL char *_bounce_text_squeeze (char *text);

/* The decoded, UTF-8 text content of a leaf part, cut at @max bytes;
 * NULL for non-text parts (transfer full). */
G_GNUC_INTERNAL char *_bounce_part_get_text (GMimeObject *part, gsize max);

/* Decodes a raw header value (RFC 2047 encoded words, folding) to
 * UTF-8 with white space collapsed (transfer full). */
G_GNUC_INTERNAL char *_bounce_header_decode (const char *raw);

/* The decoded value of header @name of @obj, or NULL (transfer full). */
G_GNUC_INTERNAL char *_bounce_object_get_header (GMimeObject *obj,
                                                 const char *name);

/* "Wed, 16 Oct 2013 14:15:35 +0900" -> ISO 8601, or NULL. */
G_GNUC_INTERNAL char *_bounce_date_to_iso8601 (const char *rfc5322_date);

/* Bare address from "Name <a@b>", "rfc822; a@b" or "<a@b>"; lower-cases
 * nothing; NULL when no address is found (transfer full). */
G_GNUC_INTERNAL char *_bounce_address_clean (const char *text);
G_GNUC_INTERNAL char *_bounce_address_unwrap (const char *addr);

/* The address in the address list @text (a To or Cc as text) whose
 * local part is @local, or NULL (transfer full): a recipient that a
 * notice names by its local part alone. */
G_GNUC_INTERNAL char *_bounce_address_list_find_local (const char *text,
                                                       const char *local);

/* The schema version that added events.verified (schema.sql): readers
 * of older databases do without it. */
#define _BOUNCE_SCHEMA_VERSION_VERIFIED 6
/* ...and the one that added messages.origin, queue_id and event_reports
 * (the events of the MTA's log). */
#define _BOUNCE_SCHEMA_VERSION_ORIGIN 10

/* bounce-log.c: the year rule of bounce_log_reader_set_reference() for
 * a syslog time stamp ("Dec", 6, "21:06:10") read in @zone, before
 * @reference (NULL: now): ISO 8601 with offset, or NULL when it is no
 * time (transfer full). */
G_GNUC_INTERNAL char *_bounce_log_syslog_time (const char *mon,
                                               int day,
                                               const char *hms,
                                               GDateTime *reference,
                                               GTimeZone *zone);

/* bounce-verp.c: authenticity */

/* Sets verified on every recipient of @report: with @key, a valid
 * token in one of @envelopes (NULL-terminated) for the recipient's
 * address (or Original-Recipient); with @sending_domains, the original
 * Message-ID from one of them.  Leaves them unchecked when neither is
 * given; adds a warning for each check that fails. */
G_GNUC_INTERNAL void _bounce_verp_check (const BounceVerpKey *key,
                                         const char *const *sending_domains,
                                         const char *const *envelopes,
                                         BounceReport *report);

/* bounce-parse.c: where the message proper starts in @data: after a
 * leading mbox "From " line (the envelope line an MTA or an mbox puts
 * first, ended by LF, CRLF or a lone CR), else 0.  The one place that
 * knows it: the parser skips it, the store's content hash leaves it out. */
G_GNUC_INTERNAL gsize _bounce_message_start (const guint8 *data, gsize len);

/* bounce-store.c: the SQLite handle (borrowed), for the library's own
 * queries and its tests; not in the public header (the handle stays
 * opaque: people who query the database use sqlite3 on the file). */
struct sqlite3;
G_GNUC_INTERNAL struct sqlite3 *bounce_store_get_db (BounceStore *store);

/* bounce-store.c: sets @error for the SQLite result @rc of @what as the
 * store's own errors are (busy, full, access: their BounceError codes)
 * and returns FALSE; for the library's other writers (bounce-fetch.c). */
G_GNUC_INTERNAL gboolean _bounce_store_set_error (BounceStore *store, int rc,
                                                  const char *what,
                                                  GError **error);

/* bounce-dsn.c: RFC 3464 field blocks */

/* Parses the body of a message/delivery-status part into @report's
 * per-message fields and recipients.  Returns the number of recipients
 * added. */
G_GNUC_INTERNAL guint _bounce_dsn_parse (const char *body,
                                         gboolean utf8_addresses,
                                         BounceReport *report);

/* Gives each recipient without a diagnostic the text that follows its
 * address in the human-readable part @body, and each one the SMTP
 * command its reply answered, where the texts say. */
G_GNUC_INTERNAL const char *_bounce_transcript_command (const char *body,
                                                       const char *diagnostic);
G_GNUC_INTERNAL void _bounce_dsn_enrich (BounceReport *report,
                                         const char *body);

/* bounce-status.c: the server's reply in free text */

/* The reply code of the server's reply in @text: the first refusal
 * (4xx/5xx), past an x.4.7 expiry verdict to the reply that caused it;
 * a 2xx/3xx only when nothing failed.  *@out_status (when not NULL)
 * gets the enhanced status written next to that code, or NULL
 * (transfer full).  0 when there is no reply code. */
G_GNUC_INTERNAL int _bounce_reply_pick (const char *text, char **out_status);

/* Is the recipient's diagnostic a local mailer's exit status
 * ("X-Unix; 75"), not words of a server? */
G_GNUC_INTERNAL gboolean _bounce_recipient_exit_status (const BounceRecipient *r);

/* bounce_recipient_resolve_codes(); with @notice, the diagnostic was
 * taken from the notice's prose or transcript, not from the report's
 * Diagnostic-Code, so the status next to a reply there only refines a
 * vaguer Status field of the same class. */
G_GNUC_INTERNAL void _bounce_recipient_resolve (BounceRecipient *r, gboolean notice);

/* Adds @recipient to @report unless the cap is reached (takes it). */
G_GNUC_INTERNAL void _bounce_report_take_recipient (BounceReport *report,
                                                    BounceRecipient *recipient);

/* The compiled decoders.conf (bounce-decode-private.h). */
typedef struct _BounceDecoderData BounceDecoderData;

G_GNUC_INTERNAL void _bounce_decoder_data_free (BounceDecoderData *data);

/* A copy of @base (NULL: the built-in formats) with the formats of the
 * key file @path added (bounce_parser_add_decoders). */
G_GNUC_INTERNAL BounceDecoderData *_bounce_decoder_data_extend (
    const BounceDecoderData *base, const char *path, GError **error);

/* bounce-decode.c: the non-standard formats (qmail, Exim, ...) and the
 * detection of feedback reports and auto-replies.  Called by the MIME
 * walk when no delivery-status part gave a result; returns TRUE when it
 * recognised the message (and set report->kind, ->mta, recipients).
 * @data: the formats (bounce-decode-data.c); NULL for the built-in ones. */
G_GNUC_INTERNAL gboolean _bounce_decode_nonstandard (GMimeMessage *message,
                                                     const char *body_text,
                                                     const BounceDecoderData *data,
                                                     BounceReport *report);

/* Is @message a list server's notice that forwards a bounce it received
 * (decoders.conf [general] wrapper, on its Subject or @body_text)? */
G_GNUC_INTERNAL gboolean _bounce_decode_is_wrapper (GMimeMessage *message,
                                                    const char *body_text,
                                                    const BounceDecoderData *data);

/* bounce-store.c: the "-- @version N" sections of schema.sql; element N
 * is the SQL of version N, element 0 the preamble (transfer full). */
G_GNUC_INTERNAL GPtrArray *_bounce_store_schema_sections (void);

/* bounce-store.c: the BounceError for an SQLite result code and the
 * errno of the system call that failed (sqlite3_system_errno; 0 when
 * none): busy and locked: STORE_BUSY; read-only, or cannot open / I/O
 * error because of EACCES, EPERM or EROFS: STORE_ACCESS; full, other I/O
 * errors, cannot open, out of memory: STORE_FULL; else STORE.  Shared by
 * the store and the read-only queries. */
G_GNUC_INTERNAL BounceError _bounce_sqlite_error_code (int rc,
                                                       int system_errno);

/* bounce-suppress.c: the suppression policy, once.  The store keeps
 * suppression_state with it; readers use it for the addresses whose
 * state is stale and for a --since/--until window. */

/* The schema version that added suppression_state, raw_messages and
 * rule_sets. */
#define _BOUNCE_SCHEMA_VERSION_STATE 8

/* The schema version that added the sums of the default report
 * (report_days, report_domains, report_addresses, report_outcomes,
 * report_messages), kept by triggers on events. */
#define _BOUNCE_SCHEMA_VERSION_SUMS 11

/* What the policy keeps of one address while its history streams by
 * in time order. */
typedef struct {
    char *address;
    char *domain;
    char *registrable_domain;
    char *last_delivered;
    gint64 bounces, hard, soft;
    char *first_bounce, *last_bounce, *first_soft, *last_soft;
    char *reason, *status;              /* the latest counted bounce */
    gint64 last_event;                  /* its events.id */
    char *hard_reason, *hard_status;    /* the latest counted hard one */
} BounceSuppression;

/* The columns and order _bounce_suppression_scan() reads: every event
 * that may count, by address and time ("bounce" before "delivered" at
 * the same time: a delivery then clears it). */
#define _BOUNCE_SUPPRESSION_SELECT_ALL                                       \
    "SELECT e.address, e.event_time, e.outcome, e.hard, e.reason,"           \
    " e.status, e.id, e.domain, e.registrable_domain FROM events e"          \
    " WHERE e.address IS NOT NULL AND e.outcome IN ('bounce', 'delivered')"
/* Unverified events never count (schema version 6 and later). */
#define _BOUNCE_SUPPRESSION_VERIFIED " AND e.verified IS DISTINCT FROM 0"
#define _BOUNCE_SUPPRESSION_SELECT \
    _BOUNCE_SUPPRESSION_SELECT_ALL _BOUNCE_SUPPRESSION_VERIFIED
#define _BOUNCE_SUPPRESSION_ORDER \
    " ORDER BY e.address, e.event_time, e.outcome, e.id"

typedef void (*BounceSuppressionFunc) (const BounceSuppression *state,
                                       gpointer user_data);

/* The reasons table: name -> who (transfer full). */
G_GNUC_INTERNAL GHashTable *_bounce_reason_sides (struct sqlite3 *db,
                                                  int *out_rc);

/* The same scan fed one row at a time (the PostgreSQL store): begin,
 * a row per event in the order of _BOUNCE_SUPPRESSION_ORDER, end (with
 * @finish TRUE when every row came). */
typedef struct {
    const char *address, *time, *outcome, *reason, *status, *domain,
        *registrable_domain;
    int hard; /* -1: NULL */
    gint64 id;
} BounceSuppressionRow;

typedef struct {
    BounceSuppression s;
    GHashTable *sides;
    const char *since, *until;
    BounceSuppressionFunc func;
    gpointer user_data;
} BounceSuppressionScan;

G_GNUC_INTERNAL void _bounce_suppression_scan_begin (
    BounceSuppressionScan *scan, GHashTable *sides, const char *since,
    const char *until, BounceSuppressionFunc func, gpointer user_data);
G_GNUC_INTERNAL void _bounce_suppression_scan_row (
    BounceSuppressionScan *scan, const BounceSuppressionRow *row);
G_GNUC_INTERNAL void _bounce_suppression_scan_end (BounceSuppressionScan *scan,
                                                   gboolean finish);

/* Steps @stmt (prepared from _BOUNCE_SUPPRESSION_SELECT, any filters,
 * _BOUNCE_SUPPRESSION_ORDER) to its end, calling @func with the state
 * of each address (one with neither a counted bounce nor a delivery is
 * skipped).  @sides from _bounce_reason_sides().  Only bounces from
 * @since and before @until count, and deliveries before @until (both
 * may be NULL).  Returns the last sqlite3_step() code (SQLITE_DONE when
 * it went well). */
G_GNUC_INTERNAL int _bounce_suppression_scan (struct sqlite3_stmt *stmt,
                                              GHashTable *sides,
                                              const char *since,
                                              const char *until,
                                              BounceSuppressionFunc func,
                                              gpointer user_data);

/* The policy's comparison with the thresholds, written once in
 * schema.sql (between its "-- @policy" lines, in the
 * suppression_candidates view): an SQL expression over a suppression
 * state's columns as s (hard_bounces, soft_bounces, first_soft,
 * last_soft) and the thresholds as t (soft_count, soft_days) that
 * gives 'hard', 'soft' or NULL. */
G_GNUC_INTERNAL const char *_bounce_suppression_policy (void);

/* Prepares that expression over one BounceSuppression's numbers with
 * the thresholds, for _bounce_suppression_decide(). */
G_GNUC_INTERNAL int _bounce_suppression_prepare_decide (
    struct sqlite3 *db, gint64 soft_count, gint64 soft_days,
    struct sqlite3_stmt **out_stmt);

/* The policy's answer @why as a static string: "hard", "soft" or NULL. */
G_GNUC_INTERNAL const char *_bounce_suppression_why (const char *why);

/* Whether the policy suppresses @state: "hard", "soft" or NULL. */
G_GNUC_INTERNAL const char *_bounce_suppression_decide (
    struct sqlite3_stmt *decide, const BounceSuppression *state);

/* bounce-store.c: past how many stale addresses the store computes the
 * whole suppression state in one pass (negative: always; for tests). */
G_GNUC_INTERNAL void _bounce_store_set_heal_full (BounceStore *store,
                                                  gint64 threshold);

/* bounce-query.c: tables built in C (shared with the store). */
G_GNUC_INTERNAL BounceTable *_bounce_table_new_from_spec (const char *spec);
G_GNUC_INTERNAL void _bounce_table_take_row (BounceTable *table, ...);
/* Appends a row of copies of @cells (n_columns of them, NULL allowed),
 * kept with the table: the row's cells must not be freed or replaced. */
G_GNUC_INTERNAL void _bounce_table_add_row_copy (BounceTable *table,
                                                 const char *const *cells);

/* bounce-regex.c: a regex checked and compiled for the interpreter at
 * load, and compiled with the JIT once it has been used a few times (so
 * that a one-message process never pays for the JIT).  Thread-safe. */
typedef struct _BounceRegex BounceRegex;

/* NULL with @error set when @pattern is invalid (G_REGEX_OPTIMIZE in
 * @flags is ignored: the JIT form is made on use). */
G_GNUC_INTERNAL BounceRegex *_bounce_regex_new (const char *pattern,
                                                GRegexCompileFlags flags,
                                                GError **error);
/* The same for a pattern known to be valid (built in and covered by the
 * tests): compiled on first use. */
G_GNUC_INTERNAL BounceRegex *_bounce_regex_new_lazy (const char *pattern,
                                                     GRegexCompileFlags flags);
G_GNUC_INTERNAL void _bounce_regex_free (BounceRegex *r);
G_GNUC_INTERNAL const char *_bounce_regex_get_pattern (const BounceRegex *r);
G_GNUC_INTERNAL GRegexCompileFlags _bounce_regex_get_flags (const BounceRegex *r);
/* The GRegex to match with now (NULL for NULL); counts a use. */
G_GNUC_INTERNAL GRegex *_bounce_regex_get (BounceRegex *r);
/* The interpreter form (NULL for NULL); does not count a use. */
G_GNUC_INTERNAL GRegex *_bounce_regex_plain (BounceRegex *r);

/* bounce-prefilter.c: one pass over a text tells which of many caseless
 * regexes cannot match it (the literals that each match holds are not all
 * in the text).  Built once, then read-only (thread-safe). */
typedef struct _BouncePrefilter BouncePrefilter;

G_GNUC_INTERNAL BouncePrefilter *_bounce_prefilter_new (void);
G_GNUC_INTERNAL void _bounce_prefilter_free (BouncePrefilter *pf);
/* The number of @pattern (compiled with G_REGEX_CASELESS) in the filter,
 * or -1 when no condition on literals is found: always run it. */
G_GNUC_INTERNAL int _bounce_prefilter_add (BouncePrefilter *pf,
                                          const char *pattern);
/* After the last _bounce_prefilter_add(). */
G_GNUC_INTERNAL void _bounce_prefilter_build (BouncePrefilter *pf);
/* The size of the bit set _bounce_prefilter_scan() fills, in guint64s. */
G_GNUC_INTERNAL guint _bounce_prefilter_n_words (const BouncePrefilter *pf);
/* Notes in @hits which literals occur in @text (@len bytes). */
G_GNUC_INTERNAL void _bounce_prefilter_scan (const BouncePrefilter *pf,
                                            const char *text, gsize len,
                                            guint64 *hits);
/* FALSE: pattern number @pattern cannot match the text @hits was scanned
 * from; TRUE: it may (and always for -1). */
G_GNUC_INTERNAL gboolean _bounce_prefilter_may_match (const BouncePrefilter *pf,
                                                     const guint64 *hits,
                                                     int pattern);
/* The prefilter in *@slot (a BouncePrefilter *, 0 at first), made by
 * @fill (adding the patterns) and built on the @after-th call, NULL before
 * (*@calls counts them).  Made once, also when threads race for it
 * (g_once: what @fill writes is seen by every thread that gets it). */
typedef void (*BouncePrefilterFill) (BouncePrefilter *pf, gpointer data);
G_GNUC_INTERNAL const BouncePrefilter *_bounce_prefilter_get_lazy (
    gsize *slot, gint *calls, gint after, BouncePrefilterFill fill, gpointer data);
/* TRUE: every regex the prefilter rules out is run anyway, and a match
 * is a fatal error (set by the fuzz harness; FALSE by default). */
G_GNUC_INTERNAL extern gboolean _bounce_prefilter_verify;

G_END_DECLS

#endif /* BOUNCE_PRIVATE_H */
