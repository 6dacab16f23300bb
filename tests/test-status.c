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
        { "5.1.0", "550 5.7.1 blocked", "5.1.0", "dsn", 550, TRUE },
        { "4.0.0", "550 5.1.1 user unknown", "4.0.0", "dsn", 550, FALSE },
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
    g_test_add_func ("/status/smtp-command", test_smtp_command);
    return g_test_run ();
}
