/*
 * bs-cmd-fetch.c - `bouncestat fetch URL`: the bounces of a remote
 * mailbox (IMAP or POP3, with libcurl), each stored as `ingest` stores
 * one (bs-ingest.c).
 *
 * What is on the server changes only when asked (--seen, --move-to,
 * --delete), and only after the message is committed to the database.
 * libcurl's IMAP fetch (FETCH BODY[]) sets \Seen: fetch takes the flag
 * off again right after a message that did not have it is read (UID
 * SEARCH UNSEEN says which), before anything else.
 *
 * Where a mailbox was left is in the database (schema.sql, fetch_imap
 * and fetch_pop3; bounce-fetch.c), written in the transaction of each
 * message: IMAP UIDVALIDITY and the last UID stored, POP3 the unique ids
 * (UIDL) stored.  With --move-to or --delete every message still in the
 * folder is taken (one that was stored before is a duplicate, and is
 * moved or deleted now: a run cut between the commit and the move
 * leaves nothing behind).
 *
 * The protocols are libcurl's; fetch only sends the commands libcurl
 * lets one send (CURLOPT_CUSTOMREQUEST: STATUS, UID SEARCH, UID STORE,
 * UID MOVE, UID EXPUNGE; UIDL, DELE) and reads their one-line answers.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <curl/curl.h>

#include "bs.h"

/* Errors of the network side: the code is the sysexits code. */
#define FETCH_ERROR (g_quark_from_static_string ("bs-fetch-error"))

typedef enum { PROTO_IMAP, PROTO_POP3 } Proto;

typedef struct {
    CURL *curl;
    char errbuf[CURL_ERROR_SIZE];
    Proto proto;
    char *base;    /* scheme://host[:port], no user, no path */
    char *account; /* user@host: the key of the fetch state (imap:// and
                    * imaps:// of one server are one account) */
    GByteArray *response; /* what a custom request answered */
    int body_fd;          /* the message being read (memfd) */
    gboolean to_body;
    gboolean performed; /* a request was made: later ones reuse it */
    GString *reply;     /* the server's last line, for the messages */
    gboolean no_top;    /* POP3: the server has no TOP; RETR */
    /* Options. */
    gboolean seen;
    gboolean delete;
    char *move_to;
    gsize max_input;
    /* Storing. */
    BounceStore *store;
    BounceParser *parser;
    BsTally tally;
    guint64 moved, deleted, flagged;
} Fetch;

static size_t
write_cb (char *data, size_t size, size_t nmemb, void *user_data)
{
    Fetch *f = user_data;
    size_t len = size * nmemb;

    if (!f->to_body) {
        g_byte_array_append (f->response, (const guint8 *) data, len);
        return len;
    }
    for (size_t done = 0; done < len;) {
        ssize_t n = write (f->body_fd, data + done, len - done);

        if (n < 0)
            return 0; /* CURLE_WRITE_ERROR */
        done += (size_t) n;
    }
    return len;
}

/* Keeps the server's last refusal (an IMAP tagged NO or BAD, a POP3
 * -ERR; never what was sent to it: the password), to say what it
 * answered when a command fails. */
static int
debug_cb (CURL *curl, curl_infotype type, char *data, size_t size,
          void *user_data)
{
    Fetch *f = user_data;
    g_autofree char *line = NULL;
    g_auto (GStrv) words = NULL;

    if (type != CURLINFO_HEADER_IN || size == 0)
        return 0;
    line = g_strstrip (g_strndup (data, size));
    words = g_strsplit (line, " ", 3);
    if (g_str_has_prefix (line, "-ERR") ||
        (g_strv_length (words) >= 2 && strcmp (words[0], "*") != 0 &&
         (strcmp (words[1], "NO") == 0 || strcmp (words[1], "BAD") == 0))) {
        g_string_truncate (f->reply, 0);
        g_string_append (f->reply, line);
    }
    return 0;
}

/* The sysexits code of a libcurl failure (docs/bouncestat.1, fetch). */
static int
curl_exit_code (CURLcode rc)
{
    switch (rc) {
    case CURLE_LOGIN_DENIED:
        return EX_NOPERM;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT:
        return EX_UNAVAILABLE;
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_AGAIN:
        return EX_TEMPFAIL;
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_USE_SSL_FAILED:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
        return EX_PROTOCOL;
    case CURLE_WRITE_ERROR:
        return EX_IOERR;
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
        return EX_USAGE;
    default:
        return EX_PROTOCOL;
    }
}

/* One request: @path after the base ("/INBOX;UID=4", "/", "/3"), the
 * custom @command (NULL: libcurl's own: FETCH, RETR), its answer in
 * f->response (or the message in f->body_fd with @to_body); @nobody for
 * a POP3 command with no multi-line answer (DELE). */
