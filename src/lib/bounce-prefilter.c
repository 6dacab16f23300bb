/*
 * bounce-prefilter.c - which of many case-insensitive regular expressions
 * can match a text, told by one pass over the text.
 *
 * Each pattern added is read into a condition on the literal strings a
 * match must contain: one of several clauses, each a set of literals that
 * all occur ("user(?:name)? (?:is )?unknown|no such user" needs "user"
 * and " " and "unknown" (too short ones are left out), or "no such
 * user").  All the literals go into one Aho-Corasick automaton; a scan of
 * a text notes which literals occur in it, and a pattern whose condition
 * fails cannot match: its regex need not run.  A condition that holds says
 * only "maybe": the regex decides.  A pattern for which no condition is
 * found (a branch without a literal long enough, a construct not
 * understood here) is always run.
 *
 * Soundness rests on reading less, never more: a character counts as
 * literal only when it surely is one (a letter, digit, space or escaped
 * punctuation, not made optional by a quantifier); everything else
 * (classes, dots, \b, \s, groups that may be skipped, ...) ends a literal
 * run, and a construct that changes how the rest reads (\Q, (?x), (?#)
 * makes the whole pattern "always run".  Case: the patterns are compiled
 * caseless (UTF mode), so literals keep only ASCII letters (folded to
 * lower case) and caseless CJK characters; the scan folds the text's ASCII
 * and the two non-ASCII characters whose case folds into ASCII (KELVIN
 * SIGN to k, LONG S to s).  Any other character with case, required by a
 * branch, requires a non-ASCII text.
 */
#include <string.h>

#include "bounce-private.h"

/* -DBOUNCE_PREFILTER_VERIFY=1: a build that checks every ruling out. */
#ifndef BOUNCE_PREFILTER_VERIFY
#define BOUNCE_PREFILTER_VERIFY FALSE
#endif
gboolean _bounce_prefilter_verify = BOUNCE_PREFILTER_VERIFY;

/* The shortest literal (in bytes) worth a filter: shorter ones occur in
 * almost every text. */
#define MIN_LITERAL 3

/* Clauses at most in one branch's condition (a product of groups' that
 * would make more keeps fewer literals instead). */
#define MAX_CLAUSES 64

/* The "literal" of a branch that needs a non-ASCII character with case
 * (Cyrillic, accented Latin, ...): such a character matches only
 * non-ASCII text, so a text all ASCII rules the branch out.  (KELVIN
 * SIGN and LONG S, which match k and s, are not counted.)  It is literal
 * number 0: set for any text with a byte >= 0x80. */
#define NON_ASCII "\x80"

typedef struct {
    guint32 child;   /* first child (0: none) */
    guint32 sibling; /* next child of the same parent (0: none) */
    guint32 fail;    /* longest proper suffix that is a state */
    guint32 dict;    /* nearest state along fail links where a literal ends */
    gint32 term;     /* the literal that ends here, or -1 */
    guchar label;    /* the byte that leads here */
} State;

struct _BouncePrefilter {
    GHashTable *ids;    /* literal (lower case) -> its number + 1 */
    GPtrArray *texts;   /* the literals by number (borrowed from ids) */
    /* The conditions: pattern n's clauses are clauses[first[n] ..
     * first[n + 1]), clause c's literals lits[clauses[c] .. clauses[c + 1]). */
    GArray *first;      /* guint, n_patterns + 1 */
    GArray *clauses;    /* guint, n_clauses + 1 */
    GArray *lits;       /* guint */
    /* The automaton, made by _bounce_prefilter_build(): a trie of the
     * literals with failure links; state 0 is the root. */
    guint32 root[256]; /* the root's children by byte (0: none) */
    State *states;
    guint n_states;
    guint n_words;  /* of a scan's bit set: one bit per literal */
};

/* ------------------------------------------------------------------ */
/* Reading a pattern                                                  */
/* ------------------------------------------------------------------ */

typedef struct {
    const char *p, *end;
    gboolean give_up; /* a construct that makes the pattern unfit */
} Reader;

/* A condition is a GPtrArray of clauses (see below); NULL: none. */
static GPtrArray *read_alternation (Reader *rd, const char *end);

