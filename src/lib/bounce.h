/*
 * bounce.h - the one public header of libbounce, the core of bouncestat.
 *
 * libbounce reads bounce messages (RFC 3464 delivery status notifications,
 * the non-standard notices of common MTAs, ARF feedback reports and
 * auto-replies), classifies every recipient with data-driven rules and
 * stores the history in SQLite.
 *
 * The library never prints, never exits and never reads the environment:
 * callers pass plain paths and options, and get results or a GError in
 * the BOUNCE_ERROR domain.  Malformed input is not an error: a parse
 * always yields a BounceReport whose warnings say what was odd.
 *
 * Strings returned as `const char *` are borrowed; `char *` returns are
 * the caller's to free.  Every record type has a g_autoptr cleanup.
 */
#ifndef BOUNCE_H
#define BOUNCE_H

#include <glib.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/* ------------------------------------------------------------------ */
/* Errors                                                             */
/* ------------------------------------------------------------------ */

#define BOUNCE_ERROR (bounce_error_quark ())

/**
 * BounceError:
 * @BOUNCE_ERROR_FAILED: anything else; treat unknown codes like this.
 * @BOUNCE_ERROR_INPUT: an input could not be opened or read.
 * @BOUNCE_ERROR_RULES: the rules are invalid; the message names the file
 *   and the rule.
 * @BOUNCE_ERROR_STORE: the database failed (sqlite3_errmsg in the text).
 * @BOUNCE_ERROR_STORE_BUSY: the database stayed locked; retry later.
 * @BOUNCE_ERROR_STORE_FULL: the disk is full or an I/O error happened;
 *   retry later.
 * @BOUNCE_ERROR_SCHEMA_TOO_NEW: the database was written by a newer
 *   bouncestat.
 * @BOUNCE_ERROR_STORE_ACCESS: this user may not write the database file
 *   or its directory (permissions, a read-only file system); the message
 *   names which.
 */
typedef enum {
    BOUNCE_ERROR_FAILED,
    BOUNCE_ERROR_INPUT,
    BOUNCE_ERROR_RULES,
    BOUNCE_ERROR_STORE,
    BOUNCE_ERROR_STORE_BUSY,
    BOUNCE_ERROR_STORE_FULL,
    BOUNCE_ERROR_SCHEMA_TOO_NEW,
    BOUNCE_ERROR_STORE_ACCESS,
} BounceError;

GQuark bounce_error_quark (void);

/* ------------------------------------------------------------------ */
/* Limits on untrusted input                                          */
/* ------------------------------------------------------------------ */

/* A message larger than this is parsed on its first part only. */
#define BOUNCE_MAX_MESSAGE_BYTES (64u * 1024u * 1024u)
/* MIME parts deeper than this are not walked. */
#define BOUNCE_MAX_MIME_DEPTH 32
/* Recipients kept per report; the rest are counted in a warning. */
#define BOUNCE_MAX_RECIPIENTS 10000
/* A DSN field (after unfolding) or a diagnostic is cut to this length. */
#define BOUNCE_MAX_FIELD_BYTES 4096
/* Text handed to regular expressions is cut to this length. */
#define BOUNCE_MAX_MATCH_BYTES 8192
/* Body text scanned by the non-standard decoders. */
#define BOUNCE_MAX_BODY_SCAN_BYTES (256u * 1024u)
/* Warnings kept per report. */
#define BOUNCE_MAX_WARNINGS 64
/* Bytes of one message an input keeps (standard input, a message file,
 * one message of an mbox; bounce_input_set_max_bytes() lowers it): the
 * rest is read past, so that a writer on a pipe is never cut off, and
 * only counted.  The message is parsed and stored cut, with a warning,
 * its whole size and raw_truncated (bounce_input_annotate()). */
#define BOUNCE_MAX_INPUT_BYTES BOUNCE_MAX_MESSAGE_BYTES

/* ------------------------------------------------------------------ */
/* Reports                                                            */
/* ------------------------------------------------------------------ */

/* The version of the JSON format (docs/output-format.md). */
#define BOUNCE_FORMAT_VERSION 1

typedef enum {
    BOUNCE_KIND_UNPARSABLE,
    BOUNCE_KIND_NOT_BOUNCE,
    BOUNCE_KIND_DSN,
    BOUNCE_KIND_BOUNCE,
    BOUNCE_KIND_FEEDBACK,
    BOUNCE_KIND_AUTOREPLY,
    BOUNCE_KIND_DELIVERED,
} BounceKind;

const char *bounce_kind_to_string (BounceKind kind);

typedef enum {
    BOUNCE_STATUS_SOURCE_NONE,
    BOUNCE_STATUS_SOURCE_DSN,        /* the Status: field */
    BOUNCE_STATUS_SOURCE_DIAGNOSTIC, /* found in the diagnostic text */
    BOUNCE_STATUS_SOURCE_INFERRED,   /* derived from the reason or code */
} BounceStatusSource;

/* NULL for BOUNCE_STATUS_SOURCE_NONE. */
const char *bounce_status_source_to_string (BounceStatusSource source);

/**
 * BounceVerified:
 * @BOUNCE_VERIFIED_UNCHECKED: nothing to check it with (no VERP secret
 *   and no sending domains configured).
 * @BOUNCE_VERIFIED_YES: it came back to the signed VERP return path of
 *   this very address, and its original's Message-ID is from a sending
 *   domain (of what is configured).
 * @BOUNCE_VERIFIED_NO: a check failed (the report's warnings say which):
 *   it may be forged, and never counts towards suppression.
 */
typedef enum {
    BOUNCE_VERIFIED_UNCHECKED,
    BOUNCE_VERIFIED_YES,
    BOUNCE_VERIFIED_NO,
} BounceVerified;

