/*
 * test-rules.c - the rules engine (bounce-rules.c) and the rules of
 * rules/: the guide's SMTP table and causes in English and Polish, the
 * first reason from the status code, the reason table, the loader's
 * checks and override semantics, and the postfix-real fixtures.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <glib/gstdio.h>

#include "bounce.h"

static BounceRules *shipped; /* the rules of rules/ */

static const char *
rules_dir (void)
{
    const char *dir = g_getenv ("BOUNCESTAT_RULES_DIR");

    g_assert_nonnull (dir); /* CTest sets it */
    return dir;
}

/* The advice a user sees for a classified recipient: the rule's own,
 * else the reason's. */
static const char *
advice_for (const BounceRules *rules, const BounceRecipient *r, gboolean pl)
{
    const char *advice =
        bounce_rules_get_advice (rules, r->reason, r->rule, pl ? "pl" : "en");

    g_assert_nonnull (advice);
    return advice;
}

typedef struct {
    const char *text;
    const char *reason;
    gboolean hard;
    const char *rule; /* NULL: any */
    const char *en;   /* a word the English advice must hold */
    const char *pl;   /* a word the Polish advice must hold */
} ExplainCase;

static void
run_explain_cases (const ExplainCase *cases, guint n)
{
    for (guint i = 0; i < n; i++) {
        const ExplainCase *c = &cases[i];
        g_autoptr (BounceRecipient) r = bounce_rules_explain (shipped, c->text);
        const BounceReason *reason;
        const char *en, *pl;

        g_test_message ("case %u: '%s'", i, c->text);
        g_assert_cmpstr (r->reason, ==, c->reason);
        g_assert_cmpint (r->hard, ==, c->hard);
        if (c->rule != NULL)
            g_assert_cmpstr (r->rule, ==, c->rule);
        reason = bounce_rules_get_reason (shipped, r->reason);
        g_assert_nonnull (reason);
        g_assert_nonnull (bounce_rules_get_meaning (shipped, r->reason, "en"));
        g_assert_nonnull (bounce_rules_get_meaning (shipped, r->reason, "pl"));
        en = advice_for (shipped, r, FALSE);
        pl = advice_for (shipped, r, TRUE);
        g_assert_nonnull (strstr (en, c->en));
        g_assert_nonnull (strstr (pl, c->pl));
        g_assert_cmpstr (en, !=, pl);
    }
}

/* Every row of the guide's SMTP table. */
static void
test_guide_table (void)
{
    static const ExplainCase cases[] = {
        { "420", "networkerror", FALSE, "smtp-420", "GroupWise", "GroupWise" },
        { "421", "systemerror", FALSE, "smtp-421", "retry", "ponowi" },
        { "432", "systemerror", FALSE, "smtp-432", "Exchange", "Exchange" },
        { "449", "networkerror", FALSE, "smtp-449", "routing", "trasowania" },
        { "450", "blocked", FALSE, "smtp-450", "blacklisted", "czarnej liście" },
        { "451", "systemerror", FALSE, "smtp-451", "SPF", "SPF" },
        { "452", "systemfull", FALSE, "smtp-452", "too many", "zbyt wiele" },
        { "455", "syntaxerror", FALSE, "smtp-455", "parameters", "parametrów" },
        { "500", "syntaxerror", FALSE, "smtp-500", "antivirus or firewall", "antywirus lub zapora" },
        { "501", "syntaxerror", FALSE, "smtp-501", "address", "adres" },
        { "502", "syntaxerror", FALSE, "smtp-502", "does not support", "nie obsługuje" },
        { "503", "syntaxerror", FALSE, "smtp-503", "authentication", "uwierzytelnianie" },
        { "504", "syntaxerror", FALSE, "smtp-504", "parameter", "parametru" },
        { "535", "securityerror", FALSE, "smtp-535", "password", "hasło" },
        { "550", "userunknown", TRUE, "smtp-550", "typos", "literów" },
        { "550 Requested action not taken: mailbox unavailable (in reply to RCPT TO command)", "userunknown", TRUE, NULL, "typos", "literów" },
        { "550 5.7.1", "blocked", FALSE, "guide-550-5.7.1", "Spamhaus", "Spamhaus" },
        { "550 5.7.26", "authfailure", FALSE, "guide-550-5.7.26", "SPF", "SPF" },
        { "551", "norelaying", FALSE, "smtp-551", "relay", "przekaże" },
        { "552", "mailboxfull", FALSE, "smtp-552", "quota", "limit" },
        { "553", "userunknown", TRUE, "smtp-553", "address", "adres" },
        { "554", "blocked", FALSE, "smtp-554", "blacklisted", "czarnej liście" },
        { "555", "syntaxerror", FALSE, "smtp-555", "sending limit", "limit wysyłki" },
    };

    run_explain_cases (cases, G_N_ELEMENTS (cases));
}

/* Every cause of the guide, as real providers word it. */
static void
test_guide_causes (void)
{
    static const ExplainCase cases[] = {
        /* Inactive, expired or suspended account or domain. */
        { "550 5.2.1 The email account that you tried to reach is inactive.", "suspend", FALSE, "suspend", "another way", "inną drogą" },
        { "550 5.2.1 The email account that you tried to reach is disabled.", "suspend", FALSE, "suspend", "another way", "inną drogą" },
        { "554 delivery error: This account has been disabled or discontinued", "suspend", FALSE, "suspend", "another way", "inną drogą" },
        { "550 Account expired", "suspend", FALSE, "suspend", "expired", "wygasło" },
        { "550 Recipient domain has been suspended", "suspend", FALSE, "suspend", "disabled", "wyłączone" },
        { "550 5.5.0 Le compte du destinataire est bloque. The recipient account is blocked.", "suspend", FALSE, "suspend", "another way", "inną drogą" },
        { "550 5.2.1 Mailbox disabled", "suspend", FALSE, NULL, "another way", "inną drogą" },
        /* Mailbox full. */
        { "552 5.2.2 Mailbox full", "mailboxfull", FALSE, "status-mailbox-full", "quota", "limit" },
        { "452 4.2.2 The email account that you tried to reach is over quota", "mailboxfull", FALSE, NULL, "quota", "limit" },
        { "550 Postfach voll", "mailboxfull", FALSE, "mailbox-full-de-nl", "quota", "limit" },
        { "550 Skrzynka odbiorcy jest pełna", "mailboxfull", FALSE, "mailbox-full-pl-ru", "another way", "inną drogą" },
        /* IP on a blacklist. */
        { "554 5.7.1 Service unavailable; Client host [192.0.2.1] blocked using zen.spamhaus.org", "blocked", FALSE, "blocked", "Spamhaus", "Spamhaus" },
        { "550 5.7.1 Rejected: 192.0.2.1 listed at bl.spamcop.net", "blocked", FALSE, "blocked", "MXToolbox", "MXToolbox" },
        { "554 Rejected: 192.0.2.1 listed at b.barracudacentral.org", "blocked", FALSE, "blocked", "content", "treść" },
        { "450 4.7.1 Client host rejected: blocked by our blacklist", "blocked", FALSE, "blocked", "Spamhaus", "Spamhaus" },
        { "550 5.7.1 Delivery not authorized, message refused", "blocked", FALSE, "guide-550-5.7.1", "Spamhaus", "Spamhaus" },
        { "550 5.7.606 Access denied, banned sending IP [192.0.2.2]", "blocked", FALSE, "status-microsoft-banned-ip", "MXToolbox", "MXToolbox" },
        { "550 5.7.1 Our system has detected that this message is likely suspicious due to the very low reputation of the sending IP address", "badreputation", FALSE, NULL, "Spamhaus", "Spamhaus" },
        /* Missing SPF/DKIM, PTR. */
        { "550 5.7.26 This message does not have authentication information or fails to pass authentication checks", "authfailure", FALSE, "guide-550-5.7.26", "SPF", "SPF" },
        { "550 5.7.23 The message was rejected because of Sender Policy Framework violation", "authfailure", FALSE, "status-auth-failure", "DKIM", "DKIM" },
        { "550 5.7.1 Email rejected per DMARC policy for example.org", "authfailure", FALSE, "auth-failure", "SPF", "SPF" },
        { "550 5.7.25 The IP address sending this message does not have a PTR record setup", "requireptr", FALSE, "status-require-ptr", "PTR", "PTR" },
        { "450 4.7.1 Client host rejected: cannot find your reverse hostname, [192.0.2.3]", "requireptr", FALSE, "require-ptr", "PTR", "PTR" },
        /* Wrong MX, unknown domain. */
        { "5.1.2", "hostunknown", TRUE, "status-host-unknown", "MX", "MX" },
        { "550 5.1.2 Bad destination system address", "hostunknown", TRUE, NULL, "MX", "MX" },
        { "554 5.4.4 Unable to route", "hostunknown", TRUE, "status-route", "MX", "MX" },
        { "Host or domain name not found. Name service error for name=example.jp type=A: Host not found", "hostunknown", TRUE, "host-unknown", "MX", "MX" },
        /* Login failure, account locked for spam. */
        { "535 5.7.8 Authentication credentials invalid", "securityerror", FALSE, "smtp-535", "control panel", "panelu klienta" },
        { "535 5.7.0 Your account has been locked for sending spam", "securityerror", FALSE, "smtp-535", "password", "hasło" },
        /* Rate limits. */
        { "421 4.7.0 Too many messages from your IP, try again later", "ratelimited", FALSE, "rate-limited", "200", "200" },
        { "450 4.7.1 Sending rate limit exceeded for this account", "ratelimited", FALSE, "rate-limited", "300", "300" },
        { "452 4.5.3 Too many recipients", "ratelimited", FALSE, "rate-limited", "slowly", "wolniej" },
        { "421-4.7.28 Gmail has detected an unusual rate of unsolicited mail", "ratelimited", FALSE, NULL, "limit", "limit" },
    };

    run_explain_cases (cases, G_N_ELEMENTS (cases));
}