static gboolean
request (Fetch *f, const char *path, const char *command, gboolean to_body,
         gboolean nobody, GError **error)
{
    g_autofree char *url = g_strconcat (f->base, path, NULL);
    CURLcode rc;
    long connects = 0;

    g_byte_array_set_size (f->response, 0);
    g_string_truncate (f->reply, 0);
    f->to_body = to_body;
    f->errbuf[0] = '\0';
    curl_easy_setopt (f->curl, CURLOPT_URL, url);
    curl_easy_setopt (f->curl, CURLOPT_CUSTOMREQUEST, command);
    curl_easy_setopt (f->curl, CURLOPT_NOBODY, nobody ? 1L : 0L);
    rc = curl_easy_perform (f->curl);
    if (rc != CURLE_OK) {
        g_autofree char *reply = bs_sanitize (f->reply->str);

        /* The server's words when it refused a command. */
        g_set_error (error, FETCH_ERROR, curl_exit_code (rc), "%s%s%s: %s%s%s",
                     url, command != NULL ? ": " : "",
                     command != NULL ? command : "",
                     f->errbuf[0] != '\0' ? f->errbuf : curl_easy_strerror (rc),
                     reply[0] != '\0' && rc != CURLE_LOGIN_DENIED ? "; the server said: " : "",
                     rc != CURLE_LOGIN_DENIED ? reply : "");
        return FALSE;
    }
    curl_easy_getinfo (f->curl, CURLINFO_NUM_CONNECTS, &connects);
    /* POP3 numbers its messages per session: after a new connection
     * they may be others' (and the DELEs of the lost one are undone). */
    if (f->performed && connects > 0 && f->proto == PROTO_POP3) {
        g_set_error (error, FETCH_ERROR, EX_TEMPFAIL,
                     "%s: the connection was lost and made again; run "
                     "fetch again", f->base);
        return FALSE;
    }
    f->performed = TRUE;
    return TRUE;
}

/* The response as text (NUL-terminated, borrowed). */
static const char *
response_text (Fetch *f)
{
    g_byte_array_append (f->response, (const guint8 *) "", 1);
    return (const char *) f->response->data;
}

/* @name as an IMAP quoted string; FALSE for names IMAP cannot quote
 * (8-bit: modified UTF-7 is not supported; controls). */
static char *
imap_quote (const char *name, GError **error)
{
    GString *s = g_string_new ("\"");

    for (const char *p = name; *p != '\0'; p++) {
        if ((guchar) *p < 0x20 || (guchar) *p >= 0x7f) {
            g_set_error (error, FETCH_ERROR, EX_USAGE,
                         "folder '%s': only ASCII folder names are supported",
                         name);
            g_string_free (s, TRUE);
            return NULL;
        }
        if (*p == '"' || *p == '\\')
            g_string_append_c (s, '\\');
        g_string_append_c (s, *p);
    }
    g_string_append_c (s, '"');
    return g_string_free (s, FALSE);
}

/* "/" + @mailbox URL-encoded + @tail. */
static char *
mailbox_path (Fetch *f, const char *mailbox, const char *tail)
{
    char *escaped = curl_easy_escape (f->curl, mailbox, 0);
    char *path = g_strconcat ("/", escaped, tail, NULL);

    curl_free (escaped);
    return path;
}

/* A command on the selected @mailbox (libcurl selects it first). */
static gboolean
imap_command (Fetch *f, const char *mailbox, const char *command,
              GError **error)
{
    g_autofree char *path = mailbox_path (f, mailbox, "");

    return request (f, path, command, FALSE, FALSE, error);
}

/* UIDVALIDITY of @mailbox (STATUS); 0 when the server said none. */
static gboolean
imap_status (Fetch *f, const char *mailbox, guint32 *out_uidvalidity,
             GError **error)
{
    g_autofree char *quoted = imap_quote (mailbox, error);
    g_autofree char *command = NULL;
    const char *text, *p;

    if (quoted == NULL)
        return FALSE;
    command = g_strdup_printf ("STATUS %s (UIDVALIDITY)", quoted);
    if (!request (f, "/", command, FALSE, FALSE, error))
        return FALSE;
    /* "* STATUS name (UIDVALIDITY n)": after the last "(". */
    text = response_text (f);
    p = strrchr (text, '(');
    p = p != NULL ? strstr (p, "UIDVALIDITY ") : NULL;
    *out_uidvalidity =
        p != NULL ? (guint32) g_ascii_strtoull (p + 12, NULL, 10) : 0;
    if (*out_uidvalidity == 0) {
        g_set_error (error, FETCH_ERROR, EX_PROTOCOL,
                     "%s: %s: the server gave no UIDVALIDITY", f->base,
                     mailbox);
        return FALSE;
    }
    return TRUE;
}

