/*
 * bs-cmd-ingest.c - `bouncestat ingest`: parse messages and store them in
 * the database.
 *
 * Two uses: one message on standard input, piped by the MTA (.forward,
 * procmail), where the exit status is what the MTA acts on (0 stored,
 * 75 try again later, for every failure: pipe_status, names_a_path;
 * broken rules: stored unclassified, 0; docs/faults.md); and bulk
 * backfills from files, Maildirs and mbox
 * files, committed in batches so that a killed run loses at most the
 * open batch (and the one being written) and a rerun skips what is
 * already stored.  A writer thread stores each batch while the next one
 * is parsed.
 *
 * Nothing is lost: a message that cannot be parsed is stored raw with
 * kind "unparsable".  This file does not print reports (see report).
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "bs.h"

#define DEFAULT_BATCH 500
#define MAX_IN_FLIGHT 2

typedef struct {
    GBytes *message;
    BounceReport *report;
} Pending;

typedef struct {
    BounceStore *store;
    BounceParser *parser;
    guint batch_size;
    GArray *pending; /* Pending: parsed, not yet handed to the writer */
    /* The writer thread stores whole batches while the next one is being
     * parsed; at most MAX_IN_FLIGHT batches wait for it. */
    GThreadPool *writer;
    GMutex lock;
    GCond done;
    guint in_flight;
    GError *error; /* the writer's first error; it stores nothing after */
    guint64 lost;  /* messages of batches not stored because of it */
    /* Counts and progress (stored and duplicates: by the writer, under
     * the lock). */
    BsTally tally;
    /* Standard input, the rules could not be loaded: store unclassified. */
    gboolean unclassified;
    gsize max_input; /* bytes kept of one message (--max-input) */
} Ingest;

static void
pending_clear (gpointer data)
{
    Pending *p = data;

    g_clear_pointer (&p->message, g_bytes_unref);
    g_clear_pointer (&p->report, bounce_report_free);
}

static GArray *
pending_new (void)
{
    GArray *a = g_array_new (FALSE, TRUE, sizeof (Pending));

    g_array_set_clear_func (a, pending_clear);
    return a;
}

/* Writes one batch in one transaction. */
static gboolean
store_batch (Ingest *in, GArray *batch, guint64 *stored, guint64 *dups,
             GError **error)
{
    if (!bounce_store_begin (in->store, error))
        return FALSE;
    for (guint i = 0; i < batch->len; i++) {
        Pending *p = &g_array_index (batch, Pending, i);
        gboolean dup = FALSE;

        if (!bounce_store_add (in->store, p->message, p->report, &dup,
                               error)) {
            g_prefix_error (error, "%s: ", p->report->source);
            return FALSE;
        }
        if (dup)
            (*dups)++;
        else
            (*stored)++;
    }
    return bounce_store_commit (in->store, error);
}

/* The writer thread: stores the batches in the order they come. */
static void
writer_run (gpointer data, gpointer user_data)
{
    GArray *batch = data;
    Ingest *in = user_data;
    GError *error = NULL;
    guint64 stored = 0, dups = 0;
    gboolean skip;

    g_mutex_lock (&in->lock);
    skip = in->error != NULL;
    g_mutex_unlock (&in->lock);
    if (!skip && !store_batch (in, batch, &stored, &dups, &error))
        stored = dups = 0;

    g_mutex_lock (&in->lock);
    if (error != NULL)
        in->error = error;
    if (in->error != NULL)
        in->lost += batch->len;
    in->tally.stored += stored;
    in->tally.duplicates += dups;
    in->in_flight--;
    g_cond_signal (&in->done);
    g_mutex_unlock (&in->lock);
    g_array_unref (batch);
}

/* Hands the pending batch to the writer, waiting while MAX_IN_FLIGHT
 * are queued; FALSE once the writer has failed. */
static gboolean
flush (Ingest *in)
{
    gboolean ok;

    g_mutex_lock (&in->lock);
    while (in->in_flight >= MAX_IN_FLIGHT && in->error == NULL)
        g_cond_wait (&in->done, &in->lock);
    ok = in->error == NULL;
    if (ok && in->pending->len > 0)
        in->in_flight++;
    g_mutex_unlock (&in->lock);
    if (!ok || in->pending->len == 0)
        return ok;
    g_thread_pool_push (in->writer, in->pending, NULL);
    in->pending = pending_new ();
    return TRUE;
}