static gboolean
is_cjk (const guchar *s, const guchar *end)
{
    /* U+3000..U+9FFF: CJK punctuation, kana, ideographs; no case. */
    return end - s >= 3 && s[0] >= 0xE3 && s[0] <= 0xE9 &&
           (s[1] & 0xC0) == 0x80 && (s[2] & 0xC0) == 0x80;
}

/* Skips a character class starting at rd->p ('['). */
static void
skip_class (Reader *rd, const char *end)
{
    const char *p = rd->p + 1;

    if (p < end && *p == '^')
        p++;
    if (p < end && *p == ']')
        p++;
    while (p < end && *p != ']') {
        if (*p == '\\' && p + 1 < end)
            p += 2;
        else if (*p == '[' && p + 1 < end && p[1] == ':') {
            const char *close = g_strstr_len (p + 2, end - p - 2, ":]");
            p = close != NULL ? close + 2 : end;
        } else
            p++;
    }
    if (p >= end)
        rd->give_up = TRUE;
    rd->p = p < end ? p + 1 : end;
}

/* The end of the group opening at @p ('('): the matching ')'. */
static const char *
group_end (Reader *rd, const char *p, const char *end)
{
    int depth = 0;

    while (p < end) {
        if (*p == '\\') {
            p += 2;
            continue;
        }
        if (*p == '[') {
            Reader sub = { p, end, FALSE };
            skip_class (&sub, end);
            if (sub.give_up)
                break;
            p = sub.p;
            continue;
        }
        if (*p == '(')
            depth++;
        else if (*p == ')' && --depth == 0)
            return p;
        p++;
    }
    rd->give_up = TRUE;
    return end;
}

/* Reads a quantifier at rd->p, if any: returns -1 when there is none, 0
 * when it allows zero repetitions, 1 otherwise. */
static int
read_quantifier (Reader *rd, const char *end)
{
    const char *p = rd->p;
    int min;

    if (p >= end)
        return -1;
    if (*p == '?' || *p == '*')
        min = 0, p++;
    else if (*p == '+')
        min = 1, p++;
    else if (*p == '{') {
        const char *q = p + 1;
        guint64 n = 0;
        gboolean digits = FALSE;

        while (q < end && g_ascii_isdigit (*q))
            n = n * 10 + (guint64) (*q++ - '0'), digits = TRUE;
        if (q < end && *q == ',') {
            q++;
            while (q < end && g_ascii_isdigit (*q))
                q++;
        }
        if (!digits || q >= end || *q != '}') {
            /* A literal '{' in PCRE2, or a form another version reads
             * otherwise: do not guess. */
            rd->give_up = TRUE;
            return 0;
        }
        min = n > 0 ? 1 : 0;
        p = q + 1;
    } else
        return -1;
    if (p < end && (*p == '?' || *p == '+'))
        p++; /* lazy or possessive */
    rd->p = p;
    return min;
}


/* A condition (DNF) is a GPtrArray of clauses, each a GPtrArray of
 * literals (char *) that must all occur.  TRUE (no condition) is one
 * empty clause. */
static GPtrArray *
clause_new (void)
{
    return g_ptr_array_new_with_free_func (g_free);
}

static GPtrArray *
dnf_true (void)
{
    GPtrArray *dnf = g_ptr_array_new_with_free_func ((GDestroyNotify) g_ptr_array_unref);

    g_ptr_array_add (dnf, clause_new ());
    return dnf;
}

static gboolean
dnf_is_true (const GPtrArray *dnf)
{
    for (guint i = 0; i < dnf->len; i++)
        if (((GPtrArray *) dnf->pdata[i])->len == 0)
            return TRUE;
    return FALSE;
}

/* Every clause also needs @lit. */
static void
and_literal (GPtrArray *dnf, const char *lit)
{
    for (guint i = 0; i < dnf->len; i++)
        g_ptr_array_add (dnf->pdata[i], g_strdup (lit));
}

