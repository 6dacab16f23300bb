-- schema.sql - the bouncestat database: the history of every bounce
-- message received and of every recipient it reported.
--
-- This file is the single source of the schema: it is compiled into
-- bouncestat and applied when a database is opened.  It is split into
-- versions ("-- @version N" lines).  A new database runs every version in
-- order; an existing one runs only the versions after its
-- `PRAGMA user_version`, each in one transaction.  A database whose
-- user_version is newer than the program is refused.  Versions are only
-- ever appended: nothing is renamed or dropped (a view or index may be
-- replaced by one with the same name or the same columns and more), so
-- queries written against an older version keep working.
--
-- Reading the file directly:
--     sqlite3 ~/.local/share/bouncestat/bounces.db
--     sqlite> SELECT * FROM latest_events WHERE registrable_domain = 'example.com';
--     sqlite> SELECT * FROM bounces_per_day ORDER BY day DESC LIMIT 20;
--     sqlite> SELECT address, why, last_reason FROM suppression_candidates;
--
-- PostgreSQL: a store shared by several hosts uses schema-pg.sql, with
-- the same tables, columns and views; what differs there (times and
-- booleans stay text and 0/1, events partitioned by month with the
-- primary key (id, event_time), no messages.raw, triggers in PL/pgSQL,
-- settings.value text) is listed at the top of that file.
--
-- Conventions:
-- * Times are TEXT in ISO 8601, UTC, "YYYY-MM-DDTHH:MM:SSZ", every one of
--   them, so that they sort as text and work with SQLite's date functions
--   (date(event_time), julianday(event_time)).  Times copied from a
--   message (arrival_date, bounce_date, orig_date, last_attempt) are
--   converted to UTC; they are NULL when the message had none or it was
--   not a date (the raw message keeps what it said).
-- * Booleans are INTEGER 0/1; NULL means unknown.
-- * Addresses in events are lower-cased; domains are lower-case A-labels
--   or UTF-8 as found.
-- * Reasons use Sisimai's vocabulary (userunknown, mailboxfull, blocked,
--   ...); the `reasons` table says which side each one is on (a copy of
--   the loaded rules' reason table: the rules are its source).

-- @version 1

-- One row per message received, bounce or not.  Re-ingesting the same
-- message changes nothing: content_hash is unique.
CREATE TABLE messages (
    id              INTEGER PRIMARY KEY,
    -- SHA-256 (lower-case hex) of the raw message, without a leading mbox
    -- "From " line (it holds the delivery time, which changes when the
    -- MTA delivers the same message again).
    content_hash    TEXT NOT NULL UNIQUE,
    -- When bouncestat stored it (UTC).
    received_at     TEXT NOT NULL,
    -- Where it was read from: a file path, "PATH#N" (the Nth message of
    -- the mbox or folder PATH, from 1), or "-" (standard input).
    source          TEXT,
    -- unparsable | not-bounce | dsn | bounce | feedback | autoreply | delivered
    kind            TEXT NOT NULL,
    -- The decoder that understood it (rfc3464, postfix, qmail, exim, ...).
    mta             TEXT,
    -- Reporting-MTA of the DSN (the "dns; " prefix removed).
    reporting_mta   TEXT,
    -- Arrival-Date of the DSN (UTC).
    arrival_date    TEXT,
    -- The bounce message's own Subject, From and Date.
    subject         TEXT,
    bounce_from     TEXT,
    bounce_date     TEXT,
    -- The original message, from the returned headers or text/rfc822-headers.
    orig_message_id TEXT,
    orig_from       TEXT,
    orig_to         TEXT,
    orig_subject    TEXT,
    orig_date       TEXT,
    -- The address recovered from a VERP envelope recipient, if any.
    verp_address    TEXT,
    -- What was odd about the message: a JSON array of strings.
    warnings        TEXT NOT NULL DEFAULT '[]' CHECK (json_valid (warnings)),
    -- Recipients not stored because the message listed too many.
    recipients_dropped INTEGER NOT NULL DEFAULT 0,
    -- The raw message, zlib-compressed (RFC 1950; Python:
    -- zlib.decompress(raw)).  When raw_truncated is 1, only the first part
    -- was kept (the cap is an ingest option) and a note saying so is
    -- appended after it.  (Since version 8 it is in raw_messages, and
    -- this column is NULL.)
    raw             BLOB,
    -- Size in bytes of the whole raw message, before compression.
    raw_size        INTEGER NOT NULL,
    raw_truncated   INTEGER NOT NULL DEFAULT 0 CHECK (raw_truncated IN (0, 1))
) STRICT;

CREATE INDEX messages_received_at ON messages (received_at);
CREATE INDEX messages_orig_message_id ON messages (orig_message_id);

-- The configured extra headers of the original message (ingest --header,
-- e.g. X-Campaign-Id, List-Id).  name is lower-case.
CREATE TABLE message_headers (
    message_id  INTEGER NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    value       TEXT NOT NULL,
    PRIMARY KEY (message_id, name)
) STRICT, WITHOUT ROWID;

CREATE INDEX message_headers_name_value ON message_headers (name, value);

-- One row per recipient a message reports on: the unit of every report.
CREATE TABLE events (
    id                  INTEGER PRIMARY KEY,
    message_id          INTEGER NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    -- Position of the recipient in the message (0, 1, ...).
    position            INTEGER NOT NULL,
    -- The recipient, lower-cased; NULL when the message did not say.
    address             TEXT,
    -- Its domain, and the registrable domain of that (via the Public
    -- Suffix List: mx1.mail.example.co.uk -> example.co.uk).
    domain              TEXT,
    registrable_domain  TEXT,
    -- Original-Recipient of the DSN, as written.
    original_recipient  TEXT,
    -- failed | delayed | delivered | relayed | expanded (the DSN's Action).
    action              TEXT,
    -- What this event is, for reports:
    --   bounce     the delivery failed (Action: failed, or a non-standard
    --              bounce)
    --   delay      a delay notice: still being tried
    --   delivered  a success notice (delivered, relayed, expanded)
    --   feedback   an ARF complaint
    --   autoreply  a vacation or other auto-reply
    --   unknown    none of these could be told
    outcome             TEXT NOT NULL CHECK (outcome IN ('bounce', 'delay',
                            'delivered', 'feedback', 'autoreply', 'unknown')),
    -- Enhanced status code ("5.1.1") and where it came from:
    -- dsn (the Status field) | diagnostic (found in the text) | inferred.
    status              TEXT,
    status_source       TEXT,
    -- SMTP reply code (550), NULL when unknown.
    smtp_code           INTEGER,
    -- "smtp", "x-postfix", ... and the diagnostic text on one line.
    diagnostic_type     TEXT,
    diagnostic          TEXT,
    remote_mta          TEXT,
    -- Last-Attempt-Date (UTC).
    last_attempt        TEXT,
    -- The classification: the reason (see the reasons table), whether it
    -- is a hard bounce (1), soft (0) or unknown (NULL), whether the status
    -- is permanent (5.x.x), and the id of the rule that decided.
    reason              TEXT,
    hard                INTEGER CHECK (hard IN (0, 1)),
    permanent           INTEGER NOT NULL DEFAULT 0 CHECK (permanent IN (0, 1)),
    rule                TEXT,
    -- ARF Feedback-Type (abuse, fraud, ...).
    feedback_type       TEXT,
    -- When it happened (UTC): the first known of last_attempt, the DSN's
    -- Arrival-Date, the bounce's Date, and the time it was received;
    -- event_time_source says which.
    event_time          TEXT NOT NULL,
    event_time_source   TEXT NOT NULL CHECK (event_time_source IN
                            ('last_attempt', 'arrival_date', 'bounce_date',
                             'received_at'))
) STRICT;

CREATE INDEX events_message ON events (message_id);
CREATE INDEX events_address_time ON events (address, event_time);
CREATE INDEX events_time ON events (event_time);
CREATE INDEX events_reason_time ON events (reason, event_time);
CREATE INDEX events_regdomain_time ON events (registrable_domain, event_time);
CREATE INDEX events_outcome_time ON events (outcome, event_time);

-- @version 2

-- The reason vocabulary for the suppression policy: on whose side the
-- cause lies.  recipient: the address or its mailbox/domain (unknown user,
-- no such domain, moved, disabled, full); sender: the sending side's
-- setup, reputation or content (blocked, authentication, rate limits,
-- spam) -- suppressing the address would not help; receiving-admin: the
-- receiving system is broken or unreachable; none: not a failure.  (This
-- is not the rules' "who" field, which says who has to act: for an
-- unknown user that is the sender, who should stop mailing it.)  Only a
-- hard bounce of a recipient-side reason suppresses at once; soft bounces
-- of any reason but sender-side ones count towards the soft policy.
-- `hard` is the reason's usual hardness, for reference; the views use
-- each event's own `hard`.  Edit the table to change the policy
-- (UPDATE reasons SET who = 'sender' WHERE name = 'filtered').
CREATE TABLE reasons (
    name    TEXT PRIMARY KEY,
    -- recipient | sender | receiving-admin | none
    who     TEXT NOT NULL CHECK (who IN ('recipient', 'sender',
                                         'receiving-admin', 'none')),
    hard    INTEGER NOT NULL CHECK (hard IN (0, 1))
) STRICT, WITHOUT ROWID;

INSERT INTO reasons (name, who, hard) VALUES
    ('userunknown',     'recipient',       1),
    ('hostunknown',     'recipient',       1),
    ('hasmoved',        'recipient',       1),
    ('suspend',         'recipient',       0),
    ('notaccept',       'recipient',       0),
    ('mailboxfull',     'recipient',       0),
    ('filtered',        'recipient',       0),
    ('vacation',        'none',            0),
    ('delivered',       'none',            0),
    ('feedback',        'none',            0),
    ('blocked',         'sender',          0),
    ('badreputation',   'sender',          0),
    ('authfailure',     'sender',          0),
    ('requireptr',      'sender',          0),
    ('ratelimited',     'sender',          0),
    ('toomanyconn',     'sender',          0),
    ('speeding',        'sender',          0),
    ('spamdetected',    'sender',          0),
    ('virusdetected',   'sender',          0),
    ('securityerror',   'sender',          0),
    ('policyviolation', 'sender',          0),
    ('contenterror',    'sender',          0),
    ('emailtoolarge',   'sender',          0),
    ('mesgtoobig',      'sender',          0),
    ('exceedlimit',     'sender',          0),
    ('norelaying',      'sender',          0),
    ('notcompliantrfc', 'sender',          0),
    ('syntaxerror',     'sender',          0),
    ('rejected',        'sender',          0),
    ('failedstarttls',  'receiving-admin', 0),
    ('suppressed',      'sender',          0),
    ('expired',         'receiving-admin', 0),
    ('networkerror',    'receiving-admin', 0),
    ('systemerror',     'receiving-admin', 0),
    ('systemfull',      'receiving-admin', 0),
    ('mailererror',     'receiving-admin', 0),
    ('onhold',          'receiving-admin', 0),
    ('undefined',       'receiving-admin', 0);

-- Settings the views read.  suppress_soft_count / suppress_soft_days: the
-- soft-bounce policy (N soft bounces spread over at least D days).
CREATE TABLE settings (
    name    TEXT PRIMARY KEY,
    value   ANY
) STRICT, WITHOUT ROWID;

INSERT INTO settings (name, value) VALUES
    ('suppress_soft_count', 3),
    ('suppress_soft_days', 7);

-- The latest event of every address (the row with the greatest
-- event_time; SQLite takes the bare columns from that row).
CREATE VIEW latest_events AS
SELECT address, max (event_time) AS event_time, outcome, action, status,
       smtp_code, reason, hard, diagnostic, remote_mta, domain,
       registrable_domain, rule, message_id, id AS event_id
  FROM events
 WHERE address IS NOT NULL
 GROUP BY address;

-- Bounces per day (UTC) and reason: recipients (events), distinct
-- addresses, and how many were hard.
CREATE VIEW bounces_per_day AS
SELECT substr (event_time, 1, 10) AS day,
       coalesce (reason, 'unknown') AS reason,
       count (*) AS bounces,
       count (DISTINCT address) AS addresses,
       sum (hard IS 1) AS hard,
       sum (hard IS NOT 1) AS soft
  FROM events
 WHERE outcome = 'bounce'
 GROUP BY day, reason;

-- The addresses to stop mailing now, by the default policy:
-- * any hard bounce whose reason is recipient-side (why = 'hard'), or
-- * at least suppress_soft_count soft bounces (not sender-side) whose
--   first and last are at least suppress_soft_days days apart
--   (why = 'soft');
-- never for sender-side reasons, and only bounces after the address's
-- last successful delivery count (a delivery clears it).  (Version 6
-- replaces this view: unverified events do not count.)
CREATE VIEW suppression_candidates AS
WITH cfg AS (
    SELECT (SELECT value FROM settings WHERE name = 'suppress_soft_count') AS n,
           (SELECT value FROM settings WHERE name = 'suppress_soft_days') AS d
), delivered AS (
    SELECT address, max (event_time) AS t
      FROM events
     WHERE outcome = 'delivered' AND address IS NOT NULL
     GROUP BY address
), counted AS (
    SELECT e.id, e.address, e.domain, e.registrable_domain, e.event_time,
           e.reason, e.status, e.diagnostic,
           (e.hard IS 1 AND r.who = 'recipient') AS is_hard,
           (e.hard IS NOT 1) AS is_soft,
           row_number () OVER (PARTITION BY e.address
                               ORDER BY e.event_time DESC, e.id DESC) AS latest
      FROM events e
      LEFT JOIN reasons r ON r.name = e.reason
      LEFT JOIN delivered ok ON ok.address = e.address
     WHERE e.outcome = 'bounce' AND e.address IS NOT NULL
       AND (r.who IS NULL OR r.who <> 'sender')
       AND (ok.t IS NULL OR e.event_time > ok.t)
), per_address AS (
    SELECT address, domain, registrable_domain,
           min (event_time) AS first_bounce,
           max (event_time) AS last_bounce,
           max (CASE WHEN latest = 1 THEN reason END) AS reason,
           max (CASE WHEN latest = 1 THEN status END) AS status,
           max (CASE WHEN latest = 1 THEN diagnostic END) AS diagnostic,
           count (*) AS bounces,
           sum (is_hard) AS hard_bounces,
           sum (is_soft) AS soft_bounces,
           min (CASE WHEN is_soft THEN event_time END) AS first_soft,
           max (CASE WHEN is_soft THEN event_time END) AS last_soft
      FROM counted
     GROUP BY address
)
SELECT address, domain, registrable_domain,
       CASE WHEN hard_bounces > 0 THEN 'hard' ELSE 'soft' END AS why,
       reason AS last_reason, status AS last_status,
       diagnostic AS last_diagnostic,
       first_bounce, last_bounce, bounces, hard_bounces, soft_bounces
  FROM per_address, cfg
 WHERE hard_bounces > 0
    OR (soft_bounces >= cfg.n
        AND julianday (last_soft) - julianday (first_soft) >= cfg.d);

-- @version 3

-- The SMTP command the remote server's reply answered (CONNECT, HELO,
-- MAIL, RCPT, DATA), where the bounce says: a reply at RCPT concerns the
-- address, one after DATA the message.  NULL when not known.
ALTER TABLE events ADD COLUMN smtp_command TEXT;

-- @version 4

-- Covering indexes for the reports (bouncestat report, suppress): each
-- holds every column its query reads, so that a report over a million
-- events reads the index alone, in the order it needs, never the rows.
-- The overview: bounces in a time window, with what it counts.
CREATE INDEX events_report ON events (outcome, event_time, reason, hard,
                                      registrable_domain, address,
                                      message_id);
-- The suppression list: every address's history in time order.
CREATE INDEX events_suppress ON events (address, event_time, outcome, hard,
                                        reason, status);
-- report --by mta and --by sender: the message of each bounce, without
-- reading the message rows (which hold the raw message).
CREATE INDEX messages_report ON messages (id, mta, orig_from);

-- @version 5

-- Until version 4, the times copied from a message were stored with the
-- offset they had, as GLib writes it ("2011-04-29T23:34:45+09"), which
-- SQLite's date functions do not read (julianday() gave NULL).  They are
-- converted to UTC "YYYY-MM-DDTHH:MM:SSZ" like every other time: GLib
-- wrote "Z", "+HH:MM" or "+HH" after the seconds (and a fraction when
-- there was one); SQLite reads the first two and, with ":00" added, the
-- third.  Text that is not a time becomes NULL (the raw message keeps
-- it), except in the NOT NULL columns, which keep it.
UPDATE messages SET arrival_date = strftime ('%Y-%m-%dT%H:%M:%SZ',
           CASE WHEN arrival_date GLOB '*T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]*[+-][0-9][0-9]'
                THEN arrival_date || ':00' ELSE arrival_date END)
 WHERE arrival_date NOT GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]Z';
