/*
 * test-dsn.c - RFC 3464 / RFC 6533 reports through the parse entry point:
 * field groups, folding, comments, address types, multi-line replies,
 * line ends, the original message, kinds and limits.
 */
#include <string.h>

#include "bounce.h"

#define HEAD                                                              \
    "From: Mail Delivery System <MAILER-DAEMON@mx.example.org>\n"         \
    "To: sender@example.com\n"                                            \
    "Subject: Undelivered Mail Returned to Sender\n"                      \
    "Date: Wed, 16 Oct 2013 14:15:35 +0900\n"                             \
    "MIME-Version: 1.0\n"                                                 \
    "Content-Type: multipart/report; report-type=delivery-status;\n"      \
    "\tboundary=\"BB\"\n\n"                                                \
    "--BB\nContent-Type: text/plain\n\nYour message could not be delivered.\n\n"

#define ORIGINAL                                                          \
    "--BB\nContent-Type: text/rfc822-headers\n\n"                         \
    "Message-ID: <orig-1@example.com>\n"                                  \
    "From: Sender <sender@example.com>\n"                                 \
    "To: alice@example.net\n"                                             \
    "Subject: =?UTF-8?B?WmHFvMOzxYLEhw==?= report\n"                       \
    "Date: Tue, 15 Oct 2013 10:00:00 +0000\n\n"                            \
    "--BB--\n"

/* The head of a Sendmail DSN (savemail.c) up to its text part. */
#define SENDMAIL_HEAD                                                     \
    "From: Mail Delivery Subsystem <MAILER-DAEMON@mx.example.org>\n"     \
    "To: sender@example.com\n"                                           \
    "Subject: Returned mail: see transcript for details\n"               \
    "MIME-Version: 1.0\n"                                                \
    "Content-Type: multipart/report; report-type=delivery-status; "       \
    "boundary=\"BB\"\n\n"                                                \
    "--BB\nContent-Type: text/plain\n\n"

static BounceReport *
parse_text (const char *text)
{
    g_autoptr (BounceParser) parser = bounce_parser_new ();
    g_autoptr (GBytes) bytes = g_bytes_new (text, strlen (text));

    return bounce_parser_parse (parser, bytes, "test");
}

static BounceRecipient *
nth (BounceReport *report, guint i)
{
    g_assert_cmpuint (report->recipients->len, >, i);
    return report->recipients->pdata[i];
}

static void
test_basic (void)
{
    g_autoptr (BounceReport) report = parse_text (
        HEAD "--BB\nContent-Type: message/delivery-status\n\n"
             "Reporting-MTA: dns; mx.example.org\n"
             "Arrival-Date: Wed, 16 Oct 2013 14:15:34 +0900\n\n"
             "Final-Recipient: rfc822; alice@example.net\n"
             "Original-Recipient: rfc822;Alice@Example.net\n"
             "Action: failed (permanent)\n"
             "Status: 5.0.0 (unknown)\n"
             "Remote-MTA: dns; mx.example.net\n"
             "Diagnostic-Code: smtp; 550-5.1.1 The account does not\n"
             "    exist. 550 5.1.1 Try again\n"
             "Last-Attempt-Date: Wed, 16 Oct 2013 14:15:35 +0900\n\n" ORIGINAL);
    BounceRecipient *r;

    g_assert_cmpint (report->kind, ==, BOUNCE_KIND_DSN);
    g_assert_cmpstr (report->mta, ==, "rfc3464");
    g_assert_cmpstr (report->reporting_mta, ==, "mx.example.org");
    g_assert_cmpstr (report->arrival_date, ==, "2013-10-16T14:15:34+09");
    g_assert_cmpstr (report->orig_message_id, ==, "orig-1@example.com");
    g_assert_cmpstr (report->orig_subject, ==, "Zażółć report");
    g_assert_cmpstr (report->orig_to, ==, "alice@example.net");
    g_assert_cmpuint (report->recipients->len, ==, 1);
    r = nth (report, 0);
    g_assert_cmpstr (r->address, ==, "alice@example.net");
    g_assert_cmpstr (r->original_recipient, ==, "Alice@Example.net");
    g_assert_cmpstr (r->action, ==, "failed");
    g_assert_cmpstr (r->status, ==, "5.1.1");
    g_assert_cmpint (r->status_source, ==, BOUNCE_STATUS_SOURCE_DIAGNOSTIC);
    g_assert_cmpint (r->smtp_code, ==, 550);
    g_assert_cmpstr (r->diagnostic_type, ==, "smtp");
    g_assert_cmpstr (r->diagnostic, ==,
                     "550 5.1.1 The account does not exist. Try again");
    g_assert_cmpstr (r->remote_mta, ==, "mx.example.net");
    g_assert_nonnull (r->last_attempt);
    g_assert_true (r->permanent);
}

static void
test_groups_without_blank_lines (void)
{
    g_autoptr (BounceReport) report = parse_text (
        HEAD "--BB\nContent-Type: message/delivery-status\n\n"
             "Reporting-MTA: dns; mx.example.org\n"
             "Final-Recipient: rfc822; a@example.net\n"
             "Action: failed\n"
             "Status: 5.2.2\n"
             "Final-Recipient: rfc822; b@example.net\n"
             "Action: delayed\n"
             "Status: 4.4.1\n"
             "Diagnostic-Code: X-Postfix; connect to mx: Connection refused\n\n"
             ORIGINAL);

    g_assert_cmpuint (report->recipients->len, ==, 2);
    g_assert_cmpstr (nth (report, 0)->address, ==, "a@example.net");
    g_assert_cmpstr (nth (report, 0)->status, ==, "5.2.2");
    g_assert_cmpstr (nth (report, 1)->address, ==, "b@example.net");
    g_assert_cmpstr (nth (report, 1)->action, ==, "delayed");
    g_assert_cmpstr (nth (report, 1)->diagnostic_type, ==, "x-postfix");
    g_assert_false (nth (report, 1)->permanent);
    g_assert_cmpint (nth (report, 1)->smtp_code, ==, 0);
}

