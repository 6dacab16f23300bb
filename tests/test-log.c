/*
 * test-log.c - the MTA log reader (bounce-log.c): the year rule and time
 * zones of syslog time stamps, and each MTA's failure lines (the lines
 * are those of the lab runs in tests/fixtures/logs/, one at a time).
 */
#include <string.h>

#include "bounce-private.h"

static BounceRules *rules;

static GDateTime *
utc (int y, int mo, int d, int h, int mi, int s)
{
    g_autoptr (GTimeZone) z = g_time_zone_new_utc ();

    return g_date_time_new (z, y, mo, d, h, mi, s);
}

static void
check_year (GDateTime *ref, const char *mon, int day, const char *hms,
            const char *want)
{
    g_autoptr (GTimeZone) z = g_time_zone_new_utc ();
    g_autofree char *got = _bounce_log_syslog_time (mon, day, hms, ref, z);

    g_assert_cmpstr (got, ==, want);
}

/* A time stamp without a year is at or before the reference (a minute of
 * slack), and less than a year before it. */
static void
test_year_rule (void)
{
    g_autoptr (GDateTime) jan = utc (2026, 1, 2, 0, 0, 0);
    g_autoptr (GDateTime) jun = utc (2026, 6, 1, 0, 0, 0);
    g_autoptr (GDateTime) mar = utc (2026, 3, 1, 12, 0, 0);

    /* A December line read in January: last year. */
    check_year (jan, "Dec", 31, "23:59:00", "2025-12-31T23:59:00Z");
    check_year (jan, "Jan", 1, "10:00:00", "2026-01-01T10:00:00Z");
    /* The reference day itself, and within the minute of slack. */
    check_year (jun, "Jun", 1, "00:00:30", "2026-06-01T00:00:30Z");
    /* Past the slack: it would be in the future, so a year back. */
    check_year (jun, "Jun", 1, "00:02:00", "2025-06-01T00:02:00Z");
    check_year (jun, "Jun", 2, "00:00:00", "2025-06-02T00:00:00Z");
    /* Feb 29 goes back to the last leap year. */
    check_year (mar, "Feb", 29, "08:00:00", "2024-02-29T08:00:00Z");
    /* Not a month. */
    check_year (jan, "Foo", 1, "10:00:00", NULL);
    check_year (jan, "Ja", 1, "10:00:00", NULL);
}

static BounceLogReader *
reader_new (BounceLogMta mta)
{
    BounceLogReader *reader = bounce_log_reader_new (mta);
    g_autoptr (GDateTime) ref = utc (2026, 12, 7, 0, 0, 0);
    g_autoptr (GTimeZone) z = g_time_zone_new_utc ();

    bounce_log_reader_set_rules (reader, rules);
    bounce_log_reader_set_reference (reader, ref);
    bounce_log_reader_set_time_zone (reader, z);
    return reader;
}

static BounceRecipient *
only_recipient (BounceReport *report)
{
    g_assert_nonnull (report);
    g_assert_cmpuint (report->recipients->len, ==, 1);
    return report->recipients->pdata[0];
}

/* Time zones: a stamp without one is in the reader's zone; RFC 3339
 * stamps keep their own. */