/* The first reason from a status code alone (the parse issue). */
static void
test_first_reason (void)
{
    static const struct {
        const char *text;
        const char *reason;
        gboolean hard;
    } cases[] = {
        { "5.1.1", "userunknown", TRUE },
        { "4.1.1", "userunknown", TRUE },
        { "5.1.2", "hostunknown", TRUE },
        { "5.1.6", "hasmoved", TRUE },
        { "5.1.10", "notaccept", TRUE },
        { "5.2.2", "mailboxfull", FALSE },
        { "4.2.2", "mailboxfull", FALSE },
        { "5.2.1", "suspend", FALSE },
        { "5.3.4", "emailtoolarge", FALSE },
        { "5.2.3", "emailtoolarge", FALSE },
        { "5.1.8", "rejected", FALSE },
        { "5.4.4", "hostunknown", TRUE },
        { "4.4.7", "expired", FALSE },
        { "5.4.6", "networkerror", FALSE },
        { "5.6.0", "contenterror", FALSE },
        { "5.7.1", "blocked", FALSE },
        { "5.7.8", "securityerror", FALSE },
        { "5.7.25", "requireptr", FALSE },
        { "5.7.26", "authfailure", FALSE },
        { "4.7.26", "authfailure", FALSE },
        { "5.7.16", "emailtoolarge", FALSE },
        { "4.4.3", "systemerror", FALSE },
        { "4.4.5", "systemfull", FALSE },
        { "5.5.2", "syntaxerror", FALSE },
        { "5.5.4", "systemerror", FALSE },
        { "5.7.10", "failedstarttls", FALSE },
        { "5.7.13", "suspend", FALSE },
        { "2.0.0", "delivered", FALSE },
        { "5.0.0", "onhold", FALSE },
        /* hard for notaccept only on a permanent failure */
        { "DNS Error: the domain example.org doesn't receive email: returned Null MX", "notaccept", TRUE },
        { "4.0.0 DNS lookup: the domain example.org doesn't receive email (null MX)", "notaccept", FALSE },
        /* words no rule knows are onhold; nothing at all is undefined */
        { "no code and no known words", "onhold", FALSE },
        { "---", "undefined", FALSE },
    };

    for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
        g_autoptr (BounceRecipient) r = bounce_rules_explain (shipped, cases[i].text);
        g_test_message ("case %u: '%s'", i, cases[i].text);
        g_assert_cmpstr (r->reason, ==, cases[i].reason);
        g_assert_cmpint (r->hard, ==, cases[i].hard);
        g_assert_nonnull (r->rule);
    }
}

/* Phrases in other languages and providers' codes. */
static void
test_phrases (void)
{
    static const struct {
        const char *text;
        const char *reason;
    } cases[] = {
        { "550 5.1.1 <a@example.org>: Recipient address rejected: User unknown in virtual mailbox table", "userunknown" },
        { "550 5.1.1 Benutzer unbekannt", "userunknown" },
        { "550 5.1.1 Utilisateur inconnu", "userunknown" },
        { "550 5.1.1 Usuario desconocido", "userunknown" },
        { "550 5.1.1 Użytkownik nie istnieje", "userunknown" },
        { "550 5.1.1 指定されたユーザが見つかりません", "userunknown" },
        { "550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup", "userunknown" },
        { "550 5.5.0 Adresse destinataire invalide. Invalid recipient. LPN007_416", "userunknown" },
        { "550 5.4.1 [a@example.org]: Recipient address rejected: Access denied", "userunknown" },
        { "552 5.2.2 Boîte aux lettres pleine", "mailboxfull" },
        { "550 Buzón lleno", "mailboxfull" },
        { "421 4.7.0 [TSS04] Messages from 192.0.2.1 temporarily deferred due to unexpected volume or user complaints", "badreputation" },
        { "451 4.7.650 The mail server [192.0.2.25] has been temporarily rate limited due to IP reputation", "badreputation" },
        { "550 5.7.509 Access denied, sending domain does not pass DMARC verification", "authfailure" },
        { "554 5.7.1 <a@example.org>: Relay access denied", "norelaying" },
        { "550 5.7.1 Message content rejected, UBE, id=00000-00-000", "spamdetected" },
        { "550 Virus Detected; Content Rejected", "virusdetected" },
        { "552 5.3.4 Message size exceeds fixed limit", "emailtoolarge" },
        { "550 5.7.1 This message is not RFC 5322 compliant", "notcompliantrfc" },
        { "connect to example.org[192.0.2.4]:25: Connection refused", "networkerror" },
        { "554 4.4.7 Message expired: unable to deliver in 840 minutes", "expired" },
        { "550 5.1.6 recipient no longer on server: a@example.org", "hasmoved" },
        { "553 5.1.8 Domain of sender address a@example.org does not exist", "rejected" },
        { "421 4.2.0 Service refuse. Veuillez essayer plus tard. OFR005_505", "systemerror" },
        { "550 Mailbox is frozen", "suspend" },
        { "procmail: Couldn't create \"/var/spool/mail/neko\"", "mailererror" },
        { "550 5.1.0 sender rejected. AUP#CDRBL", "blocked" },
        { "530 5.7.0 Must issue a STARTTLS command first", "failedstarttls" },
        { "550 5.7.1 <a@example.org>: Helo command rejected: Host not found", "blocked" },
        { "550 5.1.0 <a@example.org>: Sender address rejected: Domain not found", "rejected" },
        { "554 5.2.252 SendAsDenied; sender not allowed to send as", "rejected" },
        { "Sorry, I couldn't find any host named example.invalid. (#5.1.2)", "hostunknown" },
        { "550-5.7.1 Our system has detected that this message is likely unsolicited mail", "spamdetected" },
        { "Skrzynka pocztowa jest pełna", "mailboxfull" },
        { "Przekroczono limit wysyłania wiadomości", "ratelimited" },
        { "Nie ma takiego użytkownika", "userunknown" },
        { "Quota dépassé pour ce compte", "mailboxfull" },
        { "SMTP error from remote mail server after end of data: 550 : User unknown", "filtered" },
        { "host mx.example.org said: 500 Line limit exceeded", "emailtoolarge" },
        { "Remote server does not support TLS", "failedstarttls" },
        { "This message is looping: it already has my Delivered-To line. (#5.4.6)", "networkerror" },
        { "550 5.7.1 Message rejected due to content restrictions", "policyviolation" },
        { "554 5.7.1 The message matches a profile the Internet community may consider spam", "spamdetected" },
        { "554 5.7.0 Reject, id=12345 - BANNED: forbidden attachment type", "contenterror" },
        { "550 Benutzer hat zuviele Mails auf dem Server", "mailboxfull" },
        { "550 Konto odbiorcy zostało zawieszone", "suspend" },
        { "450 4.7.1 <a@example.org>: Recipient address rejected: Greylisted", "ratelimited" },
        { "Network error on destination MXs", "networkerror" },
        { "delivery temporarily suspended: connect to mx.example.org[192.0.2.2]: server refused to talk to me: 421 Service not available", "blocked" },
        { "550 Sorry, no mailbox here by that name. (#5.1.1)", "userunknown" },
        { "552 5.2.2 Requested mail action aborted: exceeded storage allocation", "mailboxfull" },
        { "550 5.7.1 Sender address has been blacklisted", "rejected" },
        { "421 4.7.0 All available IPs are at maximum connection limit", "ratelimited" },
        { "550 Message bounced due to organizational settings", "policyviolation" },
        { "550 Requested mail action aborted: exceeded storage allocation", "mailboxfull" },
        { "554 5.7.1 host/domain does not accept mail", "notaccept" },
        { "550 5.7.1 Unable to relay for a@example.org", "norelaying" },
        { "552 Message size exceeds maximum value", "emailtoolarge" },
        { "550 Message rejected due to user rules", "filtered" },
        /* the TCP error as Sendmail words it: the network, not a block */
        { "Deferred: Connection refused by [192.0.2.3]", "networkerror" },
        { "554 Connection rejected by mx.example.org", "blocked" },
        { "because the address couldn't be found. Check for typos or unnecessary spaces and try again.", "userunknown" },
        { "Sorry, I couldn't find a mail exchanger or IP address. (#5.4.4)", "notaccept" },
        { "Sorry, I wasn't able to establish an SMTP connection. (#4.4.1) I'm not going to try again; this message has been in the queue too long.", "networkerror" },
        { "Unable to contact LDAP server. (#4.4.3) I'm not going to try again; this message has been in the queue too long.", "systemerror" },
        { "450 service permits 2 unverifyable sending IPs - example.com is not 192.0.2.1", "requireptr" },
        { "421 example.com (smtp)... Deferred: Connection timed out during user open with example.com", "expired" },
        { "Each of the following recipients was rejected by a remote mail server.", "filtered" },
    };

    for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
        g_autoptr (BounceRecipient) r = bounce_rules_explain (shipped, cases[i].text);
        g_test_message ("case %u: '%s' -> %s [%s]", i, cases[i].text, r->reason, r->rule);
        g_assert_cmpstr (r->reason, ==, cases[i].reason);
    }
    /* Courier's local module: its DSN says 5.0.0 and "unknown;", no
     * remote reply; the same words as a remote server's reply that names
     * no command are a filter's (rules/README.md). */
    {
        g_autoptr (BounceRecipient) local = bounce_rules_explain_full (
            shipped, "550 5.0.0 User <nobody@example.org> unknown", NULL, NULL,
            NULL, "unknown");
        g_autoptr (BounceRecipient) remote = bounce_rules_explain_full (
            shipped, "550 5.0.0 User <nobody@example.org> unknown", NULL, NULL,
            NULL, "smtp");

        g_assert_cmpstr (local->reason, ==, "userunknown");
        g_assert_cmpstr (remote->reason, ==, "filtered");
    }
}

