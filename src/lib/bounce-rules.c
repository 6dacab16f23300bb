/*
 * bounce-rules.c - the rules engine: loads the *.rules files of rules/
 * (GLib key files, format in rules/README.md), validates them, and
 * classifies recipients.
 *
 * Rules are tried in tiers (rules/README.md, "Files and order"): rules
 * that decide alone, then rules that match words or a provider, then
 * structural rules (codes, action, decoder, ...), then fallbacks, then
 * catch-alls; in file order within a tier.  The first rule whose every key matches
 * decides a recipient's reason, hard/soft and rule id, so a status class
 * never beats a matched phrase whatever the files' order.
 * No reason, pattern or code table lives here:
 * every one comes from the files.  Regular expressions are checked at
 * load and JIT-compiled once, on second use; cheap keys (kind, action,
 * codes, status globs) are tried before any regular expression, and
 * after a few recipients a prefilter (bounce-prefilter.c) rules out the
 * regexes whose literals are not in the text.  This file does not parse messages and
 * never prints.
 */
#include <stdlib.h>
#include <string.h>

#include "bounce-private.h"

/* ------------------------------------------------------------------ */
/* Records                                                            */
/* ------------------------------------------------------------------ */

/* A regular expression, checked at load and compiled with the JIT once it
 * is used often (bounce-regex.c): loading stays cheap for a single
 * message, and the rules a long run reaches match fast. */
typedef struct {
    char *source;
    BounceRegex *re;
    int filter; /* its number in the rules' prefilter; -1: always run */
} Pattern;

static void
pattern_free (Pattern *p)
{
    if (p == NULL)
        return;
    g_free (p->source);
    g_clear_pointer (&p->re, _bounce_regex_free);
    g_free (p);
}

/* The tiers, tried in this order (file order within one). */
typedef enum {
    TIER_ALONE,     /* decides-alone = true: codes that say the cause */
    TIER_WORDS,     /* a diagnostic or subject regex, or a provider key */
    TIER_STRUCTURE, /* status, reply code, action, decoder, kind, ... */
    TIER_FALLBACK,  /* fallback = true: a last resort that reads words */
    TIER_CATCH_ALL, /* no match key at all */
} Tier;

static const char *const tier_names[] = {
    "decides-alone", "words", "structure", "fallback", "catch-all",
};

typedef struct {
    BounceRule pub;  /* points into the strings below */
    char *id;
    char *file;      /* path of the file that defined it */
    char *description;
    GHashTable *advice; /* locale ("" untranslated) -> text; NULL: none */
    guint dir_index; /* which of the directories */
    char *reason;
    int hard;           /* -1: the reason's default */
    char *infer_status; /* for recipients without a status */
    gboolean disabled;
    gboolean decides_alone;
    gboolean fallback; /* fallback = true: tried last, words or not */
    Tier tier;
    guint order;    /* place in the merged file order */
    GStrv examples; /* texts this rule must decide (checked by rules check) */
    /* Match keys; NULL when absent. */
    GPtrArray *status;   /* GPatternSpec* */
    GStrv status_globs;  /* their sources (without "none") */
    gboolean status_none; /* "none" in status: also a recipient without one */
    GStrv smtp_code;     /* "550", "5xx", "55x" */
    GStrv action;
    GStrv decoder;
    GStrv kind;
    GStrv diagnostic_type;
    GStrv smtp_command;
    Pattern *diagnostic;
    GStrv diagnostic_of;     /* ids of rules whose diagnostic words count */
    GPtrArray *words_of;     /* those rules (borrowed), once resolved */
    Pattern *reporting_mta;
    Pattern *remote_mta;
    Pattern *subject;
} Rule;

typedef struct {
    BounceReason pub; /* strings below own the memory */
    char *name;
    GHashTable *meaning; /* locale ("" untranslated) -> text */
    GHashTable *advice;  /* the same */
    char *who;
    char *side;
    char *infer_status;
    char *file;
    guint dir_index;
} Reason;

struct _BounceRules {
    GPtrArray *rules;     /* Rule*, in matching order: by tier, then file */
    GHashTable *reasons;  /* name -> Reason* */
    char *version;        /* SHA-256 of the files loaded, lower-case hex */
    /* The literals of every pattern: one pass over a text tells which
     * regexes cannot match it (bounce-prefilter.c).  Made once the rules
     * have classified PREFILTER_AFTER recipients (a process that
     * classifies one message never pays for it); a BouncePrefilter *. */
    gsize prefilter;
    gint classified;
};

/* Classifications before the prefilter is made: reading the patterns
 * costs about what the prefilter saves on a few dozen recipients. */
#define PREFILTER_AFTER 8

static void
rule_free (Rule *rule)
{
    if (rule == NULL)
        return;
    g_free (rule->id);
    g_free (rule->file);
    g_free (rule->description);
    g_clear_pointer (&rule->advice, g_hash_table_unref);
    g_free (rule->reason);
    g_free (rule->infer_status);
    g_strfreev (rule->examples);
    g_clear_pointer (&rule->status, g_ptr_array_unref);
    g_strfreev (rule->status_globs);
    g_strfreev (rule->smtp_code);
    g_strfreev (rule->action);
    g_strfreev (rule->decoder);
    g_strfreev (rule->kind);
    g_strfreev (rule->diagnostic_type);
    g_strfreev (rule->smtp_command);
    g_clear_pointer (&rule->diagnostic, pattern_free);
    g_strfreev (rule->diagnostic_of);
    g_clear_pointer (&rule->words_of, g_ptr_array_unref);
    g_clear_pointer (&rule->reporting_mta, pattern_free);
    g_clear_pointer (&rule->remote_mta, pattern_free);
    g_clear_pointer (&rule->subject, pattern_free);
    g_free (rule);
}

static void
reason_free (Reason *reason)
{
    if (reason == NULL)
        return;
    g_free (reason->name);
    g_clear_pointer (&reason->meaning, g_hash_table_unref);
    g_free (reason->who);
    g_free (reason->side);
    g_clear_pointer (&reason->advice, g_hash_table_unref);
    g_free (reason->infer_status);
    g_free (reason->file);
    g_free (reason);
}

void
bounce_rules_free (BounceRules *rules)
{
    if (rules == NULL)
        return;
    g_clear_pointer (&rules->rules, g_ptr_array_unref);
    g_clear_pointer (&rules->reasons, g_hash_table_unref);
    g_free (rules->version);
    _bounce_prefilter_free ((BouncePrefilter *) rules->prefilter);
    g_free (rules);
}

static BounceRules *
rules_new (void)
{
    BounceRules *rules = g_new0 (BounceRules, 1);

    rules->rules = g_ptr_array_new_with_free_func ((GDestroyNotify) rule_free);
    rules->reasons = g_hash_table_new_full (g_str_hash, g_str_equal, NULL,
                                            (GDestroyNotify) reason_free);
    return rules;
}

/* ------------------------------------------------------------------ */
/* Loading                                                            */
/* ------------------------------------------------------------------ */

/* The keys a [rule ID] group may hold. */
static const char *const rule_keys[] = {
    "reason", "hard", "infer-status", "disabled", "decides-alone", "fallback",
    "description", "advice", "example",
    "status", "smtp-code", "action", "decoder", "kind", "diagnostic-type",
    "smtp-command",
    "diagnostic", "diagnostic-of", "reporting-mta", "remote-mta", "subject",
    NULL,
};

/* The keys a [reason NAME] group may hold ("meaning" and "advice" also
 * with a [LOCALE] suffix; a rule's "advice" too). */
static const char *const reason_keys[] = {
    "meaning", "hard", "who", "side", "advice", "infer-status", NULL,
};

static const char *const actions[] = {
    "failed", "delayed", "delivered", "relayed", "expanded", NULL,
};

static const char *const smtp_command_names[] = {
    "CONNECT", "HELO", "MAIL", "RCPT", "DATA", "NONE", NULL,
};

static const char *const whos[] = {
    "recipient", "sender", "receiving-admin", NULL,
};

