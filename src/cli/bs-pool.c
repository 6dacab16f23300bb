/*
 * bs-pool.c - parse messages on every core, results in input order: the
 * reader pushes each message, a worker per core parses it (and renders
 * it, when the caller asks), and the caller takes the results back in the
 * order it pushed them.  With one job everything happens in the calling
 * thread, as a plain loop would.
 *
 * The parser is shared: parsing only reads it (its regexes are matched
 * with per-call match data; GMime objects are per message).
 */
#include "bs.h"

/* Messages pushed and not yet taken back, per worker: enough to keep the
 * workers busy while the reader waits for the oldest; bounded, so memory
 * stays flat whatever the number of files. */
#define IN_FLIGHT_PER_JOB 32
/* Messages handed to a worker at once: each hand-over wakes a thread (a
 * system call and a context switch), so not one by one. */
#define CHUNK 8

typedef struct {
    GBytes *message;
    char *source;
    BounceReport *report;
    char *text;
    gboolean done; /* under the pool's lock */
} Job;

struct _BsPool {
    BounceParser *parser;
    BsPoolRender render;
    GThreadPool *threads; /* NULL: one job, in the calling thread */
    GQueue order;         /* Job*, in input order */
    guint limit;
    GMutex lock;
    GCond cond;
    Job *awaited;     /* the job the reader waits for (under the lock) */
    GPtrArray *chunk; /* Job*: pushed, not yet handed to a worker */
};

/* Parses @job; @input (the reader's thread only): annotates the report
 * from it before it is rendered. */
static void
job_run (BsPool *pool, Job *job, BounceInput *input)
{
    job->report = bounce_parser_parse (pool->parser, job->message, job->source);
    if (input != NULL)
        bounce_input_annotate (input, job->report);
    if (pool->render != NULL) {
        job->text = pool->render (job->report);
        /* Freed where it was made: freeing a thread's many small blocks
         * in another thread costs its allocator's locks. */
        g_clear_pointer (&job->report, bounce_report_free);
    }
}

static void
worker (gpointer data, gpointer user_data)
{
    BsPool *pool = user_data;
    g_autoptr (GPtrArray) chunk = data;

    for (guint i = 0; i < chunk->len; i++) {
        Job *job = chunk->pdata[i];

        job_run (pool, job, NULL);
        g_mutex_lock (&pool->lock);
        job->done = TRUE;
        /* A signal is a system call: only when the reader waits for it. */
        if (pool->awaited == job)
            g_cond_signal (&pool->cond);
        g_mutex_unlock (&pool->lock);
    }
}

/* Hands the messages pushed since the last time to a worker. */
static void
hand_over (BsPool *pool)
{
    if (pool->chunk == NULL || pool->chunk->len == 0)
        return;
    g_thread_pool_push (pool->threads, g_steal_pointer (&pool->chunk), NULL);
    pool->chunk = g_ptr_array_sized_new (CHUNK);
}

guint
bs_pool_default_jobs (void)
{
    return MAX (1u, g_get_num_processors ());
}

BsPool *
bs_pool_new (BounceParser *parser, guint jobs, BsPoolRender render)
{
    BsPool *pool = g_new0 (BsPool, 1);

    pool->parser = parser;
    pool->render = render;
    g_queue_init (&pool->order);
    g_mutex_init (&pool->lock);
    g_cond_init (&pool->cond);
    if (jobs > 1) {
        /* Exclusive: the threads are made now and kept. */
        pool->threads = g_thread_pool_new (worker, pool, (gint) jobs, TRUE, NULL);
        pool->limit = jobs * IN_FLIGHT_PER_JOB;
        pool->chunk = g_ptr_array_sized_new (CHUNK);
    }
    if (pool->threads == NULL)
        pool->limit = 1;
    return pool;
}

void
bs_pool_push (BsPool *pool, BounceInput *input, GBytes *message, char *source)
{
    Job *job = g_new0 (Job, 1);

    job->message = message;
    job->source = source;
    g_queue_push_tail (&pool->order, job);
    /* A message cut at --max-input is annotated from the input's state,
     * which the next read changes: parse it here, now. */
    if (pool->threads == NULL ||
        bounce_input_get_message_size (input) > g_bytes_get_size (message)) {
        job_run (pool, job, input);
        if (pool->threads != NULL) {
            g_mutex_lock (&pool->lock);
            job->done = TRUE;
            g_mutex_unlock (&pool->lock);
        } else {
            job->done = TRUE;
        }
        return;
    }
    g_ptr_array_add (pool->chunk, job);
    if (pool->chunk->len >= CHUNK)
        hand_over (pool);
}

gboolean
bs_pool_next (BsPool *pool, gboolean all, GBytes **message, char **source,
              BounceReport **report, char **text)
{
    Job *job = g_queue_peek_head (&pool->order);

    if (job == NULL || (!all && g_queue_get_length (&pool->order) < pool->limit))
        return FALSE;
    if (pool->threads != NULL) {
        hand_over (pool);
        g_mutex_lock (&pool->lock);
        pool->awaited = job;
        while (!job->done)
            g_cond_wait (&pool->cond, &pool->lock);
        pool->awaited = NULL;
        g_mutex_unlock (&pool->lock);
    }
    g_queue_pop_head (&pool->order);
    *message = job->message;
    *source = job->source;
    *report = job->report;
    *text = job->text;
    g_free (job);
    return TRUE;
}

void
bs_pool_free (BsPool *pool)
{
    Job *job;

    if (pool == NULL)
        return;
    if (pool->threads != NULL) {
        hand_over (pool);
        g_thread_pool_free (pool->threads, FALSE, TRUE);
        g_ptr_array_unref (pool->chunk);
    }
    while ((job = g_queue_pop_head (&pool->order)) != NULL) {
        g_bytes_unref (job->message);
        g_free (job->source);
        g_clear_pointer (&job->report, bounce_report_free);
        g_free (job->text);
        g_free (job);
    }
    g_mutex_clear (&pool->lock);
    g_cond_clear (&pool->cond);
    g_free (pool);
}
