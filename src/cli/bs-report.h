/*
 * bs-report.h - what the formats of `bouncestat report` share
 * (bs-cmd-report.c and the HTML writer, bs-report-html.c).
 */
#ifndef BS_REPORT_H
#define BS_REPORT_H

#include "bs.h"

/* What the rows of BounceOverview.outcomes are, in words: "bounces",
 * "delay notices (still being tried)", ... (NULL for "all"). */
const char *bs_report_outcome_label (const char *outcome);

/* The outcomes the overview always lists, even at 0, NULL-terminated:
 * the messages ingest counts that are not bounces. */
extern const char *const bs_report_outcomes[];

/* The messages of @outcome in @ov->outcomes (0 when none). */
gint64 bs_report_outcome_messages (const BounceOverview *ov,
                                   const char *outcome);

/* The meaning of @reason in the user's language (as bs_advice), or
 * NULL. */
const char *bs_meaning (const BounceRules *rules, const char *reason);

/* What else the HTML report shows beside the overview. */
typedef struct {
    const BounceOverview *overview;
    const BounceTable *providers; /* bounce_query_report (REMOTE_MTA) */
    const BounceTable *suppress;  /* bounce_query_suppress */
    const BsQueryOptions *opts;
    const BounceRules *rules; /* may be NULL */
    GDateTime *now;
} BsHtmlReport;

/* Writes the report as one self-contained HTML page on stdout. */
void bs_report_print_html (const BsHtmlReport *report);

#endif /* BS_REPORT_H */