/* The side of a reason's cause, for the suppression policy. */
static const char *const sides[] = {
    "recipient", "sender", "receiving-admin", "none", NULL,
};

/* Collects problems as "FILE: [GROUP]: what". */
typedef struct {
    GPtrArray *problems;
    const char *file;
    const char *group;
} Ctx;

static void ctx_problem (Ctx *ctx, const char *format, ...)
    G_GNUC_PRINTF (2, 3);

static void
ctx_problem (Ctx *ctx, const char *format, ...)
{
    va_list args;
    g_autofree char *what = NULL;

    va_start (args, format);
    what = g_strdup_vprintf (format, args);
    va_end (args);
    if (ctx->group != NULL)
        g_ptr_array_add (ctx->problems, g_strdup_printf ("%s: [%s]: %s",
                                                         ctx->file,
                                                         ctx->group, what));
    else
        g_ptr_array_add (ctx->problems, g_strdup_printf ("%s: %s", ctx->file,
                                                         what));
}

static gboolean
in_list (const char *const *list, const char *word)
{
    for (guint i = 0; list[i] != NULL; i++)
        if (strcmp (list[i], word) == 0)
            return TRUE;
    return FALSE;
}

/* "meaning[pl]" -> TRUE for base "meaning". */
static gboolean
is_localized_key (const char *key, const char *base)
{
    gsize n = strlen (base);
    const char *end;

    if (strncmp (key, base, n) != 0 || key[n] != '[')
        return FALSE;
    end = strchr (key + n, ']');
    return end != NULL && end[1] == '\0' && end > key + n + 1;
}

/* A raw value with surrounding white space trimmed; NULL when absent. */
static char *
get_raw (GKeyFile *kf, const char *group, const char *key)
{
    char *value;

    /* has_key first: a lookup of a missing key builds (and translates)
     * an error message even when the error is not wanted. */
    if (!g_key_file_has_key (kf, group, key, NULL))
        return NULL;
    value = g_key_file_get_value (kf, group, key, NULL);
    return value != NULL ? g_strstrip (value) : NULL;
}

/* A ';'-separated list, each item trimmed, empty items dropped. */
static GStrv
get_list (GKeyFile *kf, const char *group, const char *key)
{
    g_autofree char *raw = get_raw (kf, group, key);
    g_auto (GStrv) parts = NULL;
    g_autoptr (GStrvBuilder) b = NULL;

    if (raw == NULL)
        return NULL;
    parts = g_strsplit (raw, ";", -1);
    b = g_strv_builder_new ();
    for (guint i = 0; parts[i] != NULL; i++) {
        g_strstrip (parts[i]);
        if (parts[i][0] != '\0')
            g_strv_builder_add (b, parts[i]);
    }
    return g_strv_builder_end (b);
}

/* A text value (escapes such as \n honoured). */
static char *
get_text (GKeyFile *kf, const char *group, const char *key)
{
    char *value;

    if (!g_key_file_has_key (kf, group, key, NULL))
        return NULL;
    value = g_key_file_get_string (kf, group, key, NULL);
    return value != NULL ? g_strstrip (value) : NULL;
}

/* Every translation of @key in @group: "" -> the untranslated value,
 * LOCALE -> the value of key[LOCALE] (g_key_file_get_locale_string, the
 * file being loaded with G_KEY_FILE_KEEP_TRANSLATIONS); NULL when the
 * key is absent in every language. */
static GHashTable *
get_translations (GKeyFile *kf, const char *group, const char *key)
{
    g_auto (GStrv) keys = g_key_file_get_keys (kf, group, NULL, NULL);
    GHashTable *texts = NULL;
    gsize n = strlen (key);

    for (guint i = 0; keys != NULL && keys[i] != NULL; i++) {
        g_autofree char *locale = NULL;
        char *text;

        if (strcmp (keys[i], key) == 0)
            locale = g_strdup ("");
        else if (is_localized_key (keys[i], key))
            locale = g_strndup (keys[i] + n + 1, strlen (keys[i]) - n - 2);
        else
            continue;
        text = locale[0] == '\0'
                   ? g_key_file_get_string (kf, group, key, NULL)
                   : g_key_file_get_locale_string (kf, group, key, locale,
                                                   NULL);
        if (text == NULL)
            continue;
        if (texts == NULL)
            texts = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                           g_free);
        g_hash_table_replace (texts, g_steal_pointer (&locale),
                              g_strstrip (text));
    }
    return texts;
}

static gboolean
has_text (GHashTable *texts, const char *locale)
{
    const char *text = texts != NULL ? g_hash_table_lookup (texts, locale)
                                     : NULL;

    return text != NULL && text[0] != '\0';
}

/* The text of @texts for @lang: its first locale variant that has one
 * (g_get_locale_variants: "pl_PL.UTF-8", "pl_PL", "pl"...), else the
 * untranslated text; NULL when @texts is. */
static const char *
translation (GHashTable *texts, const char *lang)
{
    if (texts == NULL)
        return NULL;
    if (lang != NULL && lang[0] != '\0') {
        g_auto (GStrv) variants = g_get_locale_variants (lang);

        for (guint i = 0; variants[i] != NULL; i++) {
            const char *text = g_hash_table_lookup (texts, variants[i]);

            if (text != NULL)
                return text;
        }
    }
    return g_hash_table_lookup (texts, "");
}

static int
get_bool (Ctx *ctx, GKeyFile *kf, const char *group, const char *key)
{
    g_autofree char *raw = get_raw (kf, group, key);

    if (raw == NULL)
        return -1;
    if (strcmp (raw, "true") == 0)
        return 1;
    if (strcmp (raw, "false") == 0)
        return 0;
    ctx_problem (ctx, "%s must be true or false, not '%.40s'", key, raw);
    return -1;
}

static Pattern *
get_regex (Ctx *ctx, GKeyFile *kf, const char *group, const char *key)
{
    g_autofree char *raw = get_raw (kf, group, key);
    g_autoptr (GError) error = NULL;
    Pattern *p;
    BounceRegex *re;

    if (raw == NULL)
        return NULL;
    if (raw[0] == '\0') {
        ctx_problem (ctx, "%s is empty", key);
        return NULL;
    }
    re = _bounce_regex_new (raw, G_REGEX_CASELESS, &error);
    if (re == NULL) {
        ctx_problem (ctx, "bad regular expression in %s: %s", key,
                     error->message);
        return NULL;
    }
    p = g_new0 (Pattern, 1);
    p->source = g_steal_pointer (&raw);
    p->re = re;
    p->filter = -1;
    return p;
}

/* Checks an inferred status: "5.1.1" and the like. */
static char *
get_infer_status (Ctx *ctx, GKeyFile *kf, const char *group)
{
    g_autofree char *raw = get_raw (kf, group, "infer-status");
    char *status;

    if (raw == NULL)
        return NULL;
    status = bounce_status_normalize (raw);
    if (status == NULL || strcmp (status, raw) != 0) {
        ctx_problem (ctx, "infer-status '%.20s' is not a status code", raw);
        g_free (status);
        return NULL;
    }
    return status;
}

/* Status globs: digits, dots, '*' and '?'. */
static GPtrArray *
get_status_globs (Ctx *ctx, GKeyFile *kf, const char *group, gboolean *none,
                  GStrv *out_globs)
{
    g_auto (GStrv) items = get_list (kf, group, "status");
    g_autoptr (GStrvBuilder) globs = g_strv_builder_new ();
    GPtrArray *specs;

    if (items == NULL)
        return NULL;
    specs = g_ptr_array_new_with_free_func (
        (GDestroyNotify) g_pattern_spec_free);
    for (guint i = 0; items[i] != NULL; i++) {
        if (g_ascii_strcasecmp (items[i], "none") == 0) {
            *none = TRUE;
            continue;
        }
        if (strspn (items[i], "0123456789.*?") != strlen (items[i]) ||
            !(items[i][0] == '2' || items[i][0] == '4' || items[i][0] == '5' ||
              items[i][0] == '*' || items[i][0] == '?')) {
            ctx_problem (ctx,
                         "status '%.20s' is not a code or glob such as 5.7.*",
                         items[i]);
            continue;
        }
        g_ptr_array_add (specs, g_pattern_spec_new (items[i]));
        g_strv_builder_add (globs, items[i]);
    }
    if (specs->len == 0 && !*none)
        ctx_problem (ctx, "status has no value");
    *out_globs = g_strv_builder_end (globs);
    return specs;
}

