/*
 * test-verp.c - signed VERP return paths (docs/verp.md): the token
 * against values computed independently (Python's hmac module, as list
 * software would), the return path's layout, decoding what MTAs hand
 * back (case changed, "+" and "=" in the local part), wrong and missing
 * tokens, the secret file, and the parser's verdict on each recipient.
 */
#include <string.h>

#include <glib/gstdio.h>

#include "bounce.h"

#define SECRET "0123456789abcdef0123456789abcdef"

static BounceVerpKey *
test_key (void)
{
    g_autoptr (GError) error = NULL;
    BounceVerpKey *key =
        bounce_verp_key_new ((const guint8 *) SECRET, strlen (SECRET), &error);

    g_assert_no_error (error);
    g_assert_nonnull (key);
    return key;
}

/* python3 -c 'import hmac, hashlib; print(hmac.new(b"0123456789abcdef"
 *   b"0123456789abcdef", "alice@example.com".encode(),
 *   hashlib.sha256).hexdigest()[:16])' */
static void
test_token (void)
{
    g_autoptr (BounceVerpKey) key = test_key ();
    g_autofree char *t1 = bounce_verp_token (key, "alice@example.com");
    g_autofree char *t2 = bounce_verp_token (key, "ALICE@Example.COM");
    g_autofree char *t3 = bounce_verp_token (key, "j\xc3\xb6rg@example.com");
    g_autofree char *t4 = bounce_verp_token (key, "bob@example.com");

    g_assert_cmpstr (t1, ==, "841240d2a5b6654b");
    /* ASCII letters are lowered before signing; UTF-8 is signed as is. */
    g_assert_cmpstr (t2, ==, t1);
    g_assert_cmpstr (t3, ==, "d4b6bd51a37050cf");
    g_assert_cmpuint (strlen (t4), ==, BOUNCE_VERP_TOKEN_LENGTH);
    g_assert_cmpstr (t4, !=, t1);
}

static void
test_encode_decode (void)
{
    static const struct {
        const char *address;
        const char *local; /* of the signed return path */
    } cases[] = {
        { "alice@example.com", "bounces+alice=example.com+841240d2a5b6654b" },
        { "Alice@EXAMPLE.com", "bounces+alice=example.com+841240d2a5b6654b" },
        { "bob+news=x@example.co.uk", NULL },
        { "j\xc3\xb6rg@example.com", "bounces+j\xc3\xb6rg=example.com+"
                                     "d4b6bd51a37050cf" },
    };
    g_autoptr (BounceVerpKey) key = test_key ();

    for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
        g_autoptr (GError) error = NULL;
        g_autofree char *rp = bounce_verp_encode (key, "bounces@your.domain",
                                                  cases[i].address, &error);
        g_autofree char *lowered = g_ascii_strdown (cases[i].address, -1);
        g_autofree char *upper = NULL;
        g_autofree char *back = NULL;
        g_autofree char *back_upper = NULL;
        BounceVerpResult result = BOUNCE_VERP_NOT_VERP;

        g_assert_no_error (error);
        g_assert_true (g_str_has_suffix (rp, "@your.domain"));
        g_assert_true (g_str_has_prefix (rp, "bounces+"));
        if (cases[i].local != NULL) {
            g_autofree char *want = g_strconcat (cases[i].local,
                                                 "@your.domain", NULL);
            g_assert_cmpstr (rp, ==, want);
        }
        back = bounce_verp_decode (key, rp, &result);
        g_assert_cmpint (result, ==, BOUNCE_VERP_VALID);
        g_assert_cmpstr (back, ==, lowered);
        /* An MTA that upper-cases the address changes nothing. */
        upper = g_ascii_strup (rp, -1);
        back_upper = bounce_verp_decode (key, upper, &result);
        g_assert_cmpint (result, ==, BOUNCE_VERP_VALID);
        g_assert_cmpstr (back_upper, ==, lowered);
    }
}

