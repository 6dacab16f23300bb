/*
 * test-decode.c - the non-standard decoders (bounce-decode*.c) on small
 * synthetic messages, one or more per format, with the negatives that
 * must stay "not-bounce"; then golden fixtures copied from the Sisimai
 * corpus (tests/fixtures/<family>/, BSD 2-Clause, see
 * tests/fixtures/README.md).  Parsing runs without rules: only the
 * reason the decoders set themselves (feedback) is checked here; an
 * auto-reply has none until the rules classify it (test-rules.c,
 * /rules/autoreply: one source for "account closed").
 */
#include <string.h>

#include <glib/gstdio.h>

#include "bounce.h"

typedef struct {
    const char *name;
    const char *message;
    const char *envelope;  /* bounce_parser_set_envelope_recipient, or NULL */
    const char *kind;
    const char *mta;       /* NULL: not checked */
    guint count;
    /* the first recipient; NULL: not checked, "" must be unset */
    const char *address;
    const char *status;
    int code;              /* -1: not checked */
    const char *action;
    const char *reason;
    const char *feedback_type;
    const char *verp;      /* report->verp_address; NULL: not checked */
} Case;

#define QMAIL \
    "From: MAILER-DAEMON@mx.example.org\n" \
    "To: sender@example.org\n" \
    "Subject: failure notice\n\n" \
    "Hi. This is the qmail-send program at mx.example.org.\n" \
    "I'm afraid I wasn't able to deliver your message to the following addresses.\n" \
    "This is a permanent error; I've given up. Sorry it didn't work out.\n\n" \
    "<alice@example.net>:\n" \
    "192.0.2.1 does not like recipient.\n" \
    "Remote host said: 550 5.1.1 <alice@example.net>... User Unknown\n" \
    "Giving up on 192.0.2.1.\n\n" \
    "<bob@example.net>:\n" \
    "Remote host said: 552 5.2.2 Mailbox full\n\n" \
    "--- Below this line is a copy of the message.\n\n" \
    "Return-Path: <sender@example.org>\n" \
    "From: sender@example.org\n" \
    "To: carol@example.com\n" \
    "Subject: hello\n\n" \
    "<carol@example.com>:\n"

#define EXIM \
    "From: Mail Delivery System <Mailer-Daemon@mx.example.org>\n" \
    "To: sender@example.org\n" \
    "Subject: Mail delivery failed: returning message to sender\n" \
    "X-Failed-Recipients: alice@example.net, zed@example.net\n" \
    "Auto-Submitted: auto-replied\n\n" \
    "This message was created automatically by mail delivery software.\n\n" \
    "A message that you sent could not be delivered to one or more of its\n" \
    "recipients. This is a permanent error. The following address(es) failed:\n\n" \
    "  alice@example.net\n" \
    "    SMTP error from remote mail server after RCPT TO:<alice@example.net>:\n" \
    "    host mx.example.net [192.0.2.2]: 550-5.1.1 The email account that you tried to reach does\n" \
    "    550 5.1.1 not exist.\n\n" \
    "------ This is a copy of the message, including all the headers. ------\n\n" \
    "Return-path: <sender@example.org>\n" \
    "From: sender@example.org\n\n" \
    "body\n"

#define EXIM_DELAYED \
    "From: Mail Delivery System <Mailer-Daemon@mx.example.org>\n" \
    "To: sender@example.org\n" \
    "Subject: Warning: message 1Abc-000 delayed 24 hours\n\n" \
    "This message was created automatically by mail delivery software.\n" \
    "A message that you sent has not yet been delivered to one or more of its\n" \
    "recipients after more than 24 hours on the queue on mx.example.org.\n\n" \
    "  alice@example.net\n" \
    "    host mx.example.net [192.0.2.2]: 451 4.7.1 Greylisted, try again later\n\n" \
    "No action is required on your part. Delivery attempts will continue for\n" \
    "some time, and this warning may be repeated at intervals if the message\n" \
    "remains undelivered. Eventually the mail delivery software will give up,\n" \
    "and when that happens, the message will be returned to you.\n"

#define EXIM_SENT_BY \
    "From: Mail Delivery System <Mailer-Daemon@mx.example.org>\n" \
    "To: list-owner@example.org\n" \
    "Subject: Mail delivery failed\n\n" \
    "This message was created automatically by mail delivery software.\n\n" \
    "A message sent by\n\n" \
    "  <envelope-sender@example.org>\n\n" \
    "could not be delivered to one or more of its recipients. The following\n" \
    "address(es) failed:\n\n" \
    "  alice@example.net<mailto:alice@example.net>\n" \
    "    all hosts have been failing for a long time\n"

#define SENDMAIL \
    "From: Mail Delivery Subsystem <MAILER-DAEMON@mx.example.org>\n" \
    "To: <sender@example.org>\n" \
    "Subject: Returned mail: see transcript for details\n\n" \
    "The original message was received at Thu, 29 Apr 2010 23:34:45 +0900\n" \
    "from localhost [127.0.0.1]\n\n" \
    "   ----- The following addresses had permanent fatal errors -----\n" \
    "<alice@example.net>\n" \
    "    (reason: 550 5.1.1 <alice@example.net>... User Unknown)\n\n" \
    "   ----- Transcript of session follows -----\n" \
    "... while talking to mx.example.net.:\n" \
    ">>> DATA\n" \
    "<<< 550 5.1.1 <alice@example.net>... User Unknown\n" \
    "550 5.1.1 <alice@example.net>... User unknown\n\n" \
    "   ----- Original message follows -----\n\n" \
    "From: sender@example.org\nTo: alice@example.net\n\nhi\n"

#define EXCHANGE2003 \
    "From: postmaster@example.co.jp\n" \
    "To: sender@example.org\n" \
    "Subject: Undeliverable: meeting\n" \
    "X-MS-Embedded-Report: \n\n" \
    "Your message\n\n" \
    "  To:      alice@example.co.jp\n" \
    "  Subject: meeting\n\n" \
    "did not reach the following recipient(s):\n\n" \
    "alice@example.co.jp on Thu, 29 Apr 2007 16:51:51 -0500\n" \
    "    The recipient name is not recognized\n" \
    "    MSEXCH:IMS:EXAMPLE 0 (000C05A6) Unknown Recipient\n"

