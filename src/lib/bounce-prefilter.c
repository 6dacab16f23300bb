/*
 * bounce-prefilter.c - which of many case-insensitive regular expressions
 * can match a text, told by one pass over the text.
 *
 * Each pattern added gives, when it can, a set of literal strings one of
 * which every match must contain (for "a(?:b|c)d|efg": "efg" and one of
 * the branches' literals).  All the literals go into one Aho-Corasick
 * automaton; a scan of a text sets the bit of every pattern whose literal
 * occurs in it.  A pattern whose bit stays clear cannot match, and its
 * regex need not run; a set bit says only "maybe": the regex decides.  A
 * pattern for which no such set is found (too short literals, a construct
 * not understood here) is always run.
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
 * SIGN to k, LONG S to s).
 */
#include <string.h>

#include "bounce-private.h"

gboolean _bounce_prefilter_verify = FALSE;

/* The shortest literal (in bytes) worth a filter: shorter ones occur in
 * almost every text. */
#define MIN_LITERAL 3

/* The "literal" of a branch that needs a non-ASCII character with case
 * (Cyrillic, accented Latin, ...): such a character matches only
 * non-ASCII text, so a text all ASCII rules the branch out.  (KELVIN
 * SIGN and LONG S, which match k and s, are not counted.) */
#define NON_ASCII "\x80"

typedef struct {
    char *text; /* lower case */
    guint pattern;
} Literal;

struct _BouncePrefilter {
    GArray *literals; /* Literal */
    GArray *non_ascii; /* guint: patterns with a NON_ASCII branch */
    guint n_patterns;
    /* The automaton, made by _bounce_prefilter_build(). */
    guint8 class_of[256]; /* byte -> column; 0: in no literal */
    guint n_classes;
    guint n_states;
    guint32 *next;  /* n_states x n_classes */
    guint64 *out;   /* n_states x n_words: patterns whose literal ends here */
    guint8 *has_out;
    guint n_words;
    guint64 *non_ascii_mask; /* n_words: set for any text with a byte >= 0x80 */
};

/* ------------------------------------------------------------------ */
/* Reading a pattern                                                  */
/* ------------------------------------------------------------------ */

typedef struct {
    const char *p, *end;
    gboolean give_up; /* a construct that makes the pattern unfit */
} Reader;

/* Each set is a GPtrArray of char * (lower-case literals): one of them is
 * in every match. */
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

static void
set_free (gpointer set)
{
    g_ptr_array_unref (set);
}

/* How well a set filters: the length of its shortest literal, 0 for one
 * too short to be worth it, 1 for NON_ASCII (weaker than any literal). */
static guint
set_strength (const GPtrArray *set)
{
    guint m = G_MAXUINT;

    for (guint i = 0; i < set->len; i++) {
        guint len = (guint) strlen (set->pdata[i]);

        if (strcmp (set->pdata[i], NON_ASCII) == 0)
            len = 1;
        else if (len < MIN_LITERAL)
            len = 0;
        m = MIN (m, len);
    }
    return m;
}

/* Is @a a better set to require than @b (NULL: none yet)? */
static gboolean
set_better (const GPtrArray *a, const GPtrArray *b)
{
    guint sa = set_strength (a), sb;

    if (sa == 0)
        return FALSE;
    if (b == NULL)
        return TRUE;
    sb = set_strength (b);
    return sa > sb || (sa == sb && a->len < b->len);
}

static void
offer (GPtrArray **best, GPtrArray *set)
{
    if (set != NULL && set_better (set, *best)) {
        g_clear_pointer (best, set_free);
        *best = set;
    } else if (set != NULL)
        g_ptr_array_unref (set);
}

static void
end_run (GPtrArray **best, GString *run)
{
    if (run->len > 0) {
        GPtrArray *set = g_ptr_array_new_with_free_func (g_free);
        g_ptr_array_add (set, g_strndup (run->str, run->len));
        offer (best, set);
        g_string_truncate (run, 0);
    }
}

/* One branch: a sequence of items up to @end.  Returns the best set of
 * literals every match of it holds one of, or NULL. */
