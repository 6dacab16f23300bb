/*
 * bs-cmd-import-log.c - `bouncestat import-log`: the delivery failures
 * of an MTA's log (Postfix, Exim, Sendmail) as events in the database.
 *
 * Each PATH is read line by line (a rotated ".gz" one through GIO's
 * GZlibDecompressor, found by its magic bytes), in the order given, by
 * one log reader (which remembers each queue id's Message-ID across
 * files: give rotated files oldest first); no PATH reads standard input.
 * Each failure line is stored as a message of origin "log" with its
 * events (bounce_store_add: a line already stored changes nothing; the
 * store keeps one event for a bounce and the log line of the same
 * failure).  --follow keeps reading the last PATH as it grows, as
 * `tail -F` does: it reopens it when its inode changes (rotation) or it
 * shrinks (truncation), and commits what it read whenever it reaches
 * the end.  The log reading and classification live in the library
 * (bounce-log.c); this file reads bytes and counts.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gio/gio.h>
#include <gio/gunixinputstream.h>

#include "bs.h"

#define DEFAULT_BATCH 500
#define READ_CHUNK 65536
/* A line longer than this is cut (the rest is read past). */
#define MAX_LINE_BYTES (64 * 1024)
/* How often --follow looks at the file when it is at its end. */
#define DEFAULT_POLL_MS 500

typedef struct {
    BounceLogReader *reader;
    BounceStore *store; /* NULL: --print */
    guint batch_size;
    guint in_batch;
    guint64 lines;
    guint64 failures;
    guint64 stored;
    guint64 duplicates;
    JsonGenerator *printer;
} Import;

/* One input: its stream, the bytes of a line not yet ended. */
typedef struct {
    char *path;  /* NULL: standard input */
    GInputStream *stream;
    GString *partial;
    guint64 line_no;
    guint64 offset; /* bytes read of the file (plain files) */
    dev_t dev;
    ino_t ino;
} LogFile;

static volatile sig_atomic_t stop_requested;

static void
on_signal (int sig)
{
    (void) sig;
    stop_requested = 1;
}

static gboolean
commit (Import *im, GError **error)
{
    if (im->store == NULL || im->in_batch == 0)
        return TRUE;
    im->in_batch = 0;
    return bounce_store_commit (im->store, error);
}

static gboolean
handle_line (Import *im, LogFile *f, const char *line, gsize len,
             GError **error)
{
    g_autofree char *text = g_strndup (line, MIN (len, MAX_LINE_BYTES));
    g_autofree char *source = NULL;
    g_autoptr (BounceReport) report = NULL;
    gsize n = strlen (text);

    f->line_no++;
    im->lines++;
    if (n > 0 && text[n - 1] == '\r')
        text[--n] = '\0';
    source = g_strdup_printf ("%s:%" G_GUINT64_FORMAT,
                              f->path != NULL ? f->path : "-", f->line_no);
    report = bounce_log_reader_feed (im->reader, text, source);
    if (report == NULL)
        return TRUE;
    im->failures++;
    if (im->store == NULL) {
        g_autoptr (JsonNode) node = bounce_report_to_json (report);
        g_autofree char *json = NULL;

        json_generator_set_root (im->printer, node);
        json = json_generator_to_data (im->printer, NULL);
        printf ("%s\n", json);
        return TRUE;
    }
    {
        g_autoptr (GBytes) raw = g_bytes_new (text, n);
        gboolean dup = FALSE;

        if (im->in_batch == 0 && !bounce_store_begin (im->store, error))
            return FALSE;
        im->in_batch++;
        if (!bounce_store_add (im->store, raw, report, &dup, error)) {
            im->in_batch = 0;
            g_prefix_error (error, "%s: ", source);
            return FALSE;
        }
        if (dup)
            im->duplicates++;
        else
            im->stored++;
        if (im->in_batch >= im->batch_size)
            return commit (im, error);
    }
    return TRUE;
}

/* Reads what @f has now; the last line without its end waits in
 * f->partial unless @at_end.  *@out_eof: nothing more to read now. */