/* @dnf and @group (consumed): their product, unless it grows too big. */
static void
and_dnf (GPtrArray *dnf, GPtrArray *group)
{
    g_autoptr (GPtrArray) old = NULL;

    if ((gsize) dnf->len * group->len > MAX_CLAUSES) {
        g_ptr_array_unref (group);
        return;
    }
    old = g_ptr_array_new_with_free_func ((GDestroyNotify) g_ptr_array_unref);
    while (dnf->len > 0)
        g_ptr_array_add (old, g_ptr_array_steal_index (dnf, 0));
    for (guint i = 0; i < old->len; i++)
        for (guint j = 0; j < group->len; j++) {
            GPtrArray *a = old->pdata[i], *b = group->pdata[j];
            GPtrArray *c = clause_new ();

            for (guint k = 0; k < a->len; k++)
                g_ptr_array_add (c, g_strdup (a->pdata[k]));
            for (guint k = 0; k < b->len; k++)
                g_ptr_array_add (c, g_strdup (b->pdata[k]));
            g_ptr_array_add (dnf, c);
        }
    g_ptr_array_unref (group);
}

/* The literal run being read is a set of strings, one of which the text
 * holds there ("(?:BL|ES)0" is "bl0" or "es0"); at most this many. */
#define MAX_RUNS 16

static void
string_free (gpointer s)
{
    g_string_free (s, TRUE);
}

/* A set of GStrings, holding one empty string. */
static GPtrArray *
runs_new (void)
{
    GPtrArray *runs = g_ptr_array_new_with_free_func (string_free);

    g_ptr_array_add (runs, g_string_new (NULL));
    return runs;
}

static void
runs_append (GPtrArray *runs, const char *lit, gsize len)
{
    for (guint i = 0; i < runs->len; i++)
        g_string_append_len (runs->pdata[i], lit, (gssize) len);
}

/* The run ends: every match holds one of its strings. */
static void
end_run (GPtrArray *dnf, GPtrArray *runs)
{
    guint shortest = G_MAXUINT;

    for (guint i = 0; i < runs->len; i++)
        shortest = MIN (shortest, (guint) ((GString *) runs->pdata[i])->len);
    if (shortest >= MIN_LITERAL && runs->len == 1)
        and_literal (dnf, ((GString *) runs->pdata[0])->str);
    else if (shortest >= MIN_LITERAL) {
        GPtrArray *group = g_ptr_array_new_with_free_func ((GDestroyNotify) g_ptr_array_unref);

        for (guint i = 0; i < runs->len; i++) {
            GPtrArray *clause = clause_new ();
            g_ptr_array_add (clause, g_strdup (((GString *) runs->pdata[i])->str));
            g_ptr_array_add (group, clause);
        }
        and_dnf (dnf, group);
    }
    if (runs->len == 1)
        g_string_truncate (runs->pdata[0], 0);
    else {
        g_ptr_array_set_size (runs, 0);
        g_ptr_array_add (runs, g_string_new (NULL));
    }
}

/* The branches of a group from @p to @end if each is a plain literal
 * ("BL|ES"), lower case; else NULL. */
static GPtrArray *
pure_literals (const char *p, const char *end)
{
    g_autoptr (GPtrArray) lits = g_ptr_array_new_with_free_func (g_free);
    g_autoptr (GString) cur = g_string_new (NULL);

    for (;;) {
        if (p >= end || *p == '|') {
            if (cur->len == 0)
                return NULL;
            g_ptr_array_add (lits, g_strdup (cur->str));
            g_string_truncate (cur, 0);
            if (p >= end)
                break;
            p++;
            continue;
        }
        if (*p == '\\' && p + 1 < end && (guchar) p[1] < 0x80 &&
            !g_ascii_isalnum (p[1]) && p[1] != '\0')
            g_string_append_c (cur, p[1]), p += 2;
        else if ((guchar) *p < 0x80 && strchr ("\\^$.[]|()?*+{}", *p) == NULL)
            g_string_append_c (cur, g_ascii_tolower (*p)), p++;
        else if (is_cjk ((const guchar *) p, (const guchar *) end))
            g_string_append_len (cur, p, 3), p += 3;
        else
            return NULL;
        if (p < end && strchr ("?*+{", *p) != NULL)
            return NULL; /* a quantified character */
    }
    return g_steal_pointer (&lits);
}