/* bounce_rules_explain_full: the context a report adds changes what the
 * same reply means, and NULL context is what bounce_rules_explain does. */
static void
test_explain_context (void)
{
    static const struct {
        const char *text, *command, *action, *status, *type;
        const char *reason, *smtp_command, *out_action, *out_status;
    } cases[] = {
        /* User-unknown words: an RCPT answer, a filter after DATA, x.1.1 wins. */
        { "550 User unknown", "RCPT", NULL, NULL, NULL, "userunknown", "RCPT", "failed", NULL },
        { "550 User unknown", "DATA", NULL, NULL, NULL, "filtered", "DATA", "failed", NULL },
        { "550 5.1.1 User unknown", "DATA", NULL, NULL, NULL, "userunknown", "DATA", "failed", "5.1.1" },
        /* NONE: the report does not say, even if the text does. */
        { "550 User unknown (in reply to end of DATA command)", "NONE", NULL, NULL, NULL, NULL, NULL, "failed", NULL },
        { "550 User unknown (in reply to end of DATA command)", NULL, NULL, NULL, NULL, "filtered", "DATA", "failed", NULL },
        /* The Status field and the action. */
        { "Host or domain name not found. Name service error for name=example.org type=MX: Host not found, try again",
          NULL, "delayed", "4.4.3", NULL, "networkerror", NULL, "delayed", "4.4.3" },
        { "no words we know", NULL, "delayed", NULL, NULL, "expired", NULL, "delayed", NULL },
        /* The diagnostic type. */
        { "temporary failure", NULL, NULL, "4.3.0", "X-Unix", "mailererror", NULL, "failed", "4.3.0" },
        { "temporary failure", NULL, NULL, "4.3.0", NULL, "systemerror", NULL, "failed", "4.3.0" },
    };

    for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
        g_autoptr (BounceRecipient) r = bounce_rules_explain_full (
            shipped, cases[i].text, cases[i].command, cases[i].action,
            cases[i].status, cases[i].type);
        g_test_message ("case %u: '%s' -> %s [%s]", i, cases[i].text, r->reason, r->rule);
        if (cases[i].reason != NULL)
            g_assert_cmpstr (r->reason, ==, cases[i].reason);
        g_assert_cmpstr (r->smtp_command, ==, cases[i].smtp_command);
        g_assert_cmpstr (r->action, ==, cases[i].out_action);
        if (cases[i].out_status != NULL)
            g_assert_cmpstr (r->status, ==, cases[i].out_status);
    }
    {
        g_autoptr (BounceRecipient) a = bounce_rules_explain (shipped, "550 5.7.1 Relay access denied");
        g_autoptr (BounceRecipient) b = bounce_rules_explain_full (shipped, "550 5.7.1 Relay access denied",
                                                                   NULL, NULL, NULL, NULL);
        g_assert_cmpstr (a->reason, ==, b->reason);
        g_assert_cmpstr (a->rule, ==, b->rule);
    }
}

/* The reason table: Sisimai's whole vocabulary, each entry complete;
 * hard exactly for the reasons that say the address is bad. */
static void
test_reason_table (void)
{
    static const char *const names[] = {
        "authfailure", "badreputation", "blocked", "contenterror", "delivered",
        "emailtoolarge", "expired", "failedstarttls", "feedback", "filtered",
        "hasmoved", "hostunknown", "mailboxfull", "mailererror", "networkerror",
        "norelaying", "notaccept", "notcompliantrfc", "onhold", "policyviolation",
        "ratelimited", "rejected", "requireptr", "securityerror", "spamdetected",
        "suppressed", "suspend", "syntaxerror", "systemerror", "systemfull",
        "undefined", "userunknown", "vacation", "virusdetected",
    };

    for (guint i = 0; i < G_N_ELEMENTS (names); i++) {
        const BounceReason *r = bounce_rules_get_reason (shipped, names[i]);
        gboolean want_hard = g_strv_contains ((const char *const[]) {
            "userunknown", "hostunknown", "hasmoved", NULL }, names[i]);

        g_test_message ("reason %s", names[i]);
        g_assert_nonnull (r);
        g_assert_cmpstr (r->name, ==, names[i]);
        const char *meaning_en = bounce_rules_get_meaning (shipped, names[i], "en");
        const char *meaning_pl = bounce_rules_get_meaning (shipped, names[i],
                                                           "pl_PL.UTF-8");

        g_assert_cmpuint (strlen (meaning_en), >, 10);
        g_assert_cmpuint (strlen (meaning_pl), >, 10);
        g_assert_cmpuint (strlen (bounce_rules_get_advice (shipped, names[i],
                                                           NULL, NULL)), >, 10);
        g_assert_cmpuint (strlen (bounce_rules_get_advice (shipped, names[i],
                                                           NULL, "pl")), >, 10);
        g_assert_cmpstr (meaning_en, !=, meaning_pl);
        /* A language the rules do not have: English. */
        g_assert_cmpstr (bounce_rules_get_meaning (shipped, names[i], "de_DE"),
                         ==, meaning_en);
        g_assert_true (g_strv_contains ((const char *const[]) {
            "recipient", "sender", "receiving-admin", NULL }, r->who));
        g_assert_cmpint (r->hard, ==, want_hard);
        g_assert_cmpint (r->hard_when_permanent, ==,
                         strcmp (names[i], "notaccept") == 0);
    }
    g_assert_null (bounce_rules_get_reason (shipped, "nosuchreason"));
}

/* The shipped rules pass their own check, examples included. */
static void
test_shipped_check (void)
{
    const char *dirs[] = { rules_dir (), NULL };
    g_autoptr (GPtrArray) problems = g_ptr_array_new_with_free_func (g_free);
    gboolean ok = bounce_rules_check (dirs, problems);

    for (guint i = 0; i < problems->len; i++)
        g_test_message ("%s", (const char *) problems->pdata[i]);
    g_assert_cmpuint (problems->len, ==, 0);
    g_assert_true (ok);
    g_assert_cmpuint (bounce_rules_count (shipped), >, 100);
}

/* ------------------------------------------------------------------ */
/* The loader                                                         */
/* ------------------------------------------------------------------ */

static const char reason_file[] =
    "[reason userunknown]\nmeaning = gone\nmeaning[pl] = nie ma\nhard = true\n"
    "who = sender\nside = sender\nadvice = remove it\nadvice[pl] = usun\n"
    "[reason blocked]\nmeaning = blocked\nmeaning[pl] = zablokowany\nhard = false\n"
    "who = sender\nside = sender\nadvice = check lists\nadvice[pl] = sprawdz listy\n"
    "[reason undefined]\nmeaning = unknown\nmeaning[pl] = nieznany\nhard = false\n"
    "who = sender\nside = sender\nadvice = read it\nadvice[pl] = przeczytaj\n";

/* A fresh directory holding @n files given as name, content pairs. */
static char *
make_dir (guint n, ...)
{
    g_autoptr (GError) error = NULL;
    char *dir = g_dir_make_tmp ("bouncestat-rules-XXXXXX", &error);
    va_list args;

    g_assert_no_error (error);
    va_start (args, n);
    for (guint i = 0; i < n; i++) {
        const char *name = va_arg (args, const char *);
        const char *text = va_arg (args, const char *);
        g_autofree char *path = g_build_filename (dir, name, NULL);
        g_file_set_contents (path, text, -1, &error);
        g_assert_no_error (error);
    }
    va_end (args);
    return dir;
}