static void
test_global_utf8 (void)
{
    g_autoptr (BounceReport) report = parse_text (
        HEAD "--BB\nContent-Type: message/global-delivery-status\n\n"
             "Reporting-MTA: dns; mx.example.org\n\n"
             "Final-Recipient: utf-8; j\\x{00F6}rg@b\\x{00FC}ro.example\n"
             "Action: failed\n"
             "Status: 5.1.1\n\n" ORIGINAL);

    g_assert_cmpuint (report->recipients->len, ==, 1);
    g_assert_cmpstr (nth (report, 0)->address, ==, "jörg@büro.example");
}

static void
test_delivered (void)
{
    g_autoptr (BounceReport) report = parse_text (
        HEAD "--BB\nContent-Type: message/delivery-status\n\n"
             "Reporting-MTA: dns; mx.example.org\n\n"
             "Final-Recipient: rfc822; a@example.net\n"
             "Action: relayed\nStatus: 2.0.0\n\n"
             "Final-Recipient: rfc822; b@example.net\n"
             "Action: delivered\nStatus: 2.0.0\n"
             "Diagnostic-Code: smtp; 250 2.0.0 Ok: queued\n\n" ORIGINAL);

    g_assert_cmpint (report->kind, ==, BOUNCE_KIND_DELIVERED);
    g_assert_cmpuint (report->recipients->len, ==, 2);
    g_assert_cmpint (nth (report, 1)->smtp_code, ==, 250);
    g_assert_false (nth (report, 1)->permanent);
}

/* The same report with LF, CRLF and CR line ends, and behind an mbox
 * "From " line, gives the same result. */
static void
test_line_ends (void)
{
    const char *lf = "From MAILER-DAEMON Wed Oct 16 14:15:35 2013\n" HEAD
                     "--BB\nContent-Type: message/delivery-status\n\n"
                     "Reporting-MTA: dns; mx.example.org\n\n"
                     "Final-Recipient: rfc822; a@example.net\n"
                     "Action: failed\nStatus: 5.1.1\n"
                     "Diagnostic-Code: smtp; 550 5.1.1 unknown\n\n" ORIGINAL;
    const char *ends[] = { "\n", "\r\n", "\r" };

    for (guint i = 0; i < G_N_ELEMENTS (ends); i++) {
        g_auto (GStrv) lines = g_strsplit (lf, "\n", -1);
        g_autofree char *text = g_strjoinv (ends[i], lines);
        g_autoptr (BounceReport) report = parse_text (text);

        g_test_message ("line end %u", i);
        g_assert_cmpint (report->kind, ==, BOUNCE_KIND_DSN);
        g_assert_cmpuint (report->recipients->len, ==, 1);
        g_assert_cmpstr (nth (report, 0)->status, ==, "5.1.1");
        g_assert_cmpstr (report->subject, ==, "Undelivered Mail Returned to Sender");
        g_assert_cmpstr (report->orig_message_id, ==, "orig-1@example.com");
    }
}

static void
test_not_messages (void)
{
    static const char *inputs[] = { "", "\x01\x02\x03 binary", "just text\n" };

    for (guint i = 0; i < G_N_ELEMENTS (inputs); i++) {
        g_autoptr (BounceReport) report = parse_text (inputs[i]);
        g_test_message ("input %u", i);
        g_assert_cmpint (report->kind, ==, BOUNCE_KIND_UNPARSABLE);
        g_assert_cmpuint (report->recipients->len, ==, 0);
        g_assert_cmpuint (report->warnings->len, >, 0);
    }
}

/* A report with more recipients than the limit keeps the limit and says
 * so in a warning. */
static void
test_recipient_limit (void)
{
    GString *text = g_string_new (HEAD "--BB\nContent-Type: message/delivery-status\n\n"
                                       "Reporting-MTA: dns; mx.example.org\n\n");
    g_autoptr (BounceReport) report = NULL;
    gboolean warned = FALSE;

    for (guint i = 0; i < BOUNCE_MAX_RECIPIENTS + 5; i++)
        g_string_append_printf (text, "Final-Recipient: rfc822; u%u@example.net\n"
                                      "Action: failed\nStatus: 5.1.1\n\n", i);
    g_string_append (text, ORIGINAL);
    report = parse_text (text->str);
    g_string_free (text, TRUE);

    g_assert_cmpuint (report->recipients->len, ==, BOUNCE_MAX_RECIPIENTS);
    g_assert_cmpuint (report->recipients_dropped, ==, 5);
    for (guint i = 0; i < report->warnings->len; i++)
        if (strstr (report->warnings->pdata[i], "recipients") != NULL)
            warned = TRUE;
    g_assert_true (warned);
}