/**
 * BounceRecipient:
 * One recipient of a report.  Every string is UTF-8 or NULL (unknown).
 * @smtp_code is 0 when unknown; @hard is -1 until classified.
 */
typedef struct {
    char *address;
    char *original_recipient;
    char *action; /* failed|delayed|delivered|relayed|expanded */
    char *status; /* "5.1.1" */
    BounceStatusSource status_source;
    int smtp_code;
    char *diagnostic_type; /* "smtp", "x-postfix", ... lower case */
    char *diagnostic;
    char *remote_mta;
    char *last_attempt; /* ISO 8601 */
    char *reason;       /* Sisimai vocabulary */
    int hard;           /* -1 unknown, 0, 1 */
    gboolean permanent;
    char *rule;          /* id of the rule that decided */
    char *feedback_type; /* ARF only */
    char *smtp_command;  /* the command the reply answered: RCPT, DATA... */
    BounceVerified verified; /* whether the bounce is authentic (VERP) */
    char *final_recipient; /* the Final-Recipient when @address is the
                            * Original-Recipient, else NULL */
} BounceRecipient;

BounceRecipient *bounce_recipient_new (void);
void bounce_recipient_free (BounceRecipient *recipient);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (BounceRecipient, bounce_recipient_free)

/**
 * BounceOrigin:
 * @BOUNCE_ORIGIN_MESSAGE: a message: a bounce, a DSN, a notice.
 * @BOUNCE_ORIGIN_LOG: a line of an MTA's delivery log.
 */
typedef enum {
    BOUNCE_ORIGIN_MESSAGE,
    BOUNCE_ORIGIN_LOG,
} BounceOrigin;

/* "message" or "log" (the messages' origin column). */
const char *bounce_origin_to_string (BounceOrigin origin);

/**
 * BounceReport:
 * What one message says.  @recipients holds BounceRecipient pointers,
 * @warnings plain strings; @extra_headers maps the configured header
 * names of the original message to their decoded values.
 */
typedef struct {
    char *source;
    BounceKind kind;
    char *mta; /* the decoder that understood it */
    char *reporting_mta;
    char *arrival_date; /* ISO 8601 */
    char *subject;
    char *from; /* the bounce's own From */
    char *date; /* the bounce's own Date, ISO 8601 */
    char *orig_message_id;
    char *orig_from;
    char *orig_to;
    char *orig_subject;
    char *orig_date; /* ISO 8601 */
    char *verp_address; /* recovered from a VERP envelope address */
    GPtrArray *recipients;
    GPtrArray *warnings;
    GHashTable *extra_headers;
    guint recipients_dropped; /* past BOUNCE_MAX_RECIPIENTS */
    /* Bytes of the whole message: those parsed, or more when its input
     * kept only the first part (bounce_input_annotate()). */
    guint64 size;
    /* Where it comes from: a message (a bounce, a DSN...) or a line of
     * an MTA's log (bounce_log_reader_feed()). */
    BounceOrigin origin;
    /* The original message's queue id at the MTA that reports on it:
     * a Postfix DSN's X-Postfix-Queue-ID, a log line's queue id; NULL
     * when not known.  With orig_message_id it links a bounce to the
     * log line of the same failure (the store keeps one event). */
    char *queue_id;
} BounceReport;

BounceReport *bounce_report_new (const char *source);
void bounce_report_free (BounceReport *report);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (BounceReport, bounce_report_free)

/* Appends a printf-style warning (capped at BOUNCE_MAX_WARNINGS). */
void bounce_report_add_warning (BounceReport *report,
                                const char *format,
                                ...) G_GNUC_PRINTF (2, 3);

/* What happened to @recipient of @report: "bounce", "delay",
 * "delivered", "feedback", "autoreply" or "unknown" (the events' outcome
 * column and the JSON's "outcome"; read after classifying: the reason
 * counts) (transfer none: a static string). */
const char *bounce_recipient_outcome (const BounceReport *report,
                                      const BounceRecipient *recipient);

/* The report as the JSON object of docs/output-format.md
 * (transfer full). */
JsonNode *bounce_report_to_json (const BounceReport *report);

/* ------------------------------------------------------------------ */
/* Status codes (RFC 3463) and reply codes (RFC 5321)                 */
/* ------------------------------------------------------------------ */

/* Normalises an enhanced status code ("5.01.001 (x)" -> "5.1.1");
 * NULL when @text does not start with one (transfer full). */
char *bounce_status_normalize (const char *text);

/* Finds the first enhanced status code in free text (transfer full). */
char *bounce_status_find (const char *text);

/* Finds the SMTP reply code (2xx-5xx) of the server's reply in free text:
 * the first refusal (4xx/5xx), past an x.4.7 expiry verdict to the reply
 * that caused it; a 2xx/3xx only when nothing failed; 0 if none
 * (docs/output-format.md, "Which status"). */
int bounce_reply_code_find (const char *text);

/* Unfolds a multi-line SMTP reply ("550-5.1.1 a 550 5.1.1 b") into one
 * line ("550 5.1.1 a b") and collapses white space (transfer full). */
char *bounce_diagnostic_unfold (const char *text);

/* The SMTP command a reply in @text answered ("in reply to end of DATA
 * command", "after RCPT TO", ">>> DATA"): "CONNECT", "HELO", "MAIL",
 * "RCPT", "DATA", or NULL (transfer none: a static string). */
const char *bounce_smtp_command_find (const char *text);

/* Fills status, smtp_code and status_source of @recipient from its
 * Status field and diagnostic: the enhanced code next to the server's
 * reply wins unless it is x.0.0; a code elsewhere only refines a vaguer
 * Status of the same class (docs/output-format.md, "Which status"). */
