/*
 * bounce-time.c - the times of --since and --until: a duration back from
 * now, a date or an ISO 8601 time, as UTC "YYYY-MM-DDTHH:MM:SSZ".
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "bounce-query-private.h"

/* ------------------------------------------------------------------ */
/* Times                                                              */
/* ------------------------------------------------------------------ */

gboolean
_bounce_parse_day (const char *text, GDate *date)
{
    int y, m, d;

    if (text == NULL || sscanf (text, "%4d-%2d-%2d", &y, &m, &d) != 3 ||
        !g_date_valid_dmy ((GDateDay) d, (GDateMonth) m, (GDateYear) y))
        return FALSE;
    g_date_set_dmy (date, (GDateDay) d, (GDateMonth) m, (GDateYear) y);
    return TRUE;
}

char *
bounce_time_parse (const char *text,
                   GDateTime *now,
                   gboolean end_of_day,
                   GError **error)
{
    g_autoptr (GDateTime) t = NULL;
    g_autoptr (GRegex) re = NULL;
    g_autoptr (GMatchInfo) match = NULL;

    g_return_val_if_fail (text != NULL && now != NULL, NULL);

    /* A duration back from now: 30m, 24h, 7d, 2w. */
    re = g_regex_new ("^\\s*([0-9]{1,6})\\s*([mhdw])\\s*$",
                      G_REGEX_CASELESS, 0, NULL);
    if (g_regex_match (re, text, 0, &match)) {
        g_autofree char *num = g_match_info_fetch (match, 1);
        g_autofree char *unit = g_match_info_fetch (match, 2);
        gint64 n = g_ascii_strtoll (num, NULL, 10);
        GTimeSpan span;

        switch (g_ascii_tolower (unit[0])) {
        case 'm':
            span = G_TIME_SPAN_MINUTE;
            break;
        case 'h':
            span = G_TIME_SPAN_HOUR;
            break;
        case 'd':
            span = G_TIME_SPAN_DAY;
            break;
        default:
            span = 7 * G_TIME_SPAN_DAY;
            break;
        }
        t = g_date_time_add (now, -n * span);
    } else {
        GDate date;
        int y, m, d, consumed = 0;

        if (sscanf (text, "%4d-%2d-%2d%n", &y, &m, &d, &consumed) == 3 &&
            text[consumed] == '\0') {
            g_autoptr (GTimeZone) utc = g_time_zone_new_utc ();

            if (!_bounce_parse_day (text, &date)) {
                g_set_error (error, BOUNCE_ERROR, BOUNCE_ERROR_FAILED,
                             "'%s' is not a valid date", text);
                return NULL;
            }
            t = g_date_time_new (utc, y, m, d, 0, 0, 0);
            if (t != NULL && end_of_day) {
                GDateTime *next = g_date_time_add_days (t, 1);

                g_date_time_unref (t);
                t = next;
            }
        } else {
            g_autoptr (GTimeZone) utc = g_time_zone_new_utc ();

            /* A full ISO 8601 time; without an offset it is UTC. */
            t = g_date_time_new_from_iso8601 (text, utc);
        }
    }
    if (t == NULL) {
        g_set_error (error, BOUNCE_ERROR, BOUNCE_ERROR_FAILED,
                     "'%s' is not a time: use a duration back from now "
                     "(30m, 24h, 7d, 2w), a date (2026-11-01) or an ISO 8601 "
                     "time (2026-11-01T08:00:00Z)", text);
        return NULL;
    }
    {
        g_autoptr (GDateTime) utc_time = g_date_time_to_utc (t);

        return g_date_time_format (utc_time, "%Y-%m-%dT%H:%M:%SZ");
    }
}