/* The run goes on with one of @lits. */
static void
runs_cross (GPtrArray *dnf, GPtrArray *runs, const GPtrArray *lits)
{
    g_autoptr (GPtrArray) old = NULL;

    if (runs->len * lits->len > MAX_RUNS)
        end_run (dnf, runs);
    if (runs->len * lits->len > MAX_RUNS)
        return; /* too many branches: the run ends here */
    old = g_ptr_array_new_with_free_func (string_free);
    while (runs->len > 0)
        g_ptr_array_add (old, g_ptr_array_steal_index (runs, 0));
    for (guint i = 0; i < old->len; i++)
        for (guint j = 0; j < lits->len; j++) {
            GString *r = g_string_new (((GString *) old->pdata[i])->str);
            g_ptr_array_add (runs, g_string_append (r, lits->pdata[j]));
        }
}

/* One branch: a sequence of items up to @end.  Returns the condition
 * every match of it meets, or NULL for none. */
static GPtrArray *
read_sequence (Reader *rd, const char *end)
{
    GPtrArray *dnf = dnf_true ();
    g_autoptr (GPtrArray) run = runs_new ();

    while (rd->p < end && !rd->give_up) {
        const char *p = rd->p;
        guchar c = (guchar) *p;
        char lit[4];
        gsize lit_len = 0;

        if (c == '\\') {
            guchar e = p + 1 < end ? (guchar) p[1] : 0;

            if (e == 0 || e >= 0x80 || e == 'Q' || e == 'E') {
                rd->give_up = TRUE;
                break;
            }
            if (!g_ascii_isalnum (e)) {
                lit[0] = (char) e;
                lit_len = 1;
                rd->p = p + 2;
            } else if (e == 'x') {
                const char *q = p + 2;
                guint v = 0, n = 0;

                if (q < end && *q == '{') {
                    /* \x{...}: not a literal here. */
                    const char *close = memchr (q, '}', end - q);
                    if (close == NULL) {
                        rd->give_up = TRUE;
                        break;
                    }
                    rd->p = close + 1;
                    end_run (dnf, run);
                    read_quantifier (rd, end);
                    continue;
                }
                while (n < 2 && q < end && g_ascii_isxdigit (*q))
                    v = v * 16 + (guint) g_ascii_xdigit_value (*q++), n++;
                rd->p = q;
                if (v >= 0x20 && v < 0x7F) {
                    lit[0] = g_ascii_tolower ((char) v);
                    lit_len = 1;
                } else {
                    end_run (dnf, run);
                    read_quantifier (rd, end);
                    continue;
                }
            } else {
                /* \b \s \d \w ..., back references, \p{..}, \g{..},
                 * \k<..>, \o{..}, \cX: not literals; skip all of it. */
                const char *q = p + 2;

                if (g_ascii_isdigit (e))
                    while (q < end && g_ascii_isdigit (*q))
                        q++;
                else if (e == 'c')
                    q = MIN (q + 1, end);
                else if (q < end && (*q == '{' || *q == '<' || *q == '\'')) {
                    char closer = *q == '{' ? '}' : *q == '<' ? '>' : '\'';
                    const char *close = memchr (q + 1, closer, end - q - 1);
                    if (close == NULL) {
                        rd->give_up = TRUE;
                        break;
                    }
                    q = close + 1;
                } else if (e == 'g')
                    while (q < end && (g_ascii_isdigit (*q) || *q == '-' || *q == '+'))
                        q++;
                rd->p = q;
                end_run (dnf, run);
                read_quantifier (rd, end);
                continue;
            }
        } else if (c == '(') {
            const char *close = group_end (rd, p, end);
            const char *inner = p + 1;
            gboolean plain = TRUE, consuming = TRUE;
            int q;

            if (rd->give_up)
                break;
            if (inner < close && *inner == '*')
                plain = FALSE; /* (*VERB) */
            else if (inner < close && *inner == '?') {
                const char *f = inner + 1;

                if (f < close && *f == '#') {
                    rd->give_up = TRUE;
                    break;
                }
                if (f < close && *f == ':')
                    inner = f + 1;
                else if (f < close && *f == '=')
                    inner = f + 1, consuming = FALSE; /* a look-ahead must match too */
                else if (f + 1 < close && f[0] == '<' && f[1] == '=')
                    inner = f + 2, consuming = FALSE; /* and a look-behind */
                else if (f < close && *f == '<' && f + 1 < close &&
                         (g_ascii_isalpha (f[1]) || f[1] == '_')) {
                    const char *gt = memchr (f, '>', close - f);
                    if (gt == NULL)
                        plain = FALSE;
                    else
                        inner = gt + 1;
                } else {
                    /* Options (?i) (?i:...), look-arounds, conditions,
                     * ...: not read, but options must not turn on x. */
                    const char *o = f;
                    while (o < close && (g_ascii_isalpha (*o) || *o == '-' || *o == '^')) {
                        if (*o == 'x') {
                            rd->give_up = TRUE;
                            break;
                        }
                        o++;
                    }
                    plain = FALSE;
                }
            }
            if (rd->give_up)
                break;
            rd->p = close + 1;
            q = read_quantifier (rd, end);
            if (plain && consuming && q == -1) {
                g_autoptr (GPtrArray) lits = pure_literals (inner, close);

                if (lits != NULL) {
                    runs_cross (dnf, run, lits);
                    continue;
                }
            }
            end_run (dnf, run);
            if (plain && q != 0) {
                Reader sub = { inner, close, FALSE };
                GPtrArray *group = read_alternation (&sub, close);
                if (sub.give_up) {
                    g_clear_pointer (&group, g_ptr_array_unref);
                    rd->give_up = TRUE;
                    break;
                }
                if (group != NULL)
                    and_dnf (dnf, group);
            }
            continue;
        } else if (c == '[') {
            end_run (dnf, run);
            skip_class (rd, end);
            read_quantifier (rd, end);
            continue;
        } else if (c == '.' || c == '^' || c == '$') {
            end_run (dnf, run);
            rd->p = p + 1;
            read_quantifier (rd, end);
            continue;
        } else if (c == ')' || c == '|' || c == '*' || c == '+' ||
                   c == '?' || c == '{') {
            /* Not where read_alternation() leaves us: do not guess. */
            rd->give_up = TRUE;
            break;
        } else if (c < 0x80) {
            lit[0] = g_ascii_tolower ((char) c);
            lit_len = 1;
            rd->p = p + 1;
        } else if (is_cjk ((const guchar *) p, (const guchar *) end)) {
            memcpy (lit, p, 3);
            lit_len = 3;
            rd->p = p + 3;
        } else {
            /* A character with case outside ASCII: not compared here,
             * but unless it is optional the branch needs non-ASCII
             * text. */
            const char *next = g_utf8_find_next_char (p, end);
            gunichar u = g_utf8_get_char_validated (p, end - p);

            end_run (dnf, run);
            rd->p = next != NULL ? next : end;
            if (read_quantifier (rd, end) != 0 && u != 0x212A && u != 0x017F &&
                u != (gunichar) -1 && u != (gunichar) -2) {
                and_literal (dnf, NON_ASCII);
            }
            continue;
        }

        /* A literal character: a quantifier may make it optional or
         * repeat it. */
        switch (read_quantifier (rd, end)) {
        case -1:
            runs_append (run, lit, lit_len);
            break;
        case 0:
            end_run (dnf, run);
            break;
        default:
            runs_append (run, lit, lit_len);
            end_run (dnf, run);
            break;
        }
    }
    end_run (dnf, run);
    if (rd->give_up || dnf_is_true (dnf))
        g_clear_pointer (&dnf, g_ptr_array_unref);
    return dnf;
}

