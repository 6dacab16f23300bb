/*
 * bounce-log.c - delivery failures from an MTA's own log: Postfix's
 * "status=bounced|deferred|expired", Exim's "**" and "==" lines,
 * Sendmail's "stat=" lines, each turned into a report with one
 * recipient, classified by the rules as the same failure's bounce would
 * be (the remote's reply is the diagnostic; docs/import-log.md).
 *
 * The formats are those the MTAs write (Postfix src/global/log_adhoc.c
 * and src/cleanup/cleanup_message.c; Exim src/deliver.c; Sendmail
 * sendmail/deliver.c logdelivery() and srvrsmtp.c), as the lab runs of
 * tests/fixtures/logs/ show them.  Each line comes behind a syslog
 * prefix ("Dec  6 21:06:10 host postfix/smtp[123]: ", or an RFC 3339
 * time stamp from rsyslog or journald) or, for Exim's own log file,
 * behind "2026-12-06 21:06:10 ".
 *
 * The reader remembers, per queue id (at most BOUNCE_LOG_MAX_QUEUE_IDS,
 * the oldest forgotten first), the original Message-ID and the latest
 * deferral of each recipient: Postfix's expiry line names no recipient,
 * and each deferred one fails with its last reply.
 */
#include <stdlib.h>
#include <string.h>

#include "bounce-private.h"

typedef struct {
    char *message_id;
    /* address -> BounceRecipient: its latest deferral (Postfix). */
    GHashTable *deferred;
} QueueEntry;

struct _BounceLogReader {
    BounceLogMta mta;
    const BounceRules *rules;
    GDateTime *reference;
    GTimeZone *zone;
    GHashTable *queue; /* queue id -> QueueEntry */
    GQueue order;      /* queue ids, oldest first (owned by @queue) */
    GRegex *syslog_prefix;
    GRegex *rfc3339_prefix;
    GRegex *exim_prefix;
    GRegex *postfix_status;
    GRegex *exim_delivery;
    GRegex *sendmail_status;
};

static const char *const mta_names[] = { "auto", "postfix", "exim",
                                         "sendmail" };

const char *
bounce_log_mta_to_string (BounceLogMta mta)
{
    g_return_val_if_fail ((guint) mta < G_N_ELEMENTS (mta_names), NULL);
    return mta_names[mta];
}

static void
queue_entry_free (gpointer data)
{
    QueueEntry *e = data;

    g_free (e->message_id);
    g_clear_pointer (&e->deferred, g_hash_table_unref);
    g_free (e);
}

static GRegex *
regex (const char *pattern)
{
    g_autoptr (GError) error = NULL;
    GRegex *re = g_regex_new (pattern, G_REGEX_OPTIMIZE, 0, &error);

    g_assert_no_error (error);
    return re;
}