void bounce_recipient_resolve_codes (BounceRecipient *recipient);

/* ------------------------------------------------------------------ */
/* Rules                                                              */
/* ------------------------------------------------------------------ */

typedef struct _BounceRules BounceRules;

/**
 * BounceReason:
 * One entry of the reason table, read from the rules files.  Its meaning
 * and advice, in any language the rules carry, come from
 * bounce_rules_get_meaning() and bounce_rules_get_advice().
 */
typedef struct {
    const char *name;
    gboolean hard;
    const char *who; /* recipient|sender|receiving-admin */
    gboolean hard_when_permanent; /* hard only on a permanent failure */
    /* Which side the cause is on, for the suppression policy (the
     * database's reasons.who): recipient (the address, its mailbox or
     * domain), sender (the sending side's setup, reputation or content:
     * suppressing would not help), receiving-admin (the receiving
     * system), none (not a failure).  Not @who, which says who must act
     * (for an unknown user, the sender: stop mailing it). */
    const char *side;
} BounceReason;

/**
 * BounceRule:
 * One rule, as loaded.  Its own advice, if any (which then replaces the
 * reason's), comes from bounce_rules_get_advice().
 */
typedef struct {
    const char *id;
    const char *reason;
    const char *file;
    const char *description;
    const char *tier; /* "decides-alone", "words", "structure", "fallback",
                         "catch-all" */
} BounceRule;

/* Loads the rules of @dirs in order: the first directory holds the
 * base rules, each later one adds rules or overrides one by id.  A
 * directory that does not exist is an error. */
BounceRules *bounce_rules_load (const char *const *dirs, GError **error);
void bounce_rules_free (BounceRules *rules);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (BounceRules, bounce_rules_free)

/* Sets reason, hard, permanent, rule (and an inferred status where the
 * report has none) on every recipient of @report. */
void bounce_rules_classify (const BounceRules *rules, BounceReport *report);

/* The reason table entry for @name, or NULL. */
const BounceReason *bounce_rules_get_reason (const BounceRules *rules,
                                             const char *name);

/* The names of the reasons of the reason table, sorted (transfer
 * container: the names are borrowed). */
GPtrArray *bounce_rules_list_reasons (const BounceRules *rules);

/* The version of the loaded rules: the SHA-256 (lower-case hex) of the
 * rule files read, their names and contents in loading order.  The store
 * records it with every event it classifies (borrowed). */
const char *bounce_rules_get_version (const BounceRules *rules);

/* What the reason @reason means, in @lang (a locale name such as "pl",
 * "pl_PL.UTF-8" or "de": its first variant the rules translate, as
 * g_key_file_get_locale_string finds "meaning[pl]"), else in English (the
 * untranslated text; also for a NULL @lang).  NULL for an unknown reason
 * (transfer none: owned by @rules). */
const char *bounce_rules_get_meaning (const BounceRules *rules,
                                      const char *reason,
                                      const char *lang);

/* The advice for a recipient classified @reason by the rule @rule (may
 * be NULL): the rule's own advice if it has one, else the reason's; in
 * @lang as bounce_rules_get_meaning().  NULL when neither is known
 * (transfer none). */
const char *bounce_rules_get_advice (const BounceRules *rules,
                                     const char *reason,
                                     const char *rule,
                                     const char *lang);

/* The languages the reasons' meanings are written in: "en" (the
 * untranslated text) first, then each LOCALE of a "meaning[LOCALE]", in
 * byte order (transfer full). */
GStrv bounce_rules_get_languages (const BounceRules *rules);

/* The rule with @id, or NULL. */
const BounceRule *bounce_rules_get_rule (const BounceRules *rules,
                                         const char *id);

/* How many rules were loaded (after overrides and disabled ones). */
guint bounce_rules_count (const BounceRules *rules);

/* The @index-th rule in matching order (by tier, then file order), or
 * NULL past the end. */
const BounceRule *bounce_rules_get_nth (const BounceRules *rules,
                                        guint index);

/* Classifies one free-text reply ("550 5.7.26 text", "5.2.2" or "552")
 * as a failed recipient would be: the codes are read from @text, which
 * is also the diagnostic.  Never NULL (transfer full). */
BounceRecipient *bounce_rules_explain (const BounceRules *rules,
                                       const char *text);

/* As bounce_rules_explain, with what a report would add to the reply:
 * @smtp_command the command it answered ("RCPT", "DATA", ...; "NONE":
 * the report does not say; NULL: found in @text as parse does),
 * @action the recipient's action ("failed", "delayed", ...; NULL:
 * delivered for a 2xx reply, else failed), @status the report's Status
 * field (NULL: none; the code in @text is weighed against it as parse
 * does) and @diagnostic_type the Diagnostic-Code's type ("smtp",
 * "x-unix", ...; NULL: none).  Never NULL (transfer full). */
BounceRecipient *bounce_rules_explain_full (const BounceRules *rules,
                                            const char *text,
                                            const char *smtp_command,
                                            const char *action,
                                            const char *status,
                                            const char *diagnostic_type);

/* Validates the rules of @dirs, then runs every rule's examples through
 * all the rules (each must end at its own rule); each problem found is
 * appended to @problems as "FILE: [rule ID]: what".  Returns TRUE when
 * none. */
gboolean bounce_rules_check (const char *const *dirs, GPtrArray *problems);

/* ------------------------------------------------------------------ */
/* Signed VERP return paths (docs/verp.md)                            */
/* ------------------------------------------------------------------ */

/* Hex digits of HMAC-SHA-256 kept in a token, and the shortest secret. */
#define BOUNCE_VERP_TOKEN_LENGTH 16
#define BOUNCE_VERP_MIN_SECRET_BYTES 16