static void
test_time_zones (void)
{
    g_autoptr (BounceLogReader) reader = reader_new (BOUNCE_LOG_MTA_AUTO);
    g_autoptr (GTimeZone) plus1 = g_time_zone_new_identifier ("+01:00");
    g_autoptr (BounceReport) a = NULL;
    g_autoptr (BounceReport) b = NULL;
    g_autoptr (BounceReport) c = NULL;
    g_autoptr (BounceReport) j = NULL;

    bounce_log_reader_set_time_zone (reader, plus1);
    a = bounce_log_reader_feed (reader,
        "Dec 06 21:10:26 bouncelab postfix/local[393]: 823A4A943F9: "
        "to=<nosuchuser@bouncelab.test>, relay=local, delay=0.03, "
        "delays=0.02/0.01/0/0.01, dsn=5.1.1, status=bounced (unknown "
        "user: \"nosuchuser\")", "t:1");
    g_assert_cmpstr (only_recipient (a)->last_attempt, ==,
                     "2026-12-06T21:10:26+01");
    b = bounce_log_reader_feed (reader,
        "2026-12-06T21:12:47.189441+00:00 vm sendmail[352]: 6B6LClaW000350: "
        "to=<nouser@remote.test>, ctladdr=<bouncetest@bouncelab.test> "
        "(1000/1000), delay=00:00:00, xdelay=00:00:00, mailer=lab2525, "
        "pri=30485, relay=[127.0.0.1] [127.0.0.1], dsn=5.1.1, reply=550 "
        "5.1.1 user unknown, stat=User unknown", "t:2");
    g_assert_cmpstr (only_recipient (b)->last_attempt, ==,
                     "2026-12-06T21:12:47.189441Z");
    /* journalctl -o short-iso writes the offset without a colon. */
    j = bounce_log_reader_feed (reader,
        "2026-12-06T21:10:26+0000 bouncelab postfix/local[393]: 823A4A943F9: "
        "to=<nosuchuser@bouncelab.test>, relay=local, delay=0.03, "
        "delays=0.02/0.01/0/0.01, dsn=5.1.1, status=bounced (unknown "
        "user: \"nosuchuser\")", "t:4");
    g_assert_cmpstr (only_recipient (j)->last_attempt, ==,
                     "2026-12-06T21:10:26Z");
    c = bounce_log_reader_feed (reader,
        "2026-12-06 21:10:40 1xaJVI-000057-0e ** full@remote.test "
        "P=<bouncetest@bouncelab.test> R=lab_remote T=remote_smtp "
        "H=127.0.0.1 [127.0.0.1]: SMTP error from remote mail server "
        "after RCPT TO:<full@remote.test>: 552 5.2.2 Mailbox full DT=0s",
        "t:3");
    g_assert_cmpstr (only_recipient (c)->last_attempt, ==,
                     "2026-12-06T21:10:40+01");
}

static void
test_postfix (void)
{
    g_autoptr (BounceLogReader) reader = reader_new (BOUNCE_LOG_MTA_AUTO);
    g_autoptr (BounceReport) report = NULL;
    g_autoptr (BounceReport) deferred = NULL;
    g_autoptr (BounceReport) expired = NULL;
    BounceRecipient *r;

    g_assert_null (bounce_log_reader_feed (reader,
        "Dec 06 21:10:26 bouncelab postfix/cleanup[382]: E11E2A94404: "
        "message-id=<bouncelab.552-mailbox-full.20261206211026@bouncelab.test>",
        "t:1"));
    report = bounce_log_reader_feed (reader,
        "Dec 06 21:10:26 bouncelab postfix/smtp[533]: E11E2A94404: "
        "to=<full@remote.test>, relay=127.0.0.1[127.0.0.1]:2525, "
        "delay=0.02, delays=0/0.01/0/0, dsn=5.2.2, status=bounced (host "
        "127.0.0.1[127.0.0.1] said: 552 5.2.2 Mailbox full (in reply to "
        "RCPT TO command))", "t:2");
    r = only_recipient (report);
    g_assert_cmpint (report->origin, ==, BOUNCE_ORIGIN_LOG);
    g_assert_cmpint (report->kind, ==, BOUNCE_KIND_BOUNCE);
    g_assert_cmpstr (report->mta, ==, "postfix");
    g_assert_cmpstr (report->queue_id, ==, "E11E2A94404");
    g_assert_cmpstr (report->reporting_mta, ==, "bouncelab");
    g_assert_cmpstr (report->orig_message_id, ==,
                     "bouncelab.552-mailbox-full.20261206211026@bouncelab.test");
    g_assert_cmpstr (r->address, ==, "full@remote.test");
    g_assert_cmpstr (r->action, ==, "failed");
    g_assert_cmpstr (r->status, ==, "5.2.2");
    g_assert_cmpint (r->smtp_code, ==, 552);
    g_assert_cmpstr (r->smtp_command, ==, "RCPT");
    g_assert_cmpstr (r->diagnostic, ==, "552 5.2.2 Mailbox full");
    g_assert_cmpstr (r->diagnostic_type, ==, "smtp");
    g_assert_cmpstr (r->remote_mta, ==, "127.0.0.1");
    g_assert_cmpstr (r->last_attempt, ==, "2026-12-06T21:10:26Z");
    g_assert_cmpstr (r->reason, ==, "mailboxfull");
    g_assert_cmpstr (bounce_recipient_outcome (report, r), ==, "bounce");

    /* A delivery is no failure. */
    g_assert_null (bounce_log_reader_feed (reader,
        "Dec 06 21:10:27 bouncelab postfix/smtp[533]: 6A3B1A94430: "
        "to=<ok@remote.test>, relay=127.0.0.1[127.0.0.1]:2525, delay=0.01, "
        "delays=0/0/0/0, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued)",
        "t:3"));
    /* A line cut before its text in parentheses (a log cut short). */
    g_autoptr (BounceReport) bare = bounce_log_reader_feed (reader,
        "Dec 06 21:10:27 bouncelab postfix/smtp[533]: 6A3B1A94431: "
        "to=<x@remote.test>, relay=none, delay=0, delays=0/0/0/0, "
        "dsn=4.4.1, status=deferred", "t:3b");
    g_assert_cmpstr (only_recipient (bare)->action, ==, "delayed");
    /* Nor are other programs' lines, with --mta postfix or not. */
    g_assert_null (bounce_log_reader_feed (reader,
        "Dec 06 21:10:27 bouncelab CRON[1]: (root) CMD (true)", "t:4"));

    /* A deferral, then the expiry, which names no recipient: the
     * deferred one fails with its last reply. */
    deferred = bounce_log_reader_feed (reader,
        "Dec 06 21:10:37 bouncelab postfix/smtp[1062]: 1F0DDA94415: "
        "to=<postmaster@busy.test>, relay=127.0.0.1[127.0.0.1]:2526, "
        "delay=10, delays=10/0/0/0, dsn=4.7.0, status=deferred (host "
        "127.0.0.1[127.0.0.1] refused to talk to me: 421 4.7.0 too many "
        "connections)", "t:5");
    r = only_recipient (deferred);
    g_assert_cmpstr (r->action, ==, "delayed");
    g_assert_cmpstr (r->smtp_command, ==, "CONNECT");
    g_assert_cmpstr (r->diagnostic, ==, "421 4.7.0 too many connections");
    g_assert_cmpstr (bounce_recipient_outcome (deferred, r), ==, "delay");
    expired = bounce_log_reader_feed (reader,
        "Dec 06 21:10:37 bouncelab postfix/qmgr[310]: 1F0DDA94415: "
        "from=<bouncetest@bouncelab.test>, status=expired, returned to "
        "sender", "t:6");
    r = only_recipient (expired);
    g_assert_cmpstr (r->address, ==, "postmaster@busy.test");
    g_assert_cmpstr (r->action, ==, "failed");
    g_assert_cmpstr (r->status, ==, "4.7.0");
    g_assert_cmpstr (r->diagnostic, ==, "421 4.7.0 too many connections");
    g_assert_cmpstr (r->reason, ==, "ratelimited");
    /* Once expired, nothing is left to expire. */
    g_assert_null (bounce_log_reader_feed (reader,
        "Dec 06 21:10:37 bouncelab postfix/qmgr[310]: 1F0DDA94415: "
        "from=<bouncetest@bouncelab.test>, status=expired, returned to "
        "sender", "t:7"));
}