BounceLogReader *
bounce_log_reader_new (BounceLogMta mta)
{
    BounceLogReader *reader = g_new0 (BounceLogReader, 1);

    reader->mta = mta;
    reader->zone = g_time_zone_new_local ();
    reader->queue = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                           queue_entry_free);
    g_queue_init (&reader->order);
    /* RFC 3164: "Dec  6 21:06:10 host program[pid]: text". */
    reader->syslog_prefix = regex (
        "^(?<mon>[A-Z][a-z]{2}) +(?<day>[0-9]{1,2}) "
        "(?<time>[0-9]{2}:[0-9]{2}:[0-9]{2}) (?<host>\\S+) "
        "(?<prog>[^\\s\\[:]+)(?:\\[[0-9]+\\])?: (?<text>.*)$");
    /* rsyslog's RFC 3339 stamps, journalctl -o short-iso. */
    reader->rfc3339_prefix = regex (
        "^(?<stamp>[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}(?:\\.[0-9]+)?"
        "(?:Z|[+-][0-9]{2}:?[0-9]{2})?) (?<host>\\S+) "
        "(?<prog>[^\\s\\[:]+)(?:\\[[0-9]+\\])?: (?<text>.*)$");
    /* Exim's own main log: "2026-12-06 21:06:10[.123] [+0100] [[pid]] ". */
    reader->exim_prefix = regex (
        "^(?<stamp>[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9:]{8}(?:\\.[0-9]+)?)"
        "(?: (?<zone>[+-][0-9]{4}))?(?: \\[[0-9]+\\])? (?<text>.*)$");
    /* Postfix log_adhoc.c: "QID: to=<a>, orig_to=<b>, relay=..., delay=...,
     * delays=..., dsn=X.Y.Z, status=STATUS (text)". */
    reader->postfix_status = regex (
        "^(?<qid>[0-9A-Za-z]+): to=<(?<to>[^>]*)>,"
        "(?: orig_to=<(?<orig>[^>]*)>,)? relay=(?<relay>[^,]*),"
        ".*? dsn=(?<dsn>[0-9]\\.[0-9]{1,3}\\.[0-9]{1,3}),"
        " status=(?<status>[a-z]+)(?: \\((?<text>.*)\\))?$");
    /* Exim deliver.c: "ID ** addr [<orig>] [R=.. T=..] [H=..]: text",
     * "ID == addr ... defer (errno): text". */
    reader->exim_delivery = regex (
        "^(?<qid>[0-9A-Za-z]{6}-[0-9A-Za-z]{6,11}-[0-9A-Za-z]{2,4}) "
        "(?<flag>\\*\\*|==) (?<to>[^\\s:]+?)(?: <(?<orig>[^>]*)>)?"
        "(?<fields>(?: [A-Za-z]+=\\S+| (?:routing )?defer \\(-?[0-9]+\\)"
        "| \\[[^\\]]*\\])*)(?:: (?<text>.*))?$");
    /* Sendmail deliver.c logdelivery(): "QID: to=<a>,<b>, ..., relay=...,
     * dsn=X.Y.Z, reply=REPLY, stat=text" (relay= and reply= when known). */
    reader->sendmail_status = regex (
        "^(?<qid>[0-9A-Za-z]+): to=(?<to>.*?), (?:.*?, )?"
        "dsn=(?<dsn>[0-9]\\.[0-9]{1,3}\\.[0-9]{1,3}),"
        "(?: reply=(?<reply>.*),)? stat=(?<text>.*)$");
    return reader;
}

void
bounce_log_reader_free (BounceLogReader *reader)
{
    if (reader == NULL)
        return;
    g_clear_pointer (&reader->reference, g_date_time_unref);
    g_time_zone_unref (reader->zone);
    g_queue_clear (&reader->order);
    g_hash_table_unref (reader->queue);
    g_regex_unref (reader->syslog_prefix);
    g_regex_unref (reader->rfc3339_prefix);
    g_regex_unref (reader->exim_prefix);
    g_regex_unref (reader->postfix_status);
    g_regex_unref (reader->exim_delivery);
    g_regex_unref (reader->sendmail_status);
    g_free (reader);
}

void
bounce_log_reader_set_rules (BounceLogReader *reader, const BounceRules *rules)
{
    g_return_if_fail (reader != NULL);
    reader->rules = rules;
}

void
bounce_log_reader_set_reference (BounceLogReader *reader, GDateTime *reference)
{
    g_return_if_fail (reader != NULL);
    g_clear_pointer (&reader->reference, g_date_time_unref);
    if (reference != NULL)
        reader->reference = g_date_time_ref (reference);
}

void
bounce_log_reader_set_time_zone (BounceLogReader *reader, GTimeZone *zone)
{
    g_return_if_fail (reader != NULL);
    g_time_zone_unref (reader->zone);
    reader->zone = zone != NULL ? g_time_zone_ref (zone)
                                : g_time_zone_new_local ();
}

/* ------------------------------------------------------------------ */
/* Time stamps                                                        */
/* ------------------------------------------------------------------ */

/* "Dec", 6, "21:06:10" in @zone -> ISO 8601 with offset: the year that
 * puts it at or before @reference and less than a year before it;
 * NULL for a month name or time that is none. */