typedef struct _BounceVerpKey BounceVerpKey;

/* A key from @len bytes of secret (at least BOUNCE_VERP_MIN_SECRET_BYTES,
 * else BOUNCE_ERROR_INPUT). */
BounceVerpKey *bounce_verp_key_new (const guint8 *secret,
                                    gsize len,
                                    GError **error);

/* A key from the content of the file @path, without the CR and LF bytes
 * that end it (BOUNCE_ERROR_INPUT when it cannot be read or is too
 * short). */
BounceVerpKey *bounce_verp_key_load (const char *path, GError **error);
void bounce_verp_key_free (BounceVerpKey *key);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (BounceVerpKey, bounce_verp_key_free)

/* The token for @address: the first BOUNCE_VERP_TOKEN_LENGTH lower-case
 * hex digits of HMAC-SHA-256 (secret, @address with A-Z lowered)
 * (transfer full). */
char *bounce_verp_token (const BounceVerpKey *key, const char *address);

/* The signed return path for mail to @address: "LOCAL@DOMAIN" (the
 * @return_path) becomes "LOCAL+alocal=adomain+TOKEN@DOMAIN", the address
 * lowered (ASCII).  BOUNCE_ERROR_INPUT for a return path with "+" or "="
 * in its local part, or an address with spaces, quotes or controls
 * (transfer full). */
char *bounce_verp_encode (const BounceVerpKey *key,
                          const char *return_path,
                          const char *address,
                          GError **error);

typedef enum {
    BOUNCE_VERP_NOT_VERP,    /* not LOCAL+alocal=adomain[+TOKEN]@DOMAIN */
    BOUNCE_VERP_UNSIGNED,    /* VERP without a token */
    BOUNCE_VERP_UNCHECKED,   /* a token, and no key to check it */
    BOUNCE_VERP_WRONG_TOKEN, /* a token that is not the address's */
    BOUNCE_VERP_VALID,       /* signed with the key */
} BounceVerpResult;

/* The address a VERP return path @envelope carries (lower-cased), or NULL
 * when it is not one; *@out_result (may be NULL) says whether its token
 * is valid for @key (may be NULL) (transfer full). */
char *bounce_verp_decode (const BounceVerpKey *key,
                          const char *envelope,
                          BounceVerpResult *out_result);

/* ------------------------------------------------------------------ */
/* Parsing                                                            */
/* ------------------------------------------------------------------ */

typedef struct _BounceParser BounceParser;

/* One-time initialisation of GMime; safe to call more than once. */
void bounce_init (void);

BounceParser *bounce_parser_new (void);
void bounce_parser_free (BounceParser *parser);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (BounceParser, bounce_parser_free)

/* The rules used to classify (borrowed; may be NULL: no reasons). */
void bounce_parser_set_rules (BounceParser *parser, const BounceRules *rules);

/* Header names of the original message kept in extra_headers
 * (e.g. "X-Campaign-Id", "List-Id"); NULL-terminated, copied. */
void bounce_parser_set_extra_headers (BounceParser *parser,
                                      const char *const *names);

/* The VERP pattern: a regular expression over the envelope address with
 * named groups "local" and "domain"
 * (default: ^[^+=@]+[+=](?<local>[^@]+)=(?<domain>[^=@+]+)(?:\+[0-9a-f]+)?@,
 * which also reads a signed return path, docs/verp.md). */
/* Fails with BOUNCE_ERROR_FAILED (GRegex's text in the message) when
 * @pattern is not a valid expression or lacks one of the groups. */
gboolean bounce_parser_set_verp_pattern (BounceParser *parser,
                                         const char *pattern,
                                         GError **error);

/* Adds the non-standard bounce formats of the key file @path to the
 * built-in ones (data/decoders.conf in the sources documents the keys):
 * a [decoder NAME] group adds a format, or replaces the keys it names of
 * a built-in one; [general] and [autoreply] keys replace the built-in
 * patterns.  May be called again to add more files.  Fails with
 * BOUNCE_ERROR_INPUT when @path cannot be read and BOUNCE_ERROR_RULES
 * (naming the file, group and key) when it is not valid; the parser is
 * then unchanged. */
gboolean bounce_parser_add_decoders (BounceParser *parser,
                                     const char *path,
                                     GError **error);

/* The VERP secret (borrowed; NULL: none): each recipient of a report
 * is then BOUNCE_VERIFIED_YES only when the envelope recipient (or an
 * X-Original-To, Delivered-To, Envelope-To, X-Envelope-To header) is a
 * return path signed for its address (bounce_verp_encode()). */
void bounce_parser_set_verp_key (BounceParser *parser,
                                 const BounceVerpKey *key);

/* The domains the messages are sent from (NULL-terminated, copied; NULL
 * or empty: not checked): each recipient of a report whose original's
 * Message-ID is not @ one of them or below is BOUNCE_VERIFIED_NO. */
void bounce_parser_set_sending_domains (BounceParser *parser,
                                        const char *const *domains);

/* An envelope recipient given by the caller (e.g. procmail's or
 * Postfix's $ORIGINAL_RECIPIENT), used for VERP; may be NULL. */
void bounce_parser_set_envelope_recipient (BounceParser *parser,
                                           const char *address);

/* Parses and classifies one message.  Never fails: input that is not a
 * message gives kind BOUNCE_KIND_UNPARSABLE.  (transfer full) */
BounceReport *bounce_parser_parse (BounceParser *parser,
                                   GBytes *message,
                                   const char *source);

/* ------------------------------------------------------------------ */
/* MTA delivery logs (bouncestat import-log, docs/import-log.md)      */
/* ------------------------------------------------------------------ */