/* Branches split on '|' up to @end: the union of their conditions, or
 * NULL if one branch has none. */
static GPtrArray *
read_alternation (Reader *rd, const char *end)
{
    GPtrArray *all = g_ptr_array_new_with_free_func ((GDestroyNotify) g_ptr_array_unref);

    for (;;) {
        const char *p = rd->p, *stop = p;
        GPtrArray *dnf;

        /* The end of this branch: a '|' outside groups and classes. */
        while (stop < end && *stop != '|') {
            if (*stop == '\\')
                stop += 2;
            else if (*stop == '[') {
                Reader sub = { stop, end, FALSE };
                skip_class (&sub, end);
                if (sub.give_up)
                    rd->give_up = TRUE;
                stop = sub.p;
            } else if (*stop == '(')
                stop = group_end (rd, stop, end) + 1;
            else
                stop++;
            if (rd->give_up)
                break;
        }
        if (rd->give_up || stop > end)
            break;
        dnf = read_sequence (rd, stop);
        if (dnf == NULL)
            break;
        while (dnf->len > 0)
            g_ptr_array_add (all, g_ptr_array_steal_index (dnf, 0));
        g_ptr_array_unref (dnf);
        if (stop >= end) {
            rd->p = end;
            return all;
        }
        rd->p = stop + 1;
    }
    g_ptr_array_unref (all);
    return NULL;
}

