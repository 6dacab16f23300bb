/*
 * bounce-input.c - where messages come from: one file, an mbox file
 * (recognised by its content, not its name), a Maildir (cur/ and new/),
 * a folder of message files, or one message on a file descriptor.
 *
 * Files are mapped, and the messages of an mbox are slices of the map,
 * so memory stays flat however many messages a run reads: the pages of
 * an mbox already read are handed back to the kernel as the run goes.  Mbox
 * messages start at a "From " line at the top of the file or after a
 * blank line; ">From" quoting is left as it is.
 */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bounce-private.h"

struct _BounceInput {
    char *path;
    /* A folder or Maildir: the files, sorted, and the next one. */
    GPtrArray *files;
    guint next_file;
    /* The file being read (an mbox holds several messages). */
    GBytes *current;
    char *current_path;
    gsize offset;
    gsize released; /* pages of the map before this were given back */
    guint mbox_index;
    gboolean is_mbox;
    gboolean mbox_multi;
    /* One message from a descriptor. */
    GBytes *stdin_bytes;
    gboolean done;
};

static gboolean
is_from_line (const guint8 *p, gsize left)
{
    return left >= 5 && memcmp (p, "From ", 5) == 0;
}

/* The offset of the next message start after @from, or @len. */
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

    if (strcmp (path, "-") == 0) {
        GByteArray *buf = g_byte_array_new ();
        guint8 chunk[65536];
        for (;;) {
            ssize_t n = read (stdin_fd, chunk, sizeof chunk);
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0) {
                int saved = errno;
                g_byte_array_unref (buf);
                g_set_error (error, BOUNCE_ERROR, BOUNCE_ERROR_INPUT,
                             "standard input: %s", g_strerror (saved));
                return NULL;
            }
            if (n == 0)
                break;
            g_byte_array_append (buf, chunk, (guint) n);
        }
        input->stdin_bytes = g_byte_array_free_to_bytes (buf);
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

void
bounce_input_free (BounceInput *input)
{
    if (input == NULL)
        return;
    g_free (input->path);
    if (input->files != NULL)
        g_ptr_array_unref (input->files);
    g_clear_pointer (&input->current, g_bytes_unref);
    g_free (input->current_path);
    g_clear_pointer (&input->stdin_bytes, g_bytes_unref);
    g_free (input);
}

gint64
bounce_input_count_hint (BounceInput *input)
{
    g_return_val_if_fail (input != NULL, -1);
    if (input->stdin_bytes != NULL || input->done)
        return 1;
    if (input->files != NULL && input->files->len > 1)
        return input->files->len;
    return -1;
}

/* Maps the next file of the list; FALSE at the end or on error. */
static gboolean
open_next_file (BounceInput *input, GError **error)
{
    const char *path;
    g_autoptr (GMappedFile) map = NULL;
    GError *local = NULL;
    const guint8 *data;
    gsize len;

    path = input->files->pdata[input->next_file++];
    map = g_mapped_file_new (path, FALSE, &local);
    if (map == NULL) {
        g_set_error (error, BOUNCE_ERROR, BOUNCE_ERROR_INPUT, "%s",
                     local->message);
        g_error_free (local);
        return FALSE;
    }
    g_clear_pointer (&input->current, g_bytes_unref);
    input->current = g_mapped_file_get_bytes (map);
    g_free (input->current_path);
    input->current_path = g_strdup (path);
    input->offset = 0;
    input->released = 0;
    input->mbox_index = 0;
    data = g_bytes_get_data (input->current, &len);
    input->is_mbox = is_from_line (data, len);
    input->mbox_multi = input->is_mbox && mbox_next_start (data, len, 0) < len;
    return TRUE;
}

/* Gives the kernel back the mapped pages of an mbox before @upto (every
 * MBOX_RELEASE_BYTES), or resident memory would grow with the file.  The
 * map is private and read-only: a page read again (a message still in
 * use) is faulted back in from the file, unchanged. */
#define MBOX_RELEASE_BYTES (8u << 20)
static void
release_read_pages (BounceInput *input, const guint8 *data, gsize upto)
{
    gsize page = (gsize) sysconf (_SC_PAGESIZE);
    guintptr from, to;

    if (upto - input->released < MBOX_RELEASE_BYTES)
        return;
    from = ((guintptr) (data + input->released) + page - 1) & ~(guintptr) (page - 1);
    to = (guintptr) (data + upto) & ~(guintptr) (page - 1);
    if (to > from)
        madvise ((void *) from, to - from, MADV_DONTNEED);
    input->released = upto;
}

gboolean
bounce_input_next (BounceInput *input,
                   GBytes **out_message,
                   char **out_source,
                   GError **error)
{
    g_return_val_if_fail (input != NULL, FALSE);

    if (input->stdin_bytes != NULL) {
        if (input->done)
            return FALSE;
        input->done = TRUE;
        *out_message = g_bytes_ref (input->stdin_bytes);
        *out_source = g_strdup ("-");
        return TRUE;
    }

    for (;;) {
        if (input->current != NULL) {
            gsize len;
            const guint8 *data = g_bytes_get_data (input->current, &len);

            if (input->offset < len || (len == 0 && input->mbox_index == 0)) {
                gsize start = input->offset;
                gsize end = input->is_mbox ? mbox_next_start (data, len, start)
                                           : len;
                input->offset = end == start ? len : end;
                input->mbox_index++;
                if (input->is_mbox)
                    release_read_pages (input, data, start);
                *out_message = g_bytes_new_from_bytes (input->current, start,
                                                       end - start);
                *out_source =
                    input->mbox_multi
                        ? g_strdup_printf ("%s#%u", input->current_path,
                                           input->mbox_index)
                        : g_strdup (input->current_path);
                if (len == 0)
                    input->offset = 1;
                return TRUE;
            }
            g_clear_pointer (&input->current, g_bytes_unref);
        }
        if (input->next_file >= input->files->len)
            return FALSE;
        if (!open_next_file (input, error))
            return FALSE;
    }
}
