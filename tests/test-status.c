/*
 * test-status.c - status codes, reply codes and multi-line replies
 * (bounce-status.c), table-driven.
 */
#include "bounce.h"

static void
test_normalize (void)
{
    static const struct {
        const char *in;
        const char *want;
    } cases[] = {
        { "5.1.1", "5.1.1" },
        { " 5.7.26 (unauthenticated)", "5.7.26" },
        { "5.7.708", "5.7.708" },
        { "4.04.001", "4.4.1" },
        { "2.0.0", "2.0.0" },
        { "3.1.1", NULL },
        { "5.1", NULL },
        { "5.1.1234", NULL },
        { "", NULL },
        { "five", NULL },
    };

    for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
        g_autofree char *got = bounce_status_normalize (cases[i].in);
        g_test_message ("case %u: '%s'", i, cases[i].in);
        g_assert_cmpstr (got, ==, cases[i].want);
    }
}

static void
test_find (void)
{
    static const struct {
        const char *in;
        const char *want_status;
        int want_code;
    } cases[] = {
        { "550 5.1.1 <a@b>: User unknown", "5.1.1", 550 },
        { "host mx.example.com[192.0.2.1] said: 552-5.2.2 full", "5.2.2", 552 },
        { "connect to 127.0.0.1[127.0.0.1]:2529: Connection refused", NULL, 0 },
        { "550 #5.1.0 Address rejected", "5.1.0", 550 },
        { "version 10.5.1.1 of the server", NULL, 0 },
        { "421-4.7.28 rate limited", "4.7.28", 421 },
        { "smtp; 554 5.7.1 Service unavailable", "5.7.1", 554 },
        { "Remote host said: 550 Requested action not taken", NULL, 550 },
        { "queued 2013-10-16 for 600 seconds", NULL, 0 },
        { "5.7.708 Service unavailable. Access denied", "5.7.708", 0 },
        /* Notations: Amazon SES quotes the server's reply after a hyphen
         * ("550-'5.7.1 ...'"); a code followed by a colon ("550: <a@b>:
         * User unknown"); after a label ("Error code: 550", "ERROR_CODE
         * :421,"); Exchange's "Remote Server returned '550 5.1.10 ...'";
         * Sendmail's "(reason: 550 5.1.1 ...)" and "<<< 550-5.1.1". */
        { "5.1.0 - Unknown address error 550-'5.7.1 <a@b>... Access denied'", "5.1.0", 550 },
        { "550: <a@b>: User unknown", NULL, 550 },
        { "550: 5.2.2 <a@b>... Mailbox full", "5.2.2", 550 },
        { "Invalid address, Error code :550, Status :5.1.1 <a@b>", "5.1.1", 550 },
        { "Error, ERROR_CODE :421, Host not reachable.", NULL, 421 },
        { "Remote Server returned '550 5.1.10 RESOLVER.ADR.RecipientNotFound'", "5.1.10", 550 },
        { "    (reason: 550 5.1.1 User unknown)", "5.1.1", 550 },
        { "#550 5.1.1 RESOLVER.ADR.RecipNotFound; not found ##", "5.1.1", 550 },
        { "see ticket #550 for details", NULL, 0 },
        { "Remote server replied: 554 5.7.1 Message rejected", "5.7.1", 554 },
        { "<<< 550-5.1.1 The email account does not exist", "5.1.1", 550 },
        /* Not reply codes: a port, a number with separators, a time, an
         * IPv6 address, a host name with a port. */
        { "connect to mx.example.org[192.0.2.1]:25: Connection timed out", NULL, 0 },
        { "message of 1,250,000 bytes", NULL, 0 },
        { "at 10:45:21 +0000", NULL, 0 },
        { "from [2001:db8::250] port 25", NULL, 0 },
        /* The first refusal, not a greeting before it nor a later reply
         * (Sendmail's transcript: the reply to QUIT). */
        { "220 mx.example.org ESMTP 421 4.2.1 Service refused, try later", "4.2.1", 421 },
        { "<<< 554 mx.example.org not accepting connections >>> QUIT <<< 421 4.7.0 Error: too many errors",
          "4.7.0", 554 },
        /* An expiry verdict (x.4.7) points past itself to the reply that
         * caused it. */
        { "554 4.4.7 Message expired: unable to deliver in 840 minutes.<421 4.4.2 Connection timed out>",
          "4.4.7", 421 },
        { "250 2.0.0 Ok: queued as 4BC1D2", "2.0.0", 250 },
    };

    for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
        g_autofree char *status = bounce_status_find (cases[i].in);
        g_test_message ("case %u: '%s'", i, cases[i].in);
        g_assert_cmpstr (status, ==, cases[i].want_status);
        g_assert_cmpint (bounce_reply_code_find (cases[i].in), ==,
                         cases[i].want_code);
    }
}

