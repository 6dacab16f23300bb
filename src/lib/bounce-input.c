/*
 * bounce-input.c - where messages come from: one file, an mbox file
 * (recognised by its content, not its name), a Maildir (cur/ and new/),
 * a folder of message files, or one message on a file descriptor.
 *
 * Files are read with read(), never mapped: a file that shrinks while it
 * is read (an mbox truncated or rotated) is an error for that file, not
 * a SIGBUS.  A regular file is read up to the size it had when it was
 * opened (what is appended later is for the next run), and ending before
 * that size is the error.  Memory stays flat however large the input:
 * the buffer holds the message being read and one read ahead, and of
 * each message at most max_bytes (BOUNCE_MAX_INPUT_BYTES) are kept; the
 * rest is read past and counted (bounce_input_get_message_size), so that
 * a writer on a pipe (the MTA) is never cut off.  Mbox messages start at
 * a "From " line at the top of the file or after a blank line; ">From"
 * quoting is left as it is.  (GMime's parser in mbox mode is not used:
 * it ends a message at any "From " line, blank line before or not, and
 * can stop making progress after one; tests/test-input.c,
 * test_gmime_mbox_mode, shows both.)
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bounce-private.h"

/* One read(). */
#define READ_CHUNK (1u << 20)
/* The longest message separator: "\n\r\nFrom " (mbox_next_start). */
#define SEPARATOR_MAX 8

struct _BounceInput {
    char *path;
    /* A folder or Maildir: the files, sorted, and the next one. */
    GPtrArray *files;
    guint next_file;
    /* "-": one message on stdin_fd (not closed here). */
    gboolean is_stdin;
    int stdin_fd;
    gboolean stdin_done;
    /* The file being read (an mbox holds several messages). */
    int fd; /* -1: none */
    char *current_path;
    gboolean regular; /* a regular file: read up to size */
    guint64 size; /* what was left of it to read when opened */
    guint64 offset; /* bytes read from fd */
    gboolean eof;
    GByteArray *buf; /* read, not yet returned: buf[head..len) */
    gsize head;
    gboolean started; /* is_mbox is known */
    gboolean is_mbox;
    gboolean mbox_multi;
    guint mbox_index;
    /* Limits and what the last message was. */
    gsize max_bytes;
    guint64 last_size;
    gsize last_kept;
};

static gboolean
is_from_line (const guint8 *p, gsize left)
{
    return left >= 5 && memcmp (p, "From ", 5) == 0;
}

/* The offset of the next message start at or after a line end at @from
 * or later, or @len when there is none (yet). */
static gsize
mbox_next_start (const guint8 *data, gsize len, gsize from)
{
    for (gsize i = from; i + 1 < len; i++) {
        const guint8 *nl = memchr (data + i, '\n', len - i);
        gsize j;

        if (nl == NULL)
            break;
        j = (gsize) (nl - data) + 1;
        /* A blank line ("\n\n" or "\r\n\r\n") then "From ". */
        if (j < len && (data[j] == '\n' || (data[j] == '\r' && j + 1 < len &&
                                            data[j + 1] == '\n'))) {
            gsize k = j + (data[j] == '\r' ? 2 : 1);
            if (is_from_line (data + k, len - k))
                return k;
        }
        i = j - 1;
    }
    return len;
}

static int
compare_names (gconstpointer a, gconstpointer b)
{
    return strcmp (*(char *const *) a, *(char *const *) b);
}

