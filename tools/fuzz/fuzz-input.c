/*
 * fuzz-input.c - libFuzzer harness over the input splitter.
 *
 * Each input is one file as bouncestat would open it: a message or an
 * mbox (recognised by its content).  The messages it is cut into must be
 * consecutive slices that cover the whole file, and each one is parsed.
 * It does not fuzz Maildirs or folders (the file system decides those).
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "bounce.h"

int LLVMFuzzerInitialize (int *argc, char ***argv);
int LLVMFuzzerTestOneInput (const guint8 *data, size_t size);

static BounceParser *parser;

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
    parser = bounce_parser_new ();
    return 0;
}

int
LLVMFuzzerTestOneInput (const guint8 *data, size_t size)
{
    int fd = memfd_create ("fuzz-input", 0);
    char path[64];
    GError *error = NULL;
    BounceInput *input;
    GBytes *message;
    char *source;
    gsize covered = 0;

    if (fd < 0 || (size > 0 && write (fd, data, size) != (ssize_t) size))
        abort ();
    g_snprintf (path, sizeof path, "/proc/self/fd/%d", fd);
    input = bounce_input_open (path, -1, &error);
    if (input == NULL)
        abort ();
    while (bounce_input_next (input, &message, &source, &error)) {
        gsize len;
        const guint8 *bytes = g_bytes_get_data (message, &len);
        BounceReport *report;

        /* The next slice starts where the last one ended. */
        if (covered + len > size ||
            (len > 0 && memcmp (bytes, data + covered, len) != 0))
            abort ();
        covered += len;
        report = bounce_parser_parse (parser, message, source);
        bounce_report_free (report);
        g_bytes_unref (message);
        g_free (source);
    }
    if (error != NULL || covered != size)
        abort ();
    bounce_input_free (input);
    close (fd);
    return 0;
}
