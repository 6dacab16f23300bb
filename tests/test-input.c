/*
 * test-input.c - where messages come from (bounce-input.c): single
 * files, mbox files recognised by content, Maildirs, folders, stdin.
 */
#include <fcntl.h>
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

#include "bounce.h"

typedef struct {
    char *dir;
} Fixture;

static void
fixture_set_up (Fixture *f, gconstpointer data)
{
    GError *error = NULL;

    f->dir = g_dir_make_tmp ("bouncestat-input-XXXXXX", &error);
    g_assert_no_error (error);
}

static void
remove_tree (const char *path)
{
    GDir *d = g_dir_open (path, 0, NULL);
    const char *name;

    if (d != NULL) {
        while ((name = g_dir_read_name (d)) != NULL) {
            g_autofree char *child = g_build_filename (path, name, NULL);
            remove_tree (child);
        }
        g_dir_close (d);
    }
    g_remove (path);
}

static void
fixture_tear_down (Fixture *f, gconstpointer data)
{
    remove_tree (f->dir);
    g_free (f->dir);
}

static void
write_file (const char *dir, const char *name, const char *content)
{
    g_autofree char *path = g_build_filename (dir, name, NULL);
    GError *error = NULL;

    g_file_set_contents (path, content, -1, &error);
    g_assert_no_error (error);
}

/* All (source, first line) pairs of an input, "|"-joined. */
static char *
collect (const char *path, int fd)
{
    GError *error = NULL;
    g_autoptr (BounceInput) input = bounce_input_open (path, fd, &error);
    GString *out = g_string_new (NULL);
    GBytes *message;
    char *source;

    g_assert_no_error (error);
    while (bounce_input_next (input, &message, &source, &error)) {
        gsize len;
        const char *data = g_bytes_get_data (message, &len);
        const char *eol = len > 0 ? memchr (data, '\n', len) : NULL;
        g_string_append_printf (out, "%s%s=%.*s", out->len ? "|" : "", source,
                                (int) (eol ? eol - data : (gssize) len), data);
        g_bytes_unref (message);
        g_free (source);
    }
    g_assert_no_error (error);
    return g_string_free (out, FALSE);
}

static void
test_mbox (Fixture *f, gconstpointer data)
{
    g_autofree char *path = g_build_filename (f->dir, "box", NULL);
    g_autofree char *got = NULL;
    g_autofree char *want = NULL;

    write_file (f->dir, "box",
                "From a@b Mon Jan  1 00:00:00 2024\nSubject: one\n\nbody\n"
                "From the start of a line in a body, not a separator\n\n"
                "From c@d Mon Jan  1 00:00:01 2024\nSubject: two\n\nx\n\n"
                "From e@f Mon Jan  1 00:00:02 2024\r\nSubject: three\r\n\r\ny\r\n");
    got = collect (path, -1);
    want = g_strdup_printf ("%s#1=From a@b Mon Jan  1 00:00:00 2024|"
                            "%s#2=From c@d Mon Jan  1 00:00:01 2024|"
                            "%s#3=From e@f Mon Jan  1 00:00:02 2024\r",
                            path, path, path);
    g_assert_cmpstr (got, ==, want);
}

/* One message behind a From line (Postfix pipe delivery) keeps its path. */
static void
test_single_from_line (Fixture *f, gconstpointer data)
{
    g_autofree char *path = g_build_filename (f->dir, "one", NULL);
    g_autofree char *got = NULL;
    g_autofree char *want = NULL;

    write_file (f->dir, "one", "From a@b Mon Jan  1 00:00:00 2024\nSubject: one\n\nbody\n");
    got = collect (path, -1);
    want = g_strdup_printf ("%s=From a@b Mon Jan  1 00:00:00 2024", path);
    g_assert_cmpstr (got, ==, want);
}

static void
test_maildir (Fixture *f, gconstpointer data)
{
    g_autofree char *cur = g_build_filename (f->dir, "cur", NULL);
    g_autofree char *new = g_build_filename (f->dir, "new", NULL);
    g_autofree char *tmp = g_build_filename (f->dir, "tmp", NULL);
    g_autofree char *got = NULL;
    g_autofree char *want = NULL;

    g_mkdir (cur, 0700);
    g_mkdir (new, 0700);
    g_mkdir (tmp, 0700);
    write_file (cur, "2.host:2,S", "Subject: b\n\n");
    write_file (cur, "1.host:2,S", "Subject: a\n\n");
    write_file (new, "3.host", "Subject: c\n\n");
    write_file (tmp, "4.host", "Subject: half-written\n\n");
    write_file (cur, ".hidden", "Subject: no\n\n");
    got = collect (f->dir, -1);
    want = g_strdup_printf ("%s/1.host:2,S=Subject: a|%s/2.host:2,S=Subject: b|"
                            "%s/3.host=Subject: c",
                            cur, cur, new);
    g_assert_cmpstr (got, ==, want);
}

static void
test_folder_and_empty (Fixture *f, gconstpointer data)
{
    g_autofree char *got = NULL;
    g_autofree char *want = NULL;

    write_file (f->dir, "b.eml", "Subject: b\n\n");
    write_file (f->dir, "a.eml", "");
    got = collect (f->dir, -1);
    want = g_strdup_printf ("%s/a.eml=|%s/b.eml=Subject: b", f->dir, f->dir);
    g_assert_cmpstr (got, ==, want);
}

static void
test_stdin (Fixture *f, gconstpointer data)
{
    g_autofree char *path = g_build_filename (f->dir, "in", NULL);
    g_autofree char *got = NULL;
    int fd;

    write_file (f->dir, "in", "Subject: piped\n\nFrom a line\n\nFrom x Mon\n");
    fd = open (path, O_RDONLY);
    g_assert_cmpint (fd, >=, 0);
    got = collect ("-", fd);
    close (fd);
    /* stdin is one message, whatever From lines it holds. */
    g_assert_cmpstr (got, ==, "-=Subject: piped");
}

static void
test_missing (Fixture *f, gconstpointer data)
{
    g_autofree char *path = g_build_filename (f->dir, "nope", NULL);
    GError *error = NULL;
    BounceInput *input = bounce_input_open (path, -1, &error);

    g_assert_null (input);
    g_assert_error (error, BOUNCE_ERROR, BOUNCE_ERROR_INPUT);
    g_assert_nonnull (strstr (error->message, "nope"));
    g_error_free (error);
}

int
main (int argc, char **argv)
{
    g_test_init (&argc, &argv, NULL);
#define ADD(path, fn) \
    g_test_add (path, Fixture, NULL, fixture_set_up, fn, fixture_tear_down)
    ADD ("/input/mbox", test_mbox);
    ADD ("/input/single-from-line", test_single_from_line);
    ADD ("/input/maildir", test_maildir);
    ADD ("/input/folder-and-empty", test_folder_and_empty);
    ADD ("/input/stdin", test_stdin);
    ADD ("/input/missing", test_missing);
    return g_test_run ();
}