typedef enum {
    BOUNCE_LOG_MTA_AUTO,     /* each line by its program or format */
    BOUNCE_LOG_MTA_POSTFIX,
    BOUNCE_LOG_MTA_EXIM,
    BOUNCE_LOG_MTA_SENDMAIL,
} BounceLogMta;

/* "auto", "postfix", "exim", "sendmail". */
const char *bounce_log_mta_to_string (BounceLogMta mta);

/* How many queue ids a log reader remembers (their Message-ID, the
 * deferred recipients of Postfix's expiry); past it the oldest are
 * forgotten. */
#define BOUNCE_LOG_MAX_QUEUE_IDS 100000

typedef struct _BounceLogReader BounceLogReader;

/* A reader of the lines of one log (or of its rotated files, oldest
 * first): it remembers what earlier lines said of each queue id. */
BounceLogReader *bounce_log_reader_new (BounceLogMta mta);
void bounce_log_reader_free (BounceLogReader *reader);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (BounceLogReader, bounce_log_reader_free)

/* The rules that classify each failure (borrowed; NULL: none). */
void bounce_log_reader_set_rules (BounceLogReader *reader,
                                  const BounceRules *rules);

/* The year rule: a syslog time stamp ("Dec  6 21:06:10") has no year;
 * it gets the year that puts it at or before @reference, and less than
 * a year before it (the log's modification time; NULL: now).  Time
 * stamps with a year (RFC 3339, Exim's) are read as they are. */
void bounce_log_reader_set_reference (BounceLogReader *reader,
                                      GDateTime *reference);

/* The zone of time stamps that have none (NULL: the machine's local
 * time, the default). */
void bounce_log_reader_set_time_zone (BounceLogReader *reader,
                                      GTimeZone *zone);

/* Reads one line (without its line end).  A delivery failure or
 * deferral gives a report (kind BOUNCE_KIND_BOUNCE, origin
 * BOUNCE_ORIGIN_LOG, mta "postfix", "exim" or "sendmail", queue_id and
 * orig_message_id where the log said them, one recipient per failed
 * address, classified); any other line gives NULL, after noting what
 * it says of its queue id.  Deliveries (Postfix status=sent, Exim =>,
 * Sendmail stat=Sent) give NULL too: they are not failures
 * (transfer full). */
BounceReport *bounce_log_reader_feed (BounceLogReader *reader,
                                      const char *line,
                                      const char *source);

/* ------------------------------------------------------------------ */
/* Inputs: files, Maildirs, folders and mbox files                    */
/* ------------------------------------------------------------------ */

typedef struct _BounceInput BounceInput;

/* Opens @path: a message file, an mbox file (by content), a Maildir
 * (cur/ and new/) or a folder of message files.  "-" reads one message
 * from @stdin_fd (read when bounce_input_next() is called).  Files are
 * read (never mapped) up to the size they have when they are opened: one
 * that ends before that (truncated while it is read) gives
 * BOUNCE_ERROR_INPUT for what is left of it. */
BounceInput *bounce_input_open (const char *path, int stdin_fd,
                                GError **error);
void bounce_input_free (BounceInput *input);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (BounceInput, bounce_input_free)

/* The next message: TRUE with @out_message and @out_source set, FALSE
 * at the end (@error unset) or on a read error (@error set; the input
 * may go on with the next message). */
gboolean bounce_input_next (BounceInput *input,
                            GBytes **out_message,
                            char **out_source,
                            GError **error);

/* How many messages the input holds, when cheap to know (folders); -1
 * when not known yet. */
gint64 bounce_input_count_hint (BounceInput *input);

/* Keeps at most @max_bytes of each message (0: BOUNCE_MAX_INPUT_BYTES,
 * the default); the rest is read past and counted. */
void bounce_input_set_max_bytes (BounceInput *input, gsize max_bytes);

/* The whole size of the message bounce_input_next() returned last: more
 * than the bytes it holds when the input cut it. */
guint64 bounce_input_get_message_size (BounceInput *input);

/* For the report parsed from the message bounce_input_next() returned
 * last: when the input cut it, sets @report->size to its whole size and
 * adds a warning saying how much was read. */
void bounce_input_annotate (BounceInput *input, BounceReport *report);

/* ------------------------------------------------------------------ */
/* Store: the history in SQLite (schema.sql)                          */
/* ------------------------------------------------------------------ */

typedef struct _BounceStore BounceStore;

/* The schema version this library writes (PRAGMA user_version). */
#define BOUNCE_STORE_SCHEMA_VERSION 11

/* Default busy timeout and raw message cap. */
#define BOUNCE_STORE_DEFAULT_BUSY_TIMEOUT_MS 10000
#define BOUNCE_STORE_DEFAULT_RAW_CAP (1024u * 1024u)

/**
 * BounceStoreOptions:
 * @busy_timeout_ms: how long to wait for a lock before failing with
 *   BOUNCE_ERROR_STORE_BUSY; 0 for the default.
 * @raw_cap: the raw message is kept up to this many bytes (then cut,
 *   with a note, and raw_truncated set); 0 for no cap.
 * @must_exist: do not create the database (BOUNCE_ERROR_STORE if it is
 *   missing); for readers.
 * @unclassified: the reports were parsed without the rules (they could
 *   not be loaded): each message is stored with classified = 0, its raw
 *   bytes whole (@raw_cap does not apply) and no events, so that no
 *   report or suppression counts it until it is classified again.
 *
 * Pass NULL to bounce_store_open() for the defaults
 * (BOUNCE_STORE_DEFAULT_BUSY_TIMEOUT_MS, BOUNCE_STORE_DEFAULT_RAW_CAP).
 */
typedef struct {
    guint busy_timeout_ms;
    gsize raw_cap;
    gboolean must_exist;
    gboolean unclassified;
} BounceStoreOptions;