static void
remove_dir (const char *dir)
{
    g_autoptr (GDir) d = g_dir_open (dir, 0, NULL);
    const char *name;

    while (d != NULL && (name = g_dir_read_name (d)) != NULL) {
        g_autofree char *path = g_build_filename (dir, name, NULL);
        g_remove (path);
    }
    g_rmdir (dir);
}

/* Loads @text (with the small reason file) and expects one problem that
 * holds @want. */
static void
expect_problem (const char *text, const char *want)
{
    g_autofree char *dir = make_dir (2, "00-reasons.rules", reason_file,
                                     "10-test.rules", text);
    const char *dirs[] = { dir, NULL };
    g_autoptr (GPtrArray) problems = g_ptr_array_new_with_free_func (g_free);
    g_autoptr (GError) error = NULL;
    g_autoptr (BounceRules) rules = NULL;
    g_autofree char *file = g_build_filename (dir, "10-test.rules", NULL);

    g_test_message ("want '%s'", want);
    g_assert_false (bounce_rules_check (dirs, problems));
    g_assert_cmpuint (problems->len, >=, 1);
    g_assert_true (g_str_has_prefix (problems->pdata[0], file));
    g_assert_nonnull (strstr (problems->pdata[0], want));
    rules = bounce_rules_load (dirs, &error);
    g_assert_null (rules);
    g_assert_error (error, BOUNCE_ERROR, BOUNCE_ERROR_RULES);
    g_assert_nonnull (strstr (error->message, want));
    remove_dir (dir);
}

static void
test_load_problems (void)
{
    expect_problem ("[rule a]\nreason = userunknown\ndiagnostic = (unclosed\n",
                    "[rule a]: bad regular expression in diagnostic");
    expect_problem ("[rule a]\nreason = nosuch\n", "[rule a]: unknown reason 'nosuch'");
    expect_problem ("[rule a]\nreason = userunknown\ncolour = red\n",
                    "[rule a]: unknown key 'colour'");
    expect_problem ("[rule a]\nreason = userunknown\nstatus = 5.1.1\nstatus = 5.1.2\n",
                    "[rule a]: duplicate key 'status'");
    expect_problem ("[rule a]\nreason = userunknown\n[rule b]\nreason = blocked\n"
                    "[rule a]\nstatus = 5.1.1\n", "duplicate group [rule a]");
    expect_problem ("[rules]\nreason = userunknown\n", "[rules]: unknown group");
    expect_problem ("[rule a]\nstatus = 5.1.1\n", "[rule a]: no reason");
    expect_problem ("[rule a]\nreason = userunknown\nsmtp-code = 5x0x\n",
                    "[rule a]: smtp-code '5x0x'");
    expect_problem ("[rule a]\nreason = userunknown\nstatus = five\n",
                    "[rule a]: status 'five'");
    expect_problem ("[rule a]\nreason = userunknown\naction = bounced\n",
                    "[rule a]: action 'bounced' is unknown");
    expect_problem ("[rule a]\nreason = userunknown\nhard = yes\n",
                    "[rule a]: hard must be true or false");
    expect_problem ("[rule a]\nreason = userunknown\nadvice = only English\n",
                    "[rule a]: advice needs both");
    expect_problem ("[reason blocked]\nmeaning = x\nmeaning[pl] = y\nhard = false\n"
                    "who = sender\nside = sender\nadvice = a\nadvice[pl] = b\n",
                    "[reason blocked]: duplicate reason");
    expect_problem ("[reason spam]\nmeaning = x\nhard = false\nwho = sender\nside = sender\n"
                    "advice = a\nadvice[pl] = b\n", "[reason spam]: no meaning[pl]");
    expect_problem ("[rule a]\nreason = userunknown\ninfer-status = 5.1\n",
                    "[rule a]: infer-status '5.1'");
    expect_problem ("[rule a]\nreason = userunknown\ndecoder = exim\nexample = x\n",
                    "[rule a]: example needs a rule that matches on codes");
    /* A rule that decides alone must name a cause by its code. */
    expect_problem ("[rule a]\nreason = blocked\ndecides-alone = true\nstatus = 5.7.*\n",
                    "[rule a]: decides-alone with status '5.7.*': a class");
    expect_problem ("[rule a]\nreason = blocked\ndecides-alone = true\nstatus = 5.?.1\n",
                    "[rule a]: decides-alone with status '5.?.1': a class");
    expect_problem ("[rule a]\nreason = blocked\ndecides-alone = true\nsmtp-code = 55x\n",
                    "[rule a]: decides-alone with smtp-code '55x'");
    expect_problem ("[rule a]\nreason = blocked\ndecides-alone = true\naction = delayed\n",
                    "[rule a]: decides-alone with action 'delayed'");
    expect_problem ("[rule a]\nreason = blocked\ndecides-alone = true\n"
                    "diagnostic-type = x-unix\n",
                    "[rule a]: decides-alone needs a code that names the cause");
    expect_problem ("[rule a]\nreason = blocked\ndecides-alone = true\n"
                    "diagnostic = spam\n",
                    "[rule a]: decides-alone needs a code that names the cause");
    expect_problem ("[rule a]\nreason = blocked\ndecides-alone = true\nfallback = true\n"
                    "status = 5.7.26\n", "[rule a]: decides-alone and fallback");
    expect_problem ("[rule a]\nreason = blocked\ndecides-alone = maybe\nstatus = 5.7.26\n",
                    "[rule a]: decides-alone must be true or false");
    expect_problem ("[rule a]\nreason = blocked\nstatus = 5.2.0\ndiagnostic-of = nosuch\n",
                    "[rule a]: diagnostic-of 'nosuch' is not a rule with a diagnostic");
    expect_problem ("[rule a]\nreason = blocked\nstatus = 5.2.0\ndiagnostic-of = b\n"
                    "[rule b]\nreason = blocked\nstatus = 5.2.1\n",
                    "[rule a]: diagnostic-of 'b' is not a rule with a diagnostic");
    /* A words rule must need words; a provider alone says nothing. */
    expect_problem ("[rule a]\nreason = blocked\nstatus = 5.7.1\ndiagnostic = (?:spam)?\n",
                    "[rule a]: diagnostic matches an empty text");
    expect_problem ("[rule a]\nreason = blocked\nsubject = .*\n",
                    "[rule a]: subject matches an empty text");
    expect_problem ("[rule a]\nreason = blocked\nremote-mta = example\\.net$\n",
                    "[rule a]: remote-mta or reporting-mta needs a status");
    /* A provider's host with a class and no words would come before
     * every phrase. */
    expect_problem ("[rule a]\nreason = blocked\nremote-mta = example\\.net$\nstatus = 5.7.*\n",
                    "[rule a]: remote-mta or reporting-mta with status '5.7.*' and no words");
    expect_problem ("[rule a]\nreason = blocked\nreporting-mta = example\\.net$\nsmtp-code = 55x\n",
                    "[rule a]: remote-mta or reporting-mta with smtp-code '55x' and no words");
}


/* rules check names a rule whose every status decides alone by another
 * rule: it can never decide (loading alone does not check). */
static void
test_unreachable (void)
{
    g_autofree char *dir = make_dir (
        2, "00-reasons.rules", reason_file,
        "10-test.rules",
        "[rule a]\nreason = blocked\ndecides-alone = true\nstatus = 5.2.2;4.2.2\n"
        "[rule b]\nreason = userunknown\nstatus = 5.2.2;4.2.2\ndiagnostic = no such user\n"
        "[rule c]\nreason = userunknown\nstatus = 5.2.2;5.1.1\ndiagnostic = no such user\n");
    const char *dirs[] = { dir, NULL };
    g_autoptr (GPtrArray) problems = g_ptr_array_new_with_free_func (g_free);
    g_autoptr (GError) error = NULL;
    g_autoptr (BounceRules) rules = bounce_rules_load (dirs, &error);

    g_assert_no_error (error);
    g_assert_false (bounce_rules_check (dirs, problems));
    g_assert_cmpuint (problems->len, ==, 1);
    g_assert_nonnull (strstr (problems->pdata[0], "10-test.rules: [rule b]: "
                              "never decides: status 5.2.2 decides alone "
                              "(rule a)"));
    remove_dir (dir);
}

/* rules check runs every rule's examples through all the rules: one that
 * an earlier rule shadows is a problem (loading alone does not check). */
