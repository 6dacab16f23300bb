/*
 * test-corpus.c - one golden test per fixture: every tests/fixtures/ (any depth) .eml file
 * that has a sibling .json is parsed and classified with the rules of
 * BOUNCESTAT_RULES_DIR, and its JSON (pretty-printed, "source" made
 * relative) must equal that file.  tools/regen-expected rewrites those files from the
 * current build; review the diff like code.
 */
#include <string.h>

#include "bounce.h"

static BounceRules *rules;
static char *fixtures_dir;
/* BOUNCESTAT_REGEN=all|missing: write the goldens instead of comparing. */
static const char *regen;

/* The JSON text of @path's reports, as tools/regen-expected writes it. */
static char *
render (const char *path)
{
    g_autoptr (GError) error = NULL;
    g_autoptr (BounceInput) input = bounce_input_open (path, -1, &error);
    g_autoptr (BounceParser) parser = bounce_parser_new ();
    g_autoptr (JsonGenerator) gen = json_generator_new ();
    GString *out = g_string_new (NULL);
    GBytes *message;
    char *source;
    gsize skip = strlen (fixtures_dir) + 1;

    g_assert_no_error (error);
    bounce_parser_set_rules (parser, rules);
    json_generator_set_pretty (gen, TRUE);
    while (bounce_input_next (input, &message, &source, &error)) {
        g_autoptr (BounceReport) report =
            bounce_parser_parse (parser, message, source + skip);
        g_autoptr (JsonNode) node = bounce_report_to_json (report);
        g_autofree char *text = NULL;

        json_generator_set_root (gen, node);
        text = json_generator_to_data (gen, NULL);
        g_string_append (out, text);
        g_string_append_c (out, '\n');
        g_bytes_unref (message);
        g_free (source);
    }
    g_assert_no_error (error);
    return g_string_free (out, FALSE);
}

static void
test_fixture (gconstpointer data)
{
    const char *path = data;
    g_autofree char *golden_path = NULL;
    g_autofree char *want = NULL;
    g_autofree char *got = NULL;
    g_autoptr (GError) error = NULL;
    gsize len = strlen (path);

    golden_path = g_strdup_printf ("%.*s.json", (int) (len - 4), path);
    if (regen != NULL) {
        got = render (path);
        g_file_set_contents (golden_path, got, -1, &error);
        g_assert_no_error (error);
        return;
    }
    g_file_get_contents (golden_path, &want, NULL, &error);
    g_assert_no_error (error);
    got = render (path);
    if (g_strcmp0 (got, want) != 0) {
        g_test_message ("%s differs from %s; got:\n%s", path, golden_path, got);
        g_test_fail ();
    }
}

static void
add_tests (const char *dir)
{
    g_autoptr (GDir) d = g_dir_open (dir, 0, NULL);
    g_autoptr (GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
    const char *name;

    if (d == NULL)
        return;
    while ((name = g_dir_read_name (d)) != NULL)
        g_ptr_array_add (names, g_strdup (name));
    g_ptr_array_sort (names, (GCompareFunc) g_ascii_strcasecmp);
    for (guint i = 0; i < names->len; i++) {
        g_autofree char *path = g_build_filename (dir, names->pdata[i], NULL);
        g_autofree char *golden = NULL;
        gsize len = strlen (path);

        if (g_file_test (path, G_FILE_TEST_IS_DIR)) {
            add_tests (path);
            continue;
        }
        if (len < 4 || strcmp (path + len - 4, ".eml") != 0)
            continue;
        golden = g_strdup_printf ("%.*s.json", (int) (len - 4), path);
        if (g_file_test (golden, G_FILE_TEST_EXISTS)
                ? g_strcmp0 (regen, "missing") == 0
                : regen == NULL)
            continue;
        {
            g_autofree char *test_path = g_strdup_printf (
                "/corpus/%.*s", (int) (len - 4 - strlen (fixtures_dir) - 1),
                path + strlen (fixtures_dir) + 1);
            g_test_add_data_func_full (test_path, g_steal_pointer (&path),
                                       test_fixture, g_free);
        }
    }
}

int
main (int argc, char **argv)
{
    g_autoptr (GError) error = NULL;
    const char *rules_dir = g_getenv ("BOUNCESTAT_RULES_DIR");
    const char *dirs[] = { rules_dir, NULL };
    int status;

    g_test_init (&argc, &argv, NULL);
    bounce_init ();
    regen = g_getenv ("BOUNCESTAT_REGEN");
    g_assert_nonnull (rules_dir);
    rules = bounce_rules_load (dirs, &error);
    g_assert_no_error (error);
    fixtures_dir = g_test_build_filename (G_TEST_DIST, "fixtures", NULL);
    add_tests (fixtures_dir);
    status = g_test_run ();
    bounce_rules_free (rules);
    g_free (fixtures_dir);
    return status;
}