UPDATE messages SET bounce_date = strftime ('%Y-%m-%dT%H:%M:%SZ',
           CASE WHEN bounce_date GLOB '*T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]*[+-][0-9][0-9]'
                THEN bounce_date || ':00' ELSE bounce_date END)
 WHERE bounce_date NOT GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]Z';
UPDATE messages SET orig_date = strftime ('%Y-%m-%dT%H:%M:%SZ',
           CASE WHEN orig_date GLOB '*T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]*[+-][0-9][0-9]'
                THEN orig_date || ':00' ELSE orig_date END)
 WHERE orig_date NOT GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]Z';
UPDATE messages SET received_at = coalesce (strftime ('%Y-%m-%dT%H:%M:%SZ',
           CASE WHEN received_at GLOB '*T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]*[+-][0-9][0-9]'
                THEN received_at || ':00' ELSE received_at END), received_at)
 WHERE received_at NOT GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]Z';
UPDATE events SET last_attempt = strftime ('%Y-%m-%dT%H:%M:%SZ',
           CASE WHEN last_attempt GLOB '*T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]*[+-][0-9][0-9]'
                THEN last_attempt || ':00' ELSE last_attempt END)
 WHERE last_attempt NOT GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]Z';
UPDATE events SET event_time = coalesce (strftime ('%Y-%m-%dT%H:%M:%SZ',
           CASE WHEN event_time GLOB '*T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]*[+-][0-9][0-9]'
                THEN event_time || ':00' ELSE event_time END), event_time)
 WHERE event_time NOT GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]Z';