static int
compare_uid (const void *a, const void *b)
{
    guint32 x = *(const guint32 *) a, y = *(const guint32 *) b;

    return x < y ? -1 : x > y;
}

static gboolean
contains (GArray *sorted, guint32 uid)
{
    return sorted->len > 0 &&
           bsearch (&uid, sorted->data, sorted->len, sizeof (guint32),
                    compare_uid) != NULL;
}

/* The UIDs of "UID SEARCH @criteria" in @mailbox, as a sorted array. */
static GArray *
imap_search (Fetch *f, const char *mailbox, const char *criteria,
             GError **error)
{
    g_autofree char *command = g_strdup_printf ("UID SEARCH %s", criteria);
    g_autoptr (GArray) uids = g_array_new (FALSE, FALSE, sizeof (guint32));
    g_auto (GStrv) lines = NULL;

    if (!imap_command (f, mailbox, command, error))
        return NULL;
    lines = g_strsplit (response_text (f), "\n", -1);
    for (guint i = 0; lines[i] != NULL; i++) {
        g_auto (GStrv) words = NULL;

        if (!g_str_has_prefix (lines[i], "* SEARCH"))
            continue;
        words = g_strsplit_set (lines[i] + 8, " \r", -1);
        for (guint j = 0; words[j] != NULL; j++) {
            guint64 uid;

            if (g_ascii_string_to_unsigned (words[j], 10, 1, G_MAXUINT32,
                                            &uid, NULL)) {
                guint32 u = (guint32) uid;
                g_array_append_val (uids, u);
            }
        }
    }
    g_array_sort (uids, compare_uid);
    return g_steal_pointer (&uids);
}

/* Reads the message just fetched into f->body_fd, parses it and stores
 * it with @remember (the fetch state's write) in one transaction;
 * rewinds the descriptor for the next. */
typedef gboolean (*Remember) (Fetch *f, gconstpointer data, GError **error);

static gboolean
store_fetched (Fetch *f, const char *source, Remember remember,
               gconstpointer data, GError **error)
{
    g_autofree char *label = g_strdup_printf ("fetch: %s", source);
    g_autoptr (GBytes) message = NULL;
    g_autoptr (BounceReport) report = NULL;
    gboolean duplicate = FALSE;

    if (lseek (f->body_fd, 0, SEEK_SET) < 0) {
        g_set_error (error, FETCH_ERROR, EX_OSERR, "%s: %s", source,
                     g_strerror (errno));
        return FALSE;
    }
    report = bs_ingest_read (f->parser, f->body_fd, f->max_input, source,
                             label, &message, error);
    if (lseek (f->body_fd, 0, SEEK_SET) < 0 || ftruncate (f->body_fd, 0) < 0) {
        g_set_error (error, FETCH_ERROR, EX_OSERR, "%s: %s", source,
                     g_strerror (errno));
        return FALSE;
    }
    if (report == NULL)
        return FALSE;
    if (!bounce_store_begin (f->store, error))
        return FALSE;
    if (!bounce_store_add (f->store, message, report, &duplicate, error) ||
        !remember (f, data, error) || !bounce_store_commit (f->store, error)) {
        bounce_store_rollback (f->store);
        g_prefix_error (error, "%s: ", source);
        return FALSE;
    }
    f->tally.seen++;
    f->tally.kinds[report->kind]++;
    if (duplicate)
        f->tally.duplicates++;
    else
        f->tally.stored++;
    bs_tally_draw (&f->tally, FALSE);
    return TRUE;
}

/* ---- IMAP ---- */

typedef struct {
    const char *mailbox;
    guint32 uidvalidity;
    guint32 uid;
    guint32 last_uid; /* the highest stored, to keep */
} ImapDone;

static gboolean
imap_remember (Fetch *f, gconstpointer data, GError **error)
{
    const ImapDone *d = data;

    return bounce_store_set_imap_state (f->store, f->account, d->mailbox,
                                        d->uidvalidity,
                                        MAX (d->uid, d->last_uid), error);
}