static void
test_unfold (void)
{
    static const struct {
        const char *in;
        const char *want;
    } cases[] = {
        { "550-5.7.26 This message does not have authentication information "
          "or fails to 550-5.7.26 pass authentication checks. 550 5.7.26 "
          "information. - gsmtp",
          "550 5.7.26 This message does not have authentication information "
          "or fails to pass authentication checks. information. - gsmtp" },
        { "550-5.1.1 The email account that you tried to reach does\n 550-5.1.1 "
          "not exist.\n 550 5.1.1 https://support.google.com",
          "550 5.1.1 The email account that you tried to reach does not "
          "exist. https://support.google.com" },
        { "452-Too many\n 452 recipients", "452 Too many recipients" },
        /* Sendmail's transcript: each line of the reply after "<<< "
         * (usersmtp.c, reply()). */
        { "<<< 550-5.1.1 The email account that you tried to reach does not exist.\n"
          "<<< 550-5.1.1 Please try double-checking the address\n"
          "<<< 550 5.1.1 https://support.example.com",
          "<<< 550 5.1.1 The email account that you tried to reach does not exist. "
          "Please try double-checking the address https://support.example.com" },
        { "550  5.1.1   user\tunknown ", "550 5.1.1 user unknown" },
        { "no code here", "no code here" },
    };

    for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
        g_autofree char *got = bounce_diagnostic_unfold (cases[i].in);
        g_test_message ("case %u: '%s'", i, cases[i].in);
        g_assert_cmpstr (got, ==, cases[i].want);
    }
}

static void
test_resolve (void)
{
    static const struct {
        const char *status;
        const char *diagnostic;
        const char *want_status;
        const char *want_source;
        int want_code;
        gboolean want_permanent;
    } cases[] = {
        /* The more specific code wins, and the source says where from. */
        { "5.0.0", "550 5.1.1 user unknown", "5.1.1", "diagnostic", 550, TRUE },
        { "5.1.1", "550 5.1.1 user unknown", "5.1.1", "dsn", 550, TRUE },
        { "5.7.0", "550 5.7.26 unauthenticated", "5.7.26", "diagnostic", 550, TRUE },
        /* The remote server's own code next to its reply wins over the
         * Status field, whatever that says (docs/output-format.md). */
        { "5.1.0", "550 5.7.1 blocked", "5.7.1", "diagnostic", 550, TRUE },
        { "4.0.0", "550 5.1.1 user unknown", "5.1.1", "diagnostic", 550, TRUE },
        { "4.4.7", "450 4.2.1 try later", "4.2.1", "diagnostic", 450, FALSE },
        { "5.0.0", "421 4.7.0 too many connections", "4.7.0", "diagnostic", 421, FALSE },
        { "4.5.0", "550 5.5.0 Service refused, please try later", "5.5.0", "diagnostic", 550, TRUE },
        { "5.1.0", "5.1.0 - Unknown address error 550-'5.7.1 <a@b>... Access denied'",
          "5.7.1", "diagnostic", 550, TRUE },
        /* ... but not an x.0.0 there, nor a code without a reply. */
        { "5.1.1", "550 5.0.0 <a@b>... User unknown", "5.1.1", "dsn", 550, TRUE },
        { "4.0.0", "554 Blocked - see https://example.org/lookup", "4.0.0", "dsn", 554, FALSE },
        { "5.3.0", "5.1.0 address error 550-'Unknown user a@b'", "5.3.0", "dsn", 550, TRUE },
        /* A code of another class elsewhere belongs to another reply. */
        { NULL, "<<< 554 mx.example.org not accepting connections >>> QUIT <<< 421 4.7.0 Error",
          NULL, NULL, 554, TRUE },
        /* Past an expiry verdict to the reply that caused it. */
        { "4.4.7", "554 4.4.7 Message expired: unable to deliver in 840 minutes.<421 4.4.2 Connection timed out>",
          "4.4.2", "diagnostic", 421, FALSE },
        { NULL, "552 5.2.2 Mailbox full", "5.2.2", "diagnostic", 552, TRUE },
        { NULL, "550 Requested action not taken", NULL, NULL, 550, TRUE },
        { "4.4.1", "connect to x: Connection refused", "4.4.1", "dsn", 0, FALSE },
        { NULL, NULL, NULL, NULL, 0, FALSE },
    };

    for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
        g_autoptr (BounceRecipient) r = bounce_recipient_new ();
        r->status = g_strdup (cases[i].status);
        r->diagnostic = g_strdup (cases[i].diagnostic);
        bounce_recipient_resolve_codes (r);
        g_test_message ("case %u", i);
        g_assert_cmpstr (r->status, ==, cases[i].want_status);
        g_assert_cmpstr (bounce_status_source_to_string (r->status_source), ==,
                         cases[i].want_source);
        g_assert_cmpint (r->smtp_code, ==, cases[i].want_code);
        g_assert_cmpint (r->permanent, ==, cases[i].want_permanent);
    }
}