/* Waits until the writer is done; FALSE if it failed. */
static gboolean
drain (Ingest *in)
{
    gboolean ok;

    g_mutex_lock (&in->lock);
    while (in->in_flight > 0)
        g_cond_wait (&in->done, &in->lock);
    ok = in->error == NULL;
    g_mutex_unlock (&in->lock);
    return ok;
}

/* The envelope recipient of a piped message: the option, else what
 * Postfix (ORIGINAL_RECIPIENT, RECIPIENT) or a procmail recipe that sets
 * one of them exported. */
static const char *
envelope_from_env (void)
{
    const char *names[] = { "ORIGINAL_RECIPIENT", "RECIPIENT" };

    for (guint i = 0; i < G_N_ELEMENTS (names); i++) {
        const char *v = g_getenv (names[i]);
        if (v != NULL && v[0] != '\0')
            return v;
    }
    return NULL;
}

static int
ingest_stdin (Ingest *in)
{
    g_autoptr (GError) error = NULL;
    g_autoptr (GBytes) message = NULL;
    g_autoptr (BounceReport) report = NULL;
    gboolean duplicate = FALSE;

    report = bs_ingest_read (in->parser, STDIN_FILENO, in->max_input, NULL,
                             "ingest: standard input", &message, &error);
    if (report == NULL) {
        bs_error ("ingest: standard input: %s", error->message);
        return bs_exit_code (error);
    }
    if (in->unclassified)
        bounce_report_add_warning (report, "not classified: the rules could "
                                           "not be loaded when it was stored");
    if (!bounce_store_add (in->store, message, report, &duplicate, &error)) {
        bs_error ("ingest: standard input: %s", error->message);
        return bs_exit_code (error);
    }
    if (in->unclassified && !duplicate)
        bs_error ("ingest: standard input: stored unclassified (the rules "
                  "could not be loaded): no report counts it until it is "
                  "classified again (bouncestat reclassify) once the rules "
                  "are fixed");
    return EX_OK;
}

/* From a pipe (.forward, procmail), the MTA reads the exit status, and
 * any code but 0 and 75 makes it return the message to its sender:
 * Postfix bounces EX_USAGE (5.3.0), EX_CONFIG (5.3.5, "local
 * configuration error"), EX_CANTCREAT, EX_NOINPUT... alike, and a bounce
 * has a null sender, so it would be lost for good.  So from standard
 * input every failure is EX_TEMPFAIL: the MTA keeps the message and
 * delivers it again later, when the cause may be fixed. */
static int
pipe_status (int status)
{
    return status == EX_OK ? EX_OK : EX_TEMPFAIL;
}

/* Before the options are parsed (they may not parse): does the command
 * line certainly name a PATH?  Only an argument after "--", or one that
 * neither begins with "-" nor follows an option written without "=" (it
 * may be that option's value: "--db FILE", "-H NAME").  "-" alone is
 * standard input.  When in doubt the answer is no: a wrong 75 makes a
 * bulk run say "try again", a wrong 64 loses a bounce. */
static gboolean
names_a_path (int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *prev = i > 1 ? argv[i - 1] : NULL;

        if (strcmp (a, "--") == 0) {
            for (int j = i + 1; j < argc; j++)
                if (strcmp (argv[j], "-") != 0)
                    return TRUE;
            return FALSE;
        }
        if (a[0] == '-')
            continue;
        if (prev != NULL && prev[0] == '-' && prev[1] != '\0' &&
            strchr (prev, '=') == NULL)
            continue;
        return TRUE;
    }
    return FALSE;
}

/* Takes the parsed messages due from @pool (all with @all) into the
 * pending batch, in input order; FALSE once the writer has failed (the
 * rest are counted lost). */