static GPtrArray *
read_sequence (Reader *rd, const char *end)
{
    GPtrArray *best = NULL;
    g_autoptr (GString) run = g_string_new (NULL);

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
                    end_run (&best, run);
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
                    end_run (&best, run);
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
                end_run (&best, run);
                read_quantifier (rd, end);
                continue;
            }
        } else if (c == '(') {
            const char *close = group_end (rd, p, end);
            const char *inner = p + 1;
            gboolean plain = TRUE;
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
                    inner = f + 1; /* a look-ahead must match too */
                else if (f + 1 < close && f[0] == '<' && f[1] == '=')
                    inner = f + 2; /* and a look-behind */
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
            end_run (&best, run);
            if (rd->give_up)
                break;
            rd->p = close + 1;
            q = read_quantifier (rd, end);
            if (plain && q != 0) {
                Reader sub = { inner, close, FALSE };
                GPtrArray *set = read_alternation (&sub, close);
                if (sub.give_up) {
                    g_clear_pointer (&set, set_free);
                    rd->give_up = TRUE;
                    break;
                }
                offer (&best, set);
            }
            continue;
        } else if (c == '[') {
            end_run (&best, run);
            skip_class (rd, end);
            read_quantifier (rd, end);
            continue;
        } else if (c == '.' || c == '^' || c == '$') {
            end_run (&best, run);
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

            end_run (&best, run);
            rd->p = next != NULL ? next : end;
            if (read_quantifier (rd, end) != 0 && u != 0x212A && u != 0x017F &&
                u != (gunichar) -1 && u != (gunichar) -2) {
                GPtrArray *set = g_ptr_array_new_with_free_func (g_free);
                g_ptr_array_add (set, g_strdup (NON_ASCII));
                offer (&best, set);
            }
            continue;
        }

        /* A literal character: a quantifier may make it optional or
         * repeat it. */
        switch (read_quantifier (rd, end)) {
        case -1:
            g_string_append_len (run, lit, (gssize) lit_len);
            break;
        case 0:
            end_run (&best, run);
            break;
        default:
            g_string_append_len (run, lit, (gssize) lit_len);
            end_run (&best, run);
            break;
        }
    }
    end_run (&best, run);
    if (rd->give_up)
        g_clear_pointer (&best, set_free);
    return best;
}

/* Branches split on '|' up to @end: the union of their sets, or NULL if
 * one branch has none. */