/* Reply codes: "550", or a class with x for any digit ("5xx", "45x"). */
static GStrv
get_codes (Ctx *ctx, GKeyFile *kf, const char *group)
{
    GStrv items = get_list (kf, group, "smtp-code");

    if (items == NULL)
        return NULL;
    for (guint i = 0; items[i] != NULL; i++) {
        const char *c = items[i];
        if (strlen (c) != 3 || c[0] < '2' || c[0] > '5' ||
            !(g_ascii_isdigit (c[1]) || c[1] == 'x') ||
            !(g_ascii_isdigit (c[2]) || c[2] == 'x'))
            ctx_problem (ctx,
                         "smtp-code '%.20s' is not a code such as 550 or 5xx",
                         c);
    }
    if (items[0] == NULL)
        ctx_problem (ctx, "smtp-code has no value");
    return items;
}

static GStrv
get_checked_list (Ctx *ctx, GKeyFile *kf, const char *group, const char *key,
                  const char *const *allowed)
{
    GStrv items = get_list (kf, group, key);

    if (items == NULL)
        return NULL;
    for (guint i = 0; items[i] != NULL; i++)
        if (allowed != NULL && !in_list (allowed, items[i]))
            ctx_problem (ctx, "%s '%.40s' is unknown", key, items[i]);
    if (items[0] == NULL)
        ctx_problem (ctx, "%s has no value", key);
    return items;
}

/* Every key of @group once, and only known ones. */
static void
check_keys (Ctx *ctx, GKeyFile *kf, const char *group, gboolean is_rule)
{
    g_auto (GStrv) keys = g_key_file_get_keys (kf, group, NULL, NULL);
    g_autoptr (GHashTable) seen = g_hash_table_new (g_str_hash, g_str_equal);

    for (guint i = 0; keys != NULL && keys[i] != NULL; i++) {
        const char *key = keys[i];
        gboolean known;

        if (!g_hash_table_add (seen, (gpointer) key))
            ctx_problem (ctx, "duplicate key '%s'", key);
        if (is_rule)
            known = in_list (rule_keys, key) ||
                    is_localized_key (key, "advice");
        else
            known = in_list (reason_keys, key) ||
                    is_localized_key (key, "meaning") ||
                    is_localized_key (key, "advice");
        if (!known)
            ctx_problem (ctx, "unknown key '%.40s'", key);
    }
}

/* The tier a rule's keys put it in (rules/README.md, "Files and order"). */
static Tier
rule_tier (const Rule *rule)
{
    if (rule->decides_alone)
        return TIER_ALONE;
    if (rule->fallback)
        return TIER_FALLBACK;
    if (rule->diagnostic != NULL || rule->diagnostic_of != NULL ||
        rule->subject != NULL || rule->remote_mta != NULL ||
        rule->reporting_mta != NULL)
        return TIER_WORDS;
    if (rule->status != NULL || rule->smtp_code != NULL ||
        rule->action != NULL || rule->decoder != NULL || rule->kind != NULL ||
        rule->diagnostic_type != NULL || rule->smtp_command != NULL)
        return TIER_STRUCTURE;
    return TIER_CATCH_ALL;
}

/* Does a status glob name one cause: class 2 (not a failure), or a
 * class.subject.detail code with wildcards only in the detail
 * ("5.7.26", "5.7.60?"), not a class such as 5.7.* ? */
static gboolean
status_glob_names_cause (const char *glob)
{
    const char *dot1 = strchr (glob, '.');
    const char *dot2 = dot1 != NULL ? strchr (dot1 + 1, '.') : NULL;

    if (glob[0] == '2')
        return TRUE;
    if (dot2 == NULL || dot2[1] == '\0' || strchr (glob, '*') != NULL)
        return FALSE;
    for (const char *c = glob; c < dot2; c++)
        if (*c == '?')
            return FALSE;
    return TRUE;
}

/* A rule marked decides-alone beats every phrase, so it must match a
 * code that names the cause by itself or an outcome that is not a
 * failure; a status class, a reply-code class, a decoder or a
 * diagnostic type alone would shadow the words. */
static void
check_decides_alone (Ctx *ctx, const Rule *rule)
{
    static const char *const outcomes[] = {
        "delivered", "relayed", "expanded", "feedback", "autoreply", NULL,
    };
    const GStrv globs = rule->status_globs;
    gboolean names_cause = FALSE;

    if (!rule->decides_alone)
        return;
    if (rule->status_none)
        ctx_problem (ctx, "decides-alone with status 'none': no code says "
                          "the cause");
    for (guint i = 0; globs != NULL && globs[i] != NULL; i++) {
        if (!status_glob_names_cause (globs[i]))
            ctx_problem (ctx, "decides-alone with status '%.20s': a class "
                              "would overrule every phrase; name the codes "
                              "(5.2.2, 5.7.60?)", globs[i]);
        else
            names_cause = TRUE;
    }
    for (guint i = 0; rule->smtp_code != NULL && rule->smtp_code[i]; i++) {
        const char *c = rule->smtp_code[i];
        if (c[0] != '2' && strchr (c, 'x') != NULL)
            ctx_problem (ctx, "decides-alone with smtp-code '%.20s': a class "
                              "would overrule every phrase", c);
        else
            names_cause = TRUE;
    }
    for (guint i = 0; rule->action != NULL && rule->action[i] != NULL; i++) {
        if (!in_list (outcomes, rule->action[i]))
            ctx_problem (ctx, "decides-alone with action '%.20s': a failure "
                              "is decided by its words", rule->action[i]);
        else
            names_cause = TRUE;
    }
    for (guint i = 0; rule->kind != NULL && rule->kind[i] != NULL; i++) {
        if (!in_list (outcomes, rule->kind[i]))
            ctx_problem (ctx, "decides-alone with kind '%.20s': a failure "
                              "is decided by its words", rule->kind[i]);
        else
            names_cause = TRUE;
    }
    if (!names_cause)
        ctx_problem (ctx, "decides-alone needs a code that names the cause "
                          "(status 5.2.2, smtp-code 535) or an outcome that "
                          "is not a failure (action delivered, kind "
                          "feedback)");
}

/* A rule of the words tier must need words: a regex that matches an
 * empty text decides on the other keys alone (a structural rule that
 * would beat the phrases); a provider key needs a code or words. */
static void
check_words (Ctx *ctx, const Rule *rule)
{
    const struct {
        const char *key;
        const Pattern *p;
    } texts[] = {
        { "diagnostic", rule->diagnostic },
        { "subject", rule->subject },
    };

    if (rule->tier != TIER_WORDS)
        return;
    for (guint i = 0; i < G_N_ELEMENTS (texts); i++)
        if (texts[i].p != NULL && rule->diagnostic_of == NULL &&
            g_regex_match (_bounce_regex_plain (texts[i].p->re), "", 0, NULL))
            ctx_problem (ctx, "%s matches an empty text, so the rule needs "
                              "no words: use status or smtp-code, or name "
                              "the words", texts[i].key);
    if (rule->diagnostic == NULL && rule->diagnostic_of == NULL &&
        rule->subject == NULL && rule->status == NULL &&
        rule->smtp_code == NULL)
        ctx_problem (ctx, "remote-mta or reporting-mta needs a status, an "
                          "smtp-code or words too: a provider alone says no "
                          "cause");
    /* A provider's host with a code and no words is tried before every
     * phrase: the code must be the provider's own, not a class. */
    if (rule->diagnostic == NULL && rule->diagnostic_of == NULL &&
        rule->subject == NULL) {
        for (guint i = 0; rule->status_globs != NULL && rule->status_globs[i]; i++)
            if (!status_glob_names_cause (rule->status_globs[i]))
                ctx_problem (ctx, "remote-mta or reporting-mta with status "
                                  "'%.20s' and no words: a class would "
                                  "overrule every phrase", rule->status_globs[i]);
        for (guint i = 0; rule->smtp_code != NULL && rule->smtp_code[i]; i++)
            if (strchr (rule->smtp_code[i], 'x') != NULL)
                ctx_problem (ctx, "remote-mta or reporting-mta with smtp-code "
                                  "'%.20s' and no words: a class would "
                                  "overrule every phrase", rule->smtp_code[i]);
    }
}