static gboolean
read_available (Import *im, LogFile *f, gboolean at_end, GError **error)
{
    char buf[READ_CHUNK];

    for (;;) {
        gssize got = g_input_stream_read (f->stream, buf, sizeof buf, NULL,
                                          error);
        const char *p = buf, *nl;

        if (got < 0) {
            g_prefix_error (error, "%s: ", f->path != NULL ? f->path : "-");
            return FALSE;
        }
        if (got == 0)
            break;
        f->offset += (guint64) got;
        while ((nl = memchr (p, '\n', (gsize) (buf + got - p))) != NULL) {
            gboolean ok;

            if (f->partial->len > 0) {
                g_string_append_len (f->partial, p, nl - p);
                ok = handle_line (im, f, f->partial->str, f->partial->len,
                                  error);
                g_string_truncate (f->partial, 0);
            } else {
                ok = handle_line (im, f, p, (gsize) (nl - p), error);
            }
            if (!ok)
                return FALSE;
            p = nl + 1;
        }
        if (f->partial->len < MAX_LINE_BYTES)
            g_string_append_len (f->partial, p,
                                 MIN ((gsize) (buf + got - p),
                                      MAX_LINE_BYTES - f->partial->len));
    }
    if (at_end && f->partial->len > 0) {
        gboolean ok = handle_line (im, f, f->partial->str, f->partial->len,
                                   error);

        g_string_truncate (f->partial, 0);
        return ok;
    }
    return TRUE;
}

static void
log_file_close (LogFile *f)
{
    g_clear_object (&f->stream);
}

/* Opens @f->path (or standard input), through a gzip decompressor when
 * it starts with gzip's magic bytes; the reader's year reference is the
 * file's modification time (now for standard input). */
static gboolean
log_file_open (Import *im, LogFile *f, GError **error)
{
    g_autoptr (GInputStream) raw = NULL;
    g_autoptr (GBufferedInputStream) buffered = NULL;
    g_autoptr (GDateTime) mtime = NULL;
    const guint8 *peek;
    gsize avail = 0;

    if (f->path == NULL) {
        raw = g_unix_input_stream_new (STDIN_FILENO, FALSE);
    } else {
        int fd = open (f->path, O_RDONLY | O_CLOEXEC);
        struct stat st;

        if (fd < 0) {
            int e = errno;

            g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (e),
                         "import-log: %s: %s", f->path, g_strerror (e));
            return FALSE;
        }
        raw = g_unix_input_stream_new (fd, TRUE);
        if (fstat (fd, &st) == 0) {
            f->dev = st.st_dev;
            f->ino = st.st_ino;
            mtime = g_date_time_new_from_unix_local (st.st_mtime);
        }
    }
    bounce_log_reader_set_reference (im->reader, mtime);
    buffered = G_BUFFERED_INPUT_STREAM (g_buffered_input_stream_new (raw));
    if (g_buffered_input_stream_fill (buffered, 2, NULL, error) < 0) {
        g_prefix_error (error, "%s: ", f->path != NULL ? f->path : "-");
        return FALSE;
    }
    peek = g_buffered_input_stream_peek_buffer (buffered, &avail);
    if (avail >= 2 && peek[0] == 0x1f && peek[1] == 0x8b) {
        g_autoptr (GZlibDecompressor) gz =
            g_zlib_decompressor_new (G_ZLIB_COMPRESSOR_FORMAT_GZIP);

        f->stream = g_converter_input_stream_new (G_INPUT_STREAM (buffered),
                                                  G_CONVERTER (gz));
    } else {
        f->stream = G_INPUT_STREAM (g_steal_pointer (&buffered));
    }
    f->offset = 0;
    return TRUE;
}

/* Whether @f is read through the gzip decompressor. */
static gboolean
is_gzip (LogFile *f)
{
    return G_IS_CONVERTER_INPUT_STREAM (f->stream);
}

/* --follow: waits for more of @f, as `tail -F`: reopens the path when it
 * is another file (rotated) or shorter than what was read (truncated).
 * Returns FALSE on an error or when asked to stop. */
static gboolean
follow (Import *im, LogFile *f, guint poll_ms, GError **error)
{
    while (!stop_requested) {
        g_autoptr (GDateTime) now = g_date_time_new_now_local ();
        struct stat st;

        /* The lines being written are from now: the year rule's
         * reference, also past a New Year's Eve. */
        bounce_log_reader_set_reference (im->reader, now);
        if (!read_available (im, f, FALSE, error) || !commit (im, error))
            return FALSE;
        g_usleep ((gulong) poll_ms * 1000);
        if (stat (f->path, &st) != 0)
            continue; /* between the rename and the new file */
        if (st.st_ino != f->ino || st.st_dev != f->dev ||
            (guint64) st.st_size < f->offset) {
            gboolean rotated = st.st_ino != f->ino || st.st_dev != f->dev;

            /* What the old file still had, then the new one. */
            if (rotated && !read_available (im, f, TRUE, error))
                return FALSE;
            g_string_truncate (f->partial, 0);
            fprintf (stderr, "import-log: %s: %s, reading it from its start\n",
                     f->path, rotated ? "replaced (rotated)" : "truncated");
            log_file_close (f);
            if (!log_file_open (im, f, error))
                return FALSE;
            f->line_no = 0;
        }
    }
    return read_available (im, f, TRUE, error) && commit (im, error);
}