/* A diagnostic only in the human-readable part is found by address. */
static void
test_text_enrichment (void)
{
    g_autoptr (BounceReport) report = parse_text (
        "From: MAILER-DAEMON@mx.example.org\nSubject: failure\n"
        "MIME-Version: 1.0\n"
        "Content-Type: multipart/report; report-type=delivery-status; boundary=\"BB\"\n\n"
        "--BB\nContent-Type: text/plain\n\n"
        "a@example.net: 550 5.1.1 <a@example.net>: User unknown\n"
        "b@example.net: 552 5.2.2 Mailbox full\n\n"
        "--BB\nContent-Type: message/delivery-status\n\n"
        "Reporting-MTA: dns; mx.example.org\n\n"
        "Final-Recipient: rfc822; a@example.net\nAction: failed\nStatus: 5.0.0\n\n"
        "Final-Recipient: rfc822; b@example.net\nAction: failed\nStatus: 5.0.0\n\n"
        "--BB--\n");

    g_assert_cmpuint (report->recipients->len, ==, 2);
    g_assert_cmpstr (nth (report, 0)->status, ==, "5.1.1");
    g_assert_cmpint (nth (report, 0)->smtp_code, ==, 550);
    /* The next recipient's line is not part of the first one's text. */
    g_assert_cmpstr (nth (report, 0)->diagnostic, ==,
                     "550 5.1.1 <a@example.net>: User unknown");
    g_assert_cmpstr (nth (report, 1)->status, ==, "5.2.2");
    g_assert_cmpint (nth (report, 1)->smtp_code, ==, 552);
}

/* A notice that quotes the returned message's header fields first
 * (Oracle/Sun Messaging Server: "This report relates to a message you
 * sent with the following header fields:") names the recipient in its
 * To: line; the field after it is no error text, the recipient's own
 * "Reason:" line is. */
static void
test_text_quoted_header (void)
{
    g_autoptr (BounceReport) report = parse_text (
        "From: postmaster@mx.example.org\nSubject: Delivery Notification: Delivery has failed\n"
        "MIME-Version: 1.0\n"
        "Content-Type: multipart/report; report-type=delivery-status; boundary=\"BB\"\n\n"
        "--BB\nContent-Type: text/plain\n\n"
        "This report relates to a message you sent with the following header fields:\n\n"
        "  Message-id: <1@example.com>\n"
        "  Date: Mon, 2 Mar 2026 10:00:00 +0000\n"
        "  From: Sender <sender@example.com>\n"
        "  To: a@example.net\n"
        "  Subject: quarterly figures\n\n"
        "Your message cannot be delivered to the following recipients:\n\n"
        "  Recipient address: a@example.net\n"
        "  Reason: Illegal host/domain name found\n\n"
        "--BB\nContent-Type: message/delivery-status\n\n"
        "Reporting-MTA: dns; mx.example.org\n\n"
        "Final-Recipient: rfc822; a@example.net\nAction: failed\nStatus: 5.4.4\n\n"
        "--BB--\n");

    g_assert_cmpuint (report->recipients->len, ==, 1);
    g_assert_cmpstr (nth (report, 0)->diagnostic, ==, "Reason: Illegal host/domain name found");
}

/* Sendmail's notices (savemail.c: "The following addresses had permanent
 * fatal errors", "(reason: ...)", "Transcript of session follows";
 * usersmtp.c: "... while talking to", ">>> ", "<<< " for each line of the
 * reply; deliver.c: "<a@b>... Deferred: ..." and the exit status of a
 * local mailer as "X-Unix; 75"), with the reply found where the
 * Diagnostic-Code does not give it. */
