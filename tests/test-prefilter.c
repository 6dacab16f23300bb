/*
 * test-prefilter.c - the rules' prefilter (bounce-prefilter.c): it never
 * rules out a text its regex matches, and it does rule out texts that
 * hold none of a pattern's literals.
 */
#include "bounce-private.h"

typedef struct {
    const char *pattern;
    gboolean filtered; /* TRUE: a set of literals is expected */
} Case;

static const Case cases[] = {
    { "mailer error|unknown mailer", TRUE },
    { "\\bprocmail\\b", TRUE },
    { "command (?:died|failed|output)", TRUE },
    { "(?:user|mailbox) (?:unknown|not found)", TRUE },
    { "user(?:name)? (?:is )?unknown", TRUE },
    { "mail ?box full", TRUE },           /* "mail", "box full" */
    { "colou?r scheme", TRUE },           /* u optional */
    { "ab+c defg", TRUE },
    { "x{0,3}yz quota", TRUE },
    { "spam\\.example\\x20block", TRUE },
    { "^(?=.*(?:dns|name server))(?=.*expired)", TRUE },
    { "(?<=relay )denied", TRUE },
    { "спам|rejected as spam", TRUE },     /* NON_ASCII or "rejected as spam" */
    { "迷惑メール", TRUE },
    { "MASK", TRUE },                     /* caseless, also "maſk" */
    { "\\b(?:BL|ES)0\\d{2}", TRUE },        /* "bl0" or "es0" */
    { "x(?:yz|zy)w", TRUE },               /* "xyzw" or "xzyw" */
    { "(?:BL|ES)\\d{2}", FALSE },          /* literals too short */
    { "ab(?=cde)", TRUE },                 /* a look-ahead joins no run */
    { "\\w", FALSE },
    { "a|b", FALSE },
    { "^(?!.*\\b552\\b)", FALSE },
    { "(?x) mailer error", FALSE },       /* extended: spaces are not literal */
    { "\\Qa|b\\E", FALSE },
    { "(?:unknown)?", FALSE },
    { "abc{x}", FALSE },                  /* '{' not a quantifier: unread */
    { "foo|", FALSE },
};

static const char *const texts[] = {
    "",
    "hello world",
    "550 5.1.1 <a@example.org>: User unknown",
    "Username is UNKNOWN here",
    "mailbox full",
    "mail box full",
    "color scheme",
    "abbbc defg",
    "xxyz quota",
    "spam.example block",
    "dns lookup: message expired",
    "relay denied",
    "письмо отклонено: СПАМ",
    "это спам",
    "Rejected As Spam",
    "迷惑メールと判定",
    "ma\xc5\xbfk",
    "MAS\xe2\x84\xaa",
    "BL012 blocked",
    "procmail: Couldn't create",
    "Command died with status 1",
    "unknown mailer error 1",
    "a",
    "foo",
    "abc{x}",
    "ES042 listed",
    "xzyw",
    "xyz w",
    "abcde",
};

static void
test_sound (void)
{
    BouncePrefilter *pf = _bounce_prefilter_new ();
    int ids[G_N_ELEMENTS (cases)];
    GRegex *res[G_N_ELEMENTS (cases)];
    guint64 *hits;

    for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
        ids[i] = _bounce_prefilter_add (pf, cases[i].pattern);
        res[i] = g_regex_new (cases[i].pattern, G_REGEX_CASELESS, 0, NULL);
        g_assert_nonnull (res[i]);
        if (cases[i].filtered)
            g_assert_cmpint (ids[i], >=, 0);
        else
            g_assert_cmpint (ids[i], ==, -1);
    }
    _bounce_prefilter_build (pf);
    hits = g_new (guint64, _bounce_prefilter_n_words (pf));
    for (guint t = 0; t < G_N_ELEMENTS (texts); t++) {
        _bounce_prefilter_scan (pf, texts[t], strlen (texts[t]), hits);
        for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
            gboolean maybe = _bounce_prefilter_may_match (pf, hits, ids[i]);
            gboolean match = g_regex_match (res[i], texts[t], 0, NULL);

            if (match && !maybe)
                g_error ("/%s/ matches \"%s\", but was ruled out",
                         cases[i].pattern, texts[t]);
        }
    }
    /* And it does rule out: none of these literals is in "hello world". */
    _bounce_prefilter_scan (pf, "hello world", 11, hits);
    for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
        if (ids[i] >= 0)
            g_assert_false (_bounce_prefilter_may_match (pf, hits, ids[i]));
    /* All the literals of a branch must be there: "unknown" alone is not
     * "user(?:name)? (?:is )?unknown". */
    _bounce_prefilter_scan (pf, "unknown host", 12, hits);
    g_assert_false (_bounce_prefilter_may_match (pf, hits, ids[4]));
    _bounce_prefilter_scan (pf, "no user is unknown", 18, hits);
    g_assert_true (_bounce_prefilter_may_match (pf, hits, ids[4]));
    /* A group of plain literals joins the run around it. */
    _bounce_prefilter_scan (pf, "xyz w", 5, hits);
    g_assert_false (_bounce_prefilter_may_match (pf, hits, ids[16]));
    _bounce_prefilter_scan (pf, "a xzyw", 6, hits);
    g_assert_true (_bounce_prefilter_may_match (pf, hits, ids[16]));
    /* The long s and the Kelvin sign fold into ASCII, as PCRE2 folds them. */
    _bounce_prefilter_scan (pf, "ma\xc5\xbfk", 5, hits);
    g_assert_true (_bounce_prefilter_may_match (pf, hits, ids[14]));
    for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
        g_regex_unref (res[i]);
    g_free (hits);
    _bounce_prefilter_free (pf);
}

int
main (int argc, char **argv)
{
    g_test_init (&argc, &argv, NULL);
    g_test_add_func ("/prefilter/sound", test_sound);
    return g_test_run ();
}
