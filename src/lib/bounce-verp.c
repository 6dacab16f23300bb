/*
 * bounce-verp.c - signed VERP return paths (docs/verp.md): the token
 * that proves a bounce came back to an address we sent from, and the
 * check of a parsed bounce against it and against the sending domains.
 *
 * A return path bounces@your.domain for alice@example.com becomes
 * bounces+alice=example.com+TOKEN@your.domain, TOKEN being the first
 * BOUNCE_VERP_TOKEN_LENGTH lower-case hex digits of
 * HMAC-SHA-256 (secret, "alice@example.com") over the address with its
 * ASCII letters lowered.  Nothing else is signed, so that list software
 * can compute it with any HMAC library; docs/verp.md is the reference,
 * this file follows it.
 */
#include <string.h>

#include "bounce-private.h"

#define VERP_DELIMITER '+'
#define VERP_AT '='

struct _BounceVerpKey {
    GBytes *secret;
};

/* ------------------------------------------------------------------ */
/* The key                                                            */
/* ------------------------------------------------------------------ */

BounceVerpKey *
bounce_verp_key_new (const guint8 *secret, gsize len, GError **error)
{
    BounceVerpKey *key;

    g_return_val_if_fail (secret != NULL || len == 0, NULL);
    if (len < BOUNCE_VERP_MIN_SECRET_BYTES) {
        g_set_error (error, BOUNCE_ERROR, BOUNCE_ERROR_INPUT,
                     "the VERP secret has %" G_GSIZE_FORMAT " bytes; it needs "
                     "at least %u (e.g. head -c 32 /dev/urandom | base64)",
                     len, BOUNCE_VERP_MIN_SECRET_BYTES);
        return NULL;
    }
    key = g_new0 (BounceVerpKey, 1);
    key->secret = g_bytes_new (secret, len);
    return key;
}

BounceVerpKey *
bounce_verp_key_load (const char *path, GError **error)
{
    g_autoptr (GError) local = NULL;
    g_autofree char *text = NULL;
    gsize len = 0;
    BounceVerpKey *key;

    g_return_val_if_fail (path != NULL, NULL);
    if (!g_file_get_contents (path, &text, &len, &local)) {
        g_set_error (error, BOUNCE_ERROR, BOUNCE_ERROR_INPUT,
                     "VERP secret file: %s", local->message);
        return NULL;
    }
    /* The line end an editor or `echo` adds is not part of it. */
    while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r'))
        len--;
    key = bounce_verp_key_new ((const guint8 *) text, len, &local);
    if (key == NULL) {
        g_set_error (error, BOUNCE_ERROR, BOUNCE_ERROR_INPUT, "%s: %s", path,
                     local->message);
        return NULL;
    }
    return key;
}

void
bounce_verp_key_free (BounceVerpKey *key)
{
    if (key == NULL)
        return;
    g_bytes_unref (key->secret);
    g_free (key);
}

/* ------------------------------------------------------------------ */
/* Tokens                                                             */
/* ------------------------------------------------------------------ */

char *
bounce_verp_token (const BounceVerpKey *key, const char *address)
{
    g_autoptr (GHmac) hmac = NULL;
    g_autofree char *normal = NULL;
    gsize len;
    const guint8 *secret;
    char *hex;

    g_return_val_if_fail (key != NULL, NULL);
    g_return_val_if_fail (address != NULL, NULL);
    secret = g_bytes_get_data (key->secret, &len);
    normal = g_ascii_strdown (address, -1);
    hmac = g_hmac_new (G_CHECKSUM_SHA256, secret, len);
    g_hmac_update (hmac, (const guchar *) normal, (gssize) strlen (normal));
    hex = g_strdup (g_hmac_get_string (hmac));
    hex[BOUNCE_VERP_TOKEN_LENGTH] = '\0';
    return hex;
}

/* Compares two tokens in time that does not depend on where they
 * differ; case does not matter. */
static gboolean
token_equal (const char *a, const char *b)
{
    guint diff = 0;

    if (strlen (a) != strlen (b))
        return FALSE;
    for (gsize i = 0; a[i] != '\0'; i++)
        diff |= (guint) (g_ascii_tolower (a[i]) ^ g_ascii_tolower (b[i]));
    return diff == 0;
}