static void
test_sendmail_transcripts (void)
{
    static const struct {
        const char *what;
        const char *notice;
        const char *recipient;
        const char *fields; /* Action, Status, Diagnostic-Code lines */
        const char *want_status;
        const char *want_source;
        int want_code;
        const char *want_diagnostic; /* NULL: not checked; "" : null */
    } cases[] = {
        { "an empty Diagnostic-Code, the reply in the transcript",
          "   ----- Transcript of session follows -----\n"
          "... while talking to mx.example.net.:\n"
          "<<< 421 4.7.0 mx.example.net Too many concurrent connections\n"
          "<bob@example.net>... Deferred: 421 4.7.0 mx.example.net Too many concurrent connections\n"
          "Warning: message still undelivered after 4 hours\n",
          "bob@example.net",
          "Action: delayed\nStatus: 4.5.0\nDiagnostic-Code: SMTP; \n",
          /* The Status field: the diagnostic is the notice's, not the
           * report's Diagnostic-Code. */
          "4.5.0", "dsn", 421,
          "Deferred: 421 4.7.0 mx.example.net Too many concurrent connections" },
        { "a bare reply code in the transcript",
          "   ----- Transcript of session follows -----\n"
          "... while talking to mx.example.net.:\n"
          "<<< 421\n"
          "<bob@example.net>... Deferred: 421\n",
          "bob@example.net",
          "Action: delayed\nStatus: 4.5.0\nDiagnostic-Code: SMTP; \n",
          "4.5.0", "dsn", 421, NULL },
        { "a local mailer's exit status, the reply on the recipient's line",
          "   ----- The following addresses had permanent fatal errors -----\n"
          "<bob@example.net>\n"
          "    (reason: Insufficient permission)\n\n"
          "   ----- Transcript of session follows -----\n"
          "550 5.0.0 <bob@example.net>... Insufficient permission\n",
          "bob@example.net",
          "Action: failed\nStatus: 5.3.0\nDiagnostic-Code: X-Unix; 77\n",
          "5.3.0", "dsn", 550, "77" },
        { "an exit status and no reply anywhere",
          "   ----- Transcript of session follows -----\n"
          "procmail: Quota exceeded while writing \"/var/mail/bob\"\n",
          "bob@example.net",
          "Action: failed\nStatus: 5.3.0\nDiagnostic-Code: X-Unix; 255\n",
          "5.3.0", "dsn", 0, "255" },
        { "the reason in parentheses",
          "   ----- The following addresses had permanent fatal errors -----\n"
          "<bob@example.net>\n"
          "    (reason: 550 5.1.1 <bob@example.net>... User unknown)\n",
          "bob@example.net",
          "Action: failed\nStatus: 5.0.0\n",
          "5.1.1", "diagnostic", 550, NULL },
        { "a recipient the notice does not name (a program): the transcript's first refusal",
          "   ----- The following addresses had permanent fatal errors -----\n"
          "\"|/usr/local/bin/filter\"\n"
          "    (expanded from: <bob@example.net>)\n\n"
          "   ----- Transcript of session follows -----\n"
          "554 5.0.0 \"|/usr/local/bin/filter\"... Service unavailable\n"
          "451 4.4.1 reply: read error from mx.example.net.\n",
          "bob@host.example.net",
          "Action: failed\nStatus: 5.5.0\n",
          "5.5.0", "dsn", 554, "" },
        { "the first refusal, not the reply to QUIT after it",
          "   ----- Transcript of session follows -----\n"
          "... while talking to mx1.example.net.:\n"
          "<<< 554 mx1.example.net ESMTP not accepting connections\n"
          ">>> QUIT\n"
          "<<< 421 4.7.0 mx1.example.net Error: too many errors\n"
          "554 5.0.0 Service unavailable\n",
          "bob@example.net",
          "Action: failed\nStatus: 5.5.0\n"
          "Diagnostic-Code: SMTP; 554 mx1.example.net ESMTP not accepting connections\n",
          "5.5.0", "dsn", 554, NULL },
        { "a multi-line reply cut to its first line in the Diagnostic-Code",
          "   ----- Transcript of session follows -----\n"
          "... while talking to mx.example.net.:\n"
          ">>> DATA\n"
          "<<< 550-5.7.1 Our system has detected that this message is\n"
          "<<< 550-5.7.1 likely unsolicited mail. To reduce the amount of spam\n"
          "<<< 550 5.7.1 sent to this server, this message has been blocked.\n"
          "554 5.0.0 Service unavailable\n",
          "bob@example.net",
          "Action: failed\nStatus: 5.0.0\n"
          "Diagnostic-Code: SMTP; 550-5.7.1 Our system has detected that this message is\n",
          "5.7.1", "diagnostic", 550,
          "550 5.7.1 Our system has detected that this message is likely unsolicited "
          "mail. To reduce the amount of spam sent to this server, this message has "
          "been blocked." },
        { "an indented transcript (Courier's \" <<< \") completes the reply too",
          "Your message to the following recipients cannot be delivered:\n\n"
          "<bob@example.net>:\n"
          "     mx.example.net [192.0.2.1]:\n"
          " >>> RCPT TO:<bob@example.net>\n"
          " <<< 550-5.1.1 The account bob@example.net does not exist\n"
          " <<< 550 5.1.1 at this organization\n",
          "bob@example.net",
          "Action: failed\nStatus: 5.0.0\n"
          "Diagnostic-Code: smtp; 550-5.1.1 The account bob@example.net does not exist\n",
          "5.1.1", "diagnostic", 550,
          "550 5.1.1 The account bob@example.net does not exist at this organization" },
        /* OpenSMTPD's bounce.c: "    a@b: <the server's reply>" and a
         * Status field, no Diagnostic-Code. */
        { "no Diagnostic-Code, the server's reply after the address",
          "    An error has occurred while attempting to deliver a message for\n"
          "    the following list of recipients:\n\n"
          "bob@example.net: 550 5.1.1 <bob@example.net>: Recipient address rejected: User unknown\n\n"
          "    Below is a copy of the original message:\n",
          "bob@example.net",
          "Action: failed\nStatus: 5.0.0\n",
          "5.1.1", "diagnostic", 550,
          "550 5.1.1 <bob@example.net>: Recipient address rejected: User unknown" },
        /* Exchange's NDR: the Diagnostic-Code holds its own expiry
         * verdict; "Diagnostic information for administrators" the
         * reply that caused it. */
        { "an expiry verdict in the Diagnostic-Code, its cause in the notice",
          "Delivery has failed to these recipients or groups:\n\n"
          "bob@example.net\n"
          "The server has tried to deliver this message, without success, and has stopped trying.\n\n"
          "Diagnostic information for administrators:\n\n"
          "Generating server: mx.example.org\n\n"
          "bob@example.net\n"
          "Remote Server at mx.example.net (192.0.2.1) returned '550 4.4.7 QUEUE.Expired; message expired'\n"
          "Remote Server at mx.example.net (192.0.2.1) returned '451 4.4.0 Primary target IP address "
          "responded with: \"421 4.2.1 Unable to connect.\" Attempted failover to alternate host, "
          "but that did not succeed.'\n\n"
          "Original message headers:\n",
          "bob@example.net",
          "Action: failed\nStatus: 4.4.7\n"
          "Diagnostic-Code: smtp;550 4.4.7 QUEUE.Expired; message expired\n",
          "4.4.0", "diagnostic", 451, "550 4.4.7 QUEUE.Expired; message expired" },
        { "an expiry whose last reply was temporary: the server's code",
          "   ----- Transcript of session follows -----\n"
          "... while talking to mx.example.net.:\n"
          ">>> RCPT To:<bob@example.net>\n"
          "<<< 450 4.2.1 The user you are trying to contact is receiving mail too quickly\n"
          "<bob@example.net>... Deferred: 450 4.2.1 The user you are trying to contact is receiving mail too quickly\n"
          "Message could not be delivered for 5 days\n",
          "bob@example.net",
          "Action: failed\nStatus: 4.4.7\n"
          "Diagnostic-Code: SMTP; 450 4.2.1 The user you are trying to contact is receiving mail too quickly\n",
          "4.2.1", "diagnostic", 450, NULL },
    };

    for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
        g_autofree char *text = g_strdup_printf (
            "From: Mail Delivery Subsystem <MAILER-DAEMON@mx.example.org>\n"
            "To: <sender@example.com>\n"
            "Subject: Returned mail: see transcript for details\n"
            "MIME-Version: 1.0\n"
            "Content-Type: multipart/report; report-type=delivery-status;\n"
            "\tboundary=\"BB\"\n\n"
            "--BB\nContent-Type: text/plain\n\n"
            "The original message was received at Wed, 16 Oct 2013 14:15:34 +0900\n"
            "from localhost [127.0.0.1]\n\n%s\n"
            "--BB\nContent-Type: message/delivery-status\n\n"
            "Reporting-MTA: dns; mx.example.org\n\n"
            "Final-Recipient: RFC822; %s\n%s\n"
            "--BB--\n",
            cases[i].notice, cases[i].recipient, cases[i].fields);
        g_autoptr (BounceReport) report = parse_text (text);
        BounceRecipient *r;

        g_test_message ("case %u: %s", i, cases[i].what);
        g_assert_cmpuint (report->recipients->len, ==, 1);
        r = nth (report, 0);
        g_assert_cmpstr (r->status, ==, cases[i].want_status);
        g_assert_cmpstr (bounce_status_source_to_string (r->status_source), ==,
                         cases[i].want_source);
        g_assert_cmpint (r->smtp_code, ==, cases[i].want_code);
        if (cases[i].want_diagnostic != NULL && cases[i].want_diagnostic[0] == '\0')
            g_assert_null (r->diagnostic);
        else if (cases[i].want_diagnostic != NULL)
            g_assert_cmpstr (r->diagnostic, ==, cases[i].want_diagnostic);
    }
}