static Rule *
load_rule (Ctx *ctx, GKeyFile *kf, const char *group, const char *id)
{
    Rule *rule = g_new0 (Rule, 1);
    g_autofree char *reason = NULL;
    g_auto (GStrv) kind_names = NULL;
    g_autoptr (GStrvBuilder) kb = g_strv_builder_new ();

    for (int k = BOUNCE_KIND_UNPARSABLE; k <= BOUNCE_KIND_DELIVERED; k++)
        g_strv_builder_add (kb, bounce_kind_to_string ((BounceKind) k));
    kind_names = g_strv_builder_end (kb);

    rule->id = g_strdup (id);
    rule->file = g_strdup (ctx->file);
    check_keys (ctx, kf, group, TRUE);
    rule->disabled = get_bool (ctx, kf, group, "disabled") == 1;
    rule->description = get_text (kf, group, "description");
    rule->advice = get_translations (kf, group, "advice");
    if (rule->advice != NULL &&
        (!g_hash_table_contains (rule->advice, "") ||
         !g_hash_table_contains (rule->advice, "pl")))
        ctx_problem (ctx, "advice needs both advice and advice[pl]");
    rule->reason = get_raw (kf, group, "reason");
    if (rule->reason == NULL && !rule->disabled)
        ctx_problem (ctx, "no reason");
    rule->hard = get_bool (ctx, kf, group, "hard");
    rule->infer_status = get_infer_status (ctx, kf, group);
    rule->status = get_status_globs (ctx, kf, group, &rule->status_none,
                                     &rule->status_globs);
    rule->smtp_code = get_codes (ctx, kf, group);
    rule->action = get_checked_list (ctx, kf, group, "action", actions);
    rule->decoder = get_checked_list (ctx, kf, group, "decoder", NULL);
    rule->kind = get_checked_list (ctx, kf, group, "kind",
                                   (const char *const *) kind_names);
    rule->diagnostic_type = get_checked_list (ctx, kf, group,
                                              "diagnostic-type", NULL);
    rule->smtp_command = get_checked_list (ctx, kf, group, "smtp-command",
                                           smtp_command_names);
    rule->diagnostic = get_regex (ctx, kf, group, "diagnostic");
    rule->diagnostic_of = get_checked_list (ctx, kf, group, "diagnostic-of",
                                            NULL);
    rule->reporting_mta = get_regex (ctx, kf, group, "reporting-mta");
    rule->remote_mta = get_regex (ctx, kf, group, "remote-mta");
    rule->subject = get_regex (ctx, kf, group, "subject");
    /* A list with GKeyFile's escapes: "\;" for a ';' inside a text. */
    if (g_key_file_has_key (kf, group, "example", NULL))
        rule->examples = g_key_file_get_string_list (kf, group, "example", NULL,
                                                     NULL);
    /* explain gives no diagnostic type: "none" may stay. */
    if (rule->examples != NULL &&
        (rule->kind != NULL || rule->decoder != NULL ||
         (rule->diagnostic_type != NULL &&
          !in_list ((const char *const *) rule->diagnostic_type, "none")) ||
         rule->reporting_mta != NULL ||
         rule->remote_mta != NULL || rule->subject != NULL))
        ctx_problem (ctx, "example needs a rule that matches on codes, "
                          "action, command and diagnostic only");
    rule->decides_alone = get_bool (ctx, kf, group, "decides-alone") == 1;
    rule->fallback = get_bool (ctx, kf, group, "fallback") == 1;
    if (rule->decides_alone && rule->fallback)
        ctx_problem (ctx, "decides-alone and fallback: a rule is tried "
                          "first or last, not both");
    rule->tier = rule_tier (rule);
    check_decides_alone (ctx, rule);
    check_words (ctx, rule);
    rule->pub.id = rule->id;
    rule->pub.reason = rule->reason;
    rule->pub.file = rule->file;
    rule->pub.description = rule->description;
    rule->pub.tier = tier_names[rule->tier];
    return rule;
}

static Reason *
load_reason (Ctx *ctx, GKeyFile *kf, const char *group, const char *name)
{
    Reason *reason = g_new0 (Reason, 1);
    g_autofree char *hard = NULL;

    check_keys (ctx, kf, group, FALSE);
    reason->name = g_strdup (name);
    reason->file = g_strdup (ctx->file);
    reason->meaning = get_translations (kf, group, "meaning");
    reason->advice = get_translations (kf, group, "advice");
    reason->who = get_raw (kf, group, "who");
    reason->side = get_raw (kf, group, "side");
    reason->infer_status = get_infer_status (ctx, kf, group);
    hard = get_raw (kf, group, "hard");

    /* English and Polish are required; other languages are optional. */
    if (!has_text (reason->meaning, ""))
        ctx_problem (ctx, "no meaning");
    if (!has_text (reason->meaning, "pl"))
        ctx_problem (ctx, "no meaning[pl]");
    if (!has_text (reason->advice, ""))
        ctx_problem (ctx, "no advice");
    if (!has_text (reason->advice, "pl"))
        ctx_problem (ctx, "no advice[pl]");
    if (reason->who == NULL)
        ctx_problem (ctx, "no who");
    else if (!in_list (whos, reason->who))
        ctx_problem (ctx, "who must be recipient, sender or receiving-admin, "
                          "not '%.40s'", reason->who);
    /* No side: it keeps the side of the reason it replaces (a rules.d
     * group that only rewords the advice); checked once all are read. */
    if (reason->side != NULL && !in_list (sides, reason->side))
        ctx_problem (ctx, "side must be recipient, sender, receiving-admin "
                          "or none, not '%.40s'", reason->side);
    if (hard == NULL)
        ctx_problem (ctx, "no hard");
    else if (strcmp (hard, "true") == 0)
        reason->pub.hard = TRUE;
    else if (strcmp (hard, "permanent") == 0)
        reason->pub.hard_when_permanent = TRUE;
    else if (strcmp (hard, "false") != 0)
        ctx_problem (ctx, "hard must be true, false or permanent, not '%.40s'",
                     hard);

    reason->pub.name = reason->name;
    reason->pub.who = reason->who;
    reason->pub.side = reason->side;
    return reason;
}

/* GKeyFile merges a repeated [group] silently: find repeats in the text. */
static void
check_duplicate_groups (Ctx *ctx, const char *text)
{
    g_autoptr (GHashTable) seen =
        g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
    g_auto (GStrv) lines = g_strsplit (text, "\n", -1);

    for (guint i = 0; lines[i] != NULL; i++) {
        char *line = g_strstrip (lines[i]);
        gsize n = strlen (line);

        if (n < 2 || line[0] != '[' || line[n - 1] != ']')
            continue;
        line[n - 1] = '\0';
        if (!g_hash_table_add (seen, g_strdup (line + 1))) {
            const char *saved = ctx->group;
            ctx->group = NULL;
            ctx_problem (ctx, "duplicate group [%s]", line + 1);
            ctx->group = saved;
        }
    }
}

typedef struct {
    char *base;
    char *path;
    guint dir_index;
} RulesFile;

static void
rules_file_free (RulesFile *f)
{
    g_free (f->base);
    g_free (f->path);
    g_free (f);
}

static int
rules_file_cmp (gconstpointer a, gconstpointer b)
{
    const RulesFile *fa = *(RulesFile *const *) a;
    const RulesFile *fb = *(RulesFile *const *) b;
    int c = strcmp (fa->base, fb->base);

    if (c != 0)
        return c;
    return fa->dir_index < fb->dir_index ? -1 : fa->dir_index > fb->dir_index;
}