static void
test_exim (void)
{
    g_autoptr (BounceLogReader) reader = reader_new (BOUNCE_LOG_MTA_AUTO);
    g_autoptr (BounceReport) a = NULL;
    g_autoptr (BounceReport) deferred = NULL;
    g_autoptr (BounceReport) expired = NULL;
    g_autoptr (BounceReport) local = NULL;
    BounceRecipient *r;

    g_assert_null (bounce_log_reader_feed (reader,
        "2026-12-06 21:10:40 1xaJVI-00005c-0n <= bouncetest@bouncelab.test "
        "U=bouncetest P=local S=347 id=realmta.t04.20261206211039@bouncelab.test",
        "t:1"));
    a = bounce_log_reader_feed (reader,
        "2026-12-06 21:10:40 1xaJVI-00005c-0n ** noauth@remote.test "
        "P=<bouncetest@bouncelab.test> R=lab_remote T=remote_smtp "
        "H=127.0.0.1 [127.0.0.1]: SMTP error from remote mail server after "
        "end of data: 550-5.7.26 This message does not have authentication "
        "information or fails to\\n550 5.7.26 information. gsmtp DT=0s",
        "t:2");
    r = only_recipient (a);
    g_assert_cmpstr (a->mta, ==, "exim");
    g_assert_cmpstr (a->queue_id, ==, "1xaJVI-00005c-0n");
    g_assert_cmpstr (a->orig_message_id, ==,
                     "realmta.t04.20261206211039@bouncelab.test");
    g_assert_cmpstr (r->address, ==, "noauth@remote.test");
    g_assert_cmpstr (r->smtp_command, ==, "DATA");
    g_assert_cmpstr (r->status, ==, "5.7.26");
    g_assert_cmpstr (r->remote_mta, ==, "127.0.0.1");
    g_assert_null (strstr (r->diagnostic, "DT=0s"));
    g_assert_null (strstr (r->diagnostic, "\\n"));
    g_assert_cmpstr (r->reason, ==, "authfailure");

    deferred = bounce_log_reader_feed (reader,
        "2026-12-06 21:10:53 1xaJVI-00008t-1e == toomany@remote.test "
        "R=lab_remote T=remote_smtp defer (-44) H=127.0.0.1 [127.0.0.1] "
        "DT=0s: SMTP error from remote mail server after "
        "RCPT TO:<toomany@remote.test>: 452 4.5.3 Too many recipients",
        "t:3");
    r = only_recipient (deferred);
    g_assert_cmpstr (r->action, ==, "delayed");
    g_assert_cmpstr (r->smtp_command, ==, "RCPT");
    g_assert_cmpstr (r->diagnostic, ==, "452 4.5.3 Too many recipients");
    /* The bounce says "REPLY: retry timeout exceeded". */
    expired = bounce_log_reader_feed (reader,
        "2026-12-06 21:10:53 1xaJVI-00008t-1e ** toomany@remote.test: "
        "retry timeout exceeded", "t:4");
    r = only_recipient (expired);
    g_assert_cmpstr (r->action, ==, "failed");
    g_assert_cmpstr (r->diagnostic, ==,
                     "452 4.5.3 Too many recipients: retry timeout exceeded");
    g_assert_cmpstr (r->reason, ==, "ratelimited");

    local = bounce_log_reader_feed (reader,
        "2026-12-06 21:10:40 1xaJVI-000048-0I ** nosuchuser@bouncelab.test: "
        "Unrouteable address DT=0s", "t:5");
    r = only_recipient (local);
    g_assert_cmpstr (r->diagnostic, ==, "Unrouteable address");
    g_assert_cmpstr (r->reason, ==, "userunknown");
    /* A delivery. */
    g_assert_null (bounce_log_reader_feed (reader,
        "2026-12-06 21:10:41 1xaJVJ-0000AB-2C => ok@remote.test R=lab_remote "
        "T=remote_smtp H=127.0.0.1 [127.0.0.1] C=\"250 2.0.0 Ok\"", "t:6"));
}