/* Plain-text notices (no delivery-status part): the reply codes in the
 * notations the MTAs print them. */
static void
test_text_notations (void)
{
    static const struct {
        const char *what;
        const char *head; /* From, Subject and other header lines */
        const char *body;
        const char *address;
        const char *want_status;
        int want_code;
        const char *want_command;
        const char *want_in_diagnostic;
    } cases[] = {
        /* Exim's deliver.c: the address, "host H [IP]", "SMTP error from
         * remote mail server after RCPT TO:<a>:", the reply. */
        { "Exim after RCPT TO",
          "From: Mail Delivery System <Mailer-Daemon@mx.example.org>\n"
          "Subject: Mail delivery failed: returning message to sender\n"
          "X-Failed-Recipients: bob@example.net\n",
          "This message was created automatically by mail delivery software.\n\n"
          "A message that you sent could not be delivered to one or more of its\n"
          "recipients. This is a permanent error. The following address(es) failed:\n\n"
          "  bob@example.net\n"
          "    host mx.example.net [192.0.2.1]\n"
          "    SMTP error from remote mail server after RCPT TO:<bob@example.net>:\n"
          "    550 5.1.1 <bob@example.net>: Recipient address rejected: User unknown\n",
          "bob@example.net", "5.1.1", 550, "RCPT", "Recipient address rejected" },
        /* Exim prints each line of a multi-line reply. */
        { "Exim, a multi-line reply after MAIL FROM",
          "From: Mail Delivery System <Mailer-Daemon@mx.example.org>\n"
          "Subject: Mail delivery failed: returning message to sender\n"
          "X-Failed-Recipients: bob@example.net\n",
          "This message was created automatically by mail delivery software.\n\n"
          "A message that you sent could not be delivered to one or more of its\n"
          "recipients. This is a permanent error. The following address(es) failed:\n\n"
          "  bob@example.net\n"
          "    host mx.example.net [192.0.2.1]\n"
          "    SMTP error from remote mail server after MAIL FROM:<sender@example.com> SIZE=2868:\n"
          "    550-Verification failed for <sender@example.com>\n"
          "    550-Unrouteable address\n"
          "    550 Sender verify failed\n",
          "bob@example.net", NULL, 550, "MAIL",
          "550 Verification failed for <sender@example.com> Unrouteable address Sender verify failed" },
        /* qmail-remote.c: "does not like recipient.", "Remote host said: ". */
        { "qmail",
          "From: MAILER-DAEMON@mx.example.org\n"
          "Subject: failure notice\n",
          "Hi. This is the qmail-send program at mx.example.org.\n"
          "I'm afraid I wasn't able to deliver your message to the following addresses.\n"
          "This is a permanent error; I've given up. Sorry it didn't work out.\n\n"
          "<bob@example.net>:\n"
          "192.0.2.1 does not like recipient.\n"
          "Remote host said: 550 5.1.1 <bob@example.net>... User unknown\n"
          "Giving up on 192.0.2.1.\n\n"
          "--- Below this line is a copy of the message.\n",
          "bob@example.net", "5.1.1", 550, "RCPT", "User unknown" },
        /* Postfix's bounce template and smtp_proto.c: "host H[IP] said:
         * ... (in reply to RCPT TO command)". */
        { "Postfix without a delivery-status part",
          "From: MAILER-DAEMON@mx.example.org (Mail Delivery System)\n"
          "Subject: Undelivered Mail Returned to Sender\n",
          "This is the mail system at host mx.example.org.\n\n"
          "I'm sorry to have to inform you that your message could not\n"
          "be delivered to one or more recipients. It's attached below.\n\n"
          "                   The mail system\n\n"
          "<bob@example.net>: host mx.example.net[192.0.2.1] said: 552 5.2.2\n"
          "    <bob@example.net>: Mailbox full (in reply to RCPT TO command)\n",
          "bob@example.net", "5.2.2", 552, "RCPT", "Mailbox full" },
        /* Sendmail without a delivery-status part: the whole multi-line
         * reply from the transcript's "<<< " lines. */
        { "Sendmail, a multi-line reply in the transcript",
          "From: Mail Delivery Subsystem <MAILER-DAEMON@mx.example.org>\n"
          "Subject: Returned mail: see transcript for details\n",
          "The original message was received at Wed, 16 Oct 2013 14:15:34 +0900\n"
          "from localhost [127.0.0.1]\n\n"
          "   ----- The following addresses had permanent fatal errors -----\n"
          "<bob@example.net>\n"
          "    (reason: 550-5.1.1 The email account that you tried to reach does not exist.)\n\n"
          "   ----- Transcript of session follows -----\n"
          "... while talking to mx.example.net.:\n"
          ">>> RCPT To:<bob@example.net>\n"
          "<<< 550-5.1.1 The email account that you tried to reach does not exist.\n"
          "<<< 550 5.1.1 Please check the address for typing errors\n"
          "550 5.1.1 <bob@example.net>... User unknown\n\n"
          "   ----- Original message follows -----\n",
          "bob@example.net", "5.1.1", 550, "RCPT", "Please check the address for typing errors" },
    };

    for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
        g_autofree char *text = g_strdup_printf (
            "%sTo: sender@example.com\nDate: Wed, 16 Oct 2013 14:15:35 +0900\n\n%s",
            cases[i].head, cases[i].body);
        g_autoptr (BounceReport) report = parse_text (text);
        BounceRecipient *r;

        g_test_message ("case %u: %s", i, cases[i].what);
        g_assert_cmpint (report->kind, ==, BOUNCE_KIND_BOUNCE);
        g_assert_cmpuint (report->recipients->len, ==, 1);
        r = nth (report, 0);
        g_assert_cmpstr (r->address, ==, cases[i].address);
        g_assert_cmpstr (r->status, ==, cases[i].want_status);
        g_assert_cmpint (r->smtp_code, ==, cases[i].want_code);
        g_assert_cmpstr (r->smtp_command, ==, cases[i].want_command);
        g_assert_nonnull (strstr (r->diagnostic, cases[i].want_in_diagnostic));
    }
}

