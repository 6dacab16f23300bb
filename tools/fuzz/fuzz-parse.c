/*
 * fuzz-parse.c - libFuzzer harness over the parse entry point.
 *
 * Each input is one raw message: it goes through the whole path that a
 * bounce piped into bouncestat takes (line ends, GMime, the MIME walk,
 * delivery-status fields, status codes, the non-standard decoders, the
 * rules) and out as JSON.  It checks no result: the sanitizers and
 * libFuzzer's crash, leak and time-out detection are the oracle.
 */
#include <stdio.h>
#include <stdlib.h>

#include "bounce.h"
#include "bounce-private.h"

int LLVMFuzzerInitialize (int *argc, char ***argv);
int LLVMFuzzerTestOneInput (const guint8 *data, size_t size);

static BounceParser *parser;
static BounceRules *rules;
static JsonGenerator *generator;

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
    static const char *const extra[] = { "X-Campaign-Id", "List-Id", NULL };
    const char *dirs[] = { BOUNCESTAT_SOURCE_RULES_DIR, NULL };
    GError *error = NULL;

    /* FUZZ_VERIFY_PREFILTER=1: the rules' prefilter must never rule out
     * a regex that matches (each one it rules out is run too). */
    _bounce_prefilter_verify = g_getenv ("FUZZ_VERIFY_PREFILTER") != NULL;
    rules = bounce_rules_load (dirs, &error);
    if (rules == NULL) {
        /* Fuzzing without the rules would skip the classifier. */
        fprintf (stderr, "fuzz-parse: %s\n", error->message);
        abort ();
    }
    parser = bounce_parser_new ();
    bounce_parser_set_rules (parser, rules);
    bounce_parser_set_extra_headers (parser, extra);
    bounce_parser_set_envelope_recipient (
        parser, "bounces+user=example.org@example.net");
    generator = json_generator_new ();
    return 0;
}

int
LLVMFuzzerTestOneInput (const guint8 *data, size_t size)
{
    GBytes *bytes = g_bytes_new_static (data, size);
    BounceReport *report = bounce_parser_parse (parser, bytes, "fuzz");
    JsonNode *node;
    JsonObject *obj;
    char *text;

    if (report == NULL)
        abort ();
    node = bounce_report_to_json (report);
    json_generator_set_root (generator, node);
    text = json_generator_to_data (generator, NULL);
    /* Every result names its kind; a report without one is a bug.  JSON
     * Lines output has no raw control character (json-glib must have
     * escaped every one). */
    obj = json_node_get_object (node);
    if (text == NULL || json_object_get_string_member (obj, "kind") == NULL)
        abort ();
    for (const char *p = text; *p != '\0'; p++)
        if ((guchar) *p < 0x20)
            abort ();
    g_free (text);
    json_node_unref (node);
    bounce_report_free (report);
    g_bytes_unref (bytes);
    return 0;
}
