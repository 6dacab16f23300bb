/*
 * bounce-text.c - small text helpers: line ends, white space, decoded
 * part text, dates and bare addresses.
 *
 * Everything that leaves this module is valid UTF-8 with "\n" line ends,
 * so the decoders and the rules match one form of text.
 */
#include <string.h>

#include "bounce-private.h"

char *
_bounce_text_normalize (const char *text, gsize len, gsize max)
{
    GString *out;
    char *valid;

    if (len > max)
        len = max;
    out = g_string_sized_new (len + 1);
    for (gsize i = 0; i < len; i++) {
        char c = text[i];
        if (c == '\r') {
            g_string_append_c (out, '\n');
            if (i + 1 < len && text[i + 1] == '\n')
                i++;
        } else if (c == '\0') {
            g_string_append_c (out, ' ');
        } else {
            g_string_append_c (out, c);
        }
    }
    valid = g_utf8_make_valid (out->str, (gssize) out->len);
    g_string_free (out, TRUE);
    return valid;
}

char *
_bounce_text_squeeze (char *text)
{
    char *w = text;
    gboolean space = FALSE;

    if (text == NULL)
        return NULL;
    for (const char *r = text; *r != '\0'; r++) {
        if (g_ascii_isspace (*r)) {
            space = w != text;
            continue;
        }
        if (space) {
            *w++ = ' ';
            space = FALSE;
        }
        *w++ = *r;
    }
    *w = '\0';
    return text;
}

char *
_bounce_part_get_text (GMimeObject *part, gsize max)
{
    GMimeDataWrapper *content;
    g_autoptr (GMimeStream) mem = NULL;
    GByteArray *bytes;
    GMimeContentType *type;

    if (!GMIME_IS_PART (part))
        return NULL;
    type = g_mime_object_get_content_type (part);
    content = g_mime_part_get_content (GMIME_PART (part));
    if (content == NULL)
        return NULL;
    mem = g_mime_stream_mem_new ();
    if (GMIME_IS_TEXT_PART (part) && type != NULL &&
        g_mime_content_type_is_type (type, "text", "*")) {
        /* As g_mime_text_part_get_text() decodes it (to UTF-8 from the
         * part's charset), but keeping the length: a NUL that a broken
         * quoted-printable "=00" decodes to must not end the text. */
        const char *charset = g_mime_content_type_get_parameter (type, "charset");
        g_autoptr (GMimeStream) filtered = g_mime_stream_filter_new (mem);

        if (charset != NULL && g_ascii_strcasecmp (charset, "utf-8") != 0) {
            GMimeFilter *filter = g_mime_filter_charset_new (charset, "utf-8");
            if (filter != NULL) {
                g_mime_stream_filter_add (GMIME_STREAM_FILTER (filtered), filter);
                g_object_unref (filter);
            }
        }
        if (g_mime_data_wrapper_write_to_stream (content, filtered) < 0)
            return NULL;
        g_mime_stream_flush (filtered);
    } else if (g_mime_data_wrapper_write_to_stream (content, mem) < 0) {
        return NULL;
    }
    bytes = g_mime_stream_mem_get_byte_array (GMIME_STREAM_MEM (mem));
    return _bounce_text_normalize ((const char *) bytes->data, bytes->len, max);
}

char *
_bounce_date_to_iso8601 (const char *text)
{
    g_autoptr (GDateTime) dt = NULL;

    if (text == NULL)
        return NULL;
    dt = g_mime_utils_header_decode_date (text);
    if (dt == NULL)
        return NULL;
    return g_date_time_format_iso8601 (dt);
}

char *
_bounce_address_clean (const char *text)
{
    const char *p, *end, *semi, *lt;
    char *addr;

    if (text == NULL)
        return NULL;
    p = text;
    /* "rfc822; a@b" / "utf-8; a@b": drop the address type. */
    semi = strchr (p, ';');
    if (semi != NULL && strchr (p, '@') != NULL && semi < strchr (p, '@'))
        p = semi + 1;
    else if (semi != NULL && strchr (p, '@') == NULL)
        p = semi + 1;
    lt = strchr (p, '<');
    if (lt != NULL && strchr (lt, '>') != NULL) {
        p = lt + 1;
        end = strchr (p, '>');
    } else {
        end = p + strlen (p);
    }
    while (p < end && (g_ascii_isspace (*p) || *p == '"' || *p == '\''))
        p++;
    while (end > p && (g_ascii_isspace (end[-1]) || end[-1] == '"' ||
                       end[-1] == '\'' || end[-1] == '.' || end[-1] == ','))
        end--;
    if (end <= p)
        return NULL;
    /* An address is one token: cut at the first space. */
    for (const char *q = p; q < end; q++)
        if (g_ascii_isspace (*q)) {
            if (memchr (p, '@', (gsize) (q - p)) != NULL) {
                end = q;
                break;
            }
        }
    addr = g_strndup (p, (gsize) (end - p));
    if (strchr (addr, ' ') != NULL || addr[0] == '\0') {
        g_free (addr);
        return NULL;
    }
    return addr;
}