#define EXCHANGE2000 \
    "From: System Administrator <postmaster@example.com>\n" \
    "To: sender@example.org\n" \
    "Subject: Undeliverable: hello\n\n" \
    "Your message did not reach some or all of the intended recipients.\n\n" \
    "      Subject:  hello\n\n" \
    "The following recipient(s) could not be reached:\n\n" \
    "      alice@example.com on 4/29/2010 11:00 AM\n" \
    "            The e-mail account does not exist at the organization.\n" \
    "            <mx.example.com #5.1.1 smtp;550 5.1.1 User unknown>\n"

#define GMAIL \
    "From: Mail Delivery Subsystem <mailer-daemon@googlemail.com>\n" \
    "To: sender@gmail.com\n" \
    "Subject: Delivery Status Notification (Failure)\n\n" \
    "Delivery to the following recipient failed permanently:\n\n" \
    "     alice@example.jp\n\n" \
    "Technical details of permanent failure:\n" \
    "Google tried to deliver your message, but it was rejected by the server.\n\n" \
    "The error that the other server returned was:\n" \
    "550 5.2.2 <alice@example.jp>... Mailbox Full\n\n" \
    "----- Original message -----\n\n" \
    "From: sender@gmail.com\nTo: alice@example.jp\n\nhi\n"

#define POSTFIX_PLAIN \
    "From: MAILER-DAEMON@mail.example.org (Mail Delivery System)\n" \
    "To: sender@example.org\n" \
    "Subject: Undelivered Mail Returned to Sender\n\n" \
    "This is the mail system at host mail.example.org.\n\n" \
    "I'm sorry to have to inform you that your message could not\n" \
    "be delivered to one or more recipients.\n\n" \
    "                   The mail system\n\n" \
    "<alice@example.net>: host mx.example.net[192.0.2.3] said: 550 5.7.1\n" \
    "    Message rejected as spam (in reply to end of DATA command)\n"

#define GENERIC_GERMAN \
    "From: Mail Delivery System <MAILER-DAEMON@mx.example.de>\n" \
    "To: sender@example.org\n" \
    "Subject: Unzustellbar: Ihre Nachricht\n\n" \
    "Ihre Nachricht konnte nicht zugestellt werden.\n\n" \
    "alice@example.de\n" \
    "    Postfach voll (552 5.2.2 mailbox full)\n"

#define NO_ADDRESS_VERP \
    "From: MAILER-DAEMON@mx.example.net\n" \
    "To: bounces+alice=example.com@lists.example.org\n" \
    "Delivered-To: bounces+alice=example.com@lists.example.org\n" \
    "Subject: Undelivered Mail Returned to Sender\n\n" \
    "This is the mail system at host mx.example.net.\n\n" \
    "The mail system\n\n" \
    "Delivery failed: 550 5.1.1 mailbox does not exist\n"

#define NO_ADDRESS_ORIGINAL_TO \
    "From: MAILER-DAEMON@mx.example.net\n" \
    "To: newsletter@example.org\n" \
    "X-Original-To: news-bounce=bob=example.net@example.org\n" \
    "Subject: Returned mail: Service unavailable\n\n" \
    "Sorry. Delivery failed: 554 5.7.1 rejected by policy\n"

#define HTML_ONLY \
    "From: postmaster@example.com\n" \
    "To: sender@example.org\n" \
    "Subject: Undeliverable: hello\n" \
    "MIME-Version: 1.0\n" \
    "Content-Type: text/html; charset=utf-8\n\n" \
    "<html><head><style>p { margin: 0 }</style></head><body>\n" \
    "<p>Delivery has failed to these recipients or groups:</p>" \
    "<p><a href=\"mailto:alice@example.com\">alice@example.com</a></p>" \
    "<p>Remote Server returned &#39;550 5.1.1 User unknown&#39;</p></body></html>\n"

/* The inner multipart's boundary parameter is not folded into its
 * field: GMime sees no parts, the decoders read the raw text. */
#define BROKEN_MULTIPART \
    "From: post_master@sms.example.com\n" \
    "To: sender@example.org\n" \
    "Subject: Re: hello\n" \
    "MIME-Version: 1.0\n" \
    "Content-Type: multipart/mixed; boundary=\"outer\"\n\n" \
    "--outer\n" \
    "Content-Type: multipart/alternative;\n" \
    "boundary=\"inner\"\n\n" \
    "--inner\n" \
    "Content-Type: text/plain\n\n" \
    "Error: Invalid user address\n\n" \
    "Error message below:\n" \
    "550 - Requested action not taken: no such user here\n\n" \
    "Message details:\n" \
    "  RCPT TO: 5551234@sms.example.com\n\n" \
    "--inner--\n\n" \
    "--outer--\n"

#define SES_COMPLAINT \
    "From: no-reply@sns.amazonaws.com\n" \
    "To: ops@example.org\n" \
    "Subject: AWS Notification Message\n\n" \
    "{\n  \"Type\" : \"Notification\",\n" \
    "  \"Message\" : \"{\\\"notificationType\\\":\\\"Complaint\\\"," \
    "\\\"complaint\\\":{\\\"complainedRecipients\\\":[{\\\"emailAddress\\\":" \
    "\\\"grace@example.net\\\"}],\\\"complaintFeedbackType\\\":\\\"abuse\\\"}}\"\n}\n"

#define ARF \
    "From: feedback@arf.example.com\n" \
    "To: fbl@example.org\n" \
    "Subject: FW: hello\n" \
    "MIME-Version: 1.0\n" \
    "Content-Type: multipart/report; report-type=feedback-report; boundary=\"b1\"\n\n" \
    "--b1\nContent-Type: text/plain\n\nThis is an email abuse report.\n\n" \
    "--b1\nContent-Type: message/feedback-report\n\n" \
    "Feedback-Type: abuse\nUser-Agent: Example-FBL/1.0\nVersion: 1\n" \
    "Original-Mail-From: <sender@example.org>\n" \
    "Original-Rcpt-To: <complainer@example.com>\n\n" \
    "--b1\nContent-Type: message/rfc822\n\n" \
    "From: sender@example.org\nTo: complainer@example.com\nSubject: hello\n\nhi\n" \
    "--b1--\n"