static void
test_examples (void)
{
    g_autofree char *dir = make_dir (
        2, "00-reasons.rules", reason_file,
        "10-test.rules",
        "[rule wide]\nreason = blocked\nstatus = 5.*\nexample = 5.7.1\n"
        "[rule narrow]\nreason = userunknown\nstatus = 5.1.1\n"
        "example = 550 5.1.1 user unknown\\; no such user\n");
    const char *dirs[] = { dir, NULL };
    g_autoptr (GPtrArray) problems = g_ptr_array_new_with_free_func (g_free);
    g_autoptr (GError) error = NULL;
    g_autoptr (BounceRules) rules = bounce_rules_load (dirs, &error);

    g_assert_no_error (error);
    g_assert_nonnull (rules);
    g_assert_false (bounce_rules_check (dirs, problems));
    g_assert_cmpuint (problems->len, ==, 1);
    g_assert_nonnull (strstr (problems->pdata[0], "10-test.rules: [rule narrow]: "
                              "example '550 5.1.1 user unknown; no such user' "
                              "is decided by rule wide"));
    remove_dir (dir);
}

static void
test_load_duplicate_id_across_files (void)
{
    g_autofree char *dir = make_dir (3, "00-reasons.rules", reason_file,
                                     "10-a.rules", "[rule x]\nreason = blocked\n",
                                     "20-b.rules", "[rule x]\nreason = userunknown\n");
    const char *dirs[] = { dir, NULL };
    g_autoptr (GPtrArray) problems = g_ptr_array_new_with_free_func (g_free);

    g_assert_false (bounce_rules_check (dirs, problems));
    g_assert_cmpuint (problems->len, ==, 1);
    g_assert_nonnull (strstr (problems->pdata[0], "20-b.rules: [rule x]: duplicate rule id"));
    remove_dir (dir);
}

static void
test_load_missing_dir (void)
{
    const char *dirs[] = { "/nonexistent/bouncestat-rules", NULL };
    g_autoptr (GError) error = NULL;
    g_autoptr (BounceRules) rules = bounce_rules_load (dirs, &error);

    g_assert_null (rules);
    g_assert_error (error, BOUNCE_ERROR, BOUNCE_ERROR_RULES);
    g_assert_nonnull (strstr (error->message, "/nonexistent/bouncestat-rules"));
}

/* Classifies one recipient with @rules. */
static BounceRecipient *
classify_one (const BounceRules *rules, const char *status, int code,
              const char *action, const char *diagnostic)
{
    g_autoptr (BounceReport) report = bounce_report_new ("test");
    BounceRecipient *r = bounce_recipient_new ();

    r->status = g_strdup (status);
    r->smtp_code = code;
    r->action = g_strdup (action);
    r->diagnostic = g_strdup (diagnostic);
    report->kind = BOUNCE_KIND_DSN;
    g_ptr_array_add (report->recipients, r);
    bounce_rules_classify (rules, report);
    g_ptr_array_steal_index (report->recipients, 0);
    return r;
}

/* First match wins; keys AND, list values OR; a later directory
 * overrides a rule by id in place, disables one, or adds one in the
 * lexical order of file names. */
static void
test_order_and_override (void)
{
    g_autofree char *base = make_dir (
        3, "00-reasons.rules", reason_file,
        "10-first.rules",
        "[rule by-text]\nreason = blocked\ndiagnostic = spamhaus\n"
        "[rule by-status]\nreason = userunknown\nstatus = 5.1.1;5.1.3\n"
        "[rule both]\nreason = blocked\nstatus = 5.7.*\nsmtp-code = 55x\n",
        "90-last.rules", "[rule fallback]\nreason = undefined\n");
    g_autofree char *local = make_dir (
        2, "10-first.rules", "[rule by-status]\nreason = blocked\nstatus = 5.1.1\nhard = true\n",
        "50-middle.rules", "[rule by-text]\ndisabled = true\n"
        "[rule added]\nreason = userunknown\nstatus = 5.7.1\ninfer-status = 5.1.1\n");
    const char *only_base[] = { base, NULL };
    const char *both[] = { base, local, NULL };
    g_autoptr (GError) error = NULL;
    g_autoptr (BounceRules) a = bounce_rules_load (only_base, &error);
    g_autoptr (BounceRules) b = NULL;
    BounceRecipient *r;

    g_assert_no_error (error);
    g_assert_cmpuint (bounce_rules_count (a), ==, 4);
    /* the text rule comes first even though the status says 5.1.1 */
    r = classify_one (a, "5.1.1", 550, "failed", "blocked using spamhaus");
    g_assert_cmpstr (r->rule, ==, "by-text");
    g_assert_cmpint (r->hard, ==, 0);
    bounce_recipient_free (r);
    r = classify_one (a, "5.1.3", 550, "failed", "no such user");
    g_assert_cmpstr (r->rule, ==, "by-status");
    g_assert_cmpint (r->hard, ==, 1);
    bounce_recipient_free (r);
    /* AND: the status matches but the code does not */
    r = classify_one (a, "5.7.1", 421, "failed", NULL);
    g_assert_cmpstr (r->rule, ==, "fallback");
    g_assert_cmpstr (r->reason, ==, "undefined");
    bounce_recipient_free (r);
    r = classify_one (a, "5.7.1", 554, "failed", NULL);
    g_assert_cmpstr (r->rule, ==, "both");
    bounce_recipient_free (r);

    b = bounce_rules_load (both, &error);
    g_assert_no_error (error);
    g_assert_cmpuint (bounce_rules_count (b), ==, 4);
    /* by-text is disabled; by-status is replaced in place */
    r = classify_one (b, "5.1.1", 550, "failed", "blocked using spamhaus");
    g_assert_cmpstr (r->rule, ==, "by-status");
    g_assert_cmpstr (r->reason, ==, "blocked");
    g_assert_cmpint (r->hard, ==, 1); /* the rule's hard wins */
    bounce_recipient_free (r);
    r = classify_one (b, "5.1.3", 550, "failed", NULL);
    g_assert_cmpstr (r->rule, ==, "fallback");
    bounce_recipient_free (r);
    /* the added rule sits between 10- and 90-, after "both" */
    r = classify_one (b, "5.7.1", 554, "failed", NULL);
    g_assert_cmpstr (r->rule, ==, "both");
    bounce_recipient_free (r);
    r = classify_one (b, "5.7.1", 421, "failed", NULL);
    g_assert_cmpstr (r->rule, ==, "added");
    g_assert_cmpstr (r->status, ==, "5.7.1"); /* has a status: not inferred */
    bounce_recipient_free (r);
    g_assert_nonnull (bounce_rules_get_rule (b, "added"));
    g_assert_null (bounce_rules_get_rule (b, "by-text"));

    remove_dir (base);
    remove_dir (local);
}

/* A value may go on over indented lines: alternatives of a regular
 * expression, items of a list, words of a text; comments between them;
 * the file keeps its line numbers. */
static void
test_continuations (void)
{
    g_autofree char *dir = make_dir (
        2, "00-reasons.rules", reason_file,
        "10-long.rules",
        "[rule long]\n"
        "description = one\n"
        "    two\n"
        "reason = userunknown\n"
        "diagnostic =\n"
        "    # RFC 5321's words\n"
        "    mailbox unavailable\n"
        "# Postfix local(8)\n"
        "\tunknown user\n"
        "    no such (?:user|mailbox)\n"
        "status = 5.1.1\n"
        "    5.1.3\n"
        "example = 550 5.1.1 mailbox unavailable\n"
        "    550 5.1.3 no such mailbox\n"
        "\n"
        "[rule other]\n"
        "reason = blocked\n"
        "status = 5.1.*\n");
    const char *dirs[] = { dir, NULL };
    g_autoptr (GError) error = NULL;
    g_autoptr (BounceRules) rules = bounce_rules_load (dirs, &error);
    g_autoptr (GPtrArray) problems = g_ptr_array_new_with_free_func (g_free);
    const BounceRule *rule;
    BounceRecipient *r;

    g_assert_no_error (error);
    g_assert_true (bounce_rules_check (dirs, problems));
    rule = bounce_rules_get_rule (rules, "long");
    g_assert_cmpstr (rule->description, ==, "one two");
    r = classify_one (rules, "5.1.3", 550, "failed", "550 unknown user");
    g_assert_cmpstr (r->rule, ==, "long");
    bounce_recipient_free (r);
    r = classify_one (rules, "5.1.1", 550, "failed", "no such user");
    g_assert_cmpstr (r->rule, ==, "long");
    bounce_recipient_free (r);
    /* the comment is not an alternative */
    r = classify_one (rules, "5.1.1", 550, "failed", "RFC 5321's words");
    g_assert_cmpstr (r->rule, ==, "other");
    bounce_recipient_free (r);
    r = classify_one (rules, "5.1.2", 550, "failed", "unknown user");
    g_assert_cmpstr (r->rule, ==, "other");
    bounce_recipient_free (r);
    remove_dir (dir);

    /* An indented line after an empty line continues nothing: the
     * problem names its line. */
    expect_problem ("[rule a]\nreason = blocked\ndiagnostic =\n    spam\n\n"
                    "    virus\n",
                    "10-test.rules: line 6: an indented line continues a value");
}

/* Words before structure, whatever the files' order: a rule that
 * decides alone, then words (and providers), then codes and other
 * structure, then catch-alls; file order within a tier. */