static void
test_sendmail (void)
{
    g_autoptr (BounceLogReader) reader = reader_new (BOUNCE_LOG_MTA_SENDMAIL);
    g_autoptr (BounceReport) a = NULL;
    g_autoptr (BounceReport) expired = NULL;
    BounceRecipient *r;

    g_assert_null (bounce_log_reader_feed (reader,
        "2026-12-06T21:12:47.176633+00:00 vm sendmail[350]: 6B6LClaW000350: "
        "from=<bouncetest@bouncelab.test>, size=485, class=0, nrcpts=1, "
        "msgid=<realmta.t02.20261206211246@bouncelab.test>, proto=ESMTP, "
        "daemon=MTA-v4, relay=vm.bouncelab.test [127.0.0.1]", "t:1"));
    a = bounce_log_reader_feed (reader,
        "2026-12-06T21:12:47.189441+00:00 vm sendmail[352]: 6B6LClaW000350: "
        "to=<nouser@remote.test>, ctladdr=<bouncetest@bouncelab.test> "
        "(1000/1000), delay=00:00:00, xdelay=00:00:00, mailer=lab2525, "
        "pri=30485, relay=[127.0.0.1] [127.0.0.1], dsn=5.1.1, reply=550 "
        "5.1.1 user unknown, stat=User unknown", "t:2");
    r = only_recipient (a);
    g_assert_cmpstr (a->mta, ==, "sendmail");
    g_assert_cmpstr (a->orig_message_id, ==,
                     "realmta.t02.20261206211246@bouncelab.test");
    g_assert_cmpstr (r->diagnostic, ==, "550 5.1.1 user unknown");
    g_assert_cmpstr (r->status, ==, "5.1.1");
    g_assert_cmpstr (r->remote_mta, ==, "[127.0.0.1]");
    g_assert_cmpstr (r->reason, ==, "userunknown");
    /* stat=Sent */
    g_assert_null (bounce_log_reader_feed (reader,
        "2026-12-06T21:12:47.209858+00:00 vm sendmail[352]: 6B6LClaW000352: "
        "to=\"|/tmp/realmta-lab/bin/save-msg\", ctladdr=<bouncetest@"
        "bouncelab.test> (1000/1000), delay=00:00:00, xdelay=00:00:00, "
        "mailer=prog, pri=31509, dsn=2.0.0, stat=Sent", "t:3"));
    g_autoptr (BounceReport) d = bounce_log_reader_feed (reader,
        "2026-12-06T21:13:00.804404+00:00 vm sendmail[1466]: 6B6LCm9H000580: "
        "to=<later@remote.test>, ctladdr=<bouncetest@bouncelab.test> "
        "(1000/1000), delay=00:00:12, xdelay=00:00:00, mailer=lab2525, "
        "pri=1200483, relay=[127.0.0.1] [127.0.0.1], dsn=4.2.1, reply=450 "
        "4.2.1 try later, stat=Deferred: 450 4.2.1 try later", "t:4");
    g_assert_cmpstr (only_recipient (d)->action, ==, "delayed");
    expired = bounce_log_reader_feed (reader,
        "2026-12-06T21:13:00.805353+00:00 vm sendmail[1466]: 6B6LCm9H000580: "
        "6B6LD0Y3001466: sender notify: Cannot send message for 12 seconds",
        "t:5");
    r = only_recipient (expired);
    g_assert_cmpstr (r->address, ==, "later@remote.test");
    g_assert_cmpstr (r->action, ==, "failed");
    g_assert_cmpstr (r->diagnostic, ==, "450 4.2.1 try later");
    /* --mta sendmail: a Postfix line is not read. */
    g_assert_null (bounce_log_reader_feed (reader,
        "Dec 06 21:10:26 bouncelab postfix/local[393]: 823A4A943F9: "
        "to=<nosuchuser@bouncelab.test>, relay=local, delay=0.03, "
        "delays=0.02/0.01/0/0.01, dsn=5.1.1, status=bounced (unknown "
        "user: \"nosuchuser\")", "t:6"));
}