static gboolean
take_due (Ingest *in, BsPool *pool, gboolean all, gboolean ok)
{
    Pending p;
    char *source, *text;

    while (bs_pool_next (pool, all || !ok, &p.message, &source, &p.report, &text)) {
        g_free (source);
        g_free (text);
        if (!ok) {
            pending_clear (&p);
            g_mutex_lock (&in->lock);
            in->lost++;
            g_mutex_unlock (&in->lock);
            continue;
        }
        in->tally.seen++;
        in->tally.kinds[p.report->kind]++;
        g_array_append_val (in->pending, p);
        if (in->pending->len >= in->batch_size)
            ok = flush (in);
        bs_tally_draw (&in->tally, FALSE);
    }
    return ok;
}

static int
ingest_paths (Ingest *in, char **paths, guint jobs)
{
    g_autoptr (BsPool) pool = NULL;
    g_autoptr (GPtrArray) inputs =
        g_ptr_array_new_with_free_func ((GDestroyNotify) bounce_input_free);
    int status = EX_OK;
    gboolean ok = TRUE;

    /* Open everything first, for the total the progress bar shows. */
    in->tally.total = 0;
    for (guint i = 0; paths[i] != NULL; i++) {
        g_autoptr (GError) local = NULL;
        BounceInput *input = bounce_input_open (paths[i], STDIN_FILENO, &local);
        gint64 hint;

        if (input == NULL) {
            bs_error ("ingest: %s", local->message);
            status = bs_exit_code (local);
            continue;
        }
        bounce_input_set_max_bytes (input, in->max_input);
        g_ptr_array_add (inputs, input);
        hint = bounce_input_count_hint (input);
        if (hint < 0 || in->tally.total < 0)
            in->tally.total = -1;
        else
            in->tally.total += hint;
    }

    in->writer = g_thread_pool_new (writer_run, in, 1, TRUE, NULL);
    pool = bs_pool_new (in->parser, jobs, NULL);
    for (guint i = 0; ok && i < inputs->len; i++) {
        BounceInput *input = inputs->pdata[i];

        while (ok) {
            g_autoptr (GError) local = NULL;
            GBytes *message = NULL;
            char *source = NULL;

            if (!bounce_input_next (input, &message, &source, &local)) {
                if (local == NULL)
                    break;
                /* What came before first, as without threads. */
                ok = take_due (in, pool, TRUE, ok);
                bs_tally_clear_line (&in->tally);
                bs_error ("ingest: %s", local->message);
                status = bs_exit_code (local);
                continue;
            }
            bs_pool_push (pool, input, message, source);
            ok = take_due (in, pool, FALSE, ok);
        }
    }
    ok = take_due (in, pool, TRUE, ok);
    if (ok)
        ok = flush (in);
    ok = drain (in) && ok;
    g_thread_pool_free (in->writer, FALSE, TRUE);
    in->writer = NULL;
    if (ok) {
        bs_tally_draw (&in->tally, TRUE);
        bs_tally_clear_line (&in->tally);
        bs_tally_summary (&in->tally, NULL);
        return status;
    }

    bs_tally_clear_line (&in->tally);
    bs_error ("ingest: %s", in->error->message);
    bs_error ("ingest: stopped; %" G_GUINT64_FORMAT " messages read were not "
              "stored; run it again to store the rest",
              in->lost + in->pending->len);
    bs_tally_summary (&in->tally, NULL);
    return bs_exit_code (in->error);
}

/* The rules (or a --decoders file) could not be loaded, from standard
 * input: rather than have the MTA retry for days, keep the message,
 * parsed with the built-in formats and no rules, and store it
 * unclassified (no events: nothing counts it until it is classified). */
static BounceParser *
unclassified_parser (BsParserOptions *popts)
{
    int status = EX_OK;

    popts->no_rules = TRUE;
    g_clear_pointer (&popts->decoders, g_strfreev);
    return bs_parser_options_build (popts, &status);
}