/* After the commit: what the options ask of the server. */
static gboolean
imap_after (Fetch *f, const char *mailbox, guint32 uid, GError **error)
{
    g_autofree char *command = NULL;

    if (f->seen && !f->delete && f->move_to == NULL) {
        command = g_strdup_printf ("UID STORE %u +FLAGS.SILENT (\\Seen)", uid);
        if (!imap_command (f, mailbox, command, error))
            return FALSE;
        f->flagged++;
    }
    if (f->move_to != NULL) {
        g_autofree char *quoted = imap_quote (f->move_to, error);

        if (f->seen) {
            g_free (command);
            command = g_strdup_printf ("UID STORE %u +FLAGS.SILENT (\\Seen)",
                                       uid);
            if (!imap_command (f, mailbox, command, error))
                return FALSE;
            f->flagged++;
        }
        g_free (command);
        command = g_strdup_printf ("UID MOVE %u %s", uid, quoted);
        if (quoted == NULL || !imap_command (f, mailbox, command, error))
            return FALSE;
        f->moved++;
    } else if (f->delete) {
        g_free (command);
        command = g_strdup_printf ("UID STORE %u +FLAGS.SILENT (\\Deleted)",
                                   uid);
        if (!imap_command (f, mailbox, command, error))
            return FALSE;
        g_free (command);
        /* Only this message (UIDPLUS, RFC 4315), not others marked. */
        command = g_strdup_printf ("UID EXPUNGE %u", uid);
        if (!imap_command (f, mailbox, command, error))
            return FALSE;
        f->deleted++;
    }
    return TRUE;
}

static gboolean
imap_fetch_mailbox (Fetch *f, const char *mailbox, GError **error)
{
    guint32 uidvalidity, stored_validity, last_uid;
    g_autoptr (GArray) uids = NULL;
    g_autoptr (GArray) unseen = NULL;
    g_autofree char *criteria = NULL;
    gboolean all = f->delete || f->move_to != NULL;

    if (!imap_status (f, mailbox, &uidvalidity, error) ||
        !bounce_store_get_imap_state (f->store, f->account, mailbox,
                                      &stored_validity, &last_uid, error))
        return FALSE;
    /* Another UIDVALIDITY: the UIDs are new; start again. */
    if (stored_validity != uidvalidity)
        last_uid = 0;
    criteria = all || last_uid == 0 ? g_strdup ("ALL")
                                    : g_strdup_printf ("UID %u:*", last_uid + 1);
    uids = imap_search (f, mailbox, criteria, error);
    unseen = uids != NULL ? imap_search (f, mailbox, "UNSEEN", error) : NULL;
    if (unseen == NULL)
        return FALSE;
    if (f->tally.total < 0)
        f->tally.total = 0;
    for (guint i = 0; i < uids->len; i++)
        if (all || g_array_index (uids, guint32, i) > last_uid)
            f->tally.total++;

    for (guint i = 0; i < uids->len; i++) {
        guint32 uid = g_array_index (uids, guint32, i);
        g_autofree char *tail = NULL;
        g_autofree char *path = NULL;
        g_autofree char *source = NULL;
        ImapDone done = { mailbox, uidvalidity, uid, last_uid };

        /* "UID n:*" always gives the highest UID, even when it is n-1. */
        if (!all && uid <= last_uid)
            continue;
        tail = g_strdup_printf (";UIDVALIDITY=%u;UID=%u", uidvalidity, uid);
        path = mailbox_path (f, mailbox, tail);
        source = g_strconcat (f->base, path, NULL);
        if (!request (f, path, NULL, TRUE, FALSE, error))
            return FALSE;
        /* libcurl's FETCH BODY[] set \Seen: take it off first. */
        if (contains (unseen, uid)) {
            g_autofree char *command = g_strdup_printf (
                "UID STORE %u -FLAGS.SILENT (\\Seen)", uid);

            if (!imap_command (f, mailbox, command, error))
                return FALSE;
        }
        if (!store_fetched (f, source, imap_remember, &done, error))
            return FALSE;
        last_uid = MAX (last_uid, uid);
        if (!imap_after (f, mailbox, uid, error))
            return FALSE;
    }
    return TRUE;
}

/* ---- POP3 ---- */

typedef struct {
    const char *uidl;
} PopDone;

static gboolean
pop3_remember (Fetch *f, gconstpointer data, GError **error)
{
    const PopDone *d = data;

    /* With --delete the message goes: nothing to remember. */
    if (f->delete)
        return TRUE;
    return bounce_store_set_pop3_uidl (f->store, f->account, d->uidl, TRUE,
                                       error);
}

/* Forgets the ids the server no longer lists. */
static gboolean
pop3_forget (Fetch *f, GHashTable *stored, GHashTable *listed, GError **error)
{
    GHashTableIter iter;
    gpointer key;

    if (!bounce_store_begin (f->store, error))
        return FALSE;
    g_hash_table_iter_init (&iter, stored);
    while (g_hash_table_iter_next (&iter, &key, NULL))
        if (!g_hash_table_contains (listed, key) &&
            !bounce_store_set_pop3_uidl (f->store, f->account, key, FALSE,
                                         error)) {
            bounce_store_rollback (f->store);
            return FALSE;
        }
    return bounce_store_commit (f->store, error);
}