/* Sendmail's transcript with two sessions: each recipient's status line
 * ("554 <a>... Service unavailable") comes after the session that
 * failed it, so the server's reply there is that recipient's. */
static void
test_transcript_sessions (void)
{
    g_autoptr (BounceReport) report = parse_text (
        "From: Mail Delivery Subsystem <MAILER-DAEMON@mx.example.org>\n"
        "To: sender@example.com\n"
        "Subject: Returned mail: see transcript for details\n\n"
        "   ----- Transcript of session follows -----\n"
        "While talking to mx.example.net:\n"
        ">>> DATA\n"
        "<<< 554 5.7.1 Message rejected as spam by content filter\n"
        "554 <alice@example.net>... Service unavailable\n"
        "While talking to mx.example.org:\n"
        ">>> RCPT To:<bob@example.org>\n"
        "<<< 550 5.1.1 <bob@example.org>... No such user here\n"
        "550 <bob@example.org>... User unknown\n\n"
        "   ----- Unsent message follows -----\n"
        "From: sender@example.com\nTo: alice@example.net, bob@example.org\n"
        "Subject: hello\n\nhello\n");
    BounceRecipient *a, *b;

    g_assert_cmpuint (report->recipients->len, ==, 2);
    a = nth (report, 0);
    b = nth (report, 1);
    g_assert_cmpstr (a->address, ==, "alice@example.net");
    g_assert_cmpint (a->smtp_code, ==, 554);
    g_assert_cmpstr (a->status, ==, "5.7.1");
    g_assert_nonnull (strstr (a->diagnostic, "rejected as spam"));
    g_assert_null (strstr (a->diagnostic, "No such user"));
    g_assert_cmpstr (b->address, ==, "bob@example.org");
    g_assert_cmpint (b->smtp_code, ==, 550);
    g_assert_cmpstr (b->status, ==, "5.1.1");
    g_assert_null (strstr (b->diagnostic, "spam"));
}

/* The command a DSN's reply answered, from the Sendmail transcript of
 * the notice (usersmtp.c: ">>> " before each command sent, "<<< " before
 * each reply line read): replies come in the order of the commands
 * (RFC 2920), so with PIPELINING the reply after ">>> DATA" can answer
 * the RCPT sent before it; ">>> ." ends the message text (DATA). */
static void
test_transcript_command (void)
{
    static const struct {
        const char *transcript;
        const char *diagnostic;
        const char *want;
    } cases[] = {
        { ">>> MAIL From:<sender@example.com> SIZE=1200\n"
          ">>> RCPT To:<bob@example.net>\n"
          ">>> DATA\n"
          "<<< 250 2.1.0 <sender@example.com>... Sender ok\n"
          "<<< 550 5.1.1 <bob@example.net>... User unknown\n"
          "<<< 503 5.0.0 Need RCPT (recipient)\n",
          "550 5.1.1 <bob@example.net>... User unknown", "RCPT" },
        { ">>> RCPT To:<bob@example.net>\n"
          "<<< 250 2.1.5 <bob@example.net>... Recipient ok\n"
          ">>> DATA\n"
          "<<< 554 Unknown user bob@example.net\n",
          "554 Unknown user bob@example.net", "DATA" },
        /* A multi-line reply is one reply; its first line is in the
         * Diagnostic-Code, the hyphen of the transcript apart. */
        { ">>> DATA\n"
          "<<< 354 Enter mail, end with \".\" on a line by itself\n"
          ">>> .\n"
          "<<< 550-5.7.1 Message refused by the\n"
          "<<< 550 5.7.1 recipient's filter\n",
          "550 5.7.1 Message refused by the recipient's filter", "DATA" },
        /* A reply the transcript does not hold says nothing. */
        { ">>> RCPT To:<bob@example.net>\n"
          "<<< 250 2.1.5 ok\n",
          "550 5.1.1 <bob@example.net>... User unknown", NULL },
    };

    for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
        g_autofree char *text = g_strdup_printf (
            SENDMAIL_HEAD
            "   ----- The following addresses had permanent fatal errors -----\n"
            "<bob@example.net>\n\n"
            "   ----- Transcript of session follows -----\n"
            "... while talking to mx.example.net.:\n%s\n"
            "--BB\nContent-Type: message/delivery-status\n\n"
            "Reporting-MTA: dns; mx.example.org\n\n"
            "Final-Recipient: RFC822; bob@example.net\n"
            "Action: failed\nStatus: 5.0.0\n"
            "Remote-MTA: DNS; mx.example.net\n"
            "Diagnostic-Code: SMTP; %s\n\n"
            "--BB--\n", cases[i].transcript, cases[i].diagnostic);
        g_autoptr (BounceReport) report = parse_text (text);

        g_test_message ("case %u", i);
        g_assert_cmpstr (nth (report, 0)->smtp_command, ==, cases[i].want);
    }
}