-- @version 6

-- Forged bounces: anyone can send a "user unknown" to the bounce
-- address.  With a VERP secret (ingest --verp-secret-file, docs/verp.md)
-- or sending domains (ingest --sending-domain), each event says whether
-- its bounce is authentic: 1 it came back to the return path signed for
-- this very address (and its original's Message-ID is from a sending
-- domain), 0 a check failed (the message's warnings say which), NULL
-- not checked (nothing configured when it was stored).  Unverified
-- events never count towards suppression; to accept one after all:
-- UPDATE events SET verified = 1 WHERE id = ...
ALTER TABLE events ADD COLUMN verified INTEGER CHECK (verified IN (0, 1));

-- The suppression list's covering index, with verified.
DROP INDEX events_suppress;
CREATE INDEX events_suppress_verified ON events (address, event_time,
                                                 outcome, hard, reason,
                                                 status, verified);

DROP VIEW suppression_candidates;
-- The addresses to stop mailing now, by the default policy:
-- * any hard bounce whose reason is recipient-side (why = 'hard'), or
-- * at least suppress_soft_count soft bounces (not sender-side) whose
--   first and last are at least suppress_soft_days days apart
--   (why = 'soft');
-- never for sender-side reasons, and only bounces after the address's
-- last successful delivery count (a delivery clears it).  Unverified
-- events (verified = 0: possibly forged) count for nothing, neither
-- their bounces nor their deliveries.
CREATE VIEW suppression_candidates AS
WITH cfg AS (
    SELECT (SELECT value FROM settings WHERE name = 'suppress_soft_count') AS n,
           (SELECT value FROM settings WHERE name = 'suppress_soft_days') AS d
), delivered AS (
    SELECT address, max (event_time) AS t
      FROM events
     WHERE outcome = 'delivered' AND address IS NOT NULL
       AND verified IS NOT 0
     GROUP BY address
), counted AS (
    SELECT e.id, e.address, e.domain, e.registrable_domain, e.event_time,
           e.reason, e.status, e.diagnostic,
           (e.hard IS 1 AND r.who = 'recipient') AS is_hard,
           (e.hard IS NOT 1) AS is_soft,
           row_number () OVER (PARTITION BY e.address
                               ORDER BY e.event_time DESC, e.id DESC) AS latest
      FROM events e
      LEFT JOIN reasons r ON r.name = e.reason
      LEFT JOIN delivered ok ON ok.address = e.address
     WHERE e.outcome = 'bounce' AND e.address IS NOT NULL
       AND e.verified IS NOT 0
       AND (r.who IS NULL OR r.who <> 'sender')
       AND (ok.t IS NULL OR e.event_time > ok.t)
), per_address AS (
    SELECT address, domain, registrable_domain,
           min (event_time) AS first_bounce,
           max (event_time) AS last_bounce,
           max (CASE WHEN latest = 1 THEN reason END) AS reason,
           max (CASE WHEN latest = 1 THEN status END) AS status,
           max (CASE WHEN latest = 1 THEN diagnostic END) AS diagnostic,
           count (*) AS bounces,
           sum (is_hard) AS hard_bounces,
           sum (is_soft) AS soft_bounces,
           min (CASE WHEN is_soft THEN event_time END) AS first_soft,
           max (CASE WHEN is_soft THEN event_time END) AS last_soft
      FROM counted
     GROUP BY address
)
SELECT address, domain, registrable_domain,
       CASE WHEN hard_bounces > 0 THEN 'hard' ELSE 'soft' END AS why,
       reason AS last_reason, status AS last_status,
       diagnostic AS last_diagnostic,
       first_bounce, last_bounce, bounces, hard_bounces, soft_bounces
  FROM per_address, cfg
 WHERE hard_bounces > 0
    OR (soft_bounces >= cfg.n
        AND julianday (last_soft) - julianday (first_soft) >= cfg.d);

-- @version 7

-- Whether the message was classified when it was stored.  0: it came on
-- standard input (from the MTA) while the rules (or a --decoders file)
-- could not be loaded, and rather than make the MTA bounce it, ingest
-- stored it raw and whole (whatever --raw-cap says), with the columns
-- above as parsed without the rules, and no events: no report and no
-- suppression counts it.  Classifying it again (bouncestat reclassify)
-- adds its events and sets 1.
ALTER TABLE messages ADD COLUMN classified INTEGER NOT NULL DEFAULT 1
    CHECK (classified IN (0, 1));
CREATE INDEX messages_unclassified ON messages (id) WHERE classified = 0;

-- @version 8

-- A bouncestat database says so in its header (`file` and other tools
-- read it): "BncS".
PRAGMA application_id = 1114530643;

-- The raw message in a table of its own, so that reading the messages
-- never reads it: the bytes of messages.raw, which is NULL from now on
-- (VACUUM gives the space back).
CREATE TABLE raw_messages (
    message_id  INTEGER PRIMARY KEY REFERENCES messages (id) ON DELETE CASCADE,
    -- zlib-compressed, as messages.raw was (raw_size and raw_truncated
    -- stay in messages).
    raw         BLOB NOT NULL
) STRICT;
INSERT INTO raw_messages (message_id, raw)
    SELECT id, raw FROM messages WHERE raw IS NOT NULL;
UPDATE messages SET raw = NULL WHERE raw IS NOT NULL;

-- Which rules classified each event: a SHA-256 of the loaded rule files
-- (their names and contents, in loading order; `bouncestat rules
-- check` prints the version of the rules it loads).  `bouncestat reclassify` runs
-- the current rules over the raw messages again.
CREATE TABLE rule_sets (
    id          INTEGER PRIMARY KEY,
    hash        TEXT NOT NULL UNIQUE,
    -- When a store first used them (UTC).
    first_used  TEXT NOT NULL
) STRICT;
-- NULL: stored before version 8 (or by a writer that gave no rules).
ALTER TABLE events ADD COLUMN rule_set INTEGER REFERENCES rule_sets (id);
-- `report` counts the events of other rules than those it loads.
CREATE INDEX events_rule_set ON events (rule_set);

-- The reasons table is the loaded rules' reason table from now on: the
-- store writes it (each reason's `side` key as who, its hard) whenever
-- it is opened with rules other than those that wrote it last
-- (settings.reasons_from holds their hash).  Editing it by hand still
-- works until then; to change the policy for good, override the reason
-- in a rules.d file (rules/README.md).

-- These two were prefixes of other indexes (events_suppress_verified,
-- events_report), which serve every query they did.
DROP INDEX events_address_time;
DROP INDEX events_outcome_time;

-- The suppression state of every address, kept by the store in the same
-- transaction as the events it writes (bounce-suppress.c has the one
-- policy): what counts of the address's history, after its last
-- delivery.  A bounce counts unless it is unverified (verified = 0) or
-- its reason is sender-side (reasons.who); hard_bounces are the hard
-- ones of a recipient-side reason, soft_bounces those not hard; a
-- delivery (verified or not checked) clears what came before it.
-- Whether to suppress is decided when it is read, with the thresholds
-- (suppression_candidates below, `bouncestat suppress`).
CREATE TABLE suppression_state (
    address             TEXT PRIMARY KEY,
    domain              TEXT,
    registrable_domain  TEXT,
    -- The last counted delivery (NULL: none).
    last_delivered      TEXT,
    bounces             INTEGER NOT NULL,
    hard_bounces        INTEGER NOT NULL,
    soft_bounces        INTEGER NOT NULL,
    first_bounce        TEXT,
    last_bounce         TEXT,
    first_soft          TEXT,
    last_soft           TEXT,
    -- The latest counted bounce (last_event: its events.id)...
    last_reason         TEXT,
    last_status         TEXT,
    last_event          INTEGER,
    -- ...and the latest hard one.
    hard_reason         TEXT,
    hard_status         TEXT
) STRICT, WITHOUT ROWID;

-- The addresses whose events (or whose reasons' side) changed by other
-- means than the store (an UPDATE by hand, another program): the store
-- computes their state again at its next write; until then readers
-- compute it from the events.
CREATE TABLE suppression_stale (
    address TEXT PRIMARY KEY
) STRICT, WITHOUT ROWID;

CREATE TRIGGER events_stale_insert AFTER INSERT ON events
 WHEN NEW.address IS NOT NULL
BEGIN
    INSERT OR IGNORE INTO suppression_stale (address) VALUES (NEW.address);
END;
CREATE TRIGGER events_stale_delete AFTER DELETE ON events
 WHEN OLD.address IS NOT NULL
BEGIN
    INSERT OR IGNORE INTO suppression_stale (address) VALUES (OLD.address);
END;
CREATE TRIGGER events_stale_update AFTER UPDATE OF address, outcome, hard,
    reason, status, event_time, verified ON events
BEGIN
    INSERT OR IGNORE INTO suppression_stale (address)
        SELECT NEW.address WHERE NEW.address IS NOT NULL
        UNION SELECT OLD.address WHERE OLD.address IS NOT NULL;
END;
CREATE TRIGGER reasons_stale_update AFTER UPDATE ON reasons
 WHEN NEW.who IS NOT OLD.who OR NEW.name IS NOT OLD.name
BEGIN
    INSERT OR IGNORE INTO suppression_stale (address)
        SELECT DISTINCT address FROM events
         WHERE reason IN (NEW.name, OLD.name) AND address IS NOT NULL;
END;
CREATE TRIGGER reasons_stale_insert AFTER INSERT ON reasons
BEGIN
    INSERT OR IGNORE INTO suppression_stale (address)
        SELECT DISTINCT address FROM events
         WHERE reason = NEW.name AND address IS NOT NULL;
END;
CREATE TRIGGER reasons_stale_delete AFTER DELETE ON reasons
BEGIN
    INSERT OR IGNORE INTO suppression_stale (address)
        SELECT DISTINCT address FROM events
         WHERE reason = OLD.name AND address IS NOT NULL;
END;

-- Every address of the history is stale until the store computes it.
INSERT OR IGNORE INTO suppression_stale (address)
    SELECT DISTINCT address FROM events WHERE address IS NOT NULL;

DROP VIEW suppression_candidates;
-- The addresses to stop mailing now, by the default policy (the same
-- list as `bouncestat suppress`): any hard bounce of a recipient-side
-- reason (why = 'hard'), or at least suppress_soft_count soft bounces
-- whose first and last are at least suppress_soft_days days apart
-- (why = 'soft'); see suppression_state for what counts.  reason and
-- status are those of the bounce that decided (the latest hard one, else
-- the latest counted one), last_reason, last_status and last_diagnostic
-- those of the latest counted bounce.  Addresses in suppression_stale
-- are as of the store's last write.
CREATE VIEW suppression_candidates AS
WITH cfg AS (
    SELECT (SELECT value FROM settings WHERE name = 'suppress_soft_count') AS n,
           (SELECT value FROM settings WHERE name = 'suppress_soft_days') AS d
)
SELECT address, domain, registrable_domain,
       CASE WHEN hard_bounces > 0 THEN 'hard' ELSE 'soft' END AS why,
       last_reason, last_status,
       (SELECT diagnostic FROM events WHERE id = last_event)
           AS last_diagnostic,
       first_bounce, last_bounce, bounces, hard_bounces, soft_bounces,
       CASE WHEN hard_bounces > 0 THEN hard_reason ELSE last_reason END
           AS reason,
       CASE WHEN hard_bounces > 0 THEN hard_status ELSE last_status END
           AS status
  FROM suppression_state, cfg
 WHERE hard_bounces > 0
    OR (soft_bounces > 0 AND soft_bounces >= cfg.n
        AND CAST (strftime ('%s', last_soft) AS INTEGER)
            - CAST (strftime ('%s', first_soft) AS INTEGER) >= cfg.d * 86400);

-- @version 9

-- What `bouncestat fetch` took from remote mailboxes, so that the next
-- run fetches only what came since.  The store writes a mailbox's row in
-- the transaction that stores the message (never before): a run cut
-- short starts again after the last message it committed.
--
-- IMAP: per account ("user@host", the host lower-case: imap:// and
-- imaps:// of a server are one account) and mailbox (its name as given, e.g.
-- "INBOX" or "Bounces/Done"), the server's UIDVALIDITY and the highest
-- UID stored.  When the server's UIDVALIDITY is another (the mailbox was
-- rebuilt: its UIDs mean other messages), fetch starts again from UID 1
-- (what was stored already is a duplicate: the content hash).
CREATE TABLE fetch_imap (
    account      TEXT NOT NULL,
    mailbox      TEXT NOT NULL,
    uidvalidity  INTEGER NOT NULL CHECK (uidvalidity > 0),
    last_uid     INTEGER NOT NULL CHECK (last_uid >= 0),
    -- When a run last stored a message of it.
    updated      TEXT NOT NULL,
    PRIMARY KEY (account, mailbox)
) STRICT;

-- POP3 (no folders, no flags): per account, the unique id (UIDL) of each
-- message stored, while it is on the server (a run forgets the ids the
-- server no longer lists).  Not used with --delete (the message is gone).
CREATE TABLE fetch_pop3 (
    account  TEXT NOT NULL,
    uidl     TEXT NOT NULL,
    -- When it was stored.
    fetched  TEXT NOT NULL,
    PRIMARY KEY (account, uidl)
) STRICT;

-- @version 10

-- Events from the MTA's own log (bouncestat import-log): a delivery log
-- line that says a recipient failed or was deferred is stored as a
-- message of its own (origin 'log': raw holds the line, source is
-- "PATH:LINE"), with one event.
--   origin     message (a bounce, DSN or notice received) | log (a line
--              of the MTA's log)
--   queue_id   the original message's queue id at the MTA that reports
--              on it: a log line's queue id, a Postfix bounce's
--              X-Postfix-Queue-ID; NULL when not known.
ALTER TABLE messages ADD COLUMN origin TEXT NOT NULL DEFAULT 'message'
    CHECK (origin IN ('message', 'log'));
ALTER TABLE messages ADD COLUMN queue_id TEXT;
CREATE INDEX messages_queue_id ON messages (queue_id) WHERE queue_id IS NOT NULL;

-- One event, not two: a bounce message and the log line of the same
-- failure are the same event.  They are the same failure when the
-- recipient (address) and the outcome (bounce or delay) are the same
-- and the original message is: the same queue id, or else the same
-- original Message-ID (Postfix logs it on the cleanup line; a bounce
-- returns the original's headers).  Whichever arrives first, the event
-- belongs to the bounce message when there is one (it says more: the
-- DSN's fields, the original's headers); the log line's message is kept
-- without an event of its own, and this table says which event it
-- reported.  A delay matches the latest delay of the other origin not
-- yet matched (an MTA logs a deferral at every attempt, and sends one
-- delay notice).
CREATE TABLE event_reports (
    -- The message (a log line, or a bounce) that reported the event too,
    -- and the place of the recipient in it.
    message_id  INTEGER NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    position    INTEGER NOT NULL,
    event_id    INTEGER NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    PRIMARY KEY (message_id, position)
) STRICT, WITHOUT ROWID;
CREATE INDEX event_reports_event ON event_reports (event_id);

-- @version 11

-- The sums the default `bouncestat report` reads, so that it reads a few
-- thousand rows rather than every event.  They are kept by the triggers
-- below, in the same transaction as every change to events, whoever
-- makes it (the store, reclassify, an UPDATE by hand): the events stay
-- the one source of these facts, and nothing else writes these tables.
-- A report with a window (--since, --until) or for an address or
-- domain counts the events themselves.  '' stands for NULL in the key
-- columns (a key cannot be NULL); rows whose count falls to 0 are
-- deleted.
--
-- The events of each day (UTC), outcome, reason and hardness (hard is
-- events.hard IS 1): the totals, the reasons and the daily trend.
CREATE TABLE report_days (
    day         TEXT NOT NULL,      -- substr (event_time, 1, 10)
    outcome     TEXT NOT NULL,
    reason      TEXT NOT NULL,      -- '' for NULL
    hard        INTEGER NOT NULL CHECK (hard IN (0, 1)),
    events      INTEGER NOT NULL,
    PRIMARY KEY (day, outcome, reason, hard)
) STRICT, WITHOUT ROWID;

-- The bounces (outcome 'bounce') of each registrable domain.
CREATE TABLE report_domains (
    registrable_domain  TEXT NOT NULL,  -- '' for NULL
    hard                INTEGER NOT NULL CHECK (hard IN (0, 1)),
    bounces             INTEGER NOT NULL,
    PRIMARY KEY (registrable_domain, hard)
) STRICT, WITHOUT ROWID;

-- The bounces of each address: its rows are the distinct addresses
-- that bounced.
CREATE TABLE report_addresses (
    address     TEXT PRIMARY KEY,
    bounces     INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

-- The outcomes in the order that decides under which one a message with
-- several is counted (a message with a bounce is a message with
-- bounces, whatever else it says), and how many messages are counted
-- under each: those whose first outcome (lowest rank) it is.
CREATE TABLE report_outcomes (
    outcome     TEXT PRIMARY KEY,
    rank        INTEGER NOT NULL UNIQUE,
    messages    INTEGER NOT NULL DEFAULT 0
) STRICT, WITHOUT ROWID;

INSERT INTO report_outcomes (outcome, rank) VALUES
    ('bounce', 0), ('delay', 1), ('delivered', 2), ('feedback', 3),
    ('autoreply', 4), ('unknown', 5);

-- The events of each message by the rank of their outcome.
CREATE TABLE report_messages (
    message_id  INTEGER NOT NULL,
    rank        INTEGER NOT NULL,
    events      INTEGER NOT NULL,
    PRIMARY KEY (message_id, rank)
) STRICT, WITHOUT ROWID;

-- An event counted in (sign 1) or out of (sign -1) the sums: the
-- triggers on events write here, and this view's trigger does the
-- counting once for all three.
CREATE VIEW report_changes (sign, message_id, address, outcome, reason,
                            hard, registrable_domain, event_time) AS
SELECT 0, 0, NULL, NULL, NULL, 0, NULL, NULL WHERE 0;

CREATE TRIGGER report_changes_insert INSTEAD OF INSERT ON report_changes
BEGIN
    INSERT INTO report_days (day, outcome, reason, hard, events)
    VALUES (substr (NEW.event_time, 1, 10), NEW.outcome,
            coalesce (NEW.reason, ''), NEW.hard IS 1, NEW.sign)
    ON CONFLICT (day, outcome, reason, hard)
    DO UPDATE SET events = events + excluded.events;
    DELETE FROM report_days
     WHERE day = substr (NEW.event_time, 1, 10) AND outcome = NEW.outcome
       AND reason = coalesce (NEW.reason, '') AND hard = (NEW.hard IS 1)
       AND events = 0;

    INSERT INTO report_domains (registrable_domain, hard, bounces)
    SELECT coalesce (NEW.registrable_domain, ''), NEW.hard IS 1, NEW.sign
     WHERE NEW.outcome = 'bounce'
    ON CONFLICT (registrable_domain, hard)
    DO UPDATE SET bounces = bounces + excluded.bounces;
    DELETE FROM report_domains
     WHERE registrable_domain = coalesce (NEW.registrable_domain, '')
       AND hard = (NEW.hard IS 1) AND bounces = 0;

    INSERT INTO report_addresses (address, bounces)
    SELECT NEW.address, NEW.sign
     WHERE NEW.outcome = 'bounce' AND NEW.address IS NOT NULL
    ON CONFLICT (address) DO UPDATE SET bounces = bounces + excluded.bounces;
    DELETE FROM report_addresses WHERE address = NEW.address AND bounces = 0;

    -- The message leaves the outcome it was counted under...
    UPDATE report_outcomes SET messages = messages - 1
     WHERE rank = (SELECT min (rank) FROM report_messages
                    WHERE message_id = NEW.message_id);
    INSERT INTO report_messages (message_id, rank, events)
    SELECT NEW.message_id, rank, NEW.sign FROM report_outcomes
     WHERE outcome = NEW.outcome
    ON CONFLICT (message_id, rank)
    DO UPDATE SET events = events + excluded.events;
    DELETE FROM report_messages
     WHERE message_id = NEW.message_id AND events = 0;
    -- ...and is counted under its first outcome now.
    UPDATE report_outcomes SET messages = messages + 1
     WHERE rank = (SELECT min (rank) FROM report_messages
                    WHERE message_id = NEW.message_id);
END;

CREATE TRIGGER events_report_insert AFTER INSERT ON events
BEGIN
    INSERT INTO report_changes
    VALUES (1, NEW.message_id, NEW.address, NEW.outcome, NEW.reason,
            NEW.hard, NEW.registrable_domain, NEW.event_time);
END;
CREATE TRIGGER events_report_delete AFTER DELETE ON events
BEGIN
    INSERT INTO report_changes
    VALUES (-1, OLD.message_id, OLD.address, OLD.outcome, OLD.reason,
            OLD.hard, OLD.registrable_domain, OLD.event_time);
END;
CREATE TRIGGER events_report_update AFTER UPDATE OF message_id, address,
    outcome, reason, hard, registrable_domain, event_time ON events
BEGIN
    INSERT INTO report_changes
    VALUES (-1, OLD.message_id, OLD.address, OLD.outcome, OLD.reason,
            OLD.hard, OLD.registrable_domain, OLD.event_time);
    INSERT INTO report_changes
    VALUES (1, NEW.message_id, NEW.address, NEW.outcome, NEW.reason,
            NEW.hard, NEW.registrable_domain, NEW.event_time);
END;

-- The sums of the events already stored.
INSERT INTO report_days (day, outcome, reason, hard, events)
SELECT substr (event_time, 1, 10), outcome, coalesce (reason, ''),
       hard IS 1, count (*)
  FROM events
 GROUP BY substr (event_time, 1, 10), outcome, coalesce (reason, ''),
          hard IS 1;
INSERT INTO report_domains (registrable_domain, hard, bounces)
SELECT coalesce (registrable_domain, ''), hard IS 1, count (*)
  FROM events
 WHERE outcome = 'bounce'
 GROUP BY coalesce (registrable_domain, ''), hard IS 1;
INSERT INTO report_addresses (address, bounces)
SELECT address, count (*)
  FROM events
 WHERE outcome = 'bounce' AND address IS NOT NULL
 GROUP BY address;
INSERT INTO report_messages (message_id, rank, events)
SELECT e.message_id, o.rank, count (*)
  FROM events e JOIN report_outcomes o ON o.outcome = e.outcome
 GROUP BY e.message_id, o.rank;
UPDATE report_outcomes
   SET messages = (SELECT count (*)
                     FROM (SELECT min (rank) AS first
                             FROM report_messages
                            GROUP BY message_id) m
                    WHERE m.first = report_outcomes.rank);

-- `suppress @example.com` (and `show`) reads the addresses of a domain
-- through this index: their domain, or their registrable domain, is the
-- one asked for.
CREATE INDEX suppression_state_registrable_domain
    ON suppression_state (registrable_domain, domain);

DROP VIEW suppression_candidates;
-- The addresses to stop mailing now, by the default policy (the same
-- list as `bouncestat suppress`), with the same columns as before.
-- The comparison with the thresholds is written once, between the
-- "@policy" lines below: `bouncestat suppress` runs that very text
-- (compiled in from this file) with the thresholds it was given in
-- place of the settings' (t.soft_count, t.soft_days), and the store
-- with the settings'.  It gives 'hard' for any hard bounce of a
-- recipient-side reason, 'soft' for at least soft_count soft bounces
-- whose first and last are at least soft_days days apart, else NULL
-- (see suppression_state for what counts).
CREATE VIEW suppression_candidates AS
SELECT address, domain, registrable_domain, why, last_reason, last_status,
       (SELECT diagnostic FROM events WHERE id = last_event)
           AS last_diagnostic,
       first_bounce, last_bounce, bounces, hard_bounces, soft_bounces,
       CASE WHEN hard_bounces > 0 THEN hard_reason ELSE last_reason END
           AS reason,
       CASE WHEN hard_bounces > 0 THEN hard_status ELSE last_status END
           AS status
  FROM (SELECT s.*,
-- @policy begin
               CASE WHEN s.hard_bounces > 0 THEN 'hard'
                    WHEN s.soft_bounces > 0
                         AND s.soft_bounces >= t.soft_count
                         AND CAST (strftime ('%s', s.last_soft) AS INTEGER)
                             - CAST (strftime ('%s', s.first_soft) AS INTEGER)
                             >= t.soft_days * 86400
                    THEN 'soft' END
-- @policy end
                   AS why
          FROM suppression_state s,
               (SELECT (SELECT value FROM settings
                         WHERE name = 'suppress_soft_count') AS soft_count,
                       (SELECT value FROM settings
                         WHERE name = 'suppress_soft_days') AS soft_days) t)
 WHERE why IS NOT NULL;