#define ARF_NO_RCPT \
    "From: fbl@isp.example.com\n" \
    "To: fbl@example.org\n" \
    "Subject: complaint\n" \
    "MIME-Version: 1.0\n" \
    "Content-Type: multipart/report; report-type=feedback-report; boundary=\"b1\"\n\n" \
    "--b1\nContent-Type: text/plain\n\nA complaint.\n\n" \
    "--b1\nContent-Type: message/feedback-report\n\n" \
    "Feedback-Type: opt-out\nUser-Agent: x/1\nVersion: 1\n\n" \
    "--b1\nContent-Type: text/rfc822-headers\n\n" \
    "From: sender@example.org\nTo: dave@example.com\nSubject: news\n\n" \
    "--b1--\n"

#define AUTOREPLY \
    "From: Alice <alice@example.com>\n" \
    "To: sender@example.org\n" \
    "Subject: Re: hello\n" \
    "Auto-Submitted: auto-replied\n\n" \
    "I am out of the office until Monday.\n"

#define VACATION_SUBJECT \
    "From: Bob <bob@example.de>\n" \
    "To: sender@example.org\n" \
    "Subject: Abwesenheitsnotiz: Ihre Anfrage\n\n" \
    "Ich bin bis zum 3. Mai nicht im Büro.\n"

#define VACATION_PLANS \
    "From: Dan <dan@example.com>\n" \
    "To: team@example.org\n" \
    "Subject: Vacation plans for August\n\n" \
    "Who is away when?\n"

#define VACATION_REPLY \
    "From: Dan <dan@example.com>\n" \
    "To: sender@example.org\n" \
    "Subject: Vacation\n" \
    "In-Reply-To: <1@example.org>\n\n" \
    "I am away until the 5th.\n"

#define AUTOREPLY_CLOSED \
    "From: carol@example.com\n" \
    "To: sender@example.org\n" \
    "Subject: Automatic reply: hello\n" \
    "X-Autoreply: yes\n\n" \
    "This account has been closed. Carol is no longer with the company.\n"

#define ICLOUD_VACATION \
    "From: erin@icloud.example\n" \
    "To: sender@example.org\n" \
    "Subject: hello\n" \
    "X-Apple-Action: VACATION\n\n" \
    "Away.\n"

#define SES_JSON \
    "From: no-reply@sns.amazonaws.com\n" \
    "To: ops@example.org\n" \
    "Subject: AWS Notification Message\n\n" \
    "{\"notificationType\":\"Bounce\",\"bounce\":{\"bounceType\":\"Permanent\"," \
    "\"bouncedRecipients\":[{\"emailAddress\":\"alice@example.net\",\"action\":\"failed\"," \
    "\"status\":\"5.1.1\",\"diagnosticCode\":\"smtp; 550 5.1.1 user unknown\"}]}," \
    "\"mail\":{\"source\":\"ops@example.org\"}}\n"

#define ORDINARY \
    "From: Alice <alice@example.com>\n" \
    "To: bob@example.net\n" \
    "Subject: lunch\n\n" \
    "See you at noon.\n\n" \
    "carol@example.com\n"

#define FORWARDED \
    "From: Alice <alice@example.com>\n" \
    "To: helpdesk@example.net\n" \
    "Subject: Fwd: Undelivered Mail Returned to Sender\n\n" \
    "Why did this bounce?\n\n" \
    "---------- Forwarded message ---------\n" \
    "From: Mail Delivery System <MAILER-DAEMON@mx.example.org>\n" \
    "Subject: Undelivered Mail Returned to Sender\n\n" \
    "<bob@example.net>: host mx.example.net said: 550 5.1.1 User unknown\n"

/* A bounce pasted, unquoted, into a message with its own subject. */
#define PASTED \
    "From: Alice <alice@example.com>\n" \
    "To: helpdesk@example.net\n" \
    "Subject: what does this mean?\n\n" \
    "I got this back:\n\n" \
    "Hi. This is the qmail-send program at mx.example.org.\n" \
    "I'm afraid I wasn't able to deliver your message to the following addresses.\n\n" \
    "<bob@example.net>:\n" \
    "Remote host said: 550 5.1.1 User unknown\n"

#define ATTACHED \
    "From: Alice <alice@example.com>\n" \
    "To: helpdesk@example.net\n" \
    "Subject: this bounced\n" \
    "MIME-Version: 1.0\n" \
    "Content-Type: multipart/mixed; boundary=\"xx\"\n\n" \
    "--xx\nContent-Type: text/plain\n\nSee the attached bounce.\n\n" \
    "--xx\nContent-Type: message/rfc822\n\n" \
    "From: MAILER-DAEMON@mx.example.org\n" \
    "Subject: Undelivered Mail Returned to Sender\n" \
    "X-Failed-Recipients: bob@example.net\n\n" \
    "<bob@example.net>: 550 5.1.1 User unknown\n" \
    "--xx--\n"

#define POSTMASTER_NEWS \
    "From: postmaster@example.net\n" \
    "To: users@example.net\n" \
    "Subject: Maintenance tonight\n\n" \
    "The mail server will be down from 22:00.\n" \
    "Questions: help@example.net\n"