/* An empty "Diagnostic-Code: smtp;" (and a vague Status): the reply is
 * the transcript's line that names the recipient, from its code on
 * (Sendmail writes "<<< " before each line the server sent, usersmtp.c),
 * with the server's own status and the command it answered. */
static void
test_empty_diagnostic_transcript (void)
{
    g_autoptr (BounceReport) report = parse_text (
        SENDMAIL_HEAD
        "   ----- The following addresses had permanent fatal errors -----\n"
        "<bob@example.net>\n<carol@example.net>\n\n"
        "   ----- Transcript of session follows -----\n"
        "... while talking to mx.example.net.:\n"
        ">>> RCPT To:<bob@example.net>\n"
        "<<< 550 5.1.1 <bob@example.net>... User unknown\n"
        ">>> RCPT To:<carol@example.net>\n"
        "<<< 452 4.2.2 <carol@example.net>... Mailbox full\n\n"
        "--BB\nContent-Type: message/delivery-status\n\n"
        "Reporting-MTA: dns; mx.example.org\n\n"
        "Final-Recipient: RFC822; bob@example.net\n"
        "Action: failed\nStatus: 5.0.0\nDiagnostic-Code: smtp;\n\n"
        "Final-Recipient: RFC822; carol@example.net\n"
        "Action: delayed\nStatus: 4.0.0\nDiagnostic-Code: smtp;\n\n"
        "--BB--\n");
    BounceRecipient *bob = nth (report, 0), *carol = nth (report, 1);

    g_assert_cmpstr (bob->diagnostic, ==, "550 5.1.1 <bob@example.net>... User unknown");
    g_assert_cmpint (bob->smtp_code, ==, 550);
    g_assert_cmpstr (bob->status, ==, "5.1.1");
    g_assert_cmpstr (bob->smtp_command, ==, "RCPT");
    g_assert_cmpstr (carol->diagnostic, ==, "452 4.2.2 <carol@example.net>... Mailbox full");
    g_assert_cmpint (carol->smtp_code, ==, 452);
    g_assert_cmpstr (carol->status, ==, "4.2.2");
    g_assert_cmpstr (carol->smtp_command, ==, "RCPT");
}

/* A Sendmail notice without a delivery-status part: "(reason: ...)"
 * holds the first line of a multi-line reply (usersmtp.c, reply()), the
 * transcript every line; the recipient's reply is read whole and the
 * transcript gives the command it answered. */
static void
test_sendmail_notice_transcript (void)
{
    g_autoptr (BounceReport) report = parse_text (
        "From: Mail Delivery Subsystem <MAILER-DAEMON@mx.example.org>\n"
        "To: sender@example.com\n"
        "Subject: Returned mail: see transcript for details\n\n"
        "The original message was received at Wed, 16 Oct 2013 14:15:35 +0900\n\n"
        "   ----- The following addresses had permanent fatal errors -----\n"
        "<bob@example.net>\n"
        "    (reason: 550-5.7.1 Message rejected because it is listed)\n\n"
        "   ----- Transcript of session follows -----\n"
        "... while talking to mx.example.net.:\n"
        ">>> MAIL From:<sender@example.com> SIZE=120\n"
        "<<< 250 2.1.0 Ok\n"
        ">>> RCPT To:<bob@example.net>\n"
        "<<< 250 2.1.5 Ok\n"
        ">>> DATA\n"
        "<<< 354 Go ahead\n"
        ">>> .\n"
        "<<< 550-5.7.1 Message rejected because it is listed\n"
        "<<< 550 5.7.1 in our block list of spam sources\n"
        "554 5.0.0 Service unavailable\n\n"
        "   ----- Original message follows -----\n"
        "From: sender@example.com\nTo: bob@example.net\nSubject: x\n\nx\n");
    BounceRecipient *r = nth (report, 0);

    g_assert_cmpint (report->kind, ==, BOUNCE_KIND_BOUNCE);
    g_assert_cmpstr (r->address, ==, "bob@example.net");
    g_assert_cmpint (r->smtp_code, ==, 550);
    g_assert_cmpstr (r->status, ==, "5.7.1");
    g_assert_cmpstr (r->smtp_command, ==, "DATA");
    g_assert_nonnull (strstr (r->diagnostic, "in our block list of spam sources"));
}