/* Adds @rule to @rules: a new id takes its place in the order; for an
 * id seen before, the definition from the later directory wins and
 * keeps the place where the id first appeared in the merged order. */
static void
add_rule (Ctx *ctx, BounceRules *rules, GHashTable *slots, Rule *rule)
{
    gpointer value;

    if (g_hash_table_lookup_extended (slots, rule->id, NULL, &value)) {
        guint slot = GPOINTER_TO_UINT (value);
        Rule *old = rules->rules->pdata[slot];

        if (old->dir_index == rule->dir_index) {
            ctx_problem (ctx, "duplicate rule id (also in %s)", old->file);
            rule_free (rule);
        } else if (old->dir_index < rule->dir_index) {
            rules->rules->pdata[slot] = rule;
            g_hash_table_insert (slots, rule->id, GUINT_TO_POINTER (slot));
            rule_free (old);
        } else {
            rule_free (rule);
        }
        return;
    }
    g_hash_table_insert (slots, rule->id, GUINT_TO_POINTER (rules->rules->len));
    g_ptr_array_add (rules->rules, rule);
}

/* qsort over an array of strings, for problems in a stable order. */
static int
compare_names (const void *a, const void *b)
{
    return strcmp (*(const char *const *) a, *(const char *const *) b);
}

static void
add_reason (Ctx *ctx, BounceRules *rules, Reason *reason)
{
    Reason *old = g_hash_table_lookup (rules->reasons, reason->name);

    if (old != NULL && old->dir_index == reason->dir_index) {
        ctx_problem (ctx, "duplicate reason (also in %s)", old->file);
        reason_free (reason);
    } else if (old != NULL && old->dir_index > reason->dir_index) {
        /* The later directory's group replaces this one, but for the
         * side when it names none. */
        if (old->side == NULL && reason->side != NULL)
            old->pub.side = old->side = g_steal_pointer (&reason->side);
        reason_free (reason);
    } else {
        if (old != NULL && reason->side == NULL && old->side != NULL)
            reason->pub.side = reason->side = g_strdup (old->side);
        g_hash_table_replace (rules->reasons, reason->name, reason);
    }
}

/* How continuation lines of @key join its value: one more alternative
 * of a regular expression, one more item of a list, more words of a
 * text. */
static const char *
continuation_joiner (const char *key)
{
    static const char *const regex_keys[] = {
        "diagnostic", "remote-mta", "reporting-mta", "subject", NULL,
    };
    static const char *const list_keys[] = {
        "status", "smtp-code", "action", "decoder", "kind",
        "diagnostic-type", "smtp-command", "example", NULL,
    };

    if (in_list (regex_keys, key))
        return "|";
    if (in_list (list_keys, key))
        return ";";
    return " ";
}

/* GKeyFile values are one line.  A line that starts with white space
 * and follows a key line (or another such line) continues that key's
 * value: it is appended with continuation_joiner(), and its place
 * becomes an empty line, so that the file keeps its line numbers.
 * Comment lines between them are allowed (indented too); an empty
 * line, a group or another key ends the value; an indented line
 * anywhere else is a problem named by its line number. */
static char *
join_continuations (Ctx *ctx, const char *text)
{
    g_auto (GStrv) lines = g_strsplit (text, "\n", -1);
    GString *value = NULL; /* the open key line, or NULL */
    gboolean value_empty = FALSE;
    const char *joiner = NULL;
    guint open = 0;

    for (guint i = 0; lines[i] != NULL; i++) {
        char *line = lines[i];
        const char *body = line + strspn (line, " \t");
        g_autofree char *item = g_strstrip (g_strdup (body));

        if (body != line && item[0] != '\0' && value != NULL) {
            if (item[0] != '#') {
                if (!value_empty)
                    g_string_append (value, joiner);
                g_string_append (value, item);
                value_empty = FALSE;
            }
            line[0] = '\0';
            continue;
        }
        if (item[0] == '#')
            continue;
        if (body != line && item[0] != '\0' && strchr (item, '=') == NULL) {
            ctx_problem (ctx, "line %u: an indented line continues a value "
                              "only right after its key or another "
                              "indented line", i + 1);
            line[0] = '\0';
        }
        if (value != NULL) {
            g_free (lines[open]);
            lines[open] = g_string_free (value, FALSE);
            value = NULL;
        }
        if (body == line && item[0] != '[' && strchr (item, '=') != NULL) {
            g_autofree char *key = g_strndup (item, strcspn (item, "="));
            const char *rest = strchr (item, '=') + 1;

            g_strstrip (key);
            value = g_string_new (line);
            g_strchomp (value->str);
            g_string_set_size (value, strlen (value->str));
            value_empty = rest[strspn (rest, " \t")] == '\0';
            joiner = continuation_joiner (key);
            open = i;
        }
    }
    if (value != NULL) {
        g_free (lines[open]);
        lines[open] = g_string_free (value, FALSE);
    }
    return g_strjoinv ("\n", lines);
}

static void
load_file (BounceRules *rules, GHashTable *slots, const RulesFile *f,
           GChecksum *sum, GPtrArray *problems)
{
    g_autoptr (GKeyFile) kf = g_key_file_new ();
    g_autoptr (GError) error = NULL;
    g_autofree char *raw = NULL;
    g_autofree char *text = NULL;
    g_auto (GStrv) groups = NULL;
    Ctx ctx = { problems, f->path, NULL };

    gsize raw_len = 0;

    if (!g_file_get_contents (f->path, &raw, &raw_len, &error)) {
        ctx_problem (&ctx, "%s", error->message);
        return;
    }
    /* The version: each file's directory rank, name and contents. */
    {
        g_autofree char *head = g_strdup_printf ("%u\n%s\n%" G_GSIZE_FORMAT
                                                 "\n", f->dir_index, f->base,
                                                 raw_len);

        g_checksum_update (sum, (const guchar *) head, -1);
        g_checksum_update (sum, (const guchar *) raw, (gssize) raw_len);
    }
    text = join_continuations (&ctx, raw);
    if (!g_key_file_load_from_data (kf, text, (gsize) -1,
                                    G_KEY_FILE_KEEP_TRANSLATIONS, &error)) {
        ctx_problem (&ctx, "%s", error->message);
        return;
    }
    check_duplicate_groups (&ctx, text);
    groups = g_key_file_get_groups (kf, NULL);
    for (guint i = 0; groups[i] != NULL; i++) {
        const char *group = groups[i];

        ctx.group = group;
        if (g_str_has_prefix (group, "rule ") && group[5] != '\0' &&
            strchr (group + 5, ' ') == NULL) {
            Rule *rule = load_rule (&ctx, kf, group, group + 5);
            rule->dir_index = f->dir_index;
            add_rule (&ctx, rules, slots, rule);
        } else if (g_str_has_prefix (group, "reason ") && group[7] != '\0' &&
                   strchr (group + 7, ' ') == NULL) {
            Reason *reason = load_reason (&ctx, kf, group, group + 7);
            reason->dir_index = f->dir_index;
            add_reason (&ctx, rules, reason);
        } else {
            ctx_problem (&ctx,
                         "unknown group (want [rule ID] or [reason NAME])");
        }
    }
}

/* diagnostic-of = ID: the words of rule ID (one place for a phrase
 * family that several contexts share).  ID must have a diagnostic of
 * its own. */
static void
resolve_words_of (BounceRules *rules, GPtrArray *problems)
{
    for (guint i = 0; i < rules->rules->len; i++) {
        Rule *rule = rules->rules->pdata[i];

        if (rule->diagnostic_of == NULL)
            continue;
        rule->words_of = g_ptr_array_new ();
        for (guint j = 0; rule->diagnostic_of[j] != NULL; j++) {
            const char *id = rule->diagnostic_of[j];
            Rule *other = NULL;

            for (guint k = 0; k < rules->rules->len && other == NULL; k++)
                if (strcmp (((Rule *) rules->rules->pdata[k])->id, id) == 0)
                    other = rules->rules->pdata[k];
            if (other == NULL || other->diagnostic == NULL)
                g_ptr_array_add (problems, g_strdup_printf (
                    "%s: [rule %s]: diagnostic-of '%.40s' is not a rule with "
                    "a diagnostic", rule->file, rule->id, id));
            else
                g_ptr_array_add (rule->words_of, other);
        }
    }
}

