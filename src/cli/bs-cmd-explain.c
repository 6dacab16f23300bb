/*
 * bs-cmd-explain.c - `bouncestat explain TEXT`: classify one reply
 * ("550 5.7.26 ...", "5.2.2", "552") with the rules and print the
 * reason, its meaning, hard or soft, who must act and the advice, in
 * English or Polish (--lang, else LC_ALL / LC_MESSAGES / LANG).
 * What a code means is in the rules; this file only presents it.
 */
#include <stdio.h>
#include <string.h>

#include "bs.h"

/* "pl" when --lang or the locale says Polish, else "en". */
static const char *
pick_lang (const char *option)
{
    static const char *const vars[] = { "LC_ALL", "LC_MESSAGES", "LANG" };

    if (option != NULL)
        return option;
    for (guint i = 0; i < G_N_ELEMENTS (vars); i++) {
        const char *v = g_getenv (vars[i]);
        if (v != NULL && v[0] != '\0')
            return g_str_has_prefix (v, "pl") ? "pl" : "en";
    }
    return "en";
}

typedef struct {
    const char *reason, *meaning, *hardness, *who, *advice, *rule;
    const char *status, *code;
} Labels;

static const Labels labels_en = {
    "reason", "meaning", "hard/soft", "who must act", "advice", "rule",
    "status", "smtp code",
};
static const Labels labels_pl = {
    "przyczyna", "znaczenie", "twardy/miękki", "kto musi działać", "rada", "reguła",
    "status", "kod smtp",
};

static const char *
who_label (const char *who, gboolean pl)
{
    if (!pl || who == NULL)
        return who;
    if (strcmp (who, "recipient") == 0)
        return "odbiorca";
    if (strcmp (who, "sender") == 0)
        return "nadawca";
    if (strcmp (who, "receiving-admin") == 0)
        return "administrator serwera odbiorcy";
    return who;
}

static const char *
hard_label (gboolean hard, gboolean pl)
{
    if (pl)
        return hard ? "twardy (adres jest zły)" : "miękki (adres może działać)";
    return hard ? "hard (the address is bad)" : "soft (the address may work)";
}

/* --format: json, or text (the default). */
static const char *const format_names[] = { "json", "text", NULL };
enum { FORMAT_JSON, FORMAT_TEXT };

static const char *const lang_names[] = { "en", "pl", NULL };