/* ------------------------------------------------------------------ */
/* The automaton                                                      */
/* ------------------------------------------------------------------ */

BouncePrefilter *
_bounce_prefilter_new (void)
{
    BouncePrefilter *pf = g_new0 (BouncePrefilter, 1);
    guint zero = 0;

    pf->ids = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
    pf->texts = g_ptr_array_new ();
    pf->first = g_array_new (FALSE, FALSE, sizeof (guint));
    pf->clauses = g_array_new (FALSE, FALSE, sizeof (guint));
    pf->lits = g_array_new (FALSE, FALSE, sizeof (guint));
    g_array_append_val (pf->first, zero);
    g_array_append_val (pf->clauses, zero);
    /* Literal 0: NON_ASCII. */
    g_hash_table_insert (pf->ids, g_strdup (NON_ASCII), GUINT_TO_POINTER (1));
    g_ptr_array_add (pf->texts, (gpointer) NON_ASCII);
    return pf;
}

void
_bounce_prefilter_free (BouncePrefilter *pf)
{
    if (pf == NULL)
        return;
    g_ptr_array_unref (pf->texts);
    g_hash_table_unref (pf->ids);
    g_array_unref (pf->first);
    g_array_unref (pf->clauses);
    g_array_unref (pf->lits);
    g_free (pf->states);
    g_free (pf);
}

static guint
literal_id (BouncePrefilter *pf, const char *text)
{
    gpointer key, value;

    if (g_hash_table_lookup_extended (pf->ids, text, &key, &value))
        return GPOINTER_TO_UINT (value) - 1;
    key = g_strdup (text);
    g_hash_table_insert (pf->ids, key, GUINT_TO_POINTER (pf->texts->len + 1));
    g_ptr_array_add (pf->texts, key);
    return pf->texts->len - 1;
}

int
_bounce_prefilter_add (BouncePrefilter *pf, const char *pattern)
{
    Reader rd = { pattern, pattern + strlen (pattern), FALSE };
    g_autoptr (GPtrArray) dnf = NULL;
    guint n;

    g_return_val_if_fail (pf->states == NULL, -1);
    dnf = read_alternation (&rd, rd.end);
    if (dnf == NULL || rd.give_up || dnf->len == 0 || dnf_is_true (dnf))
        return -1;
    for (guint i = 0; i < dnf->len; i++) {
        GPtrArray *clause = dnf->pdata[i];

        for (guint k = 0; k < clause->len; k++) {
            guint id = literal_id (pf, clause->pdata[k]);
            g_array_append_val (pf->lits, id);
        }
        g_array_append_val (pf->clauses, pf->lits->len);
    }
    n = pf->clauses->len - 1;
    g_array_append_val (pf->first, n);
    return (int) pf->first->len - 2;
}

guint
_bounce_prefilter_n_words (const BouncePrefilter *pf)
{
    return pf->n_words;
}

static guint32
child_of (const BouncePrefilter *pf, guint32 s, guchar c)
{
    if (s == 0)
        return pf->root[c];
    for (guint32 t = pf->states[s].child; t != 0; t = pf->states[t].sibling)
        if (pf->states[t].label == c)
            return t;
    return 0;
}