static gboolean
is_token (const char *text)
{
    gsize n = 0;

    for (; text[n] != '\0'; n++)
        if (!g_ascii_isxdigit (text[n]))
            return FALSE;
    return n == BOUNCE_VERP_TOKEN_LENGTH;
}

/* An address we can put into a return path: local@domain with no white
 * space, controls, quotes or angle brackets, and a domain without the
 * delimiters. */
static gboolean
address_split (const char *address, char **out_local, char **out_domain)
{
    const char *at = strrchr (address, '@');

    if (at == NULL || at == address || at[1] == '\0')
        return FALSE;
    for (const char *p = address; *p != '\0'; p++)
        if ((guchar) *p <= ' ' || *p == 0x7f || *p == '"' || *p == '<' ||
            *p == '>' || *p == '\\')
            return FALSE;
    if (strchr (at + 1, VERP_DELIMITER) != NULL ||
        strchr (at + 1, VERP_AT) != NULL)
        return FALSE;
    *out_local = g_strndup (address, (gsize) (at - address));
    *out_domain = g_strdup (at + 1);
    return TRUE;
}

char *
bounce_verp_encode (const BounceVerpKey *key,
                    const char *return_path,
                    const char *address,
                    GError **error)
{
    g_autofree char *rp_local = NULL;
    g_autofree char *rp_domain = NULL;
    g_autofree char *local = NULL;
    g_autofree char *domain = NULL;
    g_autofree char *normal = NULL;
    g_autofree char *token = NULL;

    g_return_val_if_fail (key != NULL, NULL);
    g_return_val_if_fail (return_path != NULL, NULL);
    g_return_val_if_fail (address != NULL, NULL);
    if (!address_split (return_path, &rp_local, &rp_domain) ||
        strchr (rp_local, VERP_DELIMITER) != NULL ||
        strchr (rp_local, VERP_AT) != NULL) {
        g_set_error (error, BOUNCE_ERROR, BOUNCE_ERROR_INPUT,
                     "return path '%s': not LOCAL@DOMAIN without '+' and "
                     "'=' in LOCAL", return_path);
        return NULL;
    }
    normal = g_ascii_strdown (address, -1);
    if (!address_split (normal, &local, &domain)) {
        g_set_error (error, BOUNCE_ERROR, BOUNCE_ERROR_INPUT,
                     "address '%s': not LOCAL@DOMAIN without spaces, quotes "
                     "or '+' and '=' in DOMAIN", address);
        return NULL;
    }
    token = bounce_verp_token (key, normal);
    return g_strdup_printf ("%s%c%s%c%s%c%s@%s", rp_local, VERP_DELIMITER,
                            local, VERP_AT, domain, VERP_DELIMITER, token,
                            rp_domain);
}

char *
bounce_verp_decode (const BounceVerpKey *key,
                    const char *envelope,
                    BounceVerpResult *out_result)
{
    g_autofree char *normal = NULL;
    g_autofree char *expected = NULL;
    char *at, *rest, *token = NULL, *eq;
    char *address;

    g_return_val_if_fail (envelope != NULL, NULL);
    if (out_result != NULL)
        *out_result = BOUNCE_VERP_NOT_VERP;
    normal = g_ascii_strdown (envelope, -1);
    at = strrchr (normal, '@');
    if (at == NULL)
        return NULL;
    *at = '\0';
    rest = strchr (normal, VERP_DELIMITER);
    if (rest == NULL)
        return NULL;
    rest++;
    /* The token is the last "+" part, when it looks like one. */
    {
        char *plus = strrchr (rest, VERP_DELIMITER);
        if (plus != NULL && is_token (plus + 1)) {
            *plus = '\0';
            token = plus + 1;
        }
    }
    eq = strrchr (rest, VERP_AT);
    if (eq == NULL || eq == rest || eq[1] == '\0' ||
        strchr (eq + 1, VERP_DELIMITER) != NULL)
        return NULL;
    *eq = '@';
    address = g_strdup (rest);
    if (out_result == NULL)
        return address;
    if (token == NULL) {
        *out_result = BOUNCE_VERP_UNSIGNED;
        return address;
    }
    if (key == NULL) {
        *out_result = BOUNCE_VERP_UNCHECKED;
        return address;
    }
    expected = bounce_verp_token (key, address);
    *out_result = token_equal (expected, token) ? BOUNCE_VERP_VALID
                                                : BOUNCE_VERP_WRONG_TOKEN;
    return address;
}

