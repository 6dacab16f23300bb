/*
 * bs-cmd-suppress.c - `bouncestat suppress`: the addresses to stop
 * mailing, one a line (for a mailing list manager), or as CSV or JSON
 * with why.  The policy is libbounce's (bounce_query_suppress): a hard
 * bounce of a recipient-side reason, or N soft bounces over at least D
 * days; never sender-side reasons; a later delivery clears an address.
 */
#include <stdio.h>

#include "bs.h"

/* Plain output: one address a line, as the list streams by. */
static void
print_address (const char *const *cells, gpointer user_data)
{
    g_autofree char *address = bs_sanitize (cells[0]);

    (void) user_data;
    printf ("%s\n", address);
}

int
bs_cmd_suppress (int argc, char **argv)
{
    g_auto (BsQueryOptions) opts = { NULL };
    g_autofree char *format_name = NULL;
    int soft_count = G_MININT; /* not given */
    int soft_days = G_MININT;
    GOptionEntry entries[] = {
        { "format", 'f', 0, G_OPTION_ARG_STRING, &format_name,
          "Output format: plain (one address a line, the default), table, "
          "csv or json", "FORMAT" },
        { "soft-count", 0, 0, G_OPTION_ARG_INT, &soft_count,
          "Suppress after N soft bounces (default: the configuration's "
          "soft-count, else the database's suppress_soft_count, 3)", "N" },
        { "soft-days", 0, 0, G_OPTION_ARG_INT, &soft_days,
          "...spread over at least D days (default: soft-days, else "
          "suppress_soft_days, 7)",
          "D" },
        { NULL },
    };
    g_autoptr (GOptionContext) context =
        g_option_context_new ("[ADDRESS|@DOMAIN] - list the addresses to "
                              "stop mailing");
    g_autoptr (BounceReader) reader = NULL;
    g_autoptr (BounceTable) table = NULL;
    g_autoptr (GError) error = NULL;
    BounceQueryOptions query;
    BsFormat format;
    int status = EX_OK;

    g_option_context_set_summary (
        context,
        "Lists the addresses to stop mailing: those with a hard bounce of a "
        "recipient-side\nreason (userunknown, hostunknown, hasmoved, "
        "suspend, ...), or with N soft bounces\nover at least D days.  "
        "Sender-side reasons (blocked, badreputation, authfailure,\n"
        "ratelimited, spamdetected, ...) never suppress: see 'bouncestat "
        "report'.  Only\nbounces after the last successful delivery to an "
        "address count.\nWith ADDRESS or @DOMAIN (its domain or registrable "
        "domain), only those.");
    if (!bs_query_options_parse (context, entries, &opts, FALSE, &argc, &argv,
                                 &status))
        return status;
    if (argc > 2 && !bs_no_arguments ("suppress", argc - 1, argv + 1))
        return EX_USAGE;
    if (!bs_format_parse (format_name,
                          BS_FORMATS (BS_FORMAT_PLAIN) |
                              BS_FORMATS (BS_FORMAT_TABLE) |
                              BS_FORMATS (BS_FORMAT_CSV) |
                              BS_FORMATS (BS_FORMAT_JSON),
                          BS_FORMAT_PLAIN, &format, "suppress"))
        return EX_USAGE;
    if ((soft_count != G_MININT && soft_count < 1) ||
        (soft_days != G_MININT && soft_days < 0)) {
        bs_error ("suppress: --soft-count must be 1 or more and --soft-days "
                  "0 or more");
        return EX_USAGE;
    }
    reader = bs_query_options_open (&opts, &query, "suppress", &status);
    if (reader == NULL)
        return status;
    query.soft_count = bs_config_soft ("soft-count", soft_count);
    query.soft_days = bs_config_soft ("soft-days", soft_days);
    query.match = argc == 2 ? argv[1] : NULL;
    if (format == BS_FORMAT_PLAIN) {
        if (!bounce_query_suppress_foreach (reader, &query, print_address,
                                            NULL, &error)) {
            bs_error ("%s", error->message);
            return bs_exit_code (error);
        }
        return fflush (stdout) == 0 ? EX_OK : EX_IOERR;
    }
    table = bounce_query_suppress (reader, &query, &error);
    if (table == NULL) {
        bs_error ("%s", error->message);
        return bs_exit_code (error);
    }
    switch (format) {
    case BS_FORMAT_JSON: {
        g_autoptr (JsonNode) node = bounce_table_to_json (table);

        bs_print_json (node);
        break;
    }
    case BS_FORMAT_CSV:
        bs_print_csv (table, TRUE);
        break;
    case BS_FORMAT_TABLE:
        if (table->rows->len > 0)
            bs_print_table (table, NULL, NULL, bs_use_color ());
        break;
    case BS_FORMAT_PLAIN:
    default:
        break;
    }
    return fflush (stdout) == 0 ? EX_OK : EX_IOERR;
}