static void
test_decode_bad (void)
{
    g_autoptr (BounceVerpKey) key = test_key ();
    g_autoptr (BounceVerpKey) other = NULL;
    g_autoptr (GError) error = NULL;
    BounceVerpResult result;
    char *a;

    /* Another address's token (a replay for someone else). */
    a = bounce_verp_decode (key, "bounces+bob=example.com+841240d2a5b6654b"
                                 "@your.domain", &result);
    g_assert_cmpint (result, ==, BOUNCE_VERP_WRONG_TOKEN);
    g_assert_cmpstr (a, ==, "bob@example.com");
    g_free (a);
    /* One digit changed. */
    a = bounce_verp_decode (key, "bounces+alice=example.com+841240d2a5b6654c"
                                 "@your.domain", &result);
    g_assert_cmpint (result, ==, BOUNCE_VERP_WRONG_TOKEN);
    g_free (a);
    /* Plain VERP, no token. */
    a = bounce_verp_decode (key, "bounces+alice=example.com@your.domain",
                            &result);
    g_assert_cmpint (result, ==, BOUNCE_VERP_UNSIGNED);
    g_assert_cmpstr (a, ==, "alice@example.com");
    g_free (a);
    /* A token too short is not a token: then "+841240" would be part of
     * the domain, which is no address. */
    a = bounce_verp_decode (key, "bounces+alice=example.com+841240"
                                 "@your.domain", &result);
    g_assert_null (a);
    g_assert_cmpint (result, ==, BOUNCE_VERP_NOT_VERP);
    /* Not VERP at all. */
    a = bounce_verp_decode (key, "bounces@your.domain", &result);
    g_assert_null (a);
    g_assert_cmpint (result, ==, BOUNCE_VERP_NOT_VERP);
    a = bounce_verp_decode (key, "bounces+nothing@your.domain", &result);
    g_assert_null (a);
    g_assert_cmpint (result, ==, BOUNCE_VERP_NOT_VERP);
    /* Another secret. */
    other = bounce_verp_key_new ((const guint8 *) "another secret, long enough",
                                 27, &error);
    g_assert_no_error (error);
    a = bounce_verp_decode (other, "bounces+alice=example.com+841240d2a5b6654b"
                                   "@your.domain", &result);
    g_assert_cmpint (result, ==, BOUNCE_VERP_WRONG_TOKEN);
    g_free (a);
    /* No key: the token cannot be checked. */
    a = bounce_verp_decode (NULL, "bounces+alice=example.com+841240d2a5b6654b"
                                  "@your.domain", &result);
    g_assert_cmpint (result, ==, BOUNCE_VERP_UNCHECKED);
    g_free (a);
}

static void
test_encode_refuses (void)
{
    static const char *const bad[][2] = {
        { "bounces+x@your.domain", "alice@example.com" },
        { "bou=nces@your.domain", "alice@example.com" },
        { "your.domain", "alice@example.com" },
        { "bounces@your.domain", "alice" },
        { "bounces@your.domain", "al ice@example.com" },
        { "bounces@your.domain", "\"al@ice\"@example.com" },
        { "bounces@your.domain", "alice@exa=mple.com" },
        { "bounces@your.domain", "alice@" },
    };
    g_autoptr (BounceVerpKey) key = test_key ();

    for (guint i = 0; i < G_N_ELEMENTS (bad); i++) {
        g_autoptr (GError) error = NULL;
        g_autofree char *rp = bounce_verp_encode (key, bad[i][0], bad[i][1],
                                                  &error);
        g_assert_null (rp);
        g_assert_error (error, BOUNCE_ERROR, BOUNCE_ERROR_INPUT);
    }
}

