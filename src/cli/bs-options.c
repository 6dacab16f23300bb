/*
 * bs-options.c - options several subcommands share: how to build the
 * parser (--rules, --no-rules, --header, --verp, --decoders,
 * --envelope-recipient, --verp-secret-file, --sending-domain)
 * and where the database is (--db, $BOUNCESTAT_DB, XDG data dir); the
 * settings of the configuration files (bs-config.c) fill what the
 * options and the environment leave unset.
 *
 * Only the CLI reads the environment; the library gets plain values.
 */
#include <string.h>

#include "bs.h"

void
bs_parser_options_add (GOptionContext *context, BsParserOptions *opts)
{
    GOptionEntry entries[] = {
        { "rules", 0, 0, G_OPTION_ARG_FILENAME, &opts->rules_dir,
          "Use the rules in DIR instead of the installed ones", "DIR" },
        { "no-rules", 0, 0, G_OPTION_ARG_NONE, &opts->no_rules,
          "Do not classify (no reasons)", NULL },
        { "header", 'H', 0, G_OPTION_ARG_STRING_ARRAY, &opts->headers,
          "Keep this header of the original message (repeatable)", "NAME" },
        { "verp", 0, 0, G_OPTION_ARG_STRING, &opts->verp,
          "VERP pattern (regex with (?<local>) and (?<domain>) groups; "
          "empty to disable; default: the configuration's verp)", "REGEX" },
        { "decoders", 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &opts->decoders,
          "Add the bounce formats of FILE (decoders.conf format; repeatable)",
          "FILE" },
        { "envelope-recipient", 0, 0, G_OPTION_ARG_STRING, &opts->envelope,
          "The address the bounce was delivered to (for VERP)", "ADDRESS" },
        { "verp-secret-file", 0, 0, G_OPTION_ARG_FILENAME,
          &opts->verp_secret_file,
          "Verify signed VERP return paths with the secret in FILE "
          "(default: $BOUNCESTAT_VERP_SECRET_FILE, else the configuration; "
          "docs/verp.md): bounces "
          "without a valid token are unverified and never suppress",
          "FILE" },
        { "sending-domain", 0, 0, G_OPTION_ARG_STRING_ARRAY,
          &opts->sending_domains,
          "Bounces of messages whose Message-ID is not from DOMAIN (or "
          "below) are unverified (repeatable; default: the configuration's "
          "sending-domains)",
          "DOMAIN" },
        { NULL },
    };

    /* The entries are copied; the pointers into @opts stay valid. */
    g_option_context_add_main_entries (context, entries, NULL);
}

BounceParser *
bs_parser_options_build (BsParserOptions *opts, int *out_status)
{
    g_autoptr (BounceParser) parser = bounce_parser_new ();

    if (!opts->no_rules) {
        opts->rules = bs_load_rules (opts->rules_dir, out_status);
        if (opts->rules == NULL)
            return NULL;
        bounce_parser_set_rules (parser, opts->rules);
    }
    if (opts->headers != NULL)
        bounce_parser_set_extra_headers (parser,
                                         (const char *const *) opts->headers);
    {
        const char *file = NULL;
        const char *verp = opts->verp != NULL
                               ? opts->verp
                               : bs_config_get_one ("verp", &file);
        g_autoptr (GError) error = NULL;

        if (verp != NULL &&
            !bounce_parser_set_verp_pattern (parser, verp, &error)) {
            if (file != NULL) {
                bs_error ("%s: verp: %s", file, error->message);
                *out_status = EX_CONFIG;
            } else {
                bs_error ("%s", error->message);
                *out_status = EX_USAGE;
            }
            return NULL;
        }
    }
    if (opts->envelope != NULL)
        bounce_parser_set_envelope_recipient (parser, opts->envelope);
    g_clear_pointer (&opts->verp_key, bounce_verp_key_free);
    opts->verp_key = bs_verp_key (opts->verp_secret_file, out_status);
    if (opts->verp_key == NULL && *out_status != EX_OK)
        return NULL;
    if (opts->verp_key != NULL)
        bounce_parser_set_verp_key (parser, opts->verp_key);
    if (opts->sending_domains != NULL)
        bounce_parser_set_sending_domains (
            parser, (const char *const *) opts->sending_domains);
    else if (bs_config_get ("sending-domains", NULL) != NULL)
        bounce_parser_set_sending_domains (
            parser, bs_config_get ("sending-domains", NULL));
    for (guint i = 0; opts->decoders != NULL && opts->decoders[i] != NULL;
         i++) {
        g_autoptr (GError) error = NULL;
        if (!bounce_parser_add_decoders (parser, opts->decoders[i], &error)) {
            bs_error ("%s", error->message);
            *out_status = bs_exit_code (error);
            return NULL;
        }
    }
    return g_steal_pointer (&parser);
}

void
bs_parser_options_clear (BsParserOptions *opts)
{
    g_clear_pointer (&opts->rules_dir, g_free);
    g_clear_pointer (&opts->headers, g_strfreev);
    g_clear_pointer (&opts->verp, g_free);
    g_clear_pointer (&opts->envelope, g_free);
    g_clear_pointer (&opts->decoders, g_strfreev);
    g_clear_pointer (&opts->verp_secret_file, g_free);
    g_clear_pointer (&opts->sending_domains, g_strfreev);
    g_clear_pointer (&opts->rules, bounce_rules_free);
    g_clear_pointer (&opts->verp_key, bounce_verp_key_free);
}

BounceVerpKey *
bs_verp_key (const char *option, int *out_status)
{
    g_autoptr (GError) error = NULL;
    const char *source;
    const char *path = bs_setting ("verp-secret-file",
                                   option != NULL && option[0] != '\0'
                                       ? option : NULL,
                                   &source);
    const char *secret;
    BounceVerpKey *key;

    *out_status = EX_OK;
    if (path != NULL) {
        key = bounce_verp_key_load (path, &error);
    } else {
        secret = bs_config_get_one ("verp-secret", &source);
        if (secret == NULL)
            return NULL;
        key = bounce_verp_key_new ((const guint8 *) secret, strlen (secret),
                                   &error);
    }
    if (key == NULL) {
        bs_error ("%s", error->message);
        *out_status = bs_exit_code (error);
    }
    return key;
}

char *
bs_db_path (const char *option)
{
    const char *source;
    const char *path = bs_setting ("database",
                                   option != NULL && option[0] != '\0'
                                       ? option : NULL,
                                   &source);

    if (path != NULL)
        return g_strdup (path);
    /* $XDG_DATA_HOME, else ~/.local/share. */
    return g_build_filename (g_get_user_data_dir (), "bouncestat", "bounces.db",
                             NULL);
}