static GPtrArray *
read_alternation (Reader *rd, const char *end)
{
    GPtrArray *all = g_ptr_array_new_with_free_func (g_free);

    for (;;) {
        const char *p = rd->p, *stop = p;
        GPtrArray *set;

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
        set = read_sequence (rd, stop);
        if (set == NULL)
            break;
        for (guint i = 0; i < set->len; i++)
            g_ptr_array_add (all, g_strdup (set->pdata[i]));
        g_ptr_array_unref (set);
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

    pf->literals = g_array_new (FALSE, FALSE, sizeof (Literal));
    pf->non_ascii = g_array_new (FALSE, FALSE, sizeof (guint));
    return pf;
}

void
_bounce_prefilter_free (BouncePrefilter *pf)
{
    if (pf == NULL)
        return;
    for (guint i = 0; i < pf->literals->len; i++)
        g_free (g_array_index (pf->literals, Literal, i).text);
    g_array_unref (pf->literals);
    g_array_unref (pf->non_ascii);
    g_free (pf->non_ascii_mask);
    g_free (pf->next);
    g_free (pf->out);
    g_free (pf->has_out);
    g_free (pf);
}

int
_bounce_prefilter_add (BouncePrefilter *pf, const char *pattern)
{
    Reader rd = { pattern, pattern + strlen (pattern), FALSE };
    g_autoptr (GPtrArray) set = NULL;

    g_return_val_if_fail (pf->next == NULL, -1);
    set = read_alternation (&rd, rd.end);
    if (set == NULL || rd.give_up || set->len == 0)
        return -1;
    for (guint i = 0; i < set->len; i++) {
        Literal l = { g_strdup (set->pdata[i]), pf->n_patterns };

        if (strcmp (l.text, NON_ASCII) == 0) {
            g_array_append_val (pf->non_ascii, pf->n_patterns);
            g_free (l.text);
        } else
            g_array_append_val (pf->literals, l);
    }
    return (int) pf->n_patterns++;
}

guint
_bounce_prefilter_n_words (const BouncePrefilter *pf)
{
    return pf->n_words;
}

void
_bounce_prefilter_build (BouncePrefilter *pf)
{
    guint max_states = 1, n_classes = 1;
    guint32 *fail, *queue;
    guint head = 0, tail = 0;

    g_return_if_fail (pf->next == NULL);
    memset (pf->class_of, 0, sizeof pf->class_of);
    for (guint i = 0; i < pf->literals->len; i++) {
        const guchar *s = (const guchar *) g_array_index (pf->literals, Literal, i).text;
        for (; *s != '\0'; s++, max_states++)
            if (pf->class_of[*s] == 0)
                pf->class_of[*s] = (guint8) n_classes++;
    }
    g_assert (n_classes <= 256);
    pf->n_classes = n_classes;
    pf->n_words = MAX (1, (pf->n_patterns + 63) / 64);
    pf->next = g_new0 (guint32, (gsize) max_states * n_classes);
    pf->out = g_new0 (guint64, (gsize) max_states * pf->n_words);
    pf->has_out = g_new0 (guint8, max_states);
    pf->n_states = 1;
    pf->non_ascii_mask = g_new0 (guint64, pf->n_words);
    for (guint i = 0; i < pf->non_ascii->len; i++) {
        guint n = g_array_index (pf->non_ascii, guint, i);
        pf->non_ascii_mask[n / 64] |= G_GUINT64_CONSTANT (1) << (n % 64);
    }

    /* The trie (0 in next[]: no edge yet; state 0 is the root, never a
     * target of an edge). */
    for (guint i = 0; i < pf->literals->len; i++) {
        const Literal *l = &g_array_index (pf->literals, Literal, i);
        guint32 s = 0;

        for (const guchar *c = (const guchar *) l->text; *c != '\0'; c++) {
            guint32 *edge = &pf->next[(gsize) s * n_classes + pf->class_of[*c]];
            if (*edge == 0)
                *edge = pf->n_states++;
            s = *edge;
        }
        pf->out[(gsize) s * pf->n_words + l->pattern / 64] |= G_GUINT64_CONSTANT (1) << (l->pattern % 64);
        pf->has_out[s] = 1;
    }

    /* Failure links, breadth first, folded into a complete transition
     * table; outputs inherited along them. */
    fail = g_new0 (guint32, pf->n_states);
    queue = g_new (guint32, pf->n_states);
    for (guint c = 0; c < n_classes; c++) {
        guint32 t = pf->next[c];
        if (t != 0) {
            fail[t] = 0;
            queue[tail++] = t;
        }
    }
    while (head < tail) {
        guint32 s = queue[head++];

        for (guint w = 0; w < pf->n_words; w++)
            pf->out[(gsize) s * pf->n_words + w] |= pf->out[(gsize) fail[s] * pf->n_words + w];
        pf->has_out[s] |= pf->has_out[fail[s]];
        for (guint c = 0; c < n_classes; c++) {
            guint32 *edge = &pf->next[(gsize) s * n_classes + c];
            guint32 via_fail = pf->next[(gsize) fail[s] * n_classes + c];

            if (*edge != 0) {
                fail[*edge] = via_fail;
                queue[tail++] = *edge;
            } else
                *edge = via_fail;
        }
    }
    /* Class 0 (a byte in no literal) always goes back to the root. */
    for (guint s = 0; s < pf->n_states; s++)
        pf->next[(gsize) s * n_classes] = 0;
    g_free (fail);
    g_free (queue);
}

void
_bounce_prefilter_scan (const BouncePrefilter *pf, const char *text, gsize len,
                        guint64 *hits)
{
    const guchar *p = (const guchar *) text, *end = p + len;
    guint32 s = 0;
    const guint nc = pf->n_classes, nw = pf->n_words;
    guchar high = 0;

    memset (hits, 0, nw * sizeof *hits);
    if (pf->next == NULL)
        return;
    while (p < end) {
        guchar c = *p++;

        high |= c;
        if (c >= 'A' && c <= 'Z')
            c = (guchar) (c + ('a' - 'A'));
        else if (c == 0xE2 && end - p >= 2 && p[0] == 0x84 && p[1] == 0xAA)
            c = 'k', p += 2; /* U+212A KELVIN SIGN */
        else if (c == 0xC5 && p < end && p[0] == 0xBF)
            c = 's', p += 1; /* U+017F LATIN SMALL LETTER LONG S */
        s = pf->next[(gsize) s * nc + pf->class_of[c]];
        if (pf->has_out[s])
            for (guint w = 0; w < nw; w++)
                hits[w] |= pf->out[(gsize) s * nw + w];
    }
    if (high & 0x80)
        for (guint w = 0; w < nw; w++)
            hits[w] |= pf->non_ascii_mask[w];
}