static const Case cases[] = {
    { "qmail", QMAIL, NULL, "bounce", "qmail", 2,
      "alice@example.net", "5.1.1", 550, "failed", NULL, NULL, NULL },
    { "exim", EXIM, NULL, "bounce", "exim", 2,
      "alice@example.net", "5.1.1", 550, "failed", NULL, NULL, NULL },
    { "exim-delayed", EXIM_DELAYED, NULL, "bounce", "exim", 1,
      "alice@example.net", "4.7.1", 451, "delayed", NULL, NULL, NULL },
    { "exim-sent-by", EXIM_SENT_BY, NULL, "bounce", "exim", 1,
      "alice@example.net", "", 0, "failed", NULL, NULL, NULL },
    { "sendmail", SENDMAIL, NULL, "bounce", "sendmail", 1,
      "alice@example.net", "5.1.1", 550, "failed", NULL, NULL, NULL },
    { "exchange2003", EXCHANGE2003, NULL, "bounce", "exchange2003", 1,
      "alice@example.co.jp", "", 0, "failed", NULL, NULL, NULL },
    { "exchange2000", EXCHANGE2000, NULL, "bounce", "exchange2003", 1,
      "alice@example.com", "5.1.1", 550, "failed", NULL, NULL, NULL },
    { "gmail", GMAIL, NULL, "bounce", "gmail", 1,
      "alice@example.jp", "5.2.2", 550, "failed", NULL, NULL, NULL },
    { "postfix-plain", POSTFIX_PLAIN, NULL, "bounce", "postfix", 1,
      "alice@example.net", "5.7.1", 550, "failed", NULL, NULL, NULL },
    { "generic-german", GENERIC_GERMAN, NULL, "bounce", "generic", 1,
      "alice@example.de", "5.2.2", 552, "failed", NULL, NULL, NULL },
    { "html-only", HTML_ONLY, NULL, "bounce", "exchange2007", 1,
      "alice@example.com", "5.1.1", 550, "failed", NULL, NULL, NULL },
    { "broken-multipart", BROKEN_MULTIPART, NULL, "bounce", "generic", 1,
      "5551234@sms.example.com", "", 550, "failed", NULL, NULL, NULL },
    { "verp-delivered-to", NO_ADDRESS_VERP, NULL, "bounce", NULL, 1,
      "alice@example.com", "5.1.1", 550, "failed", NULL, NULL, "alice@example.com" },
    { "verp-x-original-to", NO_ADDRESS_ORIGINAL_TO, NULL, "bounce", NULL, 1,
      "bob@example.net", "5.7.1", 554, "failed", NULL, NULL, "bob@example.net" },
    { "verp-envelope", NO_ADDRESS_VERP, "bounces+frank=example.org@lists.example.org",
      "bounce", NULL, 1, "frank@example.org", NULL, -1, NULL, NULL, NULL,
      "frank@example.org" },
    { "arf", ARF, NULL, "feedback", "arf", 1,
      "complainer@example.com", "", 0, NULL, "feedback", "abuse", NULL },
    { "arf-original-to", ARF_NO_RCPT, NULL, "feedback", "arf", 1,
      "dave@example.com", NULL, -1, NULL, "feedback", "opt-out", NULL },
    { "autoreply", AUTOREPLY, NULL, "autoreply", "rfc3834", 1,
      "alice@example.com", "", 0, NULL, "", "", NULL },
    { "vacation-subject", VACATION_SUBJECT, NULL, "autoreply", "rfc3834", 1,
      "bob@example.de", NULL, -1, NULL, "", NULL, NULL },
    { "vacation-weak-subject", VACATION_REPLY, NULL, "autoreply", "rfc3834", 1,
      "dan@example.com", NULL, -1, NULL, "", NULL, NULL },
    { "vacation-plans", VACATION_PLANS, NULL, "not-bounce", "", 0,
      NULL, NULL, -1, NULL, NULL, NULL, NULL },
    { "autoreply-closed", AUTOREPLY_CLOSED, NULL, "autoreply", "rfc3834", 1,
      "carol@example.com", NULL, -1, NULL, "", NULL, NULL },
    { "icloud-vacation", ICLOUD_VACATION, NULL, "autoreply", "rfc3834", 1,
      "erin@icloud.example", NULL, -1, NULL, "", NULL, NULL },
    { "ses-json", SES_JSON, NULL, "bounce", "amazonses", 1,
      "alice@example.net", "5.1.1", 550, "failed", NULL, NULL, NULL },
    { "ses-complaint", SES_COMPLAINT, NULL, "feedback", "amazonses", 1,
      "grace@example.net", NULL, -1, NULL, "feedback", "abuse", NULL },
    { "ordinary", ORDINARY, NULL, "not-bounce", "", 0,
      NULL, NULL, -1, NULL, NULL, NULL, NULL },
    { "forwarded-bounce", FORWARDED, NULL, "not-bounce", "", 0,
      NULL, NULL, -1, NULL, NULL, NULL, NULL },
    { "pasted-bounce", PASTED, NULL, "not-bounce", "", 0,
      NULL, NULL, -1, NULL, NULL, NULL, NULL },
    { "attached-bounce", ATTACHED, NULL, "not-bounce", "", 0,
      NULL, NULL, -1, NULL, NULL, NULL, NULL },
    { "postmaster-news", POSTMASTER_NEWS, NULL, "not-bounce", "", 0,
      NULL, NULL, -1, NULL, NULL, NULL, NULL },
};

static void
check_string (const char *what, const char *got, const char *expected)
{
    if (expected == NULL)
        return;
    if (expected[0] == '\0') {
        if (got != NULL)
            g_test_message ("%s: expected unset, got %s", what, got);
        g_assert_null (got);
    } else {
        if (g_strcmp0 (got, expected) != 0)
            g_test_message ("%s: expected %s, got %s", what, expected,
                            got ? got : "(null)");
        g_assert_cmpstr (got, ==, expected);
    }
}

static BounceReport *
parse_text (const char *text, gsize len, const char *envelope)
{
    g_autoptr (BounceParser) parser = bounce_parser_new ();
    g_autoptr (GBytes) bytes = g_bytes_new (text, len);

    if (envelope != NULL)
        bounce_parser_set_envelope_recipient (parser, envelope);
    return bounce_parser_parse (parser, bytes, "test");
}

static void
test_case (gconstpointer data)
{
    const Case *c = data;
    g_autoptr (BounceReport) report = parse_text (c->message, strlen (c->message),
                                                  c->envelope);
    const BounceRecipient *r;

    check_string ("kind", bounce_kind_to_string (report->kind), c->kind);
    check_string ("mta", report->mta, c->mta);
    g_assert_cmpuint (report->recipients->len, ==, c->count);
    check_string ("verp", report->verp_address, c->verp);
    if (c->count == 0)
        return;
    r = report->recipients->pdata[0];
    check_string ("address", r->address, c->address);
    check_string ("status", r->status, c->status);
    if (c->code >= 0)
        g_assert_cmpint (r->smtp_code, ==, c->code);
    check_string ("action", r->action, c->action);
    check_string ("reason", r->reason, c->reason);
    check_string ("feedback_type", r->feedback_type, c->feedback_type);
}