/* Message @n into f->body_fd: "TOP n 2147483647" (all of its lines:
 * RFC 1939), which no server counts as read, unlike RETR (Dovecot flags
 * a message RETR gave \Seen for its IMAP side); RETR when the server
 * has no TOP. */
static gboolean
pop3_read (Fetch *f, const char *n, GError **error)
{
    g_autofree char *top = g_strdup_printf ("TOP %s 2147483647", n);
    g_autofree char *path = g_strconcat ("/", n, NULL);
    g_autoptr (GError) local = NULL;

    if (!f->no_top) {
        if (request (f, "/", top, TRUE, FALSE, &local))
            return TRUE;
        if (local->code != EX_PROTOCOL) {
            g_propagate_error (error, g_steal_pointer (&local));
            return FALSE;
        }
        f->no_top = TRUE;
        if (lseek (f->body_fd, 0, SEEK_SET) < 0 ||
            ftruncate (f->body_fd, 0) < 0) {
            g_set_error (error, FETCH_ERROR, EX_OSERR, "%s", g_strerror (errno));
            return FALSE;
        }
    }
    return request (f, path, NULL, TRUE, FALSE, error);
}

static gboolean
pop3_fetch (Fetch *f, GError **error)
{
    g_autoptr (GHashTable) stored = NULL;
    g_autoptr (GHashTable) listed =
        g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
    g_autoptr (GPtrArray) todo = g_ptr_array_new_with_free_func (g_free);
    g_auto (GStrv) lines = NULL;

    stored = bounce_store_get_pop3_uidls (f->store, f->account, error);
    if (stored == NULL || !request (f, "/", "UIDL", FALSE, FALSE, error))
        return FALSE;
    /* "N UIDL" a line. */
    lines = g_strsplit (response_text (f), "\n", -1);
    for (guint i = 0; lines[i] != NULL; i++) {
        g_auto (GStrv) words = g_strsplit_set (g_strstrip (lines[i]), " ", 2);
        guint64 n;

        if (g_strv_length (words) != 2 ||
            !g_ascii_string_to_unsigned (words[0], 10, 1, G_MAXUINT32, &n,
                                         NULL))
            continue;
        g_hash_table_add (listed, g_strdup (words[1]));
        if (f->delete || !g_hash_table_contains (stored, words[1]))
            g_ptr_array_add (todo, g_strdup_printf ("%s %s", words[0],
                                                    words[1]));
    }
    f->tally.total = todo->len;
    for (guint i = 0; i < todo->len; i++) {
        g_auto (GStrv) nu = g_strsplit (todo->pdata[i], " ", 2);
        g_autofree char *path = g_strconcat ("/", nu[0], NULL);
        g_autofree char *source = g_strdup_printf ("%s/;UIDL=%s", f->base,
                                                   nu[1]);
        PopDone done = { nu[1] };

        if (!pop3_read (f, nu[0], error) ||
            !store_fetched (f, source, pop3_remember, &done, error))
            return FALSE;
        /* Deleted at QUIT, when the connection closes. */
        if (f->delete) {
            if (!request (f, path, "DELE", FALSE, TRUE, error))
                return FALSE;
            f->deleted++;
        }
    }
    return pop3_forget (f, stored, listed, error);
}

/* ---- Setting up ---- */

/* The first line of @path (the password), or NULL with @error. */
static char *
read_password_file (const char *path, GError **error)
{
    g_autofree char *text = NULL;
    char *nl;

    if (!g_file_get_contents (path, &text, NULL, error))
        return NULL;
    nl = strpbrk (text, "\r\n");
    if (nl != NULL)
        *nl = '\0';
    return g_steal_pointer (&text);
}

/* Splits @url with libcurl's URL parser into the base (with the user,
 * which libcurl looks up in ~/.netrc), the account and the mailbox;
 * refuses a password in it. */