int
bs_cmd_explain (int argc, char **argv)
{
    g_autofree char *format = NULL;
    g_autofree char *lang_opt = NULL;
    g_autofree char *rules_dir = NULL;
    g_auto (GStrv) words = NULL;
    GOptionEntry entries[] = {
        { "format", 'f', 0, G_OPTION_ARG_STRING, &format,
          "Output format: text (default) or json", "FORMAT" },
        { "lang", 'l', 0, G_OPTION_ARG_STRING, &lang_opt,
          "Language of the meaning and advice: en or pl (default: from "
          "LC_ALL, LC_MESSAGES or LANG)", "LANG" },
        { "rules", 0, 0, G_OPTION_ARG_FILENAME, &rules_dir,
          "Use the rules in DIR instead of the installed ones", "DIR" },
        { G_OPTION_REMAINING, 0, 0, G_OPTION_ARG_STRING_ARRAY, &words, NULL,
          NULL },
        { NULL },
    };
    g_autoptr (GOptionContext) context =
        g_option_context_new ("TEXT... - explain an SMTP reply or status code");
    g_autoptr (BounceRules) rules = NULL;
    g_autoptr (BounceRecipient) r = NULL;
    g_autofree char *text = NULL;
    const BounceReason *reason;
    const BounceRule *rule;
    const char *lang, *meaning, *advice;
    int format_index = FORMAT_TEXT, lang_index = 0;
    gboolean pl, json;
    int status = EX_OK;

    g_option_context_set_summary (
        context, "Prints the reason, its meaning, hard or soft, who must act "
                 "and the advice for\na reply such as \"550 5.7.26 ...\", a "
                 "status such as 5.2.2 or a code such as 552.");
    g_option_context_add_main_entries (context, entries, NULL);
    if (!bs_parse_options (context, &argc, &argv, &status))
        return status;
    if (!bs_choose ("explain", "format", format, format_names,
                    &format_index) ||
        !bs_choose ("explain", "language", lang_opt, lang_names, &lang_index))
        return EX_USAGE;
    json = format_index == FORMAT_JSON;
    if (words == NULL || words[0] == NULL) {
        bs_error ("explain: missing TEXT (see --help)");
        return EX_USAGE;
    }
    text = g_strjoinv (" ", words);
    if (g_strstrip (text)[0] == '\0') {
        bs_error ("explain: TEXT is empty");
        return EX_USAGE;
    }
    lang = pick_lang (lang_opt);
    pl = strcmp (lang, "pl") == 0;

    rules = bs_load_rules (rules_dir, &status);
    if (rules == NULL)
        return status;
    r = bounce_rules_explain (rules, text);
    reason = bounce_rules_get_reason (rules, r->reason);
    rule = bounce_rules_get_rule (rules, r->rule);
    meaning = reason == NULL ? NULL : pl ? reason->meaning_pl : reason->meaning_en;
    if (rule != NULL && rule->advice_en != NULL)
        advice = pl ? rule->advice_pl : rule->advice_en;
    else
        advice = reason == NULL ? NULL : pl ? reason->advice_pl : reason->advice_en;

    if (json) {
        g_autoptr (JsonBuilder) b = json_builder_new ();
        g_autoptr (JsonGenerator) gen = json_generator_new ();
        g_autoptr (JsonNode) root = NULL;
        g_autofree char *out = NULL;

        json_builder_begin_object (b);
        json_builder_set_member_name (b, "reason");
        json_builder_add_string_value (b, r->reason);
        json_builder_set_member_name (b, "meaning");
        json_builder_add_string_value (b, meaning);
        json_builder_set_member_name (b, "hard");
        json_builder_add_boolean_value (b, r->hard > 0);
        json_builder_set_member_name (b, "permanent");
        json_builder_add_boolean_value (b, r->permanent);
        json_builder_set_member_name (b, "who");
        json_builder_add_string_value (b, reason != NULL ? reason->who : NULL);
        /* Which side the cause is on: the database's reasons.who, which
         * `report --by reason` prints as who. */
        json_builder_set_member_name (b, "side");
        json_builder_add_string_value (b, reason != NULL ? reason->side : NULL);
        json_builder_set_member_name (b, "advice");
        json_builder_add_string_value (b, advice);
        json_builder_set_member_name (b, "rule");
        json_builder_add_string_value (b, r->rule);
        json_builder_set_member_name (b, "status");
        json_builder_add_string_value (b, r->status);
        json_builder_set_member_name (b, "status_source");
        json_builder_add_string_value (
            b, bounce_status_source_to_string (r->status_source));
        json_builder_set_member_name (b, "smtp_code");
        if (r->smtp_code > 0)
            json_builder_add_int_value (b, r->smtp_code);
        else
            json_builder_add_null_value (b);
        json_builder_set_member_name (b, "lang");
        json_builder_add_string_value (b, lang);
        json_builder_end_object (b);
        root = json_builder_get_root (b);
        json_generator_set_root (gen, root);
        out = json_generator_to_data (gen, NULL);
        printf ("%s\n", out);
    } else {
        const Labels *l = pl ? &labels_pl : &labels_en;
        printf ("%s: %s\n", l->reason, r->reason);
        printf ("%s: %s\n", l->meaning, meaning != NULL ? meaning : "-");
        printf ("%s: %s\n", l->hardness, hard_label (r->hard > 0, pl));
        printf ("%s: %s\n", l->who,
                reason != NULL ? who_label (reason->who, pl) : "-");
        printf ("%s: %s\n", l->advice, advice != NULL ? advice : "-");
        printf ("%s: %s\n", l->rule, r->rule != NULL ? r->rule : "-");
        if (r->status != NULL)
            printf ("%s: %s%s\n", l->status, r->status,
                    r->status_source == BOUNCE_STATUS_SOURCE_INFERRED
                        ? (pl ? " (wywnioskowany)" : " (inferred)") : "");
        if (r->smtp_code > 0)
            printf ("%s: %d\n", l->code, r->smtp_code);
    }
    if (fflush (stdout) != 0) {
        bs_error ("explain: cannot write the output");
        return EX_IOERR;
    }
    return EX_OK;
}