/* The second recipients of the multi-recipient cases. */
static void
test_second_recipients (void)
{
    g_autoptr (BounceReport) q = parse_text (QMAIL, strlen (QMAIL), NULL);
    g_autoptr (BounceReport) e = parse_text (EXIM, strlen (EXIM), NULL);
    const BounceRecipient *r;

    r = q->recipients->pdata[1];
    g_assert_cmpstr (r->address, ==, "bob@example.net");
    g_assert_cmpstr (r->status, ==, "5.2.2");
    g_assert_cmpint (r->smtp_code, ==, 552);
    /* The copy of the message is not read: carol is no recipient. */
    g_assert_cmpuint (q->recipients->len, ==, 2);

    /* zed is named by X-Failed-Recipients only. */
    r = e->recipients->pdata[1];
    g_assert_cmpstr (r->address, ==, "zed@example.net");
    r = e->recipients->pdata[0];
    /* The multi-line reply is unfolded into one diagnostic. */
    g_assert_nonnull (strstr (r->diagnostic,
                              "550 5.1.1 The email account that you tried to reach does not exist."));
}

/* Postfix's default failure template (src/bounce/bounce_template.c) is
 * the notice, not the error: with the per-recipient report gone ("---
 * Delivery report unavailable ---", bounce_notify_util.c), nothing of it
 * becomes the recipient's diagnostic. */
#define POSTFIX_NO_REPORT \
    "From: MAILER-DAEMON@mx.example.org (Mail Delivery System)\n" \
    "To: sender@example.org\n" \
    "Subject: Undelivered Mail Returned to Sender\n" \
    "MIME-Version: 1.0\n" \
    "Content-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\n\n" \
    "--B\n" \
    "Content-Description: Notification\n" \
    "Content-Type: text/plain; charset=us-ascii\n\n" \
    "This is the mail system at host mx.example.org.\n\n" \
    "I'm sorry to have to inform you that your message could not\n" \
    "be delivered to one or more recipients. It's attached below.\n\n" \
    "For further assistance, please send mail to postmaster.\n\n" \
    "If you do so, please include this problem report. You can\n" \
    "delete your own text from the attached returned message.\n\n" \
    "                   The mail system\n\n" \
    "\t--- Delivery report unavailable ---\n\n" \
    "--B\n" \
    "Content-Description: Delivery report\n" \
    "Content-Type: message/delivery-status\n\n" \
    "Reporting-MTA: dns; mx.example.org\n" \
    "X-Postfix-Queue-ID: 4ABC123\n" \
    "Arrival-Date: Mon, 2 Mar 2026 10:00:00 +0000\n\n" \
    "--B\n" \
    "Content-Description: Undelivered Message\n" \
    "Content-Type: message/rfc822\n\n" \
    "From: sender@example.org\n" \
    "To: alice@example.net\n" \
    "Subject: hi\n\n" \
    "hi\n" \
    "--B--\n"

static void
test_postfix_template (void)
{
    g_autoptr (BounceReport) report =
        parse_text (POSTFIX_NO_REPORT, strlen (POSTFIX_NO_REPORT), NULL);
    const BounceRecipient *r;

    g_assert_cmpuint (report->recipients->len, ==, 1);
    r = report->recipients->pdata[0];
    g_assert_cmpstr (r->address, ==, "alice@example.net");
    g_assert_true (r->diagnostic == NULL || r->diagnostic[0] == '\0');
}

/* The line ends of the input do not matter. */
static void
test_crlf (void)
{
    g_autofree char *crlf = NULL;
    g_autoptr (GString) s = g_string_new (QMAIL);
    g_autoptr (BounceReport) report = NULL;

    g_string_replace (s, "\n", "\r\n", 0);
    crlf = g_string_free (g_steal_pointer (&s), FALSE);
    report = parse_text (crlf, strlen (crlf), NULL);
    g_assert_cmpuint (report->recipients->len, ==, 2);
    g_assert_cmpstr (((BounceRecipient *) report->recipients->pdata[1])->status, ==, "5.2.2");
}

/* bounce_parser_add_decoders: a format of one's own; errors leave the
 * parser as it was. */
static void
test_add_decoders (void)
{
    static const char acme[] =
        "From: robot@acme.example\n"
        "To: sender@example.org\n"
        "Subject: note\n\n"
        "ACME bounce\n\n"
        "alice@example.com: 550 5.1.1 no such user\n";
    g_autoptr (BounceParser) parser = bounce_parser_new ();
    g_autoptr (GBytes) bytes = g_bytes_new_static (acme, sizeof acme - 1);
    g_autoptr (GError) error = NULL;
    g_autofree char *dir = g_dir_make_tmp ("test-decode-XXXXXX", &error);
    g_autofree char *good = NULL;
    g_autofree char *bad = NULL;
    g_autofree char *missing = NULL;
    BounceReport *report;

    g_assert_no_error (error);
    good = g_build_filename (dir, "acme.conf", NULL);
    bad = g_build_filename (dir, "bad.conf", NULL);
    missing = g_build_filename (dir, "missing.conf", NULL);
    g_assert_true (g_file_set_contents (good,
                                        "[decoder acme]\n"
                                        "from=@acme\\.example$\n"
                                        "body=^ACME bounce\n", -1, NULL));
    g_assert_true (g_file_set_contents (bad, "[decoder bad]\nbody=(unclosed\n", -1, NULL));

    report = bounce_parser_parse (parser, bytes, "acme");
    g_assert_cmpint (report->kind, ==, BOUNCE_KIND_NOT_BOUNCE);
    bounce_report_free (report);

    g_assert_false (bounce_parser_add_decoders (parser, missing, &error));
    g_assert_error (error, BOUNCE_ERROR, BOUNCE_ERROR_INPUT);
    g_clear_error (&error);
    g_assert_false (bounce_parser_add_decoders (parser, bad, &error));
    g_assert_error (error, BOUNCE_ERROR, BOUNCE_ERROR_RULES);
    g_assert_nonnull (strstr (error->message, "[decoder bad] body"));
    g_clear_error (&error);

    /* Adding compiles every pattern at once, the built-in ones too (which
     * are otherwise compiled on first use): this proves them valid. */
    g_assert_true (bounce_parser_add_decoders (parser, good, &error));
    g_assert_no_error (error);
    report = bounce_parser_parse (parser, bytes, "acme");
    g_assert_cmpint (report->kind, ==, BOUNCE_KIND_BOUNCE);
    g_assert_cmpstr (report->mta, ==, "acme");
    g_assert_cmpuint (report->recipients->len, ==, 1);
    g_assert_cmpstr (((BounceRecipient *) report->recipients->pdata[0])->status, ==, "5.1.1");
    bounce_report_free (report);

    /* The built-in formats are still there. */
    {
        g_autoptr (GBytes) q = g_bytes_new_static (QMAIL, strlen (QMAIL));
        g_autoptr (BounceReport) r = bounce_parser_parse (parser, q, "qmail");
        g_assert_cmpstr (r->mta, ==, "qmail");
        g_assert_cmpuint (r->recipients->len, ==, 2);
    }
    g_unlink (good);
    g_unlink (bad);
    g_rmdir (dir);
}