/* Sets the defaults in @options. */
void bounce_store_options_init (BounceStoreOptions *options);

/* Opens (creating it and its directory, mode 0600/0700) the database at
 * @path, in WAL mode, and brings its schema up to date.  A database of a
 * newer schema gives BOUNCE_ERROR_SCHEMA_TOO_NEW.  Lock waits past the
 * timeout give BOUNCE_ERROR_STORE_BUSY; disk full and I/O errors
 * BOUNCE_ERROR_STORE_FULL (both transient); a file or directory this
 * user may not write (EACCES, EPERM, EROFS, SQLITE_READONLY)
 * BOUNCE_ERROR_STORE_ACCESS; the rest BOUNCE_ERROR_STORE. */
BounceStore *bounce_store_open (const char *path,
                                const BounceStoreOptions *options,
                                GError **error);

/* Whether @db names a PostgreSQL database (a libpq connection string:
 * "postgresql://...", "postgres://..." or keywords such as
 * "host=db1 dbname=bounces"); anything else is an SQLite path.
 * bounce_store_open() takes both: on PostgreSQL the schema is
 * schema-pg.sql, a message is stored once however many hosts store it,
 * a server that is down, unreachable, out of connections or refusing the
 * session gives BOUNCE_ERROR_STORE_BUSY, a read-only one
 * BOUNCE_ERROR_STORE_ACCESS, and messages name the host and database
 * with libpq's text (never a password).  Credentials come the libpq way
 * (~/.pgpass, PGPASSFILE, service files). */
gboolean bounce_store_is_connection_string (const char *db);

/* Closes the store; an open batch is rolled back. */
void bounce_store_close (BounceStore *store);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (BounceStore, bounce_store_close)

/* The schema version of the open database. */
int bounce_store_get_schema_version (BounceStore *store);

/* A batch is one write transaction (BEGIN IMMEDIATE ... COMMIT): what
 * bounce_store_add() does between them is committed together.  Without
 * a batch, each add is its own transaction. */
gboolean bounce_store_begin (BounceStore *store, GError **error);
gboolean bounce_store_commit (BounceStore *store, GError **error);
void bounce_store_rollback (BounceStore *store);

/* Stores one message: its raw bytes (compressed, cut at the cap) and
 * what @report says about it (one event per recipient).  A message
 * already stored (same content hash) changes nothing and sets
 * *@out_duplicate (may be NULL).  On failure the open batch is rolled
 * back whole (nothing of it is stored). */
gboolean bounce_store_add (BounceStore *store,
                           GBytes *raw,
                           const BounceReport *report,
                           gboolean *out_duplicate,
                           GError **error);

/* The content hash of @raw as stored in messages.content_hash
 * (transfer full). */
char *bounce_store_content_hash (GBytes *raw);

/* The rules the reports given to bounce_store_add() were classified
 * with (borrowed for the call; NULL: not said).  Every event stored
 * after it records their version (bounce_rules_get_version(), in
 * rule_sets), and when other rules wrote the database's reasons table it
 * is written again from theirs: each reason's side as reasons.who, and
 * the suppression state of the addresses it changes computed again, in
 * one transaction (that of the open batch, if any). */
gboolean bounce_store_set_rules (BounceStore *store,
                                 const BounceRules *rules,
                                 GError **error);

/* What `bouncestat fetch` took from remote mailboxes (schema.sql,
 * fetch_imap and fetch_pop3; bounce-fetch.c).  @account names the
 * mailbox's user and server ("user@host"); the writers belong in
 * the batch that stores the message, so that they are committed with it
 * (without a batch each is its own transaction). */

/* The UIDVALIDITY and the highest UID stored of IMAP @mailbox of
 * @account: FALSE on error; both 0 when none was stored. */
gboolean bounce_store_get_imap_state (BounceStore *store,
                                      const char *account,
                                      const char *mailbox,
                                      guint32 *out_uidvalidity,
                                      guint32 *out_last_uid,
                                      GError **error);

/* Records that the messages of @mailbox up to UID @last_uid (of
 * UIDVALIDITY @uidvalidity, not 0) are stored. */
gboolean bounce_store_set_imap_state (BounceStore *store,
                                      const char *account,
                                      const char *mailbox,
                                      guint32 uidvalidity,
                                      guint32 last_uid,
                                      GError **error);

/* The POP3 unique ids (UIDL) of @account's messages stored, as a set
 * (transfer full; keys are the ids), or NULL on error. */
GHashTable *bounce_store_get_pop3_uidls (BounceStore *store,
                                         const char *account,
                                         GError **error);

/* Records (@stored TRUE) or forgets that the message of POP3 unique id
 * @uidl of @account is stored. */
gboolean bounce_store_set_pop3_uidl (BounceStore *store,
                                     const char *account,
                                     const char *uidl,
                                     gboolean stored,
                                     GError **error);


/* ------------------------------------------------------------------ */
/* Queries: reports over the history (read-only)                      */
/* ------------------------------------------------------------------ */

/* A read-only connection to a database written by the store. */
typedef struct _BounceReader BounceReader;

/* How long a reader waits for a writer's lock. */
#define BOUNCE_READER_BUSY_TIMEOUT_MS 10000

/* Opens the database at @path read-only.  It must exist
 * (BOUNCE_ERROR_INPUT if not) and have schema version 2 or later;
 * databases of a newer schema are read too (versions only add).  Read
 * access to the file is enough: where the WAL's -shm file cannot be
 * created (a directory or mount the caller cannot write) and no
 * write-ahead log is pending, the file is read without locks
 * (SQLite's "immutable"). */
BounceReader *bounce_reader_open (const char *path, GError **error);
void bounce_reader_free (BounceReader *reader);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (BounceReader, bounce_reader_free)