/* The SMTP address that Exchange encapsulated as IMCEASMTP-local+40domain
 * @host ("IMCEA" encapsulation: the address after "IMCEA<type>-", its
 * characters outside [A-Za-z0-9] other than "-._" written as "+" and two
 * hex digits), or NULL when @addr is no such address.  Other types
 * (IMCEAEX- for an X.500 name) hold no SMTP address. */
char *
_bounce_address_unwrap (const char *addr)
{
    const char *p, *at;
    GString *out;

    if (addr == NULL || g_ascii_strncasecmp (addr, "IMCEASMTP-", 10) != 0)
        return NULL;
    p = addr + 10;
    at = strrchr (p, '@');
    if (at == NULL)
        return NULL;
    out = g_string_new (NULL);
    for (; p < at; p++) {
        if (*p == '+' && p + 2 < at && g_ascii_isxdigit (p[1]) && g_ascii_isxdigit (p[2])) {
            g_string_append_c (out, (char) (g_ascii_xdigit_value (p[1]) * 16 +
                                            g_ascii_xdigit_value (p[2])));
            p += 2;
        } else {
            g_string_append_c (out, *p);
        }
    }
    {
        const char *oat = strrchr (out->str, '@');
        if (oat == NULL || oat == out->str || oat[1] == '\0' ||
            strchr (oat, '.') == NULL || strpbrk (out->str, " \t<>\"") != NULL) {
            g_string_free (out, TRUE);
            return NULL;
        }
    }
    return g_string_free (out, FALSE);
}

/* Is [p, p+len) one RFC 2047 encoded word "=?cs?e?text?="? */
static gboolean
is_encoded_word (const char *p, gsize len)
{
    return len > 8 && p[0] == '=' && p[1] == '?' && p[len - 2] == '?' &&
           p[len - 1] == '=';
}

char *
_bounce_object_get_header (GMimeObject *obj, const char *name)
{
    GMimeHeaderList *list = g_mime_object_get_header_list (obj);
    GMimeHeader *header = list != NULL ? g_mime_header_list_get_header (list, name)
                                       : NULL;

    if (header == NULL)
        return NULL;
    return _bounce_header_decode (g_mime_header_get_raw_value (header));
}

char *
_bounce_header_decode (const char *raw)
{
    g_autofree char *unfolded = NULL;
    GString *out, *group;
    const char *p;

    if (raw == NULL)
        return NULL;
    unfolded = g_mime_utils_header_unfold (raw);
    out = g_string_new (NULL);
    group = g_string_new (NULL);
    /* GMime merges adjacent encoded words of one charset before decoding
     * them, which loses the second of two base64 words when the first
     * ends in "=" padding ("...pQ==?= =?utf-8?B?5pys...").  Decode such
     * words apart; let GMime merge the others (a character split across
     * words is common in Japanese mail). */
    p = unfolded;
    while (*p != '\0') {
        gsize ws = strspn (p, " \t");
        gsize len = strcspn (p + ws, " \t");
        const char *tok = p + ws;

        if (len == 0) {
            g_string_append_len (group, p, (gssize) ws);
            break;
        }
        if (group->len > 0 && is_encoded_word (tok, len) &&
            group->len > 3 && group->str[group->len - 3] == '=' &&
            group->str[group->len - 2] == '?') {
            char *dec = g_mime_utils_header_decode_text (NULL, group->str);
            g_string_append (out, dec);
            g_free (dec);
            g_string_truncate (group, 0);
            /* White space between encoded words is dropped. */
            p = tok;
        }
        g_string_append_len (group, p, (gssize) (tok + len - p));
        p = tok + len;
    }
    if (group->len > 0) {
        char *dec = g_mime_utils_header_decode_text (NULL, group->str);
        g_string_append (out, dec);
        g_free (dec);
    }
    g_string_free (group, TRUE);
    return _bounce_text_squeeze (g_string_free (out, FALSE));
}

char *
_bounce_address_list_find_local (const char *text, const char *local)
{
    InternetAddressList *list;
    gsize n;
    char *result = NULL;

    if (text == NULL || local == NULL)
        return NULL;
    n = strlen (local);
    list = internet_address_list_parse (NULL, text);
    for (int i = 0; list != NULL && result == NULL &&
                    i < internet_address_list_length (list); i++) {
        InternetAddress *ia = internet_address_list_get_address (list, i);
        const char *a;

        if (!INTERNET_ADDRESS_IS_MAILBOX (ia))
            continue;
        a = internet_address_mailbox_get_addr (INTERNET_ADDRESS_MAILBOX (ia));
        if (a != NULL && g_ascii_strncasecmp (a, local, n) == 0 && a[n] == '@')
            result = g_strdup (a);
    }
    g_clear_object (&list);
    return result;
}