/* The queue-id memory is bounded: past BOUNCE_LOG_MAX_QUEUE_IDS the
 * oldest Message-ID is forgotten, the newest kept. */
static void
test_bounded_memory (void)
{
    g_autoptr (BounceLogReader) reader = reader_new (BOUNCE_LOG_MTA_POSTFIX);
    g_autoptr (BounceReport) old = NULL;
    g_autoptr (BounceReport) recent = NULL;
    g_autofree char *line_old = NULL;
    g_autofree char *line_recent = NULL;

    for (guint i = 0; i <= BOUNCE_LOG_MAX_QUEUE_IDS; i++) {
        g_autofree char *line = g_strdup_printf (
            "Dec 06 21:10:26 h postfix/cleanup[1]: Q%08X: "
            "message-id=<m%u@x.test>", i, i);

        g_assert_null (bounce_log_reader_feed (reader, line, "t"));
    }
    line_old = g_strdup ("Dec 06 21:10:26 h postfix/smtp[1]: Q00000000: "
                         "to=<a@b.test>, relay=none, delay=0, "
                         "delays=0/0/0/0, dsn=5.1.1, status=bounced (host "
                         "b.test[192.0.2.1] said: 550 5.1.1 no (in reply "
                         "to RCPT TO command))");
    old = bounce_log_reader_feed (reader, line_old, "t");
    g_assert_nonnull (old);
    g_assert_null (old->orig_message_id);
    line_recent = g_strdup_printf ("Dec 06 21:10:26 h postfix/smtp[1]: "
                                   "Q%08X: to=<a@b.test>, relay=none, "
                                   "delay=0, delays=0/0/0/0, dsn=5.1.1, "
                                   "status=bounced (no)",
                                   (guint) BOUNCE_LOG_MAX_QUEUE_IDS);
    recent = bounce_log_reader_feed (reader, line_recent, "t");
    g_assert_nonnull (recent);
    g_assert_cmpstr (recent->orig_message_id, ==, "m100000@x.test");
}

int
main (int argc, char **argv)
{
    const char *dirs[2] = { g_getenv ("BOUNCESTAT_RULES_DIR"), NULL };
    g_autoptr (GError) error = NULL;
    int rc;

    g_test_init (&argc, &argv, NULL);
    bounce_init ();
    g_assert_nonnull (dirs[0]); /* CTest sets it */
    rules = bounce_rules_load (dirs, &error);
    g_assert_no_error (error);
    g_test_add_func ("/log/year-rule", test_year_rule);
    g_test_add_func ("/log/time-zones", test_time_zones);
    g_test_add_func ("/log/postfix", test_postfix);
    g_test_add_func ("/log/exim", test_exim);
    g_test_add_func ("/log/sendmail", test_sendmail);
    g_test_add_func ("/log/bounded-memory", test_bounded_memory);
    rc = g_test_run ();
    bounce_rules_free (rules);
    return rc;
}