static void
test_tiers (void)
{
    g_autofree char *dir = make_dir (
        3, "00-reasons.rules", reason_file,
        "10-structure.rules",
        "[rule catch-all]\nreason = undefined\n"
        "[rule last-words]\nreason = blocked\nfallback = true\ndiagnostic = hello\n"
        "[rule by-class]\nreason = blocked\nstatus = 5.1.*\n"
        "[rule by-type]\nreason = blocked\ndiagnostic-type = x-unix\n"
        "[rule by-action]\nreason = blocked\naction = delayed\n",
        "50-words.rules",
        "[rule by-provider]\nreason = blocked\nremote-mta = \\.example\\.net$\n"
        "status = 5.1.1\n"
        "[rule by-words]\nreason = userunknown\ndiagnostic = no such user\n"
        "[rule alone]\nreason = blocked\ndecides-alone = true\nstatus = 5.1.6\n");
    const char *dirs[] = { dir, NULL };
    g_autoptr (GError) error = NULL;
    g_autoptr (BounceRules) rules = bounce_rules_load (dirs, &error);
    g_autoptr (GPtrArray) problems = g_ptr_array_new_with_free_func (g_free);
    BounceRecipient *r;

    g_assert_no_error (error);
    g_assert_true (bounce_rules_check (dirs, problems));
    /* the words beat an earlier status class, type and action */
    r = classify_one (rules, "5.1.0", 550, "failed", "550 no such user");
    g_assert_cmpstr (r->rule, ==, "by-words");
    bounce_recipient_free (r);
    r = classify_one (rules, NULL, 0, "delayed", "no such user");
    g_assert_cmpstr (r->rule, ==, "by-words");
    bounce_recipient_free (r);
    r = classify_one (rules, "5.1.0", 550, "failed", "550 who knows");
    g_assert_cmpstr (r->rule, ==, "by-class");
    bounce_recipient_free (r);
    /* a code that decides alone beats the words */
    r = classify_one (rules, "5.1.6", 550, "failed", "550 no such user");
    g_assert_cmpstr (r->rule, ==, "alone");
    bounce_recipient_free (r);
    /* the provider's code beats generic words of a later rule */
    r = classify_one (rules, "5.1.1", 550, "failed", "550 no such user");
    g_assert_cmpstr (r->rule, ==, "by-words");
    g_free (r->remote_mta);
    r->remote_mta = g_strdup ("mx.example.net");
    {
        g_autoptr (BounceReport) report = bounce_report_new ("test");
        report->kind = BOUNCE_KIND_DSN;
        g_ptr_array_add (report->recipients, r);
        bounce_rules_classify (rules, report);
        g_assert_cmpstr (r->rule, ==, "by-provider");
    }
    /* a catch-all first in the files is still the last resort; a
     * fallback rule with words comes after every structural rule */
    r = classify_one (rules, NULL, 0, "failed", "goodbye");
    g_assert_cmpstr (r->rule, ==, "catch-all");
    bounce_recipient_free (r);
    r = classify_one (rules, NULL, 0, "failed", "hello");
    g_assert_cmpstr (r->rule, ==, "last-words");
    bounce_recipient_free (r);
    r = classify_one (rules, "5.1.0", 550, "failed", "hello");
    g_assert_cmpstr (r->rule, ==, "by-class");
    bounce_recipient_free (r);
    remove_dir (dir);
}

/* Each match key, alone: it must match for the rule to decide. */
static void
test_match_keys (void)
{
    g_autofree char *dir = make_dir (
        2, "00-reasons.rules", reason_file,
        "10-keys.rules",
        "[rule by-kind]\nreason = blocked\nkind = feedback;autoreply\n"
        "[rule by-decoder]\nreason = blocked\ndecoder = exim\n"
        "[rule by-reporting]\nreason = blocked\nreporting-mta = \\.example\\.net$\n"
        "status = none\n"
        "[rule by-remote]\nreason = blocked\nremote-mta = ^mx\\d\\.example\\.org$\n"
        "status = none\n"
        "[rule by-subject]\nreason = blocked\nsubject = ^Undeliverable:\n"
        "[rule by-type]\nreason = blocked\ndiagnostic-type = x-unix\n"
        "[rule by-action]\nreason = blocked\naction = delayed\n"
        "[rule by-code]\nreason = blocked\nsmtp-code = 45x\n"
        "[rule by-none]\nreason = blocked\nsmtp-code = 421\nstatus = none\n"
        "smtp-command = NONE\n"
        "[rule by-status-or-none]\nreason = blocked\nsmtp-code = 421\n"
        "status = 4.4.*;none\n"
        "[rule fallback]\nreason = undefined\n");
    const char *dirs[] = { dir, NULL };
    g_autoptr (GError) error = NULL;
    g_autoptr (BounceRules) rules = bounce_rules_load (dirs, &error);
    static const struct {
        const char *field;
        const char *value;
        const char *rule;
    } cases[] = {
        { "kind", "feedback", "by-kind" },
        { "mta", "exim", "by-decoder" },
        { "mta", "postfix", "fallback" },
        { "reporting_mta", "mail.example.net", "by-reporting" },
        { "reporting_mta", "mail.example.net.evil", "fallback" },
        { "remote_mta", "MX2.example.org", "by-remote" },
        { "subject", "Undeliverable: hello", "by-subject" },
        { "subject", "Re: Undeliverable: hello", "fallback" },
        { "diagnostic_type", "x-unix", "by-type" },
        { "action", "delayed", "by-action" },
        { "code", "452", "by-code" },
        { "code", "552", "fallback" },
        { "code", "421", "by-none" },
        { "command", "RCPT", "by-status-or-none" },
        { "status", "4.4.1", "by-status-or-none" },
        { "status", "4.7.0", "fallback" },
        { "none", NULL, "fallback" },
    };

    g_assert_no_error (error);
    for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
        g_autoptr (BounceReport) report = bounce_report_new ("test");
        BounceRecipient *r = bounce_recipient_new ();
        const char *f = cases[i].field;

        r->action = g_strdup ("failed");
        report->kind = BOUNCE_KIND_DSN;
        if (strcmp (f, "kind") == 0)
            report->kind = BOUNCE_KIND_FEEDBACK;
        else if (strcmp (f, "mta") == 0)
            report->mta = g_strdup (cases[i].value);
        else if (strcmp (f, "reporting_mta") == 0)
            report->reporting_mta = g_strdup (cases[i].value);
        else if (strcmp (f, "remote_mta") == 0)
            r->remote_mta = g_strdup (cases[i].value);
        else if (strcmp (f, "subject") == 0)
            report->subject = g_strdup (cases[i].value);
        else if (strcmp (f, "diagnostic_type") == 0)
            r->diagnostic_type = g_strdup (cases[i].value);
        else if (strcmp (f, "action") == 0) {
            g_free (r->action);
            r->action = g_strdup (cases[i].value);
        } else if (strcmp (f, "code") == 0) {
            r->smtp_code = atoi (cases[i].value);
        } else if (strcmp (f, "command") == 0) {
            r->smtp_code = 421;
            r->smtp_command = g_strdup (cases[i].value);
        } else if (strcmp (f, "status") == 0) {
            r->smtp_code = 421;
            r->status = g_strdup (cases[i].value);
        }
        g_ptr_array_add (report->recipients, r);
        bounce_rules_classify (rules, report);
        g_test_message ("case %u: %s=%s -> %s", i, f, cases[i].value, r->rule);
        g_assert_cmpstr (r->rule, ==, cases[i].rule);
    }
    remove_dir (dir);
}

/* A recipient without a status gets the rule's inferred one (class 4
 * when temporary), with status_source inferred. */
static void
test_infer_status (void)
{
    BounceRecipient *r;

    r = classify_one (shipped, NULL, 0, "failed", "550 Mailbox full");
    g_assert_cmpstr (r->reason, ==, "mailboxfull");
    g_assert_cmpstr (r->status, ==, "5.2.2");
    g_assert_cmpint (r->status_source, ==, BOUNCE_STATUS_SOURCE_INFERRED);
    g_assert_true (r->permanent);
    bounce_recipient_free (r);
    r = classify_one (shipped, NULL, 452, "delayed", "mailbox full");
    g_assert_cmpstr (r->status, ==, "4.2.2");
    g_assert_false (r->permanent);
    bounce_recipient_free (r);
    r = classify_one (shipped, "5.1.1", 550, "failed", "mailbox full");
    g_assert_cmpstr (r->status, ==, "5.1.1");
    g_assert_cmpint (r->status_source, !=, BOUNCE_STATUS_SOURCE_INFERRED);
    bounce_recipient_free (r);
}

/* User-unknown words by context (Sisimai's definitions): at RCPT or
 * with x.1.x they are userunknown; in reply to DATA under a status that
 * is not x.1.x, or under a mailbox status x.2.0/x.2.1 off RCPT, a filter
 * refused the message (filtered).  No decoder decides it. */
