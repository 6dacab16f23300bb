/*
 * bs-cmd-verp.c - `bouncestat verp`: the signed VERP return path for
 * each ADDRESS (docs/verp.md), or with --verify the address a return
 * path carries when its token is valid.  The secret comes from
 * --secret-file, else $BOUNCESTAT_VERP_SECRET_FILE, else the
 * configuration (bs_verp_key); `ingest
 * --verp-secret-file` with the same file verifies the bounces.
 */
#include <stdio.h>

#include "bs.h"

int
bs_cmd_verp (int argc, char **argv)
{
    g_autofree char *secret_file = NULL;
    g_autofree char *return_path = NULL;
    gboolean verify = FALSE;
    GOptionEntry entries[] = {
        { "secret-file", 0, 0, G_OPTION_ARG_FILENAME, &secret_file,
          "The secret (default: $BOUNCESTAT_VERP_SECRET_FILE, else the "
          "configuration's verp-secret-file or verp-secret)", "FILE" },
        { "return-path", 0, 0, G_OPTION_ARG_STRING, &return_path,
          "Your bounce address, e.g. bounces@your.domain", "ADDRESS" },
        { "verify", 0, 0, G_OPTION_ARG_NONE, &verify,
          "Check each argument, a signed return path: print the address it "
          "carries, or fail (exit 65) when the token is missing or wrong",
          NULL },
        { NULL },
    };
    g_autoptr (GOptionContext) context = g_option_context_new (
        "ADDRESS... - sign VERP return paths (or --verify them)");
    g_autoptr (BounceVerpKey) key = NULL;
    g_autoptr (GError) error = NULL;
    int status = EX_OK;

    g_option_context_set_summary (
        context,
        "Prints, one a line, the return path to send the mail for each "
        "ADDRESS with:\n"
        "  bouncestat verp --secret-file FILE --return-path "
        "bounces@your.domain alice@example.com\n"
        "  bounces+alice=example.com+TOKEN@your.domain\n"
        "TOKEN is HMAC-SHA-256 of the address under the secret "
        "(docs/verp.md says how to\ncompute it elsewhere). 'bouncestat "
        "ingest --verp-secret-file FILE' then marks\nbounces that do not "
        "come back to such an address unverified: they never suppress.");
    g_option_context_add_main_entries (context, entries, NULL);
    if (!bs_parse_options (context, &argc, &argv, &status))
        return status;
    if (!verify && return_path == NULL) {
        bs_error ("verp: --return-path is missing (see --help)");
        return EX_USAGE;
    }
    if (argc < 2) {
        bs_error ("verp: no ADDRESS (see --help)");
        return EX_USAGE;
    }
    key = bs_verp_key (secret_file, &status);
    if (key == NULL && status != EX_OK)
        return status;
    if (key == NULL) {
        bs_error ("verp: no secret: --secret-file FILE, "
                  "$BOUNCESTAT_VERP_SECRET_FILE or verp-secret-file in the "
                  "configuration (see --help)");
        return EX_USAGE;
    }
    for (int i = 1; i < argc; i++) {
        if (verify) {
            BounceVerpResult result;
            g_autofree char *address =
                bounce_verp_decode (key, argv[i], &result);

            if (result == BOUNCE_VERP_VALID) {
                printf ("%s\n", address);
                continue;
            }
            bs_error ("verp: %s: %s", argv[i],
                      result == BOUNCE_VERP_WRONG_TOKEN ? "wrong token"
                      : result == BOUNCE_VERP_UNSIGNED  ? "no token"
                                                        : "not a VERP address");
            status = EX_DATAERR;
        } else {
            g_autofree char *signed_path =
                bounce_verp_encode (key, return_path, argv[i], &error);

            if (signed_path == NULL) {
                bs_error ("verp: %s", error->message);
                return EX_DATAERR;
            }
            printf ("%s\n", signed_path);
        }
    }
    return status;
}