int bounce_reader_get_schema_version (BounceReader *reader);

typedef enum {
    BOUNCE_VALUE_NULL, /* only while reading: no value seen yet */
    BOUNCE_VALUE_INTEGER,
    BOUNCE_VALUE_REAL,
    BOUNCE_VALUE_TEXT,
} BounceValueType;

/**
 * BounceTable:
 * The rows a query found.  @columns holds @n_columns names
 * (NULL-terminated), @types the type of each column (the widest value
 * found in it; TEXT when it held none), @rows one GPtrArray per row of
 * @n_columns cells: the value as text (integers in decimal), or NULL
 * for no value.
 */
typedef struct {
    guint n_columns;
    char **columns;
    BounceValueType *types;
    GPtrArray *rows;
} BounceTable;

void bounce_table_free (BounceTable *table);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (BounceTable, bounce_table_free)

/* The index of column @name, or -1. */
int bounce_table_find_column (const BounceTable *table, const char *name);

/* The value of @column in row @row (borrowed; NULL for no value or no
 * such column). */
const char *bounce_table_get (const BounceTable *table,
                              guint row,
                              const char *column);

/* Row @row as a JSON object, or the whole table as an array of them;
 * integer and real columns become numbers, no value null
 * (transfer full). */
JsonNode *bounce_table_row_to_json (const BounceTable *table, guint row);
JsonNode *bounce_table_to_json (const BounceTable *table);

/**
 * BounceGroup:
 * What `report --by` groups bounces by.  DAY and WEEK (the Monday that
 * starts it, YYYY-MM-DD) rows come in time order; the others by count.
 * MTA is the decoder that read the bounce (postfix, exim, ...),
 * REMOTE_MTA the server that refused; SENDER the From of the original
 * message; CAMPAIGN the value of the campaign header stored with it;
 * ORIGIN where the event comes from: message (a bounce) or log (the
 * MTA's log, bouncestat import-log).
 */
typedef enum {
    BOUNCE_GROUP_REASON,
    BOUNCE_GROUP_DOMAIN,
    BOUNCE_GROUP_DAY,
    BOUNCE_GROUP_WEEK,
    BOUNCE_GROUP_MTA,
    BOUNCE_GROUP_REMOTE_MTA,
    BOUNCE_GROUP_RECIPIENT,
    BOUNCE_GROUP_SENDER,
    BOUNCE_GROUP_CAMPAIGN,
    BOUNCE_GROUP_ORIGIN,
} BounceGroup;

const char *bounce_group_to_string (BounceGroup group);
gboolean bounce_group_from_string (const char *name, BounceGroup *out_group);

/**
 * BounceQueryOptions:
 * @since: only events at or after this time (ISO 8601 UTC, as from
 *   bounce_time_parse()), or NULL.
 * @until: only events before this time, or NULL.
 * @match: an address, or "@domain" (the domain or registrable domain),
 *   or NULL for all.
 * @top: at most this many rows (by count; for DAY and WEEK the latest);
 *   0 for all.
 * @campaign_header: the header name for BOUNCE_GROUP_CAMPAIGN (any
 *   case); NULL for "x-campaign-id".
 * @soft_count: suppress after this many soft bounces...
 * @soft_days: ...spread over at least this many days; negative for the
 *   database's settings (suppress_soft_count and _days: 3 and 7).
 *
 * Strings are borrowed.  Initialise with bounce_query_options_init();
 * NULL options mean the defaults.
 */
typedef struct {
    const char *since;
    const char *until;
    const char *match;
    guint top;
    const char *campaign_header;
    int soft_count;
    int soft_days;
} BounceQueryOptions;

void bounce_query_options_init (BounceQueryOptions *options);

/* Bounced recipients grouped by @group: the key column (named after the
 * group: reason, domain, day, week, mta, remote_mta, recipient, sender,
 * campaign), then bounces (recipient entries), recipients (distinct
 * addresses), messages, hard, soft; by reason also who (recipient,
 * sender, receiving-admin, none, or no value). */
BounceTable *bounce_query_report (BounceReader *reader,
                                  BounceGroup group,
                                  const BounceQueryOptions *options,
                                  GError **error);

/**
 * BounceOverview:
 * The default report, from one pass over the bounces of the window.
 * @totals: one row: bounces, recipients (distinct), messages, hard,
 *   soft, first, last (times of the first and last bounce).
 * @reasons: reason, who, bounces, hard, soft; by count.
 * @domains: domain (registrable), bounces, hard, soft; by count, at most
 *   options->top rows (all when 0).
 * @trend: day, bounces, hard, soft, then the bounces by whose side
 *   the reason is on (who_recipient, who_sender, who_receiving_admin,
 *   who_other: none or unknown): every day from first_day to last_day,
 *   days without bounces included.
 * @outcomes: outcome, messages, recipients: the messages of the window
 *   by what they are, each counted once, under the first of bounce,
 *   delay, delivered, feedback, autoreply, unknown that its recipients
 *   have (recipients: all the recipients of that outcome); then "none"
 *   (messages without recipients, received in the window; only when
 *   there are any) and last "all" (the sum of the messages).
 */
typedef struct {
    BounceTable *totals;
    BounceTable *reasons;
    BounceTable *domains;
    BounceTable *trend;
    BounceTable *outcomes;
} BounceOverview;

void bounce_overview_free (BounceOverview *overview);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (BounceOverview, bounce_overview_free)

/* The overview of the bounces in the window of @options, with the daily
 * trend from @first_day to @last_day (YYYY-MM-DD, UTC). */
BounceOverview *bounce_query_overview (BounceReader *reader,
                                       const BounceQueryOptions *options,
                                       const char *first_day,
                                       const char *last_day,
                                       GError **error);