/* A "KEY.family" key of an added file is one more alternative of KEY;
 * the built-in families stay. */
static void
test_key_family (void)
{
    static const char notice[] =
        "From: MAILER-DAEMON@mx.example.org\n"
        "To: sender@example.org\n"
        "Subject: Undeliverable mail\n\n"
        /* Two addresses: the built-in data names neither ("the one
         * address the notice names" does not apply). */
        "Sorry. RCPT-NAK:alice@example.com (550 5.1.1), copy to helpdesk@example.net\n";
    g_autoptr (BounceParser) parser = bounce_parser_new ();
    g_autoptr (GBytes) bytes = g_bytes_new_static (notice, sizeof notice - 1);
    g_autoptr (GError) error = NULL;
    g_autofree char *dir = g_dir_make_tmp ("test-decode-XXXXXX", &error);
    g_autofree char *conf = NULL;
    BounceReport *report;

    g_assert_no_error (error);
    conf = g_build_filename (dir, "family.conf", NULL);
    g_assert_true (g_file_set_contents (conf,
                                        "[general]\n"
                                        "recipient.acme=RCPT-NAK:(?<addr>{ADDR})\n",
                                        -1, NULL));
    report = bounce_parser_parse (parser, bytes, "family");
    g_assert_cmpuint (report->recipients->len, ==, 1);
    g_assert_null (((BounceRecipient *) report->recipients->pdata[0])->address);
    bounce_report_free (report);

    g_assert_true (bounce_parser_add_decoders (parser, conf, &error));
    g_assert_no_error (error);
    report = bounce_parser_parse (parser, bytes, "family");
    g_assert_cmpuint (report->recipients->len, ==, 1);
    g_assert_cmpstr (((BounceRecipient *) report->recipients->pdata[0])->address, ==,
                     "alice@example.com");
    bounce_report_free (report);
    {
        g_autoptr (GBytes) q = g_bytes_new_static (QMAIL, strlen (QMAIL));
        g_autoptr (BounceReport) r = bounce_parser_parse (parser, q, "qmail");
        g_assert_cmpuint (r->recipients->len, ==, 2);
    }
    g_unlink (conf);
    g_rmdir (dir);
}

/* ---- golden fixtures from the corpus ---------------------------- */

typedef struct {
    const char *path; /* under tests/fixtures/ */
    const char *kind;
    guint count;
    const char *status; /* of the first recipient; "" unset; NULL unchecked */
    int code;           /* -1 unchecked */
    const char *feedback_type;
} Golden;

#include "test-decode-golden.h"

static void
test_golden (gconstpointer data)
{
    const Golden *g = data;
    g_autofree char *path = g_test_build_filename (G_TEST_DIST, "fixtures", g->path, NULL);
    g_autofree char *text = NULL;
    g_autoptr (GError) error = NULL;
    g_autoptr (BounceReport) report = NULL;
    gsize len;

    g_assert_true (g_file_get_contents (path, &text, &len, &error));
    report = parse_text (text, len, NULL);
    check_string ("kind", bounce_kind_to_string (report->kind), g->kind);
    g_assert_cmpuint (report->recipients->len, ==, g->count);
    if (g->count > 0) {
        const BounceRecipient *r = report->recipients->pdata[0];
        g_assert_nonnull (r->address);
        check_string ("status", r->status, g->status);
        if (g->code >= 0)
            g_assert_cmpint (r->smtp_code, ==, g->code);
        check_string ("feedback_type", r->feedback_type, g->feedback_type);
    }
}

/* ---- notices written from the MTAs' and list servers' templates ---- */

typedef struct {
    const char *path;      /* under tests/fixtures/prose/ */
    const char *kind;
    const char *addresses; /* the set, comma-separated, sorted; "" none */
} Prose;

