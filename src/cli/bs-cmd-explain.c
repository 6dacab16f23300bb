/*
 * bs-cmd-explain.c - `bouncestat explain TEXT`: classify one reply
 * ("550 5.7.26 ...", "5.2.2", "552") with the rules and print the
 * reason, its meaning, hard or soft, who must act and the advice, in
 * the language bs_language picks (--lang, the configuration, the
 * locale), the labels in English or Polish.
 * What a code means is in the rules; this file only presents it.
 */
#include <stdio.h>
#include <string.h>

#include "bs.h"

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

/* --smtp-command and --action: the values of the rules' smtp-command
 * and action keys (rules/README.md). */
static const char *const command_names[] = {
    "CONNECT", "HELO", "MAIL", "RCPT", "DATA", "NONE", NULL
};
static const char *const action_names[] = {
    "failed", "delayed", "delivered", "relayed", "expanded", NULL
};

int
bs_cmd_explain (int argc, char **argv)
{
    g_autofree char *format = NULL;
    g_autofree char *lang_opt = NULL;
    g_autofree char *rules_dir = NULL;
    g_autofree char *command_opt = NULL;
    g_autofree char *action_opt = NULL;
    g_autofree char *status_opt = NULL;
    g_autofree char *type_opt = NULL;
    g_autofree char *status_code = NULL;
    g_auto (GStrv) words = NULL;
    GOptionEntry entries[] = {
        { "format", 'f', 0, G_OPTION_ARG_STRING, &format,
          "Output format: text (default) or json", "FORMAT" },
        { "lang", 'l', 0, G_OPTION_ARG_STRING, &lang_opt,
          "Language of the meaning and advice: en, pl or any other the "
          "rules translate (default: the configuration's language, else "
          "LANGUAGE, LC_ALL, LC_MESSAGES or LANG)", "LANG" },
        { "rules", 0, 0, G_OPTION_ARG_FILENAME, &rules_dir,
          "Use the rules in DIR instead of the installed ones", "DIR" },
        { "smtp-command", 0, 0, G_OPTION_ARG_STRING, &command_opt,
          "The SMTP command the reply answered: CONNECT, HELO, MAIL, RCPT, "
          "DATA or NONE (the report does not say; default: as found in "
          "TEXT)", "COMMAND" },
        { "action", 0, 0, G_OPTION_ARG_STRING, &action_opt,
          "The recipient's action: failed, delayed, delivered, relayed or "
          "expanded (default: delivered for a 2xx reply, else failed)",
          "ACTION" },
        { "status", 0, 0, G_OPTION_ARG_STRING, &status_opt,
          "The report's Status field, e.g. 5.0.0 (default: none; the code "
          "in TEXT is weighed against it as parse does)", "CODE" },
        { "diagnostic-type", 0, 0, G_OPTION_ARG_STRING, &type_opt,
          "The type of the report's Diagnostic-Code, e.g. smtp or x-unix "
          "(a local mailer; default: none)", "TYPE" },
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
    const char *lang, *meaning, *advice;
    int format_index = FORMAT_TEXT;
    int command_index = -1, action_index = -1;
    gboolean pl, json;
    int status = EX_OK;

    g_option_context_set_summary (
        context, "Prints the reason, its meaning, hard or soft, who must act "
                 "and the advice for\na reply such as \"550 5.7.26 ...\", a "
                 "status such as 5.2.2 or a code such as 552.\n"
                 "--smtp-command, --action, --status and --diagnostic-type add "
                 "what a report would\nsay around the reply: \"--smtp-command DATA\" asks "
                 "what the reply would mean after DATA.");
    g_option_context_add_main_entries (context, entries, NULL);
    if (!bs_parse_options (context, &argc, &argv, &status))
        return status;
    if (!bs_choose ("explain", "format", format, format_names,
                    &format_index) ||
        !bs_choose ("explain", "SMTP command", command_opt, command_names,
                    &command_index) ||
        !bs_choose ("explain", "action", action_opt, action_names,
                    &action_index))
        return EX_USAGE;
    if (type_opt != NULL &&
        (type_opt[0] == '\0' ||
         type_opt[strspn (type_opt, "abcdefghijklmnopqrstuvwxyz"
                                    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-")] !=
             '\0')) {
        bs_error ("explain: --diagnostic-type '%s' is not a type such as "
                  "smtp or x-unix", type_opt);
        return EX_USAGE;
    }
    if (status_opt != NULL) {
        status_code = bounce_status_normalize (status_opt);
        if (status_code == NULL ||
            status_opt[strspn (status_opt, "0123456789.")] != '\0') {
            bs_error ("explain: --status '%s' is not a status code such as "
                      "5.1.1", status_opt);
            return EX_USAGE;
        }
    }
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
    rules = bs_load_rules (rules_dir, &status);
    if (rules == NULL)
        return status;
    lang = bs_language (rules, lang_opt, NULL);
    if (lang == NULL) {
        g_auto (GStrv) langs = bounce_rules_get_languages (rules);
        g_autofree char *names = g_strjoinv (", ", langs);

        bs_error ("explain: unknown language '%s' (the rules speak %s)",
                  lang_opt, names);
        return EX_USAGE;
    }
    pl = strcmp (lang, "pl") == 0;
    r = bounce_rules_explain_full (
        rules, text, command_index >= 0 ? command_names[command_index] : NULL,
        action_index >= 0 ? action_names[action_index] : NULL, status_code,
        type_opt);
    reason = bounce_rules_get_reason (rules, r->reason);
    meaning = bounce_rules_get_meaning (rules, r->reason, lang);
    advice = bounce_rules_get_advice (rules, r->reason, r->rule, lang);

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
        json_builder_set_member_name (b, "smtp_command");
        json_builder_add_string_value (b, r->smtp_command);
        json_builder_set_member_name (b, "action");
        json_builder_add_string_value (b, r->action);
        json_builder_set_member_name (b, "diagnostic_type");
        json_builder_add_string_value (b, r->diagnostic_type);
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