static void
test_secret_file (void)
{
    g_autoptr (GError) error = NULL;
    g_autofree char *dir = g_dir_make_tmp ("test-verp-XXXXXX", &error);
    g_autofree char *path = g_build_filename (dir, "secret", NULL);
    g_autofree char *missing = g_build_filename (dir, "missing", NULL);
    g_autoptr (BounceVerpKey) key = NULL;
    g_autoptr (BounceVerpKey) short_key = NULL;
    g_autoptr (BounceVerpKey) none = NULL;
    g_autofree char *token = NULL;

    g_assert_no_error (error);
    /* The line end is not part of the secret. */
    g_assert_true (g_file_set_contents (path, SECRET "\r\n", -1, &error));
    key = bounce_verp_key_load (path, &error);
    g_assert_no_error (error);
    token = bounce_verp_token (key, "alice@example.com");
    g_assert_cmpstr (token, ==, "841240d2a5b6654b");
    /* Too short. */
    g_assert_true (g_file_set_contents (path, "short\n", -1, &error));
    short_key = bounce_verp_key_load (path, &error);
    g_assert_null (short_key);
    g_assert_error (error, BOUNCE_ERROR, BOUNCE_ERROR_INPUT);
    g_assert_nonnull (strstr (error->message, path));
    g_clear_error (&error);
    none = bounce_verp_key_load (missing, &error);
    g_assert_null (none);
    g_assert_error (error, BOUNCE_ERROR, BOUNCE_ERROR_INPUT);
    g_remove (path);
    g_rmdir (dir);
}

/* A DSN for @rcpt of a message with Message-ID <1@@msgid_domain>. */
static GBytes *
dsn (const char *rcpt, const char *msgid_domain, const char *headers)
{
    char *text = g_strdup_printf (
        "From: MAILER-DAEMON@mx.example.net\r\n"
        "To: bounces@your.domain\r\n"
        "%s"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: multipart/report; report-type=delivery-status;\r\n"
        "  boundary=\"B\"\r\n"
        "\r\n"
        "--B\r\n"
        "Content-Type: message/delivery-status\r\n"
        "\r\n"
        "Reporting-MTA: dns; mx.example.net\r\n"
        "\r\n"
        "Final-Recipient: rfc822; %s\r\n"
        "Action: failed\r\n"
        "Status: 5.1.1\r\n"
        "\r\n"
        "--B\r\n"
        "Content-Type: text/rfc822-headers\r\n"
        "\r\n"
        "Message-ID: <1@%s>\r\n"
        "From: news@your.domain\r\n"
        "\r\n"
        "--B--\r\n",
        headers != NULL ? headers : "", rcpt, msgid_domain);
    return g_bytes_new_take (text, strlen (text));
}

static BounceVerified
verdict (const BounceVerpKey *key, const char *const *domains,
         const char *envelope, GBytes *raw, guint *out_warnings)
{
    g_autoptr (BounceParser) parser = bounce_parser_new ();
    g_autoptr (BounceReport) report = NULL;
    BounceRecipient *r;

    bounce_parser_set_verp_key (parser, key);
    bounce_parser_set_sending_domains (parser, domains);
    bounce_parser_set_envelope_recipient (parser, envelope);
    report = bounce_parser_parse (parser, raw, "test");
    g_assert_cmpuint (report->recipients->len, ==, 1);
    r = report->recipients->pdata[0];
    if (out_warnings != NULL) {
        *out_warnings = 0;
        for (guint i = 0; i < report->warnings->len; i++)
            if (g_str_has_prefix (report->warnings->pdata[i], "unverified"))
                (*out_warnings)++;
    }
    return r->verified;
}