static const Prose prose[] = {
    /* The address the sender used, not its expansion. */
    { "postfix-expanded-from.eml", "bounce", "team@example.org" },
    /* A DSN: the Original-Recipient, the address the sender used. */
    { "postfix-dsn-expanded-from.eml", "dsn", "board@example.org" },
    /* Exim names the redirected address it tried (X-Failed-Recipients). */
    { "exim-generated-from.eml", "bounce", "carol@mail.example.net" },
    { "exim-two-from-one-alias.eml", "bounce",
      "amy@mail.example.net,ben@mail.example.net,cal@other.example.net" },
    { "exim-pipe-generated-by.eml", "bounce", "support@example.org" },
    { "sendmail-expanded-from.eml", "bounce", "help@example.com,sales@example.com" },
    /* A local part only: the original To, else the reporting host. */
    { "sendmail-local-part.eml", "bounce", "dave@example.com" },
    { "sendmail-local-part-host.eml", "bounce", "erin@mail.example.com" },
    { "imail-unknown-user-local.eml", "bounce", "walt@example.com" },
    { "sendmail-bare-local.eml", "bounce", "greta@mail.example.com" },
    { "qmail-local-host.eml", "bounce", "pat@mx2.example.net" },
    /* AOL's screen names under its heading, at the notice's domain. */
    { "aol-screen-names.eml", "bounce", "blue.heron@aol.com,surfkid42@aol.com" },
    { "dsn-local-final-recipient.eml", "dsn", "kurt@mail.example.com,lena@mail.example.com" },
    /* Addresses named in sentences and lists, localised. */
    { "qmail-sentence.eml", "bounce", "frank@example.net" },
    { "prose-said.eml", "bounce", "paul@example.com" },
    { "prose-sentence.eml", "bounce", "olga@example.com" },
    { "prose-de-sentence.eml", "bounce", "rita@example.de" },
    { "prose-o365-en.eml", "bounce", "lena@example.com" },
    { "prose-o365-de.eml", "bounce", "lena@example.de" },
    { "prose-o365-fr.eml", "bounce", "lena@example.fr" },
    { "prose-o365-es.eml", "bounce", "lena@example.es" },
    { "prose-o365-it.eml", "bounce", "lena@example.it" },
    { "prose-o365-nl.eml", "bounce", "lena@example.nl" },
    { "prose-o365-pl.eml", "bounce", "lena@example.pl" },
    { "prose-o365-ja.eml", "bounce", "lena@example.jp" },
    { "prose-exchange-es.eml", "bounce", "lena@example.es" },
    { "prose-exchange-it.eml", "bounce", "lena@example.it" },
    { "prose-exchange-nl.eml", "bounce", "lena@example.nl" },
    { "prose-exchange-pl.eml", "bounce", "lena@example.pl" },
    { "prose-exchange-ja.eml", "bounce", "lena@example.jp" },
    { "exchange2000-could-not-be-reached.eml", "bounce", "ivy@example.com" },
    { "exchange2000-de-unreached.eml", "bounce", "hans@example.de" },
    { "address-list-line.eml", "bounce", "ada@example.com,bea@example.com,cy@example.com" },
    /* A list line in name-addr form; "please contact <x>" is no name. */
    { "name-addr-lines.eml", "bounce", "ivo.r@example.com,lena.b@example.com" },
    /* Exchange 2010: a display name in the first section, the address
     * in "Diagnostic information for administrators". */
    { "exchange2010-display-name.eml", "bounce", "lena.berg@example.com" },
    /* Exchange's IMCEASMTP- encapsulation holds the SMTP address. */
    { "exchange-imceasmtp.eml", "bounce", "ruth.k@example.net" },
    /* Exchange 5.5: the X.400 O/R address's "dda:SMTP=" attribute. */
    { "exchange55-x400.eml", "bounce", "pete@example.net" },
    /* Messaging Server: "Recipient address:", its "Original address:". */
    { "messaging-server-recipient-address.eml", "bounce", "otto@example.net" },
    { "messaging-server-original-address.eml", "bounce", "sales@example.net" },
    /* Gmail: "Your message wasn't delivered to %s because ...". */
    { "gmail-wasnt-delivered.eml", "bounce", "bob.ng@example.com" },
    /* Full-width punctuation around an address in CJK text. */
    { "cjk-fullwidth-parens.eml", "bounce", "kei.sato@example.jp" },
    { "cjk-fullwidth-colon.eml", "bounce", "wei.li@example.cn" },
    /* Nobody on a recipient line: a line stating the error, the Subject. */
    { "error-line.eml", "bounce", "quinn@example.com" },
    { "error-line-postmaster.eml", "bounce", "rex@example.com" },
    { "domino-subject.eml", "bounce", "jo.ota@example.com" },
    /* Else the one address the notice names, in any language; two
     * name nobody. */
    { "one-address-de.eml", "bounce", "udo.lang@example.de" },
    { "one-address-ru.eml", "bounce", "oleg@example.ru" },
    { "two-addresses-no-guess.eml", "bounce", "(none)" },
    /* A phrase, a colon, a list of addresses (any language). */
    { "phrase-colon-list-de.eml", "bounce", "eva@example.de,timo@example.de" },
    { "phrase-colon-list-ja.eml", "bounce", "aoi@example.jp,ren@example.jp" },
    /* The returned message's "Received: ... for <x>" names nobody. */
    { "received-for.eml", "bounce", "sam@example.com" },
    /* The pasted copy's addresses name nobody: GroupWise's and Smail's
     * lines before the copy; a pasted header block from "From:" on. */
    { "groupwise-truncated-original.eml", "bounce", "hal@example.com" },
    { "smail-message-text-follows.eml", "bounce", "walt@example.net" },
    { "pasted-copy-from-field.eml", "bounce", "hal@example.com" },
    /* Nobody named: the one To of the returned message pasted below. */
    { "received-for-folded.eml", "bounce", "ted@example.com" },
    /* List-server and postmaster notices that report a failure. */
    { "mailman-uncaught-bounce.eml", "bounce", "gina@example.net" },
    { "mailman-bounce-action.eml", "bounce", "hank@example.net" },
    { "mailman-bounce-action-only.eml", "bounce", "hank@example.net" },
    /* The same in Mailman 2.1's translations (.po, templates/LANG). */
    { "mailman-bounce-action-de.eml", "bounce", "jonas@example.de" },
    { "mailman-bounce-action-zh.eml", "bounce", "ming@example.cn" },
    { "mailman-uncaught-bounce-fr.eml", "bounce", "claire@example.fr" },
    /* Mailman 3's owner notices; Mailman's notice to the member. */
    { "mailman3-disabled-owner.eml", "bounce", "paula@example.net" },
    { "mailman3-removal-owner.eml", "bounce", "paula@example.net" },
    { "mailman-member-disabled.eml", "bounce", "quincy@example.net" },
    { "mailman-member-disabled-fr.eml", "bounce", "odile@example.fr" },
    /* Sympa's bounce management and automatic removal notices. */
    { "sympa-bounce-management.eml", "bounce", "abel@example.net,bodil@example.com" },
    { "sympa-bounce-management-de.eml", "bounce", "dora@example.de" },
    { "sympa-automatic-removal.eml", "bounce", "carl@example.net" },
    { "mailman-welcome-request.eml", "not-bounce", "" },
    { "list-post-quotes-disabled.eml", "not-bounce", "" },
    { "ezmlm-warning.eml", "bounce", "nora@example.net" },
    { "ezmlm-idx-warning-de.eml", "bounce", "nele@example.de" },
    { "listserv-error-report.eml", "bounce", "xena@example.net" },
    { "listserv-error-report-post.eml", "not-bounce", "" },
    { "fml-not-member.eml", "bounce", "ivan@example.net" },
    { "fml-reject-not-member-article.eml", "bounce", "jon@example.net" },
    { "postfix-postmaster-notify.eml", "bounce", "judy@example.org" },
    { "postfix-postmaster-notify-two.eml", "bounce", "liam@example.org" },
    { "postfix-old-postmaster-copy.eml", "bounce", "yuri@example.net" },
    { "sendmail-postmaster-notify.eml", "bounce", "zara@example.net" },
    /* Sendmail's "%s... Deferred: %s" transcript line; not the copy's
     * "for <x>" nor its To. */
    { "sendmail-deferred-transcript.eml", "bounce", "frank.m@example.net" },
    /* A rejection is one, Auto-Submitted or not. */
    { "autosubmitted-rejection.eml", "bounce", "uma@example.com" },
    { "x-autoreply-rejection.eml", "bounce", "uma@example.com" },
    /* Dovecot LDA/LMTP's Sieve rejection (Auto-Submitted: auto-replied). */
    { "dovecot-lda-rejection.eml", "bounce", "amy@example.net" },
    { "tmda-bounce.eml", "bounce", "kim@example.net" },
    /* Auto-replies known by their subject alone. */
    { "oof-en.eml", "autoreply", "mia@example.net" },
    { "oof-en-autoreply.eml", "autoreply", "mia@example.net" },
    { "oof-de.eml", "autoreply", "max@example.de" },
    { "oof-de-antwort.eml", "autoreply", "max@example.de" },
    { "oof-fr.eml", "autoreply", "luc@example.fr" },
    { "oof-fr-absence.eml", "autoreply", "luc@example.fr" },
    { "oof-es.eml", "autoreply", "ana@example.es" },
    { "oof-es-fuera.eml", "autoreply", "ana@example.es" },
    { "oof-it.eml", "autoreply", "paolo@example.it" },
    { "oof-nl.eml", "autoreply", "sanne@example.nl" },
    { "oof-pl.eml", "autoreply", "jan@example.pl" },
    { "oof-pl-odp.eml", "autoreply", "jan@example.pl" },
    { "oof-ja.eml", "autoreply", "taro@example.jp" },
    { "oof-ja-fuzai.eml", "autoreply", "taro@example.jp" },
    { "oof-cyrus-automated-reply.eml", "autoreply", "lars@example.dk" },
    { "oof-zh-dafu.eml", "autoreply", "fang@example.cn" },
    { "oof-ko.eml", "autoreply", "minji@example.kr" },
    { "oof-notes.eml", "autoreply", "ken@example.com" },
    { "oof-list-tag.eml", "autoreply", "mia@example.net" },
    { "oof-bracket-tag.eml", "autoreply", "ole@example.dk" },
    /* Challenge-response requests: nobody's mail failed. */
    { "tmda-challenge.eml", "not-bounce", "" },
    { "challenge-human.eml", "not-bounce", "" },
    { "challenge-approved-senders.eml", "not-bounce", "" },
    { "ask-confirm.eml", "not-bounce", "" },
    /* Ordinary list mail that quotes the words stays ordinary. */
    { "list-post-not-member.eml", "not-bounce", "" },
    { "list-post-mentions-ooo.eml", "not-bounce", "" },
    { "person-says-out-of-office.eml", "not-bounce", "" },
};