static void
test_filtered_user_unknown (void)
{
    static const struct {
        const char *mta;
        const char *status;
        const char *command;
        int code;
        const char *diagnostic;
        const char *reason;
    } cases[] = {
        /* the reporting system's own words, no reply: its own users */
        { "qmail", NULL, NULL, 0, "<a@example.jp>: User unknown", "userunknown" },
        { "rfc3464", NULL, NULL, 0, "Unknown user a@example.jp", "userunknown" },
        /* a remote reply with neither the command nor a status: nothing
         * shows a refusal at RCPT */
        { "qmail", NULL, NULL, 550, "550 <a@example.jp>: User unknown", "filtered" },
        { "rfc3464", NULL, NULL, 550, "550 Unknown user a@example.jp", "filtered" },
        { "qmail", NULL, "RCPT", 550, "550 <a@example.jp>: User unknown", "userunknown" },
        /* x.1.1 says the address, whatever the command */
        { "qmail", "5.1.1", NULL, 550, "550 5.1.1 <a@example.jp>: User unknown", "userunknown" },
        { "exim", "5.1.1", "DATA", 550, "550 5.1.1 No such user", "userunknown" },
        /* a status that is not x.1.x and no command: a remote reply
         * that does not show RCPT either (rules/README.md) */
        { "rfc3464", "5.0.0", NULL, 550, "550 5.0.0 No such user", "filtered" },
        { "rfc3464", "5.0.0", NULL, 0, "No such user", "userunknown" },
        /* after DATA the address had been accepted */
        { "exim", NULL, "DATA", 550, "550 User unknown", "filtered" },
        { "postfix", "5.0.0", "DATA", 550, "550 5.0.0 No such user here", "filtered" },
        { "sendmail", "5.7.1", "DATA", 550, "550 5.7.1 Unknown recipient", "filtered" },
        /* a mailbox status: the mailbox exists */
        { "rfc3464", "5.2.1", NULL, 550, "550 5.2.1 <a@example.jp>... User Unknown", "filtered" },
        { "rfc3464", "5.2.0", NULL, 550, "550 5.2.0 Unknown user", "filtered" },
        { "rfc3464", "5.2.1", "RCPT", 550, "550 5.2.1 <a@example.jp>... User Unknown", "userunknown" },
        /* the same decoder, other contexts: the decoder does not decide */
        { "activehunter", NULL, "RCPT", 550, "550 Unknown user", "userunknown" },
        { "activehunter", NULL, "DATA", 550, "550 Unknown user", "filtered" },
    };

    for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
        g_autoptr (BounceReport) report = bounce_report_new ("test");
        BounceRecipient *r = bounce_recipient_new ();

        r->action = g_strdup ("failed");
        r->status = g_strdup (cases[i].status);
        r->smtp_command = g_strdup (cases[i].command);
        r->smtp_code = cases[i].code;
        r->diagnostic = g_strdup (cases[i].diagnostic);
        report->kind = BOUNCE_KIND_DSN;
        report->mta = g_strdup (cases[i].mta);
        g_ptr_array_add (report->recipients, r);
        bounce_rules_classify (shipped, report);
        g_test_message ("case %u -> %s [%s]", i, r->reason, r->rule);
        g_assert_cmpstr (r->reason, ==, cases[i].reason);
    }
}

/* A diagnostic of type x-unix is a local program's exit: its sysexits
 * text says mailererror; a bare exit number defers to a status that
 * names the cause, and is mailererror otherwise. */
static void
test_mailer_exit (void)
{
    static const struct {
        const char *status;
        const char *action;
        const char *diagnostic;
        const char *reason;
    } cases[] = {
        { "4.3.0", "failed", "temporary failure", "mailererror" },
        { "5.3.0", "failed", "service unavailable", "mailererror" },
        { "5.3.0", "failed", "77", "systemerror" },
        { "4.5.0", "delayed", "71", "mailererror" },
        { "5.0.0", "failed", "75", "mailererror" },
        { "5.2.2", "failed", "Mailbox full", "mailboxfull" },
    };

    for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
        g_autoptr (BounceReport) report = bounce_report_new ("test");
        BounceRecipient *r = bounce_recipient_new ();

        r->action = g_strdup (cases[i].action);
        r->status = g_strdup (cases[i].status);
        r->diagnostic_type = g_strdup ("x-unix");
        r->diagnostic = g_strdup (cases[i].diagnostic);
        report->kind = BOUNCE_KIND_DSN;
        g_ptr_array_add (report->recipients, r);
        bounce_rules_classify (shipped, report);
        g_test_message ("case %u -> %s [%s]", i, r->reason, r->rule);
        g_assert_cmpstr (r->reason, ==, cases[i].reason);
    }
}

/* An auto-reply: the decoder only detects it (no reason without rules);
 * the rules of 10-outcomes.rules say "suspend" when its text says the
 * account is closed, else "vacation" (one source for the phrases). */
static void
test_autoreply (void)
{
    static const struct {
        const char *message;
        const char *reason;
    } cases[] = {
        { "From: carol@example.com\nTo: s@example.org\n"
          "Subject: Automatic reply: hello\nX-Autoreply: yes\n\n"
          "This account has been closed.\n", "suspend" },
        { "From: dora@example.fr\nTo: s@example.org\n"
          "Subject: Réponse automatique\nAuto-Submitted: auto-replied\n\n"
          "Cette adresse n'est plus en service.\n", "suspend" },
        { "From: bob@example.de\nTo: s@example.org\n"
          "Subject: Abwesenheitsnotiz: Ihre Anfrage\n\n"
          "Ich bin bis zum 3. Mai nicht im Büro.\n", "vacation" },
    };

    for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
        g_autoptr (BounceParser) parser = bounce_parser_new ();
        g_autoptr (GBytes) bytes =
            g_bytes_new_static (cases[i].message, strlen (cases[i].message));
        g_autoptr (BounceReport) raw = bounce_parser_parse (parser, bytes, "t");
        g_autoptr (BounceReport) report = NULL;
        const BounceRecipient *r;

        g_assert_cmpint (raw->kind, ==, BOUNCE_KIND_AUTOREPLY);
        g_assert_cmpuint (raw->recipients->len, ==, 1);
        g_assert_null (((BounceRecipient *) raw->recipients->pdata[0])->reason);
        bounce_parser_set_rules (parser, shipped);
        report = bounce_parser_parse (parser, bytes, "t");
        r = report->recipients->pdata[0];
        g_test_message ("case %u -> %s [%s]", i, r->reason, r->rule);
        g_assert_cmpstr (r->reason, ==, cases[i].reason);
        g_assert_cmpstr (bounce_recipient_outcome (report, r), ==, "autoreply");
    }
}

/* Any language can be added by a file: a reason with meaning[de] and
 * advice[de] answers in German for "de_DE.UTF-8", in English for a
 * language it lacks; a rule's own advice in a language wins. */
static void
test_languages (void)
{
    g_autofree char *dir = make_dir (
        2, "00-reasons.rules",
        "[reason blocked]\nmeaning = blocked\nmeaning[pl] = zablokowany\n"
        "meaning[de] = gesperrt\nhard = false\nwho = sender\nside = sender\n"
        "advice = check lists\nadvice[pl] = sprawdz listy\n"
        "advice[de] = Listen pruefen\n",
        "10-rules.rules",
        "[rule spam]\nreason = blocked\ndiagnostic = spamhaus\n"
        "advice = delist\nadvice[pl] = wypisz\nadvice[fr] = retirer\n");
    const char *dirs[] = { dir, NULL };
    g_autoptr (GError) error = NULL;
    g_autoptr (BounceRules) rules = bounce_rules_load (dirs, &error);
    g_auto (GStrv) langs = NULL;

    g_assert_no_error (error);
    langs = bounce_rules_get_languages (rules);
    g_assert_cmpstrv (langs, ((const char *const[]) { "en", "de", "pl", NULL }));
    g_assert_cmpstr (bounce_rules_get_meaning (rules, "blocked", "de_DE.UTF-8"),
                     ==, "gesperrt");
    g_assert_cmpstr (bounce_rules_get_meaning (rules, "blocked", "pl"), ==,
                     "zablokowany");
    g_assert_cmpstr (bounce_rules_get_meaning (rules, "blocked", "sv_SE"), ==,
                     "blocked");
    g_assert_cmpstr (bounce_rules_get_meaning (rules, "blocked", NULL), ==,
                     "blocked");
    g_assert_cmpstr (bounce_rules_get_advice (rules, "blocked", NULL, "de"), ==,
                     "Listen pruefen");
    g_assert_cmpstr (bounce_rules_get_advice (rules, "blocked", "spam", "fr_FR"),
                     ==, "retirer");
    g_assert_cmpstr (bounce_rules_get_advice (rules, "blocked", "spam", "de"),
                     ==, "delist");
    g_assert_null (bounce_rules_get_meaning (rules, "nosuchreason", "en"));
    remove_dir (dir);
}

/* A delay with nothing but a bare reply code is expired (Sisimai); the
 * guide's row decides a failure with the same code. */
