/*
 * bounce-db.c - the values of one statement (BounceDbArgs), which each
 * backend of the store binds its own way (bounce-db-private.h).
 */
#include <string.h>

#include "bounce-db-private.h"

void
_bounce_db_args_init (BounceDbArgs *args)
{
    memset (args, 0, sizeof *args);
}

static void
args_set (BounceDbArgs *args, int idx, BounceDbType type)
{
    g_assert (idx >= 1 && idx <= BOUNCE_DB_MAX_ARGS);
    args->type[idx] = type;
    if (idx > args->count)
        args->count = idx;
}

void
_bounce_db_args_text (BounceDbArgs *args, int idx, const char *text)
{
    args_set (args, idx, text != NULL ? BOUNCE_DB_TEXT : BOUNCE_DB_NULL);
    args->text[idx] = text;
    args->len[idx] = text != NULL ? strlen (text) : 0;
}

void
_bounce_db_args_int (BounceDbArgs *args, int idx, gint64 n)
{
    args_set (args, idx, BOUNCE_DB_INT);
    args->number[idx] = n;
    g_snprintf (args->digits[idx], sizeof args->digits[idx],
                "%" G_GINT64_FORMAT, n);
    args->text[idx] = args->digits[idx];
    args->len[idx] = strlen (args->digits[idx]);
}

void
_bounce_db_args_blob (BounceDbArgs *args, int idx, gconstpointer data,
                      gsize len)
{
    args_set (args, idx, BOUNCE_DB_BLOB);
    args->text[idx] = data;
    args->len[idx] = len;
}