/* Sendmail's deliver.c writes a local mailer's exit status as the
 * diagnostic ("X-Unix; 75", sysexits.h): not a reply code. */
static void
test_exit_status (void)
{
    static const struct {
        const char *type;
        const char *diagnostic;
        int want_code;
    } cases[] = {
        { "x-unix", "255", 0 },
        { "X-Unix", "75", 0 },
        { "smtp", "421", 421 },
        { "x-unix", "550 5.1.1 <a@b>... User unknown", 550 },
    };

    for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
        g_autoptr (BounceRecipient) r = bounce_recipient_new ();
        r->status = g_strdup ("5.3.0");
        r->diagnostic_type = g_strdup (cases[i].type);
        r->diagnostic = g_strdup (cases[i].diagnostic);
        bounce_recipient_resolve_codes (r);
        g_test_message ("case %u", i);
        g_assert_cmpint (r->smtp_code, ==, cases[i].want_code);
    }
}

static void
test_smtp_command (void)
{
    static const struct {
        const char *in;
        const char *want;
    } cases[] = {
        { "host mx[192.0.2.1] said: 550 5.1.1 unknown (in reply to RCPT TO command)", "RCPT" },
        { "550 user unknown (in reply to end of DATA command)", "DATA" },
        { "SMTP error from remote mail server after end of data: 550 x", "DATA" },
        { "SMTP error from remote mail server after RCPT TO:<a@b>: 550", "RCPT" },
        { "mx.example.jp [192.0.2.45]: >>> DATA <<< 550 Unknown user", "DATA" },
        { "said: 554 go away (in reply to initial connection)", "CONNECT" },
        { "in reply to MAIL FROM command", "MAIL" },
        { "192.0.2.1 does not like recipient. Remote host said: 550 5.1.1 x", "RCPT" },
        { "Remote host said: 550 5.2.1 <a@b>... User Unknown [RCPT_TO]", "RCPT" },
        { "RCPT To: <<< 550 <a@b>... User unknown", "RCPT" },
        { "while talking to mx.example.net.: RCPT To:<a@b> 550 5.1.1 unknown", "RCPT" },
        { "While talking to mx: MAIL From:<s@example.com> 501 no access", "MAIL" },
        /* qmail-remote-fallback.patch */
        { "Sorry, no SMTP connection got far enough; most progress was RCPT TO response; "
          "remote host 192.0.2.1 said: 550 no such user", "RCPT" },
        { "550 5.1.1 user unknown", NULL },
        { "after a while the data was lost", NULL },
        { NULL, NULL },
    };

    for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
        g_test_message ("case %u: '%s'", i, cases[i].in);
        g_assert_cmpstr (bounce_smtp_command_find (cases[i].in), ==, cases[i].want);
    }
}

int
main (int argc, char **argv)
{
    g_test_init (&argc, &argv, NULL);
    g_test_add_func ("/status/normalize", test_normalize);
    g_test_add_func ("/status/find", test_find);
    g_test_add_func ("/status/unfold", test_unfold);
    g_test_add_func ("/status/resolve", test_resolve);
    g_test_add_func ("/status/exit-status", test_exit_status);
    g_test_add_func ("/status/smtp-command", test_smtp_command);
    return g_test_run ();
}