static gboolean
parse_url (Fetch *f, const char *url, char **out_mailbox, GError **error)
{
    CURLU *u = curl_url ();
    char *scheme = NULL, *host = NULL, *port = NULL, *user = NULL;
    char *password = NULL, *path = NULL;
    gboolean ok = FALSE;
    CURLUcode rc = curl_url_set (u, CURLUPART_URL, url, 0);

    if (rc != CURLUE_OK) {
        g_set_error (error, FETCH_ERROR, EX_USAGE, "%s: %s", url,
                     curl_url_strerror (rc));
        goto out;
    }
    curl_url_get (u, CURLUPART_SCHEME, &scheme, 0);
    curl_url_get (u, CURLUPART_HOST, &host, 0);
    curl_url_get (u, CURLUPART_PORT, &port, 0);
    curl_url_get (u, CURLUPART_USER, &user, CURLU_URLDECODE);
    curl_url_get (u, CURLUPART_PASSWORD, &password, 0);
    curl_url_get (u, CURLUPART_PATH, &path, CURLU_URLDECODE);
    if (password != NULL) {
        g_set_error (error, FETCH_ERROR, EX_USAGE,
                     "the URL holds a password: it would be seen in the "
                     "process list and the shell's history; put it in "
                     "~/.netrc, a --password-file or the configuration's "
                     "fetch-password instead");
        goto out;
    }
    if (scheme == NULL || host == NULL ||
        (g_ascii_strcasecmp (scheme, "imap") != 0 &&
         g_ascii_strcasecmp (scheme, "imaps") != 0 &&
         g_ascii_strcasecmp (scheme, "pop3") != 0 &&
         g_ascii_strcasecmp (scheme, "pop3s") != 0)) {
        g_set_error (error, FETCH_ERROR, EX_USAGE,
                     "%s: not an imaps://, imap://, pop3s:// or pop3:// URL",
                     url);
        goto out;
    }
    if (user == NULL || user[0] == '\0') {
        g_set_error (error, FETCH_ERROR, EX_USAGE,
                     "%s: no user (imaps://USER@HOST/FOLDER)", url);
        goto out;
    }
    f->proto = g_ascii_strncasecmp (scheme, "pop3", 4) == 0 ? PROTO_POP3
                                                            : PROTO_IMAP;
    {
        g_autofree char *lhost = g_ascii_strdown (host, -1);
        g_autofree char *hostport =
            port != NULL ? g_strdup_printf ("%s:%s", lhost, port)
                         : g_strdup (lhost);
        g_autofree char *lscheme = g_ascii_strdown (scheme, -1);
        g_autofree char *euser = curl_easy_escape (f->curl, user, 0);

        f->base = g_strdup_printf ("%s://%s@%s", lscheme, euser, hostport);
        f->account = g_strdup_printf ("%s@%s", user, lhost);
    }
    *out_mailbox = path != NULL && path[0] == '/' && path[1] != '\0'
                       ? g_strdup (path + 1)
                       : NULL;
    if (*out_mailbox != NULL && f->proto == PROTO_POP3) {
        g_set_error (error, FETCH_ERROR, EX_USAGE,
                     "%s: POP3 has no folders (pop3s://USER@HOST)", url);
        goto out;
    }
    ok = TRUE;
out:
    curl_free (scheme);
    curl_free (host);
    curl_free (port);
    curl_free (user);
    curl_free (password);
    curl_free (path);
    curl_url_cleanup (u);
    return ok;
}

static int
exit_code (const GError *error)
{
    if (error->domain == FETCH_ERROR)
        return error->code;
    return bs_exit_code (error);
}