static void
test_parser_verdict (void)
{
    g_autoptr (BounceVerpKey) key = test_key ();
    g_autoptr (GBytes) alice = dsn ("alice@example.com", "your.domain", NULL);
    g_autoptr (GBytes) bob = dsn ("bob@example.com", "your.domain", NULL);
    g_autoptr (GBytes) foreign = dsn ("alice@example.com", "elsewhere.example",
                                      NULL);
    g_autoptr (GBytes) sub = dsn ("alice@example.com", "mail.your.domain",
                                  NULL);
    g_autoptr (GBytes) lookalike = dsn ("alice@example.com", "notyour.domain",
                                        NULL);
    g_autoptr (GBytes) in_header = dsn (
        "alice@example.com", "your.domain",
        "Delivered-To: bounces+alice=example.com+841240d2a5b6654b@your.domain"
        "\r\n");
    const char *good = "bounces+alice=example.com+841240d2a5b6654b@your.domain";
    const char *domains[] = { "your.domain", NULL };
    guint warnings;

    /* Nothing configured: nothing said. */
    g_assert_cmpint (verdict (NULL, NULL, good, alice, &warnings), ==,
                     BOUNCE_VERIFIED_UNCHECKED);
    g_assert_cmpuint (warnings, ==, 0);
    /* The signed return path of the very address. */
    g_assert_cmpint (verdict (key, NULL, good, alice, &warnings), ==,
                     BOUNCE_VERIFIED_YES);
    g_assert_cmpuint (warnings, ==, 0);
    g_assert_cmpint (verdict (key, NULL, "<BOUNCES+ALICE=EXAMPLE.COM+"
                                         "841240D2A5B6654B@YOUR.DOMAIN>",
                              alice, NULL), ==, BOUNCE_VERIFIED_YES);
    /* Found in the header the delivering MTA wrote. */
    g_assert_cmpint (verdict (key, NULL, NULL, in_header, NULL), ==,
                     BOUNCE_VERIFIED_YES);
    /* Alice's valid token on a bounce that reports bob. */
    g_assert_cmpint (verdict (key, NULL, good, bob, &warnings), ==,
                     BOUNCE_VERIFIED_NO);
    g_assert_cmpuint (warnings, ==, 1);
    /* No token, a wrong one, no VERP at all, no envelope. */
    g_assert_cmpint (verdict (key, NULL, "bounces+alice=example.com@your.domain",
                              alice, &warnings), ==, BOUNCE_VERIFIED_NO);
    g_assert_cmpuint (warnings, ==, 1);
    g_assert_cmpint (verdict (key, NULL, "bounces+alice=example.com+"
                                         "0000000000000000@your.domain",
                              alice, NULL), ==, BOUNCE_VERIFIED_NO);
    g_assert_cmpint (verdict (key, NULL, "bounces@your.domain", alice, NULL),
                     ==, BOUNCE_VERIFIED_NO);
    g_assert_cmpint (verdict (key, NULL, NULL, alice, NULL), ==,
                     BOUNCE_VERIFIED_NO);
    /* Sending domains: the original's Message-ID must be from one. */
    g_assert_cmpint (verdict (NULL, domains, NULL, alice, NULL), ==,
                     BOUNCE_VERIFIED_YES);
    g_assert_cmpint (verdict (NULL, domains, NULL, sub, NULL), ==,
                     BOUNCE_VERIFIED_YES);
    g_assert_cmpint (verdict (NULL, domains, NULL, foreign, &warnings), ==,
                     BOUNCE_VERIFIED_NO);
    g_assert_cmpuint (warnings, ==, 1);
    g_assert_cmpint (verdict (NULL, domains, NULL, lookalike, NULL), ==,
                     BOUNCE_VERIFIED_NO);
    /* Both: both must hold. */
    g_assert_cmpint (verdict (key, domains, good, alice, NULL), ==,
                     BOUNCE_VERIFIED_YES);
    g_assert_cmpint (verdict (key, domains, good, foreign, &warnings), ==,
                     BOUNCE_VERIFIED_NO);
    g_assert_cmpuint (warnings, ==, 1);
}

/* The default VERP pattern reads the recipient of a signed return path
 * (the token is not part of its domain). */
static void
test_verp_address (void)
{
    g_autoptr (BounceParser) parser = bounce_parser_new ();
    g_autoptr (GBytes) raw = dsn ("alice@example.com", "your.domain", NULL);
    g_autoptr (BounceReport) report = NULL;

    bounce_parser_set_envelope_recipient (
        parser, "bounces+alice=example.com+841240d2a5b6654b@your.domain");
    report = bounce_parser_parse (parser, raw, "test");
    g_assert_cmpstr (report->verp_address, ==, "alice@example.com");
}

int
main (int argc, char **argv)
{
    g_test_init (&argc, &argv, NULL);
    bounce_init ();
    g_test_add_func ("/verp/token", test_token);
    g_test_add_func ("/verp/encode-decode", test_encode_decode);
    g_test_add_func ("/verp/decode-bad", test_decode_bad);
    g_test_add_func ("/verp/encode-refuses", test_encode_refuses);
    g_test_add_func ("/verp/secret-file", test_secret_file);
    g_test_add_func ("/verp/parser-verdict", test_parser_verdict);
    g_test_add_func ("/verp/verp-address", test_verp_address);
    return g_test_run ();
}
