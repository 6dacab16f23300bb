/*
 * bounce-regex.c - a regular expression compiled for the interpreter at
 * load (which proves it valid) and with the JIT only once it has been used
 * often enough to pay for it.  A process that classifies one message (a
 * .forward delivery) then never spends the JIT's compile time, and a long
 * run still matches at JIT speed.  Safe to use from several threads.
 */
#include "bounce-private.h"

/* Uses before the JIT form is made: the JIT costs several times a plain
 * compile, a match in the interpreter about twice a JIT match on the
 * short texts the decoders and rules look at. */
#define JIT_AFTER_USES 1

struct _BounceRegex {
    char *pattern;
    GRegexCompileFlags flags;
    /* GRegex *, set once (g_once: a thread that needs it while another
     * compiles it waits rather than compiling it too). */
    gsize plain; /* compiled at load, or on first use when lazy */
    gsize jit;
    gint uses;
};

BounceRegex *
_bounce_regex_new (const char *pattern, GRegexCompileFlags flags, GError **error)
{
    GRegex *plain = g_regex_new (pattern, flags & ~G_REGEX_OPTIMIZE, 0, error);
    BounceRegex *r;

    if (plain == NULL)
        return NULL;
    r = g_new0 (BounceRegex, 1);
    r->pattern = g_strdup (pattern);
    r->flags = flags | G_REGEX_OPTIMIZE;
    r->plain = (gsize) plain;
    return r;
}

BounceRegex *
_bounce_regex_new_lazy (const char *pattern, GRegexCompileFlags flags)
{
    BounceRegex *r = g_new0 (BounceRegex, 1);

    r->pattern = g_strdup (pattern);
    r->flags = flags | G_REGEX_OPTIMIZE;
    return r;
}

const char *
_bounce_regex_get_pattern (const BounceRegex *r)
{
    return r->pattern;
}

GRegexCompileFlags
_bounce_regex_get_flags (const BounceRegex *r)
{
    return r->flags;
}

void
_bounce_regex_free (BounceRegex *r)
{
    if (r == NULL)
        return;
    g_free (r->pattern);
    if (r->plain != 0)
        g_regex_unref ((GRegex *) r->plain);
    if (r->jit != 0)
        g_regex_unref ((GRegex *) r->jit);
    g_free (r);
}

GRegex *
_bounce_regex_plain (BounceRegex *r)
{
    if (r == NULL)
        return NULL;
    if (g_once_init_enter (&r->plain)) {
        /* Lazy: the pattern is known good (built in and tested). */
        GRegex *re = g_regex_new (r->pattern, r->flags & ~G_REGEX_OPTIMIZE, 0, NULL);

        g_assert (re != NULL);
        g_once_init_leave (&r->plain, (gsize) re);
    }
    return (GRegex *) r->plain;
}

GRegex *
_bounce_regex_get (BounceRegex *r)
{
    if (r == NULL)
        return NULL;
    if (g_atomic_pointer_get (&r->jit) == 0 &&
        g_atomic_int_add (&r->uses, 1) < JIT_AFTER_USES)
        return _bounce_regex_plain (r);
    if (g_once_init_enter (&r->jit)) {
        GRegex *re = g_regex_new (r->pattern, r->flags, 0, NULL);

        if (re == NULL)
            re = g_regex_ref (_bounce_regex_plain (r));
        g_once_init_leave (&r->jit, (gsize) re);
    }
    return (GRegex *) r->jit;
}