char *
_bounce_log_syslog_time (const char *mon, int day, const char *hms,
                         GDateTime *reference, GTimeZone *zone)
{
    static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    const char *m = strlen (mon) == 3 ? strstr (months, mon) : NULL;
    g_autoptr (GDateTime) now = NULL;
    g_autoptr (GDateTime) ref = NULL;
    int month, year;

    if (m == NULL || (m - months) % 3 != 0)
        return NULL;
    month = (int) (m - months) / 3 + 1;
    if (reference == NULL)
        reference = now = g_date_time_new_now (zone);
    ref = g_date_time_to_timezone (reference, zone);
    year = g_date_time_get_year (ref);
    /* Tried this year, then the one before (a December line read in
     * January); Feb 29 goes back to the last leap year. */
    for (int back = 0; back < 8; back++) {
        g_autofree char *iso = g_strdup_printf ("%04d-%02d-%02dT%s",
                                                year - back, month, day, hms);
        g_autoptr (GDateTime) dt = g_date_time_new_from_iso8601 (iso, zone);

        if (dt == NULL)
            continue;
        /* A minute of slack for a clock a little ahead. */
        if (g_date_time_difference (dt, ref) > 60 * G_TIME_SPAN_SECOND)
            continue;
        return g_date_time_format_iso8601 (dt);
    }
    return NULL;
}

/* An ISO 8601 stamp that may lack a zone ("2026-12-06 21:06:10",
 * "2026-12-06T21:06:10.123+01:00") -> ISO 8601 with offset, or NULL. */
static char *
stamp_time (const char *stamp, const char *offset, GTimeZone *zone)
{
    g_autofree char *iso = g_strconcat (stamp, offset != NULL ? offset : "",
                                        NULL);
    g_autoptr (GDateTime) dt = NULL;
    char *space = strchr (iso, ' ');

    if (space != NULL)
        *space = 'T';
    dt = g_date_time_new_from_iso8601 (iso, zone);
    return dt != NULL ? g_date_time_format_iso8601 (dt) : NULL;
}

/* ------------------------------------------------------------------ */
/* Queue ids                                                          */
/* ------------------------------------------------------------------ */

static QueueEntry *
queue_entry (BounceLogReader *reader, const char *qid, gboolean create)
{
    QueueEntry *e = g_hash_table_lookup (reader->queue, qid);
    char *key;

    if (e != NULL || !create)
        return e;
    if (g_hash_table_size (reader->queue) >= BOUNCE_LOG_MAX_QUEUE_IDS) {
        char *oldest = g_queue_pop_head (&reader->order);

        g_hash_table_remove (reader->queue, oldest);
    }
    e = g_new0 (QueueEntry, 1);
    key = g_strdup (qid);
    g_hash_table_insert (reader->queue, key, e);
    g_queue_push_tail (&reader->order, key);
    return e;
}

static void
queue_forget (BounceLogReader *reader, const char *qid)
{
    char *key = NULL;

    if (!g_hash_table_lookup_extended (reader->queue, qid, (gpointer *) &key,
                                       NULL))
        return;
    g_queue_remove (&reader->order, key);
    g_hash_table_remove (reader->queue, qid);
}

/* "<id@host>" -> "id@host" (GMime's form of a Message-ID). */
static void
note_message_id (BounceLogReader *reader, const char *qid, const char *value)
{
    QueueEntry *e = queue_entry (reader, qid, TRUE);
    g_autofree char *id = g_strdup (value);
    gsize n;

    g_strstrip (id);
    n = strlen (id);
    if (n >= 2 && id[0] == '<' && id[n - 1] == '>') {
        id[n - 1] = '\0';
        memmove (id, id + 1, n - 1);
    }
    if (id[0] == '\0')
        return;
    g_free (e->message_id);
    e->message_id = g_steal_pointer (&id);
}

/* ------------------------------------------------------------------ */
/* Reports                                                            */
/* ------------------------------------------------------------------ */

typedef struct {
    const char *mta;
    const char *qid;
    const char *time;  /* ISO 8601 */
    const char *host;  /* the logging host */
} LineInfo;

/* What one failure of one recipient says, before the rules. */
typedef struct {
    const char *address;
    const char *original;
    const char *action;      /* failed | delayed */
    const char *status;      /* dsn=, or NULL */
    const char *reply;       /* the diagnostic: the remote's reply */
    const char *command;     /* RCPT, DATA...; NULL: find it in @reply */
    const char *type;        /* smtp, x-postfix... */
    const char *remote_mta;
} Failure;