static gboolean
add_dir_files (GPtrArray *files, const char *dir, GError **error)
{
    g_autoptr (GDir) d = g_dir_open (dir, 0, error);
    g_autoptr (GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
    const char *name;

    if (d == NULL)
        return FALSE;
    while ((name = g_dir_read_name (d)) != NULL) {
        if (name[0] == '.')
            continue;
        g_ptr_array_add (names, g_strdup (name));
    }
    g_ptr_array_sort (names, compare_names);
    for (guint i = 0; i < names->len; i++) {
        g_autofree char *full = g_build_filename (dir, names->pdata[i], NULL);
        if (g_file_test (full, G_FILE_TEST_IS_REGULAR))
            g_ptr_array_add (files, g_steal_pointer (&full));
    }
    return TRUE;
}

BounceInput *
bounce_input_open (const char *path, int stdin_fd, GError **error)
{
    g_autoptr (BounceInput) input = g_new0 (BounceInput, 1);
    struct stat st;

    g_return_val_if_fail (path != NULL, NULL);
    input->path = g_strdup (path);
    input->fd = -1;
    input->max_bytes = BOUNCE_MAX_INPUT_BYTES;
    input->buf = g_byte_array_new ();

    if (strcmp (path, "-") == 0) {
        input->is_stdin = TRUE;
        input->stdin_fd = stdin_fd;
        return g_steal_pointer (&input);
    }

    if (stat (path, &st) != 0) {
        int saved = errno;
        g_set_error (error, BOUNCE_ERROR, BOUNCE_ERROR_INPUT, "%s: %s", path,
                     g_strerror (saved));
        return NULL;
    }
    input->files = g_ptr_array_new_with_free_func (g_free);
    if (S_ISDIR (st.st_mode)) {
        g_autofree char *cur = g_build_filename (path, "cur", NULL);
        g_autofree char *new = g_build_filename (path, "new", NULL);
        gboolean maildir = g_file_test (cur, G_FILE_TEST_IS_DIR) ||
                           g_file_test (new, G_FILE_TEST_IS_DIR);
        GError *local = NULL;

        if (maildir) {
            if (g_file_test (cur, G_FILE_TEST_IS_DIR) &&
                !add_dir_files (input->files, cur, &local))
                goto dir_error;
            if (g_file_test (new, G_FILE_TEST_IS_DIR) &&
                !add_dir_files (input->files, new, &local))
                goto dir_error;
        } else if (!add_dir_files (input->files, path, &local)) {
            goto dir_error;
        }
        return g_steal_pointer (&input);
    dir_error:
        g_set_error (error, BOUNCE_ERROR, BOUNCE_ERROR_INPUT, "%s: %s", path,
                     local->message);
        g_error_free (local);
        return NULL;
    }
    g_ptr_array_add (input->files, g_strdup (path));
    return g_steal_pointer (&input);
}

static void
close_current (BounceInput *input)
{
    if (input->fd >= 0 && !input->is_stdin)
        close (input->fd);
    input->fd = -1;
    g_clear_pointer (&input->current_path, g_free);
    g_byte_array_set_size (input->buf, 0);
    input->head = 0;
}

void
bounce_input_free (BounceInput *input)
{
    if (input == NULL)
        return;
    close_current (input);
    g_free (input->path);
    if (input->files != NULL)
        g_ptr_array_unref (input->files);
    g_byte_array_unref (input->buf);
    g_free (input);
}

void
bounce_input_set_max_bytes (BounceInput *input, gsize max_bytes)
{
    g_return_if_fail (input != NULL);
    input->max_bytes = max_bytes > 0 ? max_bytes : BOUNCE_MAX_INPUT_BYTES;
}

guint64
bounce_input_get_message_size (BounceInput *input)
{
    g_return_val_if_fail (input != NULL, 0);
    return input->last_size;
}

void
bounce_input_annotate (BounceInput *input, BounceReport *report)
{
    g_return_if_fail (input != NULL);
    g_return_if_fail (report != NULL);
    if (input->last_size <= input->last_kept)
        return;
    report->size = input->last_size;
    bounce_report_add_warning (report,
                               "message of %" G_GUINT64_FORMAT " bytes; only "
                               "the first %" G_GSIZE_FORMAT " were read",
                               input->last_size, input->last_kept);
}

gint64
bounce_input_count_hint (BounceInput *input)
{
    g_return_val_if_fail (input != NULL, -1);
    if (input->is_stdin)
        return 1;
    if (input->files != NULL && input->files->len > 1)
        return input->files->len;
    return -1;
}

/* Opens the next file of the list; FALSE on error (then skip it). */
static gboolean
open_next_file (BounceInput *input, GError **error)
{
    const char *path = input->files->pdata[input->next_file++];
    struct stat st;
    int fd = open (path, O_RDONLY | O_CLOEXEC);

    if (fd < 0 || fstat (fd, &st) != 0) {
        int saved = errno;
        if (fd >= 0)
            close (fd);
        g_set_error (error, BOUNCE_ERROR, BOUNCE_ERROR_INPUT, "%s: %s", path,
                     g_strerror (saved));
        return FALSE;
    }
    input->fd = fd;
    input->current_path = g_strdup (path);
    input->regular = S_ISREG (st.st_mode);
    input->size = input->regular ? (guint64) st.st_size : 0;
    input->offset = 0;
    input->eof = FALSE;
    input->started = FALSE;
    input->mbox_index = 0;
    return TRUE;
}

/* Reads once more into the buffer (after moving what is left to its
 * start); at the end sets input->eof.  FALSE on a read error, or when a
 * regular file ends before the size it had when opened. */
static gboolean
fill (BounceInput *input, GError **error)
{
    GByteArray *buf = input->buf;
    const char *name = input->is_stdin ? "standard input" : input->current_path;
    gsize want = READ_CHUNK;
    gsize old;
    ssize_t n;

    if (input->head > 0) {
        memmove (buf->data, buf->data + input->head, buf->len - input->head);
        g_byte_array_set_size (buf, (guint) (buf->len - input->head));
        input->head = 0;
    }
    if (input->regular && input->size - input->offset < want)
        want = (gsize) (input->size - input->offset);
    if (want == 0) {
        input->eof = TRUE;
        return TRUE;
    }
    old = buf->len;
    g_byte_array_set_size (buf, (guint) (old + want));
    do
        n = read (input->fd, buf->data + old, want);
    while (n < 0 && errno == EINTR);
    if (n < 0) {
        int saved = errno;
        g_byte_array_set_size (buf, (guint) old);
        g_set_error (error, BOUNCE_ERROR, BOUNCE_ERROR_INPUT, "%s: %s", name,
                     g_strerror (saved));
        return FALSE;
    }
    g_byte_array_set_size (buf, (guint) (old + (gsize) n));
    input->offset += (guint64) n;
    if (n > 0)
        return TRUE;
    input->eof = TRUE;
    if (input->regular && input->offset < input->size) {
        struct stat st;
        guint64 now = fstat (input->fd, &st) == 0 ? (guint64) st.st_size
                                                   : input->offset;
        g_set_error (error, BOUNCE_ERROR, BOUNCE_ERROR_INPUT,
                     "%s: the file shrank from %" G_GUINT64_FORMAT " to %"
                     G_GUINT64_FORMAT " bytes while it was read (truncated "
                     "or rotated?): %u messages read, the rest of it is not",
                     name, input->size, now, input->mbox_index);
        return FALSE;
    }
    return TRUE;
}

/* Reads the message at the head of the buffer: up to the next mbox
 * separator (for an mbox) or the end.  Keeps its first max_bytes and
 * counts the rest. */
static gboolean
read_message (BounceInput *input, GBytes **out_message, GError **error)
{
    GByteArray *buf = input->buf;
    guint64 dropped = 0; /* bytes of the message read past */
    gsize scan = input->head;
    gsize end;

    for (;;) {
        gsize len = buf->len;
        gsize have;

        end = input->is_mbox ? mbox_next_start (buf->data, len, scan) : len;
        if (end < len || input->eof)
            break;
        have = len - input->head;
        /* Too long: keep the first max_bytes and the last few (a
         * separator may begin there), count the rest.  The next scan
         * starts after the cut, never across it. */
        if (have > input->max_bytes + SEPARATOR_MAX) {
            gsize cut = input->head + input->max_bytes;
            gsize drop = len - SEPARATOR_MAX - cut;
            g_byte_array_remove_range (buf, (guint) cut, (guint) drop);
            dropped += drop;
            len = buf->len;
        }
        /* Past what was searched; the last few bytes again. */
        scan = len > input->head + SEPARATOR_MAX ? len - SEPARATOR_MAX
                                                 : input->head;
        if (dropped > 0 && scan < input->head + input->max_bytes)
            scan = input->head + input->max_bytes;
        {
            gsize scan_off = scan - input->head;
            if (!fill (input, error))
                return FALSE;
            scan = input->head + scan_off;
        }
    }
    {
        gsize whole = end - input->head;
        gsize kept = MIN (whole, input->max_bytes);

        input->last_kept = kept;
        input->last_size = (guint64) whole + dropped;
        if (input->head == 0 && end == buf->len) {
            /* The whole buffer (standard input, a message file, the
             * last message of an mbox): handed over, not copied. */
            g_byte_array_set_size (buf, (guint) kept);
            *out_message = g_byte_array_free_to_bytes (buf);
            input->buf = g_byte_array_new ();
            input->head = 0;
        } else {
            *out_message = g_bytes_new (buf->data + input->head, kept);
            input->head = end;
        }
    }
    return TRUE;
}

gboolean
bounce_input_next (BounceInput *input,
                   GBytes **out_message,
                   char **out_source,
                   GError **error)
{
    g_return_val_if_fail (input != NULL, FALSE);

    if (input->is_stdin) {
        if (input->stdin_done)
            return FALSE;
        input->stdin_done = TRUE;
        input->fd = input->stdin_fd;
        input->is_mbox = FALSE;
        input->offset = 0;
        /* A regular file on standard input ("< FILE") is read as a PATH
         * is: up to its size then, and a shrink is an error. */
        {
            struct stat st;
            off_t at = lseek (input->fd, 0, SEEK_CUR);

            input->regular = fstat (input->fd, &st) == 0 &&
                             S_ISREG (st.st_mode) && at >= 0 &&
                             st.st_size >= at;
            input->size = input->regular ? (guint64) (st.st_size - at) : 0;
        }
        if (!read_message (input, out_message, error)) {
            close_current (input);
            return FALSE;
        }
        close_current (input);
        *out_source = g_strdup ("-");
        return TRUE;
    }

    for (;;) {
        if (input->fd >= 0) {
            if (!input->started) {
                /* Enough to tell an mbox. */
                while (input->buf->len - input->head < 5 && !input->eof)
                    if (!fill (input, error)) {
                        close_current (input);
                        return FALSE;
                    }
                input->started = TRUE;
                input->is_mbox = is_from_line (input->buf->data + input->head,
                                               input->buf->len - input->head);
            }
            /* An empty file is one empty message. */
            if (input->head < input->buf->len || !input->eof ||
                input->mbox_index == 0) {
                const char *path = input->current_path;
                gboolean first = input->mbox_index == 0;

                if (!read_message (input, out_message, error)) {
                    close_current (input);
                    return FALSE;
                }
                input->mbox_index++;
                /* A separator after the first message: several. */
                if (first)
                    input->mbox_multi = input->is_mbox &&
                                        input->head < input->buf->len;
                *out_source = input->mbox_multi
                                  ? g_strdup_printf ("%s#%u", path,
                                                     input->mbox_index)
                                  : g_strdup (path);
                if (input->head >= input->buf->len && input->eof)
                    close_current (input);
                return TRUE;
            }
            close_current (input);
        }
        if (input->files == NULL || input->next_file >= input->files->len)
            return FALSE;
        if (!open_next_file (input, error))
            return FALSE;
    }
}