static int
rule_cmp (gconstpointer a, gconstpointer b)
{
    const Rule *ra = *(Rule *const *) a;
    const Rule *rb = *(Rule *const *) b;

    if (ra->tier != rb->tier)
        return ra->tier < rb->tier ? -1 : 1;
    return ra->order < rb->order ? -1 : ra->order > rb->order;
}

/* Loads everything, collecting every problem; never fails otherwise. */
static BounceRules *
load_all (const char *const *dirs, GPtrArray *problems)
{
    BounceRules *rules = rules_new ();
    g_autoptr (GPtrArray) files =
        g_ptr_array_new_with_free_func ((GDestroyNotify) rules_file_free);
    g_autoptr (GHashTable) slots = g_hash_table_new (g_str_hash, g_str_equal);

    for (guint d = 0; dirs != NULL && dirs[d] != NULL; d++) {
        g_autoptr (GError) error = NULL;
        g_autoptr (GDir) dir = g_dir_open (dirs[d], 0, &error);
        const char *name;

        if (dir == NULL) {
            g_ptr_array_add (problems, g_strdup_printf ("%s: %s", dirs[d],
                                                        error->message));
            continue;
        }
        while ((name = g_dir_read_name (dir)) != NULL) {
            RulesFile *f;
            if (!g_str_has_suffix (name, ".rules") || name[0] == '.')
                continue;
            f = g_new0 (RulesFile, 1);
            f->base = g_strdup (name);
            f->path = g_build_filename (dirs[d], name, NULL);
            f->dir_index = d;
            g_ptr_array_add (files, f);
        }
    }
    if (dirs == NULL || dirs[0] == NULL)
        g_ptr_array_add (problems, g_strdup ("no rules directory given"));
    g_ptr_array_sort (files, rules_file_cmp);
    {
        g_autoptr (GChecksum) sum = g_checksum_new (G_CHECKSUM_SHA256);

        for (guint i = 0; i < files->len; i++)
            load_file (rules, slots, files->pdata[i], sum, problems);
        rules->version = g_strdup (g_checksum_get_string (sum));
    }

    /* Every reason has a side, its own or the one of the reason it
     * replaces. */
    {
        guint n;
        g_autofree gpointer *names =
            g_hash_table_get_keys_as_array (rules->reasons, &n);

        qsort (names, n, sizeof *names, compare_names);
        for (guint i = 0; i < n; i++) {
            const Reason *reason = g_hash_table_lookup (rules->reasons, names[i]);
            if (reason->side == NULL)
                g_ptr_array_add (problems, g_strdup_printf (
                    "%s: [reason %s]: no side", reason->file, reason->name));
        }
    }

    /* Every rule's reason must be in the reason table. */
    for (guint i = 0; i < rules->rules->len; i++) {
        Rule *rule = rules->rules->pdata[i];
        if (rule->disabled || rule->reason == NULL)
            continue;
        if (!g_hash_table_contains (rules->reasons, rule->reason))
            g_ptr_array_add (problems, g_strdup_printf (
                "%s: [rule %s]: unknown reason '%.40s'", rule->file, rule->id,
                rule->reason));
    }
    if (files->len > 0 && rules->rules->len == 0 && problems->len == 0)
        g_ptr_array_add (problems, g_strdup_printf ("%s: no rules", dirs[0]));
    else if (files->len == 0 && dirs != NULL && dirs[0] != NULL &&
             problems->len == 0)
        g_ptr_array_add (problems, g_strdup_printf ("%s: no *.rules file",
                                                    dirs[0]));

    /* Drop disabled rules now that overrides are resolved. */
    for (guint i = rules->rules->len; i > 0; i--) {
        Rule *rule = rules->rules->pdata[i - 1];
        if (rule->disabled)
            g_ptr_array_remove_index (rules->rules, i - 1);
    }
    resolve_words_of (rules, problems);
    /* Matching order: by tier, in file order within one. */
    for (guint i = 0; i < rules->rules->len; i++)
        ((Rule *) rules->rules->pdata[i])->order = i;
    g_ptr_array_sort (rules->rules, rule_cmp);
    return rules;
}

BounceRules *
bounce_rules_load (const char *const *dirs, GError **error)
{
    g_autoptr (GPtrArray) problems = g_ptr_array_new_with_free_func (g_free);
    g_autoptr (BounceRules) rules = load_all (dirs, problems);

    if (problems->len > 0) {
        if (problems->len == 1)
            g_set_error (error, BOUNCE_ERROR, BOUNCE_ERROR_RULES,
                         "bad rules: %s", (const char *) problems->pdata[0]);
        else
            g_set_error (error, BOUNCE_ERROR, BOUNCE_ERROR_RULES,
                         "bad rules: %s (and %u more problems; see "
                         "'bouncestat rules check')",
                         (const char *) problems->pdata[0], problems->len - 1);
        return NULL;
    }
    return g_steal_pointer (&rules);
}

/* Every example of every rule must be decided by that rule, as
 * `bouncestat explain` would decide it: this catches a rule that an
 * earlier one shadows. */
static void
check_examples (const BounceRules *rules, GPtrArray *problems)
{
    for (guint i = 0; i < rules->rules->len; i++) {
        const Rule *rule = rules->rules->pdata[i];

        for (guint j = 0; rule->examples != NULL && rule->examples[j]; j++) {
            g_autoptr (BounceRecipient) r =
                bounce_rules_explain (rules, rule->examples[j]);

            if (g_strcmp0 (r->rule, rule->id) != 0)
                g_ptr_array_add (problems, g_strdup_printf (
                    "%s: [rule %s]: example '%.60s' is decided by rule %s",
                    rule->file, rule->id, rule->examples[j],
                    r->rule != NULL ? r->rule : "(none)"));
        }
    }
}

static gboolean match_status (const GPtrArray *specs, gboolean none,
                              const char *status);

/* Does @rule match on its status alone (no other match key)? */
static gboolean
matches_on_status_only (const Rule *rule)
{
    return rule->status != NULL && rule->smtp_code == NULL &&
           rule->action == NULL && rule->decoder == NULL &&
           rule->kind == NULL && rule->diagnostic_type == NULL &&
           rule->smtp_command == NULL && rule->diagnostic == NULL &&
           rule->diagnostic_of == NULL && rule->reporting_mta == NULL &&
           rule->remote_mta == NULL && rule->subject == NULL;
}

/* A rule whose every status (a code, no glob) decides alone by another
 * rule can never decide: name it. */
static void
check_unreachable (const BounceRules *rules, GPtrArray *problems)
{
    for (guint i = 0; i < rules->rules->len; i++) {
        const Rule *rule = rules->rules->pdata[i];
        const Rule *by = NULL;
        gboolean all = rule->tier != TIER_ALONE && !rule->status_none &&
                       rule->status_globs != NULL &&
                       rule->status_globs[0] != NULL;

        for (guint j = 0; all && rule->status_globs[j] != NULL; j++) {
            const char *code = rule->status_globs[j];
            const Rule *found = NULL;

            if (strpbrk (code, "*?") != NULL)
                all = FALSE;
            for (guint k = 0; all && k < rules->rules->len && found == NULL;
                 k++) {
                const Rule *other = rules->rules->pdata[k];
                if (other->tier == TIER_ALONE &&
                    matches_on_status_only (other) &&
                    match_status (other->status, FALSE, code))
                    found = other;
            }
            all = all && found != NULL;
            by = found;
        }
        if (all)
            g_ptr_array_add (problems, g_strdup_printf (
                "%s: [rule %s]: never decides: status %s decides alone "
                "(rule %s)", rule->file, rule->id, rule->status_globs[0],
                by->id));
    }
}