static BounceRecipient *
classify (BounceLogReader *reader, const Failure *f)
{
    BounceRecipient *r;

    if (reader->rules != NULL) {
        r = bounce_rules_explain_full (reader->rules, f->reply,
                                       f->command != NULL ? f->command : NULL,
                                       f->action, f->status, f->type);
    } else {
        g_autofree char *copy = _bounce_text_normalize (
            f->reply, strlen (f->reply), BOUNCE_MAX_FIELD_BYTES);

        r = bounce_recipient_new ();
        r->diagnostic = bounce_diagnostic_unfold (copy);
        r->status = bounce_status_normalize (f->status != NULL ? f->status
                                                               : r->diagnostic);
        bounce_recipient_resolve_codes (r);
        r->action = g_strdup (f->action);
        r->smtp_command = g_strdup (
            f->command != NULL ? f->command
                               : bounce_smtp_command_find (r->diagnostic));
        r->diagnostic_type = g_strdup (f->type);
    }
    g_free (r->address);
    r->address = g_strdup (f->address);
    if (f->original != NULL && f->original[0] != '\0' &&
        g_ascii_strcasecmp (f->original, f->address) != 0)
        r->original_recipient = g_strdup (f->original);
    g_free (r->remote_mta);
    r->remote_mta = g_strdup (f->remote_mta);
    return r;
}

static BounceReport *
report_new (BounceLogReader *reader, const LineInfo *li, const char *source)
{
    BounceReport *report = bounce_report_new (source);
    QueueEntry *e = queue_entry (reader, li->qid, FALSE);

    report->kind = BOUNCE_KIND_BOUNCE;
    report->origin = BOUNCE_ORIGIN_LOG;
    report->mta = g_strdup (li->mta);
    report->reporting_mta = g_strdup (li->host);
    report->queue_id = g_strdup (li->qid);
    report->date = g_strdup (li->time);
    if (e != NULL)
        report->orig_message_id = g_strdup (e->message_id);
    return report;
}

static void
add_recipient (BounceReport *report, BounceRecipient *r, const LineInfo *li)
{
    g_free (r->last_attempt);
    r->last_attempt = g_strdup (li->time);
    g_ptr_array_add (report->recipients, r);
}

/* ------------------------------------------------------------------ */
/* Postfix                                                            */
/* ------------------------------------------------------------------ */

/* Postfix's text in the parentheses: "host H[ip] said: REPLY (in reply
 * to RCPT TO command)" from smtp_trouble.c, or its own words ("connect
 * to ...: Connection refused", "unknown user: \"x\"").  Fills @f. */
static void
postfix_text (char *text, Failure *f, char **out_host)
{
    static const char *const heads[] = { " said: ",
                                         " refused to talk to me: " };
    char *said = NULL;
    const char *head = NULL;
    char *host, *in_reply;

    f->type = "x-postfix";
    f->reply = text;
    for (guint i = 0; i < G_N_ELEMENTS (heads) && said == NULL; i++)
        if ((said = strstr (text, heads[i])) != NULL)
            head = heads[i];
    if (said == NULL)
        return;
    /* "host H[ip] said:", "...; server H[ip] said:" (SASL),
     * "host H[ip] refused to talk to me:" (the greeting). */
    *said = '\0';
    host = g_strrstr (text, "host ");
    if (host == NULL)
        host = g_strrstr (text, "server ");
    if (host != NULL) {
        host = strchr (host, ' ') + 1;
        *out_host = g_strndup (host, strcspn (host, "["));
    }
    f->reply = said + strlen (head);
    f->type = "smtp";
    if (head == heads[1]) {
        f->command = "CONNECT";
        return;
    }
    in_reply = g_strrstr (f->reply, " (in reply to ");
    if (in_reply != NULL && g_str_has_suffix (in_reply, " command)")) {
        const char *cmd = bounce_smtp_command_find (in_reply + 2);

        *in_reply = '\0';
        f->command = cmd != NULL ? cmd : "NONE";
    } else {
        f->command = "NONE";
    }
}

/* Keeps @f, a deferral, as the latest of its address and queue id. */
static void
remember_deferral (BounceLogReader *reader, const char *qid, const Failure *f)
{
    QueueEntry *e = queue_entry (reader, qid, TRUE);
    BounceRecipient *keep = bounce_recipient_new ();

    if (e->deferred == NULL)
        e->deferred = g_hash_table_new_full (
            g_str_hash, g_str_equal, NULL,
            (GDestroyNotify) bounce_recipient_free);
    keep->address = g_strdup (f->address);
    if (f->original != NULL && g_ascii_strcasecmp (f->original,
                                                   f->address) != 0)
        keep->original_recipient = g_strdup (f->original);
    keep->status = g_strdup (f->status);
    keep->diagnostic = g_strdup (f->reply);
    keep->smtp_command = g_strdup (f->command);
    keep->diagnostic_type = g_strdup (f->type);
    keep->remote_mta = g_strdup (f->remote_mta);
    g_hash_table_replace (e->deferred,
                          keep->address, keep);
}