/* ------------------------------------------------------------------ */
/* Checking a parsed bounce                                           */
/* ------------------------------------------------------------------ */

/* The domain of a Message-ID ("id@host", angle brackets or not) is
 * @domain or below it. */
static gboolean
message_id_from (const char *message_id, const char *domain)
{
    g_autofree char *id = g_ascii_strdown (message_id, -1);
    g_autofree char *want = g_ascii_strdown (domain, -1);
    char *host = strrchr (id, '@');
    gsize n, w;

    if (host == NULL)
        return FALSE;
    host++;
    g_strstrip (host);
    n = strlen (host);
    if (n > 0 && host[n - 1] == '>')
        host[--n] = '\0';
    w = strlen (want);
    if (w > 0 && want[w - 1] == '.')
        want[--w] = '\0';
    if (w == 0 || n < w)
        return FALSE;
    if (n == w)
        return strcmp (host, want) == 0;
    return host[n - w - 1] == '.' && strcmp (host + n - w, want) == 0;
}

void
_bounce_verp_check (const BounceVerpKey *key,
                    const char *const *sending_domains,
                    const char *const *envelopes,
                    BounceReport *report)
{
    g_autofree char *signed_address = NULL;
    gboolean token_ok = TRUE;
    gboolean id_ok = TRUE;

    if (key == NULL && (sending_domains == NULL || sending_domains[0] == NULL))
        return;
    if (key != NULL) {
        BounceVerpResult best = BOUNCE_VERP_NOT_VERP;

        for (guint i = 0; envelopes != NULL && envelopes[i] != NULL; i++) {
            BounceVerpResult result;
            g_autofree char *address =
                bounce_verp_decode (key, envelopes[i], &result);

            if (result == BOUNCE_VERP_VALID) {
                signed_address = g_steal_pointer (&address);
                best = result;
                break;
            }
            if (result > best)
                best = result;
        }
        token_ok = signed_address != NULL;
        if (!token_ok)
            bounce_report_add_warning (
                report, "unverified: %s",
                best == BOUNCE_VERP_WRONG_TOKEN
                    ? "the VERP token of the envelope recipient is wrong"
                : best == BOUNCE_VERP_UNSIGNED
                    ? "the VERP envelope recipient has no token"
                    : "no signed VERP envelope recipient");
    }
    if (sending_domains != NULL && sending_domains[0] != NULL) {
        id_ok = FALSE;
        for (guint i = 0; report->orig_message_id != NULL &&
                          sending_domains[i] != NULL && !id_ok;
             i++)
            id_ok = message_id_from (report->orig_message_id,
                                     sending_domains[i]);
        if (!id_ok)
            bounce_report_add_warning (
                report, "unverified: %s",
                report->orig_message_id == NULL
                    ? "no Message-ID of the original message"
                    : "the original Message-ID is not from a sending domain");
    }
    for (guint i = 0; i < report->recipients->len; i++) {
        BounceRecipient *r = report->recipients->pdata[i];
        gboolean ok = token_ok && id_ok;

        if (ok && signed_address != NULL) {
            g_autofree char *original = r->original_recipient != NULL
                ? _bounce_address_clean (r->original_recipient)
                : NULL;

            ok = (r->address != NULL &&
                  g_ascii_strcasecmp (r->address, signed_address) == 0) ||
                 (original != NULL &&
                  g_ascii_strcasecmp (original, signed_address) == 0);
            if (!ok)
                bounce_report_add_warning (
                    report, "unverified: recipient %u is not the signed "
                    "VERP address", i + 1);
        }
        r->verified = ok ? BOUNCE_VERIFIED_YES : BOUNCE_VERIFIED_NO;
    }
}