/* Sendmail's DSN for a local program that failed: "Diagnostic-Code:
 * X-Unix; 255" is the program's exit status (deliver.c), not a reply
 * code, and Sendmail's own "554 5.3.0 unknown mailer error 255" in the
 * transcript names no recipient: no reply code at all. */
static void
test_mailer_exit_status (void)
{
    g_autoptr (BounceReport) report = parse_text (
        SENDMAIL_HEAD
        "   ----- The following addresses had permanent fatal errors -----\n"
        "\"|/usr/local/bin/filter\"\n"
        "    (reason: 255)\n"
        "    (expanded from: <bob@example.org>)\n\n"
        "   ----- Transcript of session follows -----\n"
        "554 5.3.0 unknown mailer error 255\n\n"
        "--BB\nContent-Type: message/delivery-status\n\n"
        "Reporting-MTA: dns; mx.example.org\n\n"
        "Final-Recipient: RFC822; bob@example.org\n"
        "X-Actual-Recipient: X-Unix; |/usr/local/bin/filter\n"
        "Action: failed\nStatus: 5.3.0\nDiagnostic-Code: X-Unix; 255\n\n"
        "--BB--\n");
    BounceRecipient *r = nth (report, 0);

    g_assert_cmpstr (r->diagnostic_type, ==, "x-unix");
    g_assert_cmpint (r->smtp_code, ==, 0);
    g_assert_cmpstr (r->status, ==, "5.3.0");
}

/* A quoted-printable "=00" (a NUL once decoded) inside a text part
 * does not end the text: what follows it is still read (a NUL reads as
 * a space). */
static void
test_nul_in_text_part (void)
{
    static const char *const charsets[] = { "us-ascii", "utf-8" };

    for (guint i = 0; i < G_N_ELEMENTS (charsets); i++) {
        g_autofree char *text = g_strdup_printf (
            "From: MAILER-DAEMON@mx.example.org\n"
            "To: sender@example.com\n"
            "Subject: failure notice\n"
            "MIME-Version: 1.0\n"
            "Content-Type: text/plain; charset=%s\n"
            "Content-Transfer-Encoding: quoted-printable\n\n"
            "Hi. This is the qmail-send program at mx.example.org.\n"
            "I'm afraid I wasn't able to deliver your message to the following addresses.\n"
            "This is a permanent error; I've given up. Sorry it didn't work out.\n"
            "See <https://example.org/help?id=3D00=00> for help.\n\n"
            "<bob@example.net>:\n"
            "192.0.2.1 does not like recipient.\n"
            "Remote host said: 550 5.1.1 <bob@example.net>: Recipient address rejected: User unknown\n",
            charsets[i]);
        g_autoptr (BounceReport) report = parse_text (text);
        BounceRecipient *r;

        g_test_message ("charset %s", charsets[i]);
        g_assert_cmpint (report->kind, ==, BOUNCE_KIND_BOUNCE);
        r = nth (report, 0);
        g_assert_cmpstr (r->address, ==, "bob@example.net");
        g_assert_cmpint (r->smtp_code, ==, 550);
        g_assert_cmpstr (r->status, ==, "5.1.1");
    }
}

/* Adjacent encoded words, the first with base64 padding, and a
 * character split across two words: both decode whole. */
static void
test_encoded_words (void)
{
    static const struct {
        const char *subject;
        const char *want;
    } cases[] = {
        { "=?utf-8?B?44OQ44Km44Oz44K544Oh44O844Or44Gu44OG44K544OIKOaXpQ==?=\n"
          " =?utf-8?B?5pys6KqeKQ==?=",
          "バウンスメールのテスト(日本語)" },
        { "=?UTF-8?Q?Za=C5=BC=C3=B3=C5?= =?UTF-8?Q?=82=C4=87?= x", "Zażółć x" },
        { "plain  subject", "plain subject" },
    };

    for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
        g_autofree char *text = g_strdup_printf ("Subject: %s\nFrom: a@b\n\nbody\n",
                                                 cases[i].subject);
        g_autoptr (BounceReport) report = parse_text (text);
        g_test_message ("case %u", i);
        g_assert_cmpstr (report->subject, ==, cases[i].want);
    }
}

int
main (int argc, char **argv)
{
    g_test_init (&argc, &argv, NULL);
    bounce_init ();
    g_test_add_func ("/dsn/basic", test_basic);
    g_test_add_func ("/dsn/groups-without-blank-lines", test_groups_without_blank_lines);
    g_test_add_func ("/dsn/global-utf8", test_global_utf8);
    g_test_add_func ("/dsn/delivered", test_delivered);
    g_test_add_func ("/dsn/line-ends", test_line_ends);
    g_test_add_func ("/dsn/not-messages", test_not_messages);
    g_test_add_func ("/dsn/recipient-limit", test_recipient_limit);
    g_test_add_func ("/dsn/text-enrichment", test_text_enrichment);
    g_test_add_func ("/dsn/text-quoted-header", test_text_quoted_header);
    g_test_add_func ("/dsn/encoded-words", test_encoded_words);
    g_test_add_func ("/dsn/sendmail-transcripts", test_sendmail_transcripts);
    g_test_add_func ("/dsn/text-notations", test_text_notations);
    g_test_add_func ("/dsn/transcript-sessions", test_transcript_sessions);
    g_test_add_func ("/dsn/transcript-command", test_transcript_command);
    g_test_add_func ("/dsn/empty-diagnostic-transcript", test_empty_diagnostic_transcript);
    g_test_add_func ("/dsn/sendmail-notice-transcript", test_sendmail_notice_transcript);
    g_test_add_func ("/dsn/mailer-exit-status", test_mailer_exit_status);
    g_test_add_func ("/dsn/nul-in-text-part", test_nul_in_text_part);
    return g_test_run ();
}