static gint
compare_strings (gconstpointer a, gconstpointer b)
{
    return g_ascii_strcasecmp (*(const char *const *) a, *(const char *const *) b);
}

static void
test_prose (gconstpointer data)
{
    const Prose *c = data;
    g_autofree char *path = g_test_build_filename (G_TEST_DIST, "fixtures", "prose",
                                                   c->path, NULL);
    g_autofree char *text = NULL;
    g_autofree char *got = NULL;
    g_autoptr (GError) error = NULL;
    g_autoptr (BounceReport) report = NULL;
    g_autoptr (GPtrArray) set = g_ptr_array_new ();
    gsize len;

    g_assert_true (g_file_get_contents (path, &text, &len, &error));
    report = parse_text (text, len, NULL);
    check_string ("kind", bounce_kind_to_string (report->kind), c->kind);
    for (guint i = 0; i < report->recipients->len; i++) {
        const BounceRecipient *r = report->recipients->pdata[i];
        g_ptr_array_add (set, r->address != NULL ? r->address : (char *) "(none)");
    }
    g_ptr_array_sort (set, compare_strings);
    g_ptr_array_add (set, NULL);
    got = g_strjoinv (",", (char **) set->pdata);
    g_assert_cmpstr (got, ==, c->addresses);
}

int
main (int argc, char **argv)
{
    g_test_init (&argc, &argv, NULL);
    bounce_init ();
    for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
        g_autofree char *name = g_strdup_printf ("/decode/synthetic/%s", cases[i].name);
        g_test_add_data_func (name, &cases[i], test_case);
    }
    g_test_add_func ("/decode/second-recipients", test_second_recipients);
    g_test_add_func ("/decode/crlf", test_crlf);
    g_test_add_func ("/decode/postfix-template", test_postfix_template);
    g_test_add_func ("/decode/add-decoders", test_add_decoders);
    g_test_add_func ("/decode/key-family", test_key_family);
    for (guint i = 0; i < G_N_ELEMENTS (prose); i++) {
        g_autofree char *name = g_strdup_printf ("/decode/prose/%s", prose[i].path);
        g_test_add_data_func (name, &prose[i], test_prose);
    }
    for (guint i = 0; i < G_N_ELEMENTS (golden); i++) {
        g_autofree char *name = g_strdup_printf ("/decode/golden/%s", golden[i].path);
        g_test_add_data_func (name, &golden[i], test_golden);
    }
    return g_test_run ();
}