int
bs_cmd_ingest (int argc, char **argv)
{
    g_auto (BsParserOptions) popts = { 0 };
    g_auto (BsStoreArgs) sargs = { 0 };
    g_auto (GStrv) paths = NULL;
    int batch = DEFAULT_BATCH;
    int jobs = 0;
    GOptionEntry entries[] = {
        { "batch", 0, 0, G_OPTION_ARG_INT, &batch,
          "Commit every N messages (default 500)", "N" },
        { "jobs", 'j', 0, G_OPTION_ARG_INT, &jobs,
          "Parse PATHs on N threads (default: one per core; 1: no threads)", "N" },
        { G_OPTION_REMAINING, 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &paths, NULL,
          NULL },
        { NULL },
    };
    g_autoptr (GOptionContext) context =
        g_option_context_new ("[PATH...] - store bounce messages");
    g_autoptr (BounceParser) parser = NULL;
    g_autoptr (BounceStore) store = NULL;
    g_autoptr (GError) error = NULL;
    Ingest in = { 0 };
    int status = EX_OK;
    gboolean from_stdin;
    gboolean unclassified = FALSE;

    g_option_context_set_summary (
        context,
        "Parses each PATH (a message, an mbox file, a Maildir or a folder of "
        "messages),\nor one message on standard input (from .forward or "
        "procmail), and stores it.\nFor standard input the envelope "
        "recipient (VERP) defaults to $ORIGINAL_RECIPIENT,\nelse $RECIPIENT "
        "(Postfix sets both; see tools/procmailrc for procmail).\nThe "
        "database defaults to ~/.local/share/bouncestat/bounces.db.\n"
        "Exit status: 0 stored (also when it could not be parsed: it is kept "
        "raw),\n75 try again later: the database was busy, the disk full or "
        "an I/O error\nhappened.  From standard input (no PATH) every "
        "failure is 75, so that the MTA\nkeeps the bounce, and when the "
        "rules cannot be loaded the message is stored\nunclassified (exit "
        "0); see the README for the codes with PATHs.");
    bs_store_args_add (context, &sargs);
    g_option_context_add_main_entries (context, entries, NULL);
    bs_parser_options_add (context, &popts);
    if (!bs_parse_options (context, &argc, &argv, &status)) {
        /* No PATH certainly named and standard input not a terminal:
         * this may be the MTA's pipe. */
        if (status != EX_OK && !names_a_path (argc, argv) &&
            !isatty (STDIN_FILENO)) {
            bs_error ("ingest: standard input not read: exit 75 (try again "
                      "later), so that the MTA keeps the message");
            return EX_TEMPFAIL;
        }
        return status;
    }
    /* "ingest -" is "ingest". */
    if (paths != NULL && paths[0] != NULL && strcmp (paths[0], "-") == 0 &&
        paths[1] == NULL)
        g_clear_pointer (&paths, g_strfreev);
    from_stdin = paths == NULL;
    if (bs_config_error != NULL) {
        bs_error ("%s", bs_config_error->message);
        return from_stdin ? pipe_status (EX_CONFIG) : EX_CONFIG;
    }
    if (!bs_store_args_check (&sargs, "ingest"))
        return from_stdin ? pipe_status (EX_USAGE) : EX_USAGE;
    if (batch < 1 || jobs < 0) {
        bs_error ("ingest: --batch must be >= 1, --jobs >= 0 (see --help)");
        return from_stdin ? pipe_status (EX_USAGE) : EX_USAGE;
    }
    if (from_stdin && popts.envelope == NULL) {
        const char *env = envelope_from_env ();
        if (env != NULL)
            popts.envelope = g_strdup (env);
    }
    parser = bs_parser_options_build (&popts, &status);
    if (parser == NULL && from_stdin && status != EX_USAGE) {
        parser = unclassified_parser (&popts);
        unclassified = parser != NULL;
    }
    if (parser == NULL)
        return from_stdin ? pipe_status (status) : status;

    store = bs_store_args_open (&sargs, popts.rules, unclassified, &error);
    if (store == NULL) {
        bs_error ("ingest: %s", error->message);
        return from_stdin ? pipe_status (bs_exit_code (error))
                          : bs_exit_code (error);
    }

    in.store = store;
    in.parser = parser;
    in.batch_size = (guint) batch;
    bs_tally_init (&in.tally, "ingest");
    in.unclassified = unclassified;
    in.max_input = (gsize) sargs.max_input;
    if (from_stdin)
        return pipe_status (ingest_stdin (&in));
    in.pending = pending_new ();
    g_mutex_init (&in.lock);
    g_cond_init (&in.done);
    status = ingest_paths (&in, paths, jobs > 0 ? (guint) jobs : bs_pool_default_jobs ());
    g_array_unref (in.pending);
    g_clear_error (&in.error);
    g_mutex_clear (&in.lock);
    g_cond_clear (&in.done);
    return status;
}