/* The addresses to stop mailing, by address: a hard bounce of a
 * recipient-side reason, or soft_count soft bounces whose first and last
 * are soft_days or more apart; sender-side reasons never count, nor do
 * unverified events (events.verified = 0, maybe forged: see
 * bounce_parser_set_verp_key()), and only bounces after the last
 * delivery to the address do (with
 * options->until: the list as it was then, later deliveries ignored).
 * Columns: address, why (hard|soft), reason, status (of the bounce
 * that decided: the latest hard one, else the latest counted one),
 * first_bounce, last_bounce, bounces, hard_bounces, soft_bounces,
 * domain. */
BounceTable *bounce_query_suppress (BounceReader *reader,
                                    const BounceQueryOptions *options,
                                    GError **error);

/* Called with the cells of one row of bounce_query_suppress() (in its
 * column order; borrowed for the call). */
typedef void (*BounceSuppressFunc) (const char *const *cells,
                                    gpointer user_data);

/* The rows of bounce_query_suppress() one at a time, in the same order,
 * without holding the list: for a list of any size. */
gboolean bounce_query_suppress_foreach (BounceReader *reader,
                                        const BounceQueryOptions *options,
                                        BounceSuppressFunc func,
                                        gpointer user_data,
                                        GError **error);

/* Every event of options->match (or of everyone), oldest first: time,
 * address, outcome, action, status, smtp_code, reason, hard, rule,
 * diagnostic, remote_mta, mta, reporting_mta, orig_message_id, subject,
 * source, message_id, smtp_command (the command the reply answered:
 * RCPT, DATA, ...), verified (1, 0: maybe forged, never counted for
 * suppression; no value: not checked), origin (message, or log: a line
 * of the MTA's log), linked (how many other reports of the same failure
 * are linked to it: the log line of a bounce). */
BounceTable *bounce_query_history (BounceReader *reader,
                                   const BounceQueryOptions *options,
                                   GError **error);

/* How many events of the whole history were classified by other rules
 * than those of @version (bounce_rules_get_version()), or before the
 * database recorded it; *@out_total (may be NULL) all events.  0 for a
 * database older than the record (schema version 8); -1 with @error set
 * on failure. */
gint64 bounce_query_count_other_rules (BounceReader *reader,
                                       const char *version,
                                       gint64 *out_total,
                                       GError **error);

/* Turns a --since/--until value into an ISO 8601 UTC time
 * ("2026-11-01T00:00:00Z"): a duration back from @now ("30m", "24h",
 * "7d", "2w"), a date ("2026-11-01": its start, or with @end_of_day the
 * start of the next day, so that an --until date includes that day) or
 * an ISO 8601 time (UTC unless it has an offset).  (transfer full) */
char *bounce_time_parse (const char *text,
                         GDateTime *now,
                         gboolean end_of_day,
                         GError **error);

/* ------------------------------------------------------------------ */
/* Reclassifying the history (bouncestat reclassify)                  */
/* ------------------------------------------------------------------ */

/* Called with how many messages of @total are done. */
typedef void (*BounceProgressFunc) (guint64 done,
                                    guint64 total,
                                    gpointer user_data);

/**
 * BounceReclassifyOptions:
 * @since: only the messages received at or after this time (ISO 8601
 *   UTC, as from bounce_time_parse()), or NULL for all.
 * @dry_run: change nothing: everything happens in one transaction that
 *   is rolled back, and the summary says what would have changed.
 * @batch_size: messages per transaction; 0 for the default (500).
 * @progress: called after each batch (may be NULL), with @progress_data.
 */
typedef struct {
    const char *since;
    gboolean dry_run;
    guint batch_size;
    BounceProgressFunc progress;
    gpointer progress_data;
} BounceReclassifyOptions;

void bounce_reclassify_options_init (BounceReclassifyOptions *options);

/**
 * BounceReclassifySummary:
 * @messages: raw messages parsed again.
 * @unclassified: of them, stored unclassified until now.
 * @events: their events now.
 * @changed: events added, removed or classified differently.
 * @cut: messages not parsed again because their raw bytes were kept cut
 *   (the raw cap: ingest --raw-cap); their events stay as they are.
 * @reasons: old_reason, new_reason (no value: the event was added or
 *   removed), events: the changed events, by count.
 * @suppression: address, before, after ("hard", "soft" or no value: not
 *   suppressed): the addresses the suppression list gains, loses or
 *   suppresses for another cause (by the settings' thresholds), by
 *   address.
 */
typedef struct {
    guint64 messages;
    guint64 unclassified;
    guint64 events;
    guint64 changed;
    guint64 cut;
    BounceTable *reasons;
    BounceTable *suppression;
} BounceReclassifySummary;

void bounce_reclassify_summary_free (BounceReclassifySummary *summary);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (BounceReclassifySummary,
                               bounce_reclassify_summary_free)

/* Parses every stored raw message (of the window of @options; not those
 * kept cut, which may say less than the message did) again
 * with @parser and updates its events in place: the classification
 * columns of each recipient (the address stays when the parse finds
 * none, verified stays as stored), recipients added or removed, the
 * message's kind, mta and classified = 1; the suppression state
 * follows.  @rules (those of @parser; may be NULL) are recorded as by
 * bounce_store_set_rules().  In batches of transactions; no batch may be
 * open.  NULL with @error set on failure (the batches before it stay
 * committed). */
BounceReclassifySummary *bounce_store_reclassify (
    BounceStore *store,
    BounceParser *parser,
    const BounceRules *rules,
    const BounceReclassifyOptions *options,
    GError **error);

G_END_DECLS

#endif /* BOUNCE_H */