static void
test_delay_before_code (void)
{
    BounceRecipient *r;

    r = classify_one (shipped, "4.5.0", 421, "delayed", "Deferred: 421");
    g_assert_cmpstr (r->reason, ==, "expired");
    g_assert_cmpstr (r->rule, ==, "fallback-delayed");
    bounce_recipient_free (r);
    r = classify_one (shipped, NULL, 421, "failed", "421");
    g_assert_cmpstr (r->rule, ==, "smtp-421");
    bounce_recipient_free (r);
    /* words still win over the delay */
    r = classify_one (shipped, "4.5.0", 452, "delayed", "452 4.2.2 Mailbox full");
    g_assert_cmpstr (r->reason, ==, "mailboxfull");
    bounce_recipient_free (r);
}

/* explain reads the command from the text, as parse does: Postfix's
 * "(in reply to end of DATA command)", Postfix smtpd's "Recipient
 * address rejected" (always an RCPT answer). */
static void
test_command_in_text (void)
{
    static const struct {
        const char *text;
        const char *command;
        const char *reason;
    } cases[] = {
        { "host mx.example.org[192.0.2.1] said: 550 5.0.0 <a@example.org>... User unknown (in reply to end of DATA command)", "DATA", "filtered" },
        { "host mx.example.org[192.0.2.1] said: 550 5.0.0 <a@example.org>... User unknown (in reply to RCPT TO command)", "RCPT", "userunknown" },
        { "550 5.0.0 <a@example.org>: Recipient address rejected: User unknown in local recipient table", "RCPT", "userunknown" },
        { "SMTP error from remote mail server after end of data: 550 No such user", "DATA", "filtered" },
        /* a transcript line: the command sent, then "<<<" and the reply */
        { "RCPT TO:<a@example.org> <<< 550 <a@example.org>: User unknown", "RCPT", "userunknown" },
        /* an envelope listed in prose names no command */
        { "550 No such user here. Message details: MAIL FROM: b@example.org RCPT TO: a@example.org", NULL, "filtered" },
    };

    for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
        g_autoptr (BounceRecipient) r = bounce_rules_explain (shipped, cases[i].text);
        g_test_message ("case %u -> %s [%s]", i, r->reason, r->rule);
        g_assert_cmpstr (r->smtp_command, ==, cases[i].command);
        g_assert_cmpstr (r->reason, ==, cases[i].reason);
    }
}

/* Text past BOUNCE_MAX_MATCH_BYTES is not matched. */
static void
test_match_cut (void)
{
    g_autoptr (GString) text = g_string_new ("550 ");
    BounceRecipient *r;

    while (text->len < BOUNCE_MAX_MATCH_BYTES + 10)
        g_string_append (text, "x ");
    g_string_append (text, "mailbox full");
    r = classify_one (shipped, NULL, 0, "failed", text->str);
    g_assert_cmpstr (r->reason, !=, "mailboxfull");
    bounce_recipient_free (r);
}

/* ------------------------------------------------------------------ */
/* Fixtures: the real Postfix bounces                                 */
/* ------------------------------------------------------------------ */

typedef struct {
    const char *file;
    const char *reasons; /* per recipient, space-separated; "-" unscored */
    const char *hard;    /* per recipient: h, s; x unscored */
} FixtureCase;

static const FixtureCase postfix_cases[] = {
    { "postfix-4.4.1-connection-refused-delayed.eml", "networkerror", "s" },
    { "postfix-4.4.1-connection-refused-expired.eml", "networkerror", "s" },
    { "postfix-421-4.7.0-too-many-connections-delayed.eml", "ratelimited", "s" },
    { "postfix-421-4.7.0-too-many-connections-expired.eml", "ratelimited", "s" },
    { "postfix-450-4.2.1-try-later-delayed.eml", "-", "s" },
    { "postfix-450-4.2.1-try-later-expired.eml", "-", "s" },
    { "postfix-5.0.0-local-only-error-transport.eml", "-", "x" },
    { "postfix-511-local-unknown-user.eml", "userunknown", "h" },
    { "postfix-535-5.7.8-auth-failed.eml", "securityerror", "s" },
    { "postfix-550-5.1.1-remote-unknown-user.eml", "userunknown", "h" },
    { "postfix-550-5.7.26-unauthenticated.eml", "authfailure", "s" },
    { "postfix-552-mailbox-full.eml", "mailboxfull", "s" },
    { "postfix-552-smtp-envid-orcpt-hdrs.eml", "mailboxfull", "s" },
    { "postfix-554-5.7.1-spamhaus-blocked-hdrs-only.eml", "blocked", "s" },
    { "postfix-multi-recipient-552-554-511.eml", "userunknown blocked mailboxfull", "hss" },
    { "postfix-procmail-511-local-unknown-user.eml", "userunknown", "h" },
    { "postfix-procmail-552-mailbox-full.eml", "mailboxfull", "s" },
    { "postfix-success-delivered.eml", "delivered", "s" },
    { "postfix-success-expanded-forward.eml", "delivered", "s" },
    { "postfix-success-relayed.eml", "delivered", "s" },
};

static void
test_postfix_fixture (gconstpointer data)
{
    const FixtureCase *c = data;
    g_autofree char *path = g_test_build_filename (G_TEST_DIST, "fixtures",
                                                   "postfix-real", c->file, NULL);
    g_autoptr (GError) error = NULL;
    g_autoptr (GMappedFile) mapped = g_mapped_file_new (path, FALSE, &error);
    g_autoptr (GBytes) bytes = NULL;
    g_autoptr (BounceParser) parser = bounce_parser_new ();
    g_autoptr (BounceReport) report = NULL;
    g_auto (GStrv) reasons = g_strsplit (c->reasons, " ", -1);

    g_assert_no_error (error);
    bytes = g_mapped_file_get_bytes (mapped);
    bounce_parser_set_rules (parser, shipped);
    report = bounce_parser_parse (parser, bytes, path);
    g_assert_cmpuint (report->recipients->len, ==, g_strv_length (reasons));
    for (guint i = 0; i < report->recipients->len; i++) {
        const BounceRecipient *r = report->recipients->pdata[i];
        g_test_message ("recipient %u: %s [%s]", i, r->reason, r->rule);
        g_assert_nonnull (r->reason);
        g_assert_nonnull (r->rule);
        if (strcmp (reasons[i], "-") != 0)
            g_assert_cmpstr (r->reason, ==, reasons[i]);
        if (c->hard[i] != 'x')
            g_assert_cmpint (r->hard, ==, c->hard[i] == 'h');
    }
}

int
main (int argc, char **argv)
{
    const char *dirs[2] = { NULL, NULL };
    g_autoptr (GError) error = NULL;
    int status;

    g_test_init (&argc, &argv, NULL);
    bounce_init ();
    dirs[0] = rules_dir ();
    shipped = bounce_rules_load (dirs, &error);
    g_assert_no_error (error);

    g_test_add_func ("/rules/guide/smtp-table", test_guide_table);
    g_test_add_func ("/rules/guide/causes", test_guide_causes);
    g_test_add_func ("/rules/first-reason", test_first_reason);
    g_test_add_func ("/rules/phrases", test_phrases);
    g_test_add_func ("/rules/explain-context", test_explain_context);
    g_test_add_func ("/rules/reason-table", test_reason_table);
    g_test_add_func ("/rules/shipped-check", test_shipped_check);
    g_test_add_func ("/rules/load/problems", test_load_problems);
    g_test_add_func ("/rules/load/duplicate-id", test_load_duplicate_id_across_files);
    g_test_add_func ("/rules/load/examples", test_examples);
    g_test_add_func ("/rules/load/unreachable", test_unreachable);
    g_test_add_func ("/rules/tiers", test_tiers);
    g_test_add_func ("/rules/continuations", test_continuations);
    g_test_add_func ("/rules/load/missing-dir", test_load_missing_dir);
    g_test_add_func ("/rules/order-and-override", test_order_and_override);
    g_test_add_func ("/rules/match-keys", test_match_keys);
    g_test_add_func ("/rules/infer-status", test_infer_status);
    g_test_add_func ("/rules/match-cut", test_match_cut);
    g_test_add_func ("/rules/filtered-user-unknown", test_filtered_user_unknown);
    g_test_add_func ("/rules/command-in-text", test_command_in_text);
    g_test_add_func ("/rules/mailer-exit", test_mailer_exit);
    g_test_add_func ("/rules/delay-before-code", test_delay_before_code);
    g_test_add_func ("/rules/autoreply", test_autoreply);
    g_test_add_func ("/rules/languages", test_languages);
    for (guint i = 0; i < G_N_ELEMENTS (postfix_cases); i++) {
        g_autofree char *name = g_strdup_printf ("/rules/fixture/postfix-real/%s",
                                                 postfix_cases[i].file);
        g_test_add_data_func (name, &postfix_cases[i], test_postfix_fixture);
    }
    status = g_test_run ();
    bounce_rules_free (shipped);
    return status;
}