gboolean
bounce_rules_check (const char *const *dirs, GPtrArray *problems)
{
    g_autoptr (BounceRules) rules = NULL;
    guint before;

    g_return_val_if_fail (problems != NULL, FALSE);
    before = problems->len;
    rules = load_all (dirs, problems);
    if (problems->len == before) {
        check_unreachable (rules, problems);
        check_examples (rules, problems);
    }
    return problems->len == before;
}

const BounceReason *
bounce_rules_get_reason (const BounceRules *rules, const char *name)
{
    Reason *reason;

    g_return_val_if_fail (rules != NULL, NULL);
    if (name == NULL)
        return NULL;
    reason = g_hash_table_lookup (rules->reasons, name);
    return reason != NULL ? &reason->pub : NULL;
}

const char *
bounce_rules_get_meaning (const BounceRules *rules,
                          const char *reason,
                          const char *lang)
{
    Reason *r;

    g_return_val_if_fail (rules != NULL, NULL);
    r = reason != NULL ? g_hash_table_lookup (rules->reasons, reason) : NULL;
    return r != NULL ? translation (r->meaning, lang) : NULL;
}

const char *
bounce_rules_get_advice (const BounceRules *rules,
                         const char *reason,
                         const char *rule,
                         const char *lang)
{
    const BounceRule *pub;
    Reason *r;

    g_return_val_if_fail (rules != NULL, NULL);
    pub = bounce_rules_get_rule (rules, rule);
    if (pub != NULL && ((const Rule *) pub)->advice != NULL)
        return translation (((const Rule *) pub)->advice, lang);
    r = reason != NULL ? g_hash_table_lookup (rules->reasons, reason) : NULL;
    return r != NULL ? translation (r->advice, lang) : NULL;
}

static int
compare_strings (gconstpointer a, gconstpointer b)
{
    return strcmp (*(const char *const *) a, *(const char *const *) b);
}

GStrv
bounce_rules_get_languages (const BounceRules *rules)
{
    g_autoptr (GHashTable) seen = g_hash_table_new (g_str_hash, g_str_equal);
    g_autoptr (GPtrArray) langs = g_ptr_array_new ();
    g_autoptr (GStrvBuilder) b = g_strv_builder_new ();
    GHashTableIter iter;
    gpointer value;

    g_return_val_if_fail (rules != NULL, NULL);
    g_hash_table_iter_init (&iter, rules->reasons);
    while (g_hash_table_iter_next (&iter, NULL, &value)) {
        const Reason *r = value;
        GHashTableIter it;
        gpointer locale;

        if (r->meaning == NULL)
            continue;
        g_hash_table_iter_init (&it, r->meaning);
        while (g_hash_table_iter_next (&it, &locale, NULL))
            if (((const char *) locale)[0] != '\0' &&
                g_hash_table_add (seen, locale))
                g_ptr_array_add (langs, locale);
    }
    g_ptr_array_sort (langs, compare_strings);
    g_strv_builder_add (b, "en");
    for (guint i = 0; i < langs->len; i++)
        if (strcmp (langs->pdata[i], "en") != 0)
            g_strv_builder_add (b, langs->pdata[i]);
    return g_strv_builder_end (b);
}

const char *
bounce_rules_get_version (const BounceRules *rules)
{
    g_return_val_if_fail (rules != NULL, NULL);
    return rules->version;
}

GPtrArray *
bounce_rules_list_reasons (const BounceRules *rules)
{
    GPtrArray *names;
    GHashTableIter iter;
    gpointer key;

    g_return_val_if_fail (rules != NULL, NULL);
    names = g_ptr_array_sized_new (g_hash_table_size (rules->reasons));
    g_hash_table_iter_init (&iter, rules->reasons);
    while (g_hash_table_iter_next (&iter, &key, NULL))
        g_ptr_array_add (names, key);
    g_ptr_array_sort (names, compare_strings);
    return names;
}

const BounceRule *
bounce_rules_get_rule (const BounceRules *rules, const char *id)
{
    g_return_val_if_fail (rules != NULL, NULL);
    if (id == NULL)
        return NULL;
    for (guint i = 0; i < rules->rules->len; i++) {
        const Rule *rule = rules->rules->pdata[i];
        if (strcmp (rule->id, id) == 0)
            return &rule->pub;
    }
    return NULL;
}

guint
bounce_rules_count (const BounceRules *rules)
{
    g_return_val_if_fail (rules != NULL, 0);
    return rules->rules->len;
}

const BounceRule *
bounce_rules_get_nth (const BounceRules *rules, guint index)
{
    g_return_val_if_fail (rules != NULL, NULL);
    if (index >= rules->rules->len)
        return NULL;
    return &((const Rule *) rules->rules->pdata[index])->pub;
}

/* ------------------------------------------------------------------ */
/* Matching                                                           */
/* ------------------------------------------------------------------ */

static gboolean
match_word (const GStrv list, const char *value)
{
    if (list == NULL)
        return TRUE;
    if (value == NULL)
        return FALSE;
    for (guint i = 0; list[i] != NULL; i++)
        if (g_ascii_strcasecmp (list[i], value) == 0)
            return TRUE;
    return FALSE;
}

static gboolean
match_code (const GStrv list, int code)
{
    char digits[4];

    if (list == NULL)
        return TRUE;
    if (code < 200 || code > 599)
        return FALSE;
    g_snprintf (digits, sizeof digits, "%d", code);
    for (guint i = 0; list[i] != NULL; i++) {
        const char *c = list[i];
        if ((c[0] == digits[0]) && (c[1] == 'x' || c[1] == digits[1]) &&
            (c[2] == 'x' || c[2] == digits[2]))
            return TRUE;
    }
    return FALSE;
}

/* A recipient without a status matches only "none" (@none). */
static gboolean
match_status (const GPtrArray *specs, gboolean none, const char *status)
{
    if (specs == NULL)
        return TRUE;
    if (status == NULL)
        return none;
    for (guint i = 0; i < specs->len; i++)
        if (g_pattern_spec_match_string (specs->pdata[i], status))
            return TRUE;
    return FALSE;
}

static void
prefilter_add (BouncePrefilter *pf, Pattern *p)
{
    if (p != NULL)
        p->filter = _bounce_prefilter_add (pf, p->source);
}

static void
prefilter_fill (BouncePrefilter *pf, gpointer data)
{
    const BounceRules *rules = data;

    for (guint i = 0; i < rules->rules->len; i++) {
        Rule *rule = rules->rules->pdata[i];

        prefilter_add (pf, rule->diagnostic);
        prefilter_add (pf, rule->reporting_mta);
        prefilter_add (pf, rule->remote_mta);
        prefilter_add (pf, rule->subject);
    }
}

/* The prefilter of the rules' regexes, or NULL before PREFILTER_AFTER
 * classifications. */
static const BouncePrefilter *
get_prefilter (const BounceRules *rules)
{
    BounceRules *mut = (BounceRules *) rules; /* a cache, not the rules */

    return _bounce_prefilter_get_lazy (&mut->prefilter, &mut->classified,
                                       PREFILTER_AFTER, prefilter_fill, mut);
}

/* A text the rules' regexes look at, measured and run through the
 * prefilter on first use (most recipients need a few of the four). */
typedef struct {
    const char *text;
    gssize len;     /* -1: not measured yet */
    guint64 *hits;  /* the prefilter's bits; NULL: not scanned yet */
    guint64 *store; /* where they go */
} MatchText;

typedef struct {
    const BouncePrefilter *prefilter;
    MatchText diagnostic, subject, remote_mta, reporting_mta;
} MatchTexts;

static void
match_text_init (MatchText *t, const char *text, guint64 *store)
{
    t->text = text;
    t->len = -1;
    t->hits = NULL;
    t->store = store;
}