/* The latest deferral of @address in @qid, or NULL (transfer none). */
static const BounceRecipient *
find_deferral (BounceLogReader *reader, const char *qid, const char *address)
{
    QueueEntry *e = queue_entry (reader, qid, FALSE);

    return e != NULL && e->deferred != NULL
               ? g_hash_table_lookup (e->deferred, address)
               : NULL;
}

static void
forget_deferral (BounceLogReader *reader, const char *qid, const char *address)
{
    QueueEntry *e = queue_entry (reader, qid, FALSE);

    if (e != NULL && e->deferred != NULL)
        g_hash_table_remove (e->deferred, address);
}

static int
by_address (gconstpointer a, gconstpointer b)
{
    const BounceRecipient *const *ra = a;
    const BounceRecipient *const *rb = b;

    return strcmp ((*ra)->address, (*rb)->address);
}

/* The message @qid expired (Postfix's "status=expired, returned to
 * sender", Sendmail's "sender notify: Cannot send message for ..."):
 * each recipient deferred so far fails with its last reply, as the
 * bounce then says (@status: the bounce's Status, or NULL for the
 * deferral's); NULL when none was deferred. */
static BounceReport *
expire_deferrals (BounceLogReader *reader, const LineInfo *li,
                  const char *qid, const char *status, const char *source)
{
    QueueEntry *e = queue_entry (reader, qid, FALSE);
    g_autoptr (GPtrArray) sorted = g_ptr_array_new ();
    BounceReport *report;
    GHashTableIter iter;
    gpointer value;

    if (e == NULL || e->deferred == NULL ||
        g_hash_table_size (e->deferred) == 0)
        return NULL;
    report = report_new (reader, li, source);
    g_hash_table_iter_init (&iter, e->deferred);
    while (g_hash_table_iter_next (&iter, NULL, &value))
        g_ptr_array_add (sorted, value);
    g_ptr_array_sort (sorted, by_address);
    for (guint i = 0; i < sorted->len; i++) {
        const BounceRecipient *d = sorted->pdata[i];
        Failure f = {
            .address = d->address, .original = d->original_recipient,
            .action = "failed", .status = status != NULL ? status : d->status,
            .reply = d->diagnostic, .command = d->smtp_command,
            .type = d->diagnostic_type, .remote_mta = d->remote_mta,
        };

        add_recipient (report, classify (reader, &f), li);
    }
    g_clear_pointer (&e->deferred, g_hash_table_unref);
    return report;
}

