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
    GRegex *plain; /* compiled at load, or on first use when lazy */
    GRegex *jit;   /* set once, atomically */
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
    r->plain = plain;
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

void
_bounce_regex_free (BounceRegex *r)
{
    if (r == NULL)
        return;
    g_free (r->pattern);
    g_clear_pointer (&r->plain, g_regex_unref);
    g_clear_pointer (&r->jit, g_regex_unref);
    g_free (r);
}

GRegex *
_bounce_regex_plain (BounceRegex *r)
{
    GRegex *re;

    if (r == NULL)
        return NULL;
    re = g_atomic_pointer_get (&r->plain);
    if (re != NULL)
        return re;
    /* Lazy: the pattern is known good (built in and tested). */
    re = g_regex_new (r->pattern, r->flags & ~G_REGEX_OPTIMIZE, 0, NULL);
    g_assert (re != NULL);
    if (!g_atomic_pointer_compare_and_exchange (&r->plain, NULL, re)) {
        g_regex_unref (re);
        re = g_atomic_pointer_get (&r->plain);
    }
    return re;
}

GRegex *
_bounce_regex_get (BounceRegex *r)
{
    GRegex *re;

    if (r == NULL)
        return NULL;
    re = g_atomic_pointer_get (&r->jit);
    if (re != NULL)
        return re;
    if (g_atomic_int_add (&r->uses, 1) < JIT_AFTER_USES)
        return _bounce_regex_plain (r);
    re = g_regex_new (r->pattern, r->flags, 0, NULL);
    if (re == NULL)
        re = g_regex_ref (_bounce_regex_plain (r));
    if (!g_atomic_pointer_compare_and_exchange (&r->jit, NULL, re)) {
        g_regex_unref (re);
        re = g_atomic_pointer_get (&r->jit);
    }
    return re;
}