void
_bounce_prefilter_build (BouncePrefilter *pf)
{
    guint max_states = 1;
    guint32 *queue;
    guint head = 0, tail = 0;

    g_return_if_fail (pf->states == NULL);
    for (guint i = 1; i < pf->texts->len; i++)
        max_states += (guint) strlen (pf->texts->pdata[i]);
    pf->n_words = (pf->texts->len + 63) / 64;
    pf->states = g_new0 (State, max_states);
    pf->states[0].term = -1;
    pf->n_states = 1;

    for (guint i = 1; i < pf->texts->len; i++) {
        guint32 s = 0;

        for (const guchar *c = pf->texts->pdata[i]; *c != '\0'; c++) {
            guint32 t = child_of (pf, s, *c);

            if (t == 0) {
                t = pf->n_states++;
                pf->states[t].label = *c;
                pf->states[t].term = -1;
                if (s == 0)
                    pf->root[*c] = t;
                else {
                    pf->states[t].sibling = pf->states[s].child;
                    pf->states[s].child = t;
                }
            }
            s = t;
        }
        pf->states[s].term = (gint32) i;
    }

    /* Failure and dictionary links, breadth first. */
    queue = g_new (guint32, pf->n_states);
    for (guint c = 0; c < 256; c++)
        if (pf->root[c] != 0)
            queue[tail++] = pf->root[c];
    while (head < tail) {
        guint32 s = queue[head++];

        for (guint32 t = pf->states[s].child; t != 0; t = pf->states[t].sibling) {
            guint32 f = pf->states[s].fail, to;

            while (f != 0 && child_of (pf, f, pf->states[t].label) == 0)
                f = pf->states[f].fail;
            to = child_of (pf, f, pf->states[t].label);
            pf->states[t].fail = to != t ? to : 0;
            queue[tail++] = t;
        }
        {
            guint32 f = pf->states[s].fail;
            pf->states[s].dict = pf->states[f].term >= 0 ? f : pf->states[f].dict;
        }
    }
    g_free (queue);
}

void
_bounce_prefilter_scan (const BouncePrefilter *pf, const char *text, gsize len,
                        guint64 *hits)
{
    const guchar *p = (const guchar *) text, *end = p + len;
    guint32 s = 0;
    guchar high = 0;

    memset (hits, 0, pf->n_words * sizeof *hits);
    if (pf->states == NULL)
        return;
    while (p < end) {
        guchar c = *p++;
        guint32 t;

        high |= c;
        if (c >= 'A' && c <= 'Z')
            c = (guchar) (c + ('a' - 'A'));
        else if (c == 0xE2 && end - p >= 2 && p[0] == 0x84 && p[1] == 0xAA)
            c = 'k', p += 2; /* U+212A KELVIN SIGN */
        else if (c == 0xC5 && p < end && p[0] == 0xBF)
            c = 's', p += 1; /* U+017F LATIN SMALL LETTER LONG S */
        while (s != 0 && (t = child_of (pf, s, c)) == 0)
            s = pf->states[s].fail;
        s = s == 0 ? pf->root[c] : t;
        for (guint32 o = pf->states[s].term >= 0 ? s : pf->states[s].dict; o != 0;
             o = pf->states[o].dict)
            hits[pf->states[o].term / 64] |= G_GUINT64_CONSTANT (1) << (pf->states[o].term % 64);
    }
    if (high & 0x80)
        hits[0] |= 1; /* NON_ASCII */
}

const BouncePrefilter *
_bounce_prefilter_get_lazy (gsize *slot, gint *calls, gint after,
                            BouncePrefilterFill fill, gpointer data)
{
    if (g_atomic_pointer_get (slot) == 0 && g_atomic_int_add (calls, 1) < after)
        return NULL;
    if (g_once_init_enter (slot)) {
        BouncePrefilter *pf = _bounce_prefilter_new ();

        fill (pf, data);
        _bounce_prefilter_build (pf);
        g_once_init_leave (slot, (gsize) pf);
    }
    return (const BouncePrefilter *) *slot;
}

gboolean
_bounce_prefilter_may_match (const BouncePrefilter *pf, const guint64 *hits,
                             int pattern)
{
    const guint *first = (const guint *) (gpointer) pf->first->data;
    const guint *clauses = (const guint *) (gpointer) pf->clauses->data;
    const guint *lits = (const guint *) (gpointer) pf->lits->data;

    if (pattern < 0)
        return TRUE;
    for (guint c = first[pattern]; c < first[pattern + 1]; c++) {
        guint k = clauses[c];

        while (k < clauses[c + 1] && ((hits[lits[k] / 64] >> (lits[k] % 64)) & 1))
            k++;
        if (k == clauses[c + 1])
            return TRUE;
    }
    return FALSE;
}