static BounceReport *
postfix_line (BounceLogReader *reader, LineInfo *li, const char *text,
              const char *source)
{
    g_autoptr (GMatchInfo) m = NULL;
    const char *colon = strstr (text, ": ");
    g_autofree char *qid = NULL;
    const char *rest;

    if (colon == NULL || strspn (text, "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                       "abcdefghijklmnopqrstuvwxyz") !=
                             (gsize) (colon - text))
        return NULL;
    qid = g_strndup (text, colon - text);
    li->qid = qid;
    rest = colon + 2;
    if (g_str_has_prefix (rest, "message-id=")) {
        note_message_id (reader, qid, rest + strlen ("message-id="));
        return NULL;
    }
    if (strcmp (rest, "removed") == 0) {
        queue_forget (reader, qid);
        return NULL;
    }
    if (g_str_has_prefix (rest, "from=<") &&
        strstr (rest, ", status=expired") != NULL) {
        /* qmgr: "from=<s>, status=expired, returned to sender": each
         * deferred recipient fails with its last reply. */
        return expire_deferrals (reader, li, qid, NULL, source);
    }
    if (!g_regex_match (reader->postfix_status, text, 0, &m))
        return NULL;
    {
        g_autofree char *to = g_match_info_fetch_named (m, "to");
        g_autofree char *orig = g_match_info_fetch_named (m, "orig");
        g_autofree char *dsn = g_match_info_fetch_named (m, "dsn");
        g_autofree char *status = g_match_info_fetch_named (m, "status");
        g_autofree char *ptext = g_match_info_fetch_named (m, "text");
        g_autofree char *host = NULL;
        Failure f = { .address = to, .original = orig, .status = dsn };
        BounceReport *report;
        BounceRecipient *r;

        if (strcmp (status, "bounced") == 0 || strcmp (status, "expired") == 0)
            f.action = "failed";
        else if (strcmp (status, "deferred") == 0)
            f.action = "delayed";
        else
            return NULL; /* sent, deliverable, undeliverable (verify) */
        if (ptext == NULL)
            ptext = g_strdup ("");
        postfix_text (ptext, &f, &host);
        f.remote_mta = host;
        report = report_new (reader, li, source);
        r = classify (reader, &f);
        add_recipient (report, r, li);
        if (strcmp (f.action, "delayed") == 0)
            remember_deferral (reader, qid, &f);
        else
            forget_deferral (reader, qid, to);
        return report;
    }
}

/* ------------------------------------------------------------------ */
/* Exim                                                               */
/* ------------------------------------------------------------------ */

/* The value of "NAME=value" in Exim's field list @fields, or NULL. */
static char *
exim_field (const char *fields, const char *name)
{
    g_autofree char *key = g_strdup_printf (" %s=", name);
    const char *p = fields != NULL ? strstr (fields, key) : NULL;

    if (p == NULL)
        return NULL;
    p += strlen (key);
    return g_strndup (p, strcspn (p, " "));
}

static void
exim_clean_text (char *text)
{
    char *dt = g_strrstr (text, " DT=");
    char *p;

    if (dt != NULL && strchr (dt + 1, ' ') == NULL)
        *dt = '\0';
    while ((p = strstr (text, "\\n")) != NULL) {
        p[0] = ' ';
        memmove (p + 1, p + 2, strlen (p + 2) + 1);
    }
}

static BounceReport *
exim_line (BounceLogReader *reader, LineInfo *li, const char *text,
           const char *source)
{
    g_autoptr (GMatchInfo) m = NULL;
    const char *space = strchr (text, ' ');

    if (space != NULL && g_str_has_prefix (space, " <= ")) {
        /* Arrival: "... id=MESSAGE-ID" (log_selector +message_id, on by
         * default). */
        const char *id = strstr (space, " id=");
        g_autofree char *qid = g_strndup (text, space - text);

        if (id != NULL) {
            g_autofree char *value = g_strndup (id + 4, strcspn (id + 4, " "));

            note_message_id (reader, qid, value);
        }
        return NULL;
    }
    if (space != NULL && strcmp (space, " Completed") == 0) {
        g_autofree char *qid = g_strndup (text, space - text);

        queue_forget (reader, qid);
        return NULL;
    }
    if (!g_regex_match (reader->exim_delivery, text, 0, &m))
        return NULL;
    {
        g_autofree char *qid = g_match_info_fetch_named (m, "qid");
        g_autofree char *flag = g_match_info_fetch_named (m, "flag");
        g_autofree char *to = g_match_info_fetch_named (m, "to");
        g_autofree char *orig = g_match_info_fetch_named (m, "orig");
        g_autofree char *fields = g_match_info_fetch_named (m, "fields");
        g_autofree char *etext = g_match_info_fetch_named (m, "text");
        g_autofree char *host = exim_field (fields, "H");
        const char *reply = etext;
        const char *after = NULL;
        const BounceRecipient *last = NULL;
        g_autofree char *joined = NULL;
        BounceReport *report;
        Failure f = {
            .address = to, .original = orig,
            .action = strcmp (flag, "**") == 0 ? "failed" : "delayed",
            .type = "x-exim",
        };

        li->qid = qid;
        if (etext == NULL || etext[0] == '\0')
            return NULL;
        /* +deliver_time puts " DT=0s" after the text; a multi-line
         * reply is logged with "\\n" between its lines. */
        exim_clean_text (etext);
        reply = etext;
        after = strstr (etext, "SMTP error from remote mail server after ");
        if (after != NULL) {
            /* deliver.c: "SMTP error from remote mail server after
             * RCPT TO:<a>: 550 5.1.1 text"; the reply follows the last
             * ": " after the command. */
            const char *cmd_end = strstr (after, ">: ");

            if (cmd_end == NULL)
                cmd_end = strstr (after + 40, ": ");
            else
                cmd_end++;
            if (cmd_end != NULL) {
                g_autofree char *cmd_text = g_strndup (after, cmd_end - after);
                const char *cmd = bounce_smtp_command_find (cmd_text);

                reply = cmd_end + 2;
                f.command = cmd != NULL ? cmd : "NONE";
                f.type = "smtp";
            }
        }
        f.reply = reply;
        f.remote_mta = host;
        if (strcmp (f.action, "delayed") == 0) {
            if (strcmp (f.type, "smtp") == 0)
                remember_deferral (reader, qid, &f);
        } else if (strcmp (etext, "retry timeout exceeded") == 0 &&
                   (last = find_deferral (reader, qid, to)) != NULL) {
            /* The bounce (deliver.c) says "REPLY: retry timeout
             * exceeded" when the last try got a reply from a host. */
            joined = g_strdup_printf ("%s: %s", last->diagnostic, etext);
            f.reply = joined;
            f.command = last->smtp_command;
            f.type = last->diagnostic_type;
            f.remote_mta = last->remote_mta;
        }
        report = report_new (reader, li, source);
        add_recipient (report, classify (reader, &f), li);
        if (strcmp (f.action, "failed") == 0)
            forget_deferral (reader, qid, to);
        return report;
    }
}

/* ------------------------------------------------------------------ */
/* Sendmail                                                           */
/* ------------------------------------------------------------------ */

static BounceReport *
sendmail_line (BounceLogReader *reader, LineInfo *li, const char *text,
               const char *source)
{
    g_autoptr (GMatchInfo) m = NULL;
    const char *colon = strstr (text, ": ");
    const char *msgid;

    if (colon == NULL)
        return NULL;
    msgid = strstr (colon, ", msgid=");
    if (g_str_has_prefix (colon + 2, "from=") && msgid != NULL) {
        g_autofree char *qid = g_strndup (text, colon - text);
        g_autofree char *value = g_strndup (msgid + 8, strcspn (msgid + 8, ","));

        note_message_id (reader, qid, value);
        return NULL;
    }
    if (strstr (colon, ": sender notify: Cannot send message for ") != NULL) {
        /* savemail(): the message expired; its bounce gives each
         * deferred recipient Status 4.4.7 and the last reply. */
        g_autofree char *qid = g_strndup (text, colon - text);

        li->qid = qid;
        return expire_deferrals (reader, li, qid, "4.4.7", source);
    }
    if (!g_regex_match (reader->sendmail_status, text, 0, &m))
        return NULL;
    {
        g_autofree char *qid = g_match_info_fetch_named (m, "qid");
        g_autofree char *to = g_match_info_fetch_named (m, "to");
        const char *relay_at = strstr (text, ", relay=");
        g_autofree char *relay = relay_at != NULL
            ? g_strndup (relay_at + 8, strcspn (relay_at + 8, ","))
            : NULL;
        g_autofree char *dsn = g_match_info_fetch_named (m, "dsn");
        g_autofree char *stat = g_match_info_fetch_named (m, "text");
        g_autofree char *sreply = g_match_info_fetch_named (m, "reply");
        g_auto (GStrv) rcpts = NULL;
        BounceReport *report;
        const char *reply = stat;
        Failure f = { .status = dsn, .type = "smtp" };

        li->qid = qid;
        if (dsn[0] == '2')
            return NULL; /* stat=Sent */
        f.action = dsn[0] == '4' ? "delayed" : "failed";
        /* "stat=Deferred: 450 4.2.1 try later" */
        if (g_str_has_prefix (reply, "Deferred: "))
            reply += strlen ("Deferred: ");
        else if (strcmp (reply, "Deferred") == 0)
            reply = "Deferred";
        /* "reply=" (the remote's words) when the MTA got one. */
        f.reply = sreply != NULL && sreply[0] != '\0' ? sreply : reply;
        if (relay != NULL && relay[0] != '\0') {
            /* "remote.test. [127.0.0.1]" -> "remote.test",
             * "[127.0.0.1] [127.0.0.1]" -> "[127.0.0.1]" */
            gsize n = strcspn (relay, " ");

            relay[n] = '\0';
            if (n > 0 && relay[n - 1] == '.')
                relay[n - 1] = '\0';
            f.remote_mta = relay[0] != '\0' ? relay : NULL;
        }
        report = report_new (reader, li, source);
        /* "to=<a>,<b>": one line for several recipients. */
        rcpts = g_strsplit (to, ",", -1);
        for (guint i = 0; rcpts[i] != NULL; i++) {
            g_autofree char *address = _bounce_address_clean (rcpts[i]);

            if (address == NULL)
                continue;
            f.address = address;
            add_recipient (report, classify (reader, &f), li);
            if (strcmp (f.action, "delayed") == 0)
                remember_deferral (reader, qid, &f);
            else
                forget_deferral (reader, qid, address);
        }
        if (report->recipients->len == 0)
            g_clear_pointer (&report, bounce_report_free);
        return report;
    }
}

/* ------------------------------------------------------------------ */
/* Lines                                                              */
/* ------------------------------------------------------------------ */

static BounceLogMta
mta_of_program (const char *prog)
{
    if (strstr (prog, "postfix") != NULL)
        return BOUNCE_LOG_MTA_POSTFIX;
    if (strstr (prog, "exim") != NULL)
        return BOUNCE_LOG_MTA_EXIM;
    if (strstr (prog, "sendmail") != NULL || strncmp (prog, "sm-", 3) == 0)
        return BOUNCE_LOG_MTA_SENDMAIL;
    return BOUNCE_LOG_MTA_AUTO;
}

BounceReport *
bounce_log_reader_feed (BounceLogReader *reader,
                        const char *line,
                        const char *source)
{
    g_autoptr (GMatchInfo) m = NULL;
    g_autofree char *text = NULL;
    g_autofree char *prog = NULL;
    g_autofree char *host = NULL;
    g_autofree char *time = NULL;
    g_autofree char *valid = NULL;
    BounceLogMta mta = BOUNCE_LOG_MTA_AUTO;
    LineInfo li = { 0 };

    g_return_val_if_fail (reader != NULL && line != NULL, NULL);
    valid = g_utf8_make_valid (line, -1);
    if (g_regex_match (reader->syslog_prefix, valid, 0, &m)) {
        g_autofree char *mon = g_match_info_fetch_named (m, "mon");
        g_autofree char *day = g_match_info_fetch_named (m, "day");
        g_autofree char *hms = g_match_info_fetch_named (m, "time");

        time = _bounce_log_syslog_time (mon, atoi (day), hms,
                                        reader->reference, reader->zone);
    } else {
        g_clear_pointer (&m, g_match_info_free);
        if (g_regex_match (reader->rfc3339_prefix, valid, 0, &m)) {
            g_autofree char *stamp = g_match_info_fetch_named (m, "stamp");

            time = stamp_time (stamp, NULL, reader->zone);
        } else {
            g_autofree char *stamp = NULL;
            g_autofree char *zone = NULL;

            g_clear_pointer (&m, g_match_info_free);
            if (!g_regex_match (reader->exim_prefix, valid, 0, &m))
                return NULL;
            stamp = g_match_info_fetch_named (m, "stamp");
            zone = g_match_info_fetch_named (m, "zone");
            time = stamp_time (stamp, zone != NULL && zone[0] != '\0' ? zone
                                                                      : NULL,
                               reader->zone);
            text = g_match_info_fetch_named (m, "text");
            mta = BOUNCE_LOG_MTA_EXIM;
        }
    }
    if (text == NULL) {
        text = g_match_info_fetch_named (m, "text");
        prog = g_match_info_fetch_named (m, "prog");
        host = g_match_info_fetch_named (m, "host");
        mta = mta_of_program (prog);
    }
    if (reader->mta != BOUNCE_LOG_MTA_AUTO) {
        /* --mta: lines of other programs are not this MTA's. */
        if (mta != BOUNCE_LOG_MTA_AUTO && mta != reader->mta)
            return NULL;
        mta = reader->mta;
    }
    li.time = time;
    li.host = host;
    li.mta = bounce_log_mta_to_string (mta);
    switch (mta) {
    case BOUNCE_LOG_MTA_POSTFIX:
        return postfix_line (reader, &li, text, source);
    case BOUNCE_LOG_MTA_EXIM:
        return exim_line (reader, &li, text, source);
    case BOUNCE_LOG_MTA_SENDMAIL:
        return sendmail_line (reader, &li, text, source);
    case BOUNCE_LOG_MTA_AUTO:
    default:
        return NULL;
    }
}