static gboolean
match_regex (const BouncePrefilter *pf, Pattern *p, MatchText *t)
{
    if (p == NULL)
        return TRUE;
    if (t->text == NULL)
        return FALSE;
    if (t->len < 0) {
        t->len = (gssize) strlen (t->text);
        if (t->len > BOUNCE_MAX_MATCH_BYTES) {
            /* Cut at a character boundary. */
            const char *cut = g_utf8_find_prev_char (
                t->text, t->text + BOUNCE_MAX_MATCH_BYTES + 1);
            t->len = cut != NULL ? cut - t->text : BOUNCE_MAX_MATCH_BYTES;
        }
    }
    if (pf != NULL && p->filter >= 0) {
        if (t->hits == NULL) {
            _bounce_prefilter_scan (pf, t->text, (gsize) t->len, t->store);
            t->hits = t->store;
        }
        if (!_bounce_prefilter_may_match (pf, t->hits, p->filter)) {
            /* Checking (the fuzzer): the regex must agree. */
            if (G_UNLIKELY (_bounce_prefilter_verify) &&
                g_regex_match_full (_bounce_regex_get (p->re), t->text, t->len,
                                    0, 0, NULL, NULL))
                g_error ("prefilter ruled out /%s/, which matches", p->source);
            return FALSE;
        }
    }
    /* Without the prefilter (the first few recipients) every pattern
     * runs: in the interpreter, so that only the ones the prefilter lets
     * through are made JIT forms (bounce-regex.c). */
    return g_regex_match_full (pf != NULL ? _bounce_regex_get (p->re)
                                          : _bounce_regex_plain (p->re),
                               t->text, t->len, 0, 0, NULL, NULL);
}

/* Does the diagnostic hold the words of one of the rules of @words_of? */
static gboolean
match_words_of (const GPtrArray *words_of, MatchTexts *m)
{
    if (words_of == NULL)
        return TRUE;
    for (guint i = 0; i < words_of->len; i++)
        if (match_regex (m->prefilter, ((Rule *) words_of->pdata[i])->diagnostic,
                         &m->diagnostic))
            return TRUE;
    return FALSE;
}

static gboolean
rule_matches (const Rule *rule, const BounceReport *report,
              const BounceRecipient *r, MatchTexts *m)
{
    /* Cheap keys first, regular expressions last. */
    return match_word (rule->kind, bounce_kind_to_string (report->kind)) &&
           match_word (rule->action, r->action) &&
           match_word (rule->decoder, report->mta) &&
           match_word (rule->diagnostic_type,
                      r->diagnostic_type != NULL ? r->diagnostic_type : "none") &&
           match_word (rule->smtp_command,
                      r->smtp_command != NULL ? r->smtp_command : "NONE") &&
           match_code (rule->smtp_code, r->smtp_code) &&
           match_status (rule->status, rule->status_none, r->status) &&
           match_regex (m->prefilter, rule->remote_mta, &m->remote_mta) &&
           match_regex (m->prefilter, rule->reporting_mta, &m->reporting_mta) &&
           match_regex (m->prefilter, rule->subject, &m->subject) &&
           match_regex (m->prefilter, rule->diagnostic, &m->diagnostic) &&
           match_words_of (rule->words_of, m);
}

/* Is the failure temporary: a 4xx code or a delay? */
static gboolean
is_temporary (const BounceRecipient *r)
{
    if (r->status != NULL)
        return r->status[0] == '4';
    if (r->smtp_code != 0)
        return r->smtp_code < 500;
    return r->action != NULL && strcmp (r->action, "delayed") == 0;
}

static void
classify_recipient (const BounceRules *rules, const BounceReport *report,
                    BounceRecipient *r)
{
    const Rule *rule = NULL;
    const Reason *reason;
    const char *infer;
    const BouncePrefilter *pf = get_prefilter (rules);
    guint n_words = pf != NULL ? _bounce_prefilter_n_words (pf) : 1;
    guint64 *bits = g_newa (guint64, 4 * (gsize) n_words);
    MatchTexts m = { pf, { 0 }, { 0 }, { 0 }, { 0 } };

    match_text_init (&m.diagnostic, r->diagnostic, bits);
    match_text_init (&m.subject, report->subject, bits + n_words);
    match_text_init (&m.remote_mta, r->remote_mta, bits + 2 * n_words);
    match_text_init (&m.reporting_mta, report->reporting_mta, bits + 3 * n_words);
    for (guint i = 0; i < rules->rules->len; i++) {
        if (rule_matches (rules->rules->pdata[i], report, r, &m)) {
            rule = rules->rules->pdata[i];
            break;
        }
    }
    g_free (r->reason);
    g_free (r->rule);
    r->reason = g_strdup (rule != NULL ? rule->reason : "undefined");
    r->rule = rule != NULL ? g_strdup (rule->id) : NULL;
    reason = g_hash_table_lookup (rules->reasons, r->reason);

    infer = rule != NULL && rule->infer_status != NULL ? rule->infer_status
            : reason != NULL ? reason->infer_status : NULL;
    if (r->status == NULL && infer != NULL) {
        gboolean temporary = is_temporary (r);
        r->status = g_strdup (infer);
        if (temporary)
            r->status[0] = '4';
        r->status_source = BOUNCE_STATUS_SOURCE_INFERRED;
    }

    if (r->action != NULL && (strcmp (r->action, "delivered") == 0 ||
                              strcmp (r->action, "relayed") == 0 ||
                              strcmp (r->action, "expanded") == 0))
        r->permanent = FALSE;
    else if (r->status != NULL)
        r->permanent = r->status[0] == '5';
    else if (r->smtp_code != 0)
        r->permanent = r->smtp_code >= 500;
    else
        r->permanent = r->action != NULL && strcmp (r->action, "failed") == 0;

    if (rule != NULL && rule->hard >= 0)
        r->hard = rule->hard;
    else if (reason != NULL)
        r->hard = reason->pub.hard ||
                  (reason->pub.hard_when_permanent && r->permanent);
    else
        r->hard = 0;
}

void
bounce_rules_classify (const BounceRules *rules, BounceReport *report)
{
    g_return_if_fail (rules != NULL);
    g_return_if_fail (report != NULL);

    for (guint i = 0; i < report->recipients->len; i++)
        classify_recipient (rules, report, report->recipients->pdata[i]);
}

BounceRecipient *
bounce_rules_explain (const BounceRules *rules, const char *text)
{
    return bounce_rules_explain_full (rules, text, NULL, NULL, NULL, NULL);
}

BounceRecipient *
bounce_rules_explain_full (const BounceRules *rules,
                           const char *text,
                           const char *smtp_command,
                           const char *action,
                           const char *status,
                           const char *diagnostic_type)
{
    g_autoptr (BounceReport) report = bounce_report_new ("-");
    BounceRecipient *r = bounce_recipient_new ();
    g_autofree char *copy = NULL;

    g_return_val_if_fail (rules != NULL, NULL);
    g_return_val_if_fail (text != NULL, NULL);

    copy = _bounce_text_normalize (text, strlen (text), BOUNCE_MAX_FIELD_BYTES);
    r->diagnostic = bounce_diagnostic_unfold (copy);
    r->status = status != NULL ? bounce_status_normalize (status)
                               : bounce_status_normalize (r->diagnostic);
    bounce_recipient_resolve_codes (r);
    if (action != NULL)
        r->action = g_strdup (action);
    else if ((r->status != NULL && r->status[0] == '2') ||
             (r->status == NULL && r->smtp_code >= 200 && r->smtp_code < 300))
        r->action = g_strdup ("delivered");
    else
        r->action = g_strdup ("failed");
    if (smtp_command == NULL)
        r->smtp_command = g_strdup (bounce_smtp_command_find (r->diagnostic));
    else if (g_ascii_strcasecmp (smtp_command, "NONE") != 0)
        r->smtp_command = g_ascii_strup (smtp_command, -1);
    if (diagnostic_type != NULL)
        r->diagnostic_type = g_ascii_strdown (diagnostic_type, -1);
    report->kind = BOUNCE_KIND_DSN;
    classify_recipient (rules, report, r);
    return r;
}