static void
print_summary (const Import *im)
{
    if (im->store == NULL)
        return;
    fprintf (stderr,
             "import-log: %" G_GUINT64_FORMAT " lines, %" G_GUINT64_FORMAT
             " failures: %" G_GUINT64_FORMAT " stored, %" G_GUINT64_FORMAT
             " already stored\n",
             im->lines, im->failures, im->stored, im->duplicates);
}

int
bs_cmd_import_log (int argc, char **argv)
{
    g_autofree char *db = NULL;
    g_autofree char *rules_dir = NULL;
    g_autofree char *mta_name = NULL;
    g_auto (GStrv) paths = NULL;
    gboolean do_follow = FALSE;
    gboolean print = FALSE;
    int batch = DEFAULT_BATCH;
    int poll_ms = DEFAULT_POLL_MS;
    int busy_timeout = BOUNCE_STORE_DEFAULT_BUSY_TIMEOUT_MS;
    GOptionEntry entries[] = {
        { "db", 0, 0, G_OPTION_ARG_FILENAME, &db,
          "The database (default: $BOUNCESTAT_DB, else the configuration's "
          "database, else $XDG_DATA_HOME/bouncestat/bounces.db)",
          "PATH" },
        { "mta", 0, 0, G_OPTION_ARG_STRING, &mta_name,
          "The log's MTA: postfix, exim or sendmail (default: each line's "
          "program or format)",
          "MTA" },
        { "follow", 'f', 0, G_OPTION_ARG_NONE, &do_follow,
          "Keep reading the last PATH as it grows, across rotations (as "
          "tail -F), until SIGTERM or SIGINT",
          NULL },
        { "poll", 0, 0, G_OPTION_ARG_INT, &poll_ms,
          "With --follow: look for more every MS milliseconds (default 500)",
          "MS" },
        { "print", 0, 0, G_OPTION_ARG_NONE, &print,
          "Print each failure as JSON (one object a line, as parse "
          "--format=json) instead of storing it",
          NULL },
        { "rules", 0, 0, G_OPTION_ARG_FILENAME, &rules_dir,
          "Classify with the rules of DIR", "DIR" },
        { "batch", 0, 0, G_OPTION_ARG_INT, &batch,
          "Commit every N failures (default 500)", "N" },
        { "busy-timeout", 0, 0, G_OPTION_ARG_INT, &busy_timeout,
          "Wait up to MS milliseconds for a locked database (default 10000)",
          "MS" },
        { G_OPTION_REMAINING, 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &paths, NULL,
          NULL },
        { NULL },
    };
    static const char *const mtas[] = { "auto", "postfix", "exim",
                                        "sendmail", NULL };
    g_autoptr (GOptionContext) context = g_option_context_new (
        "[PATH...] - store the delivery failures of an MTA's log");
    g_autoptr (BounceRules) rules = NULL;
    g_autoptr (BounceStore) store = NULL;
    g_autoptr (BounceLogReader) reader = NULL;
    g_autoptr (GError) error = NULL;
    g_autoptr (JsonGenerator) printer = json_generator_new ();
    Import im = { 0 };
    int status = EX_OK;
    int mta = BOUNCE_LOG_MTA_AUTO;
    guint n_paths;

    g_option_context_set_summary (
        context,
        "Reads the MTA's log (each PATH in order, rotated .gz files too; no "
        "PATH:\nstandard input) and stores each delivery failure or "
        "deferral as an event\nof origin \"log\": Postfix status=bounced, "
        "deferred and expired lines, Exim\n** and == lines, Sendmail stat= "
        "lines with a 4.x.x or 5.x.x dsn=.  Deliveries\nare skipped.  Each "
        "is classified as its bounce would be (the remote's reply\nis the "
        "diagnostic), linked to its message by queue id and Message-ID, "
        "and a\nbounce and the log line of the same failure are one event.  "
        "Lines already\nstored are skipped, so a log can be read again.  "
        "Give rotated files oldest\nfirst.\n\n"
        "Time stamps: syslog's have no year: each gets the year that puts it "
        "at or\nbefore the file's modification time (now for standard "
        "input and --follow).\nStamps without a zone are the machine's "
        "local time.\n\n"
        "Examples:\n"
        "  bouncestat import-log /var/log/mail.log.2.gz /var/log/mail.log.1 "
        "/var/log/mail.log\n"
        "  bouncestat import-log --follow /var/log/mail.log   (a service: "
        "tools/bouncestat-import-log.service)\n"
        "  journalctl -u postfix@- -o short-iso -f | bouncestat import-log "
        "--mta postfix\n"
        "  bouncestat import-log --mta exim /var/log/exim4/mainlog\n"
        "  bouncestat import-log --print /var/log/mail.log   (show, store "
        "nothing)\n\n"
        "Exit status: 0 read, 66 a PATH cannot be read, 75 the database was "
        "busy or\nthe disk full (run it again: what was stored stays).");
    g_option_context_add_main_entries (context, entries, NULL);
    if (!bs_parse_options (context, &argc, &argv, &status))
        return status;
    if (!bs_choose ("import-log", "MTA", mta_name, mtas, &mta))
        return EX_USAGE;
    if (batch < 1 || poll_ms < 1 || busy_timeout < 1) {
        bs_error ("import-log: --batch, --poll and --busy-timeout must be "
                  ">= 1 (see --help)");
        return EX_USAGE;
    }
    if (paths != NULL && paths[0] != NULL && strcmp (paths[0], "-") == 0 &&
        paths[1] == NULL)
        g_clear_pointer (&paths, g_strfreev);
    n_paths = paths != NULL ? g_strv_length (paths) : 0;
    if (do_follow && n_paths == 0) {
        bs_error ("import-log: --follow needs a PATH (standard input is "
                  "read to its end anyway)");
        return EX_USAGE;
    }
    if (bs_config_error != NULL) {
        bs_error ("%s", bs_config_error->message);
        return EX_CONFIG;
    }
    rules = bs_load_rules (rules_dir, &status);
    if (rules == NULL)
        return status;
    reader = bounce_log_reader_new ((BounceLogMta) mta);
    bounce_log_reader_set_rules (reader, rules);
    if (!print) {
        BounceStoreOptions options;

        bounce_store_options_init (&options);
        options.busy_timeout_ms = (guint) busy_timeout;
        if (db == NULL)
            db = bs_db_path (NULL);
        store = bounce_store_open (db, &options, &error);
        if (store != NULL && !bounce_store_set_rules (store, rules, &error))
            g_clear_pointer (&store, bounce_store_close);
        if (store == NULL) {
            bs_error ("import-log: %s", error->message);
            return bs_exit_code (error);
        }
    }
    im.reader = reader;
    im.store = store;
    im.printer = printer;
    /* A failure line in a pipe or a followed file is stored at once. */
    im.batch_size = do_follow || n_paths == 0 ? 1 : (guint) batch;

    if (do_follow) {
        struct sigaction sa = { 0 };

        sa.sa_handler = on_signal;
        sigaction (SIGTERM, &sa, NULL);
        sigaction (SIGINT, &sa, NULL);
    }

    for (guint i = 0; i < MAX (n_paths, 1u); i++) {
        LogFile f = { .path = n_paths > 0 ? paths[i] : NULL,
                      .partial = g_string_new (NULL) };
        gboolean last = i + 1 >= n_paths;
        gboolean ok;

        if (!log_file_open (&im, &f, &error)) {
            bs_error ("%s", error->message);
            status = bs_exit_code (error);
            g_clear_error (&error);
            g_string_free (f.partial, TRUE);
            continue;
        }
        if (do_follow && last && !is_gzip (&f))
            ok = follow (&im, &f, (guint) poll_ms, &error);
        else
            ok = read_available (&im, &f, TRUE, &error) &&
                 commit (&im, &error);
        log_file_close (&f);
        g_string_free (f.partial, TRUE);
        if (!ok) {
            if (store != NULL && im.in_batch > 0)
                bounce_store_rollback (store);
            bs_error ("import-log: %s", error->message);
            print_summary (&im);
            return bs_exit_code (error);
        }
    }
    print_summary (&im);
    return status;
}