int
bs_cmd_fetch (int argc, char **argv)
{
    g_auto (BsParserOptions) popts = { 0 };
    g_auto (BsStoreArgs) sargs = { 0 };
    g_autofree char *password_file = NULL;
    g_autofree char *cacert = NULL;
    g_auto (GStrv) folders = NULL;
    g_auto (GStrv) args = NULL;
    gboolean insecure = FALSE;
    Fetch f = { 0 };
    GOptionEntry entries[] = {
        { "folder", 0, 0, G_OPTION_ARG_STRING_ARRAY, &folders,
          "Also fetch IMAP FOLDER (repeatable; after the URL's folder; "
          "without either, INBOX)", "FOLDER" },
        { "seen", 0, 0, G_OPTION_ARG_NONE, &f.seen,
          "IMAP: flag each message \\Seen once it is stored", NULL },
        { "move-to", 0, 0, G_OPTION_ARG_STRING, &f.move_to,
          "IMAP: move each message to FOLDER once it is stored (the server "
          "must have MOVE, RFC 6851)", "FOLDER" },
        { "delete", 0, 0, G_OPTION_ARG_NONE, &f.delete,
          "Delete each message from the server once it is stored", NULL },
        { "password-file", 0, 0, G_OPTION_ARG_FILENAME, &password_file,
          "The password is the first line of FILE (default: the "
          "configuration's fetch-password, else ~/.netrc)", "FILE" },
        { "cacert", 0, 0, G_OPTION_ARG_FILENAME, &cacert,
          "Trust the certificate authorities of FILE (PEM) instead of the "
          "system's", "FILE" },
        { "insecure", 0, 0, G_OPTION_ARG_NONE, &insecure,
          "Do not verify the server's certificate (says so on stderr; "
          "anyone on the way can read the password)", NULL },
        { G_OPTION_REMAINING, 0, 0, G_OPTION_ARG_STRING_ARRAY, &args, NULL,
          NULL },
        { NULL },
    };
    g_autoptr (GOptionContext) context =
        g_option_context_new ("URL - store the bounces of a remote mailbox");
    g_autoptr (BounceParser) parser = NULL;
    g_autoptr (BounceStore) store = NULL;
    g_autoptr (GError) error = NULL;
    g_autofree char *mailbox = NULL;
    g_autofree char *password = NULL;
    g_autoptr (GPtrArray) mailboxes = g_ptr_array_new ();
    g_autoptr (GString) extra = g_string_new (NULL);
    int status = EX_OK;
    gboolean ok;

    g_option_context_set_summary (
        context,
        "Reads the messages of an IMAP folder or a POP3 mailbox and stores "
        "each as\n'bouncestat ingest' does.  URL: imaps://USER@HOST/FOLDER, "
        "imap://... (STARTTLS,\nrequired), pop3s://USER@HOST, pop3://... "
        "(STARTTLS, required).\n"
        "The password: --password-file, else the configuration's "
        "fetch-password,\nelse ~/.netrc (machine HOST login USER password "
        "...); never on the command line.\n"
        "A second run fetches only what came since (IMAP: the last UID "
        "stored, per\nUIDVALIDITY; POP3: the unique ids stored).  Nothing "
        "on the server changes\nunless --seen, --move-to or --delete is "
        "given, and then only after the\nmessage is committed to the "
        "database.\n"
        "Exit status: 0 done, 64 usage, 69 the server cannot be reached, "
        "75 the\nconnection broke or the database was busy (run it again), "
        "76 the server's\ncertificate is not trusted or it refused a "
        "command, 77 the login was refused,\n78 configuration.");
    g_option_context_set_description (
        context,
        "Examples:\n"
        "  bouncestat fetch imaps://bounces%40example.org@ssl0.ovh.net/INBOX\n"
        "  bouncestat fetch --move-to Bounces/Done "
        "imaps://user@imap.example.org/INBOX\n"
        "  bouncestat fetch --folder INBOX --folder Junk "
        "imaps://user@imap.example.org\n"
        "  bouncestat fetch --delete --password-file ~/.bounces.pass "
        "pop3s://user@pop.example.org\n"
        "In ~/.netrc (mode 600; an @ in the user is %40 in the URL):\n"
        "  machine ssl0.ovh.net login bounces@example.org password ...\n");
    bs_store_args_add (context, &sargs);
    g_option_context_add_main_entries (context, entries, NULL);
    bs_parser_options_add (context, &popts);
    if (!bs_parse_options (context, &argc, &argv, &status))
        return status;
    if (args == NULL || args[0] == NULL || args[1] != NULL) {
        bs_error ("fetch: give one URL (see --help)");
        return EX_USAGE;
    }
    if (bs_config_error != NULL) {
        bs_error ("%s", bs_config_error->message);
        return EX_CONFIG;
    }
    if (!bs_store_args_check (&sargs, "fetch"))
        return EX_USAGE;
    if (f.delete && f.move_to != NULL) {
        bs_error ("fetch: --delete and --move-to: give one of them");
        return EX_USAGE;
    }

    f.body_fd = -1;
    if (curl_global_init (CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        bs_error ("fetch: libcurl could not be initialised");
        return EX_SOFTWARE;
    }
    f.curl = curl_easy_init ();
    f.response = g_byte_array_new ();
    f.reply = g_string_new (NULL);
    f.body_fd = memfd_create ("bouncestat-fetch", MFD_CLOEXEC);
    if (f.curl == NULL || f.body_fd < 0) {
        bs_error ("fetch: %s", f.curl == NULL ? "curl_easy_init failed"
                                              : g_strerror (errno));
        status = EX_OSERR;
        goto out;
    }
    if (!parse_url (&f, args[0], &mailbox, &error))
        goto fail;
    if (f.proto == PROTO_POP3 && (folders != NULL || f.seen ||
                                  f.move_to != NULL)) {
        bs_error ("fetch: --folder, --seen and --move-to are for IMAP "
                  "(POP3 has one mailbox, no flags)");
        status = EX_USAGE;
        goto out;
    }
    if (mailbox != NULL)
        g_ptr_array_add (mailboxes, mailbox);
    for (guint i = 0; folders != NULL && folders[i] != NULL; i++)
        g_ptr_array_add (mailboxes, folders[i]);
    if (mailboxes->len == 0)
        g_ptr_array_add (mailboxes, (gpointer) "INBOX");

    /* The password: never from the command line itself. */
    if (password_file != NULL) {
        password = read_password_file (password_file, &error);
        if (password == NULL) {
            bs_error ("fetch: --password-file: %s", error->message);
            status = EX_NOINPUT;
            goto out;
        }
    } else if (bs_config_get_one ("fetch-password", NULL) != NULL) {
        password = g_strdup (bs_config_get_one ("fetch-password", NULL));
    }

    curl_easy_setopt (f.curl, CURLOPT_ERRORBUFFER, f.errbuf);
    curl_easy_setopt (f.curl, CURLOPT_DEBUGFUNCTION, debug_cb);
    curl_easy_setopt (f.curl, CURLOPT_DEBUGDATA, &f);
    curl_easy_setopt (f.curl, CURLOPT_VERBOSE, 1L);
    curl_easy_setopt (f.curl, CURLOPT_WRITEFUNCTION, write_cb);
    curl_easy_setopt (f.curl, CURLOPT_WRITEDATA, &f);
    if (password != NULL)
        curl_easy_setopt (f.curl, CURLOPT_PASSWORD, password);
    else
        curl_easy_setopt (f.curl, CURLOPT_NETRC, (long) CURL_NETRC_OPTIONAL);
    /* imap:// and pop3://: STARTTLS, or nothing (never a password in
     * clear). */
    curl_easy_setopt (f.curl, CURLOPT_USE_SSL, (long) CURLUSESSL_ALL);
    if (cacert != NULL)
        curl_easy_setopt (f.curl, CURLOPT_CAINFO, cacert);
    if (insecure) {
        bs_error ("fetch: warning: --insecure: the server's certificate is "
                  "not verified; anyone between here and %s can read the "
                  "password and the mail", f.base);
        curl_easy_setopt (f.curl, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt (f.curl, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    curl_easy_setopt (f.curl, CURLOPT_CONNECTTIMEOUT, 30L);
    /* A connection that stalls for a minute is broken. */
    curl_easy_setopt (f.curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt (f.curl, CURLOPT_LOW_SPEED_TIME, 60L);
    curl_easy_setopt (f.curl, CURLOPT_NOSIGNAL, 1L);

    parser = bs_parser_options_build (&popts, &status);
    if (parser == NULL)
        goto out;
    store = bs_store_args_open (&sargs, popts.rules, FALSE, &error);
    if (store == NULL)
        goto fail;
    f.store = store;
    f.parser = parser;
    f.max_input = (gsize) sargs.max_input;
    bs_tally_init (&f.tally, "fetch");

    if (f.proto == PROTO_POP3) {
        ok = pop3_fetch (&f, &error);
    } else {
        guint32 v;

        /* The folder to move to must be there before anything moves. */
        ok = f.move_to == NULL || imap_status (&f, f.move_to, &v, &error);
        for (guint i = 0; ok && i < mailboxes->len; i++)
            ok = imap_fetch_mailbox (&f, mailboxes->pdata[i], &error);
    }
    bs_tally_draw (&f.tally, TRUE);
    bs_tally_clear_line (&f.tally);
    if (f.flagged > 0)
        g_string_append_printf (extra, "%" G_GUINT64_FORMAT " flagged seen",
                                f.flagged);
    if (f.moved > 0)
        g_string_append_printf (extra, "%s%" G_GUINT64_FORMAT " moved to %s",
                                extra->len > 0 ? ", " : "", f.moved, f.move_to);
    if (f.deleted > 0)
        g_string_append_printf (extra, "%s%" G_GUINT64_FORMAT " deleted",
                                extra->len > 0 ? ", " : "", f.deleted);
    if (!ok)
        goto fail;
    bs_tally_summary (&f.tally, extra->len > 0 ? extra->str : NULL);
    goto out;

fail:
    bs_error ("fetch: %s", error->message);
    status = exit_code (error);
    if (f.tally.seen > 0)
        bs_error ("fetch: stopped; what was stored is kept, and the next "
                  "run goes on from there");
    if (f.store != NULL) {
        bs_tally_summary (&f.tally, extra->len > 0 ? extra->str : NULL);
    }
out:
    if (f.body_fd >= 0)
        close (f.body_fd);
    if (f.curl != NULL)
        curl_easy_cleanup (f.curl); /* POP3: QUIT, which applies the DELEs */
    curl_global_cleanup ();
    g_clear_pointer (&f.response, g_byte_array_unref);
    if (f.reply != NULL)
        g_string_free (f.reply, TRUE);
    g_free (f.base);
    g_free (f.account);
    g_free (f.move_to);
    return status;
}
