/*
 * bs-report-html.c - `bouncestat report --format=html`: the overview as
 * one self-contained page (inline CSS and SVG, no script, nothing
 * fetched) to open in a browser, print or attach to a mail.
 *
 * The charts are drawn here from the overview's tables; each has a
 * title, a text alternative and a real table with its numbers.  Every
 * value from the database (domains, server names: text from strangers)
 * goes through esc(): valid UTF-8, then GLib's markup escaping.
 */
#include <stdio.h>
#include <string.h>

#include "bs-report.h"

/* Whose side the reason of a bounce is on: the trend's columns, the
 * class that colours them (CSS below) and the words of the legend. */
static const struct {
    const char *column;
    const char *css;
    const char *label;
    const char *brief; /* in a bar's tooltip */
} sides[] = {
    { "who_recipient", "recipient",
      "Recipient side (the address, mailbox or domain)", "recipient side" },
    { "who_sender", "sender",
      "Sender side (your server, IP, content or authentication)",
      "sender side" },
    { "who_receiving_admin", "receiving",
      "Receiving system (its administrator must act)", "receiving system" },
    { "who_other", "other", "Not known", "not known" },
};

static const char style[] =
    "*{box-sizing:border-box}"
    "body{font:15px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;"
    "color:#1d1d1f;background:#fff;margin:0 auto;max-width:62rem;"
    "padding:1rem}"
    "h1{font-size:1.6rem;margin:.2rem 0}"
    "h2{font-size:1.25rem;margin:1.6rem 0 .4rem;border-bottom:2px solid "
    "#e3e3e8;padding-bottom:.2rem}"
    "h3{font-size:1.05rem;margin:1rem 0 .3rem}"
    "p.period{color:#555;margin:.2rem 0 1rem}"
    ".cards{display:flex;flex-wrap:wrap;gap:.6rem;margin:.6rem 0}"
    ".card{flex:1 1 8rem;border:1px solid #e3e3e8;border-radius:.4rem;"
    "padding:.5rem .7rem}"
    ".card b{display:block;font-size:1.5rem}"
    ".wrap{overflow-x:auto}"
    "table{border-collapse:collapse;width:100%;margin:.3rem 0 1rem}"
    "caption{text-align:left;font-weight:600;padding:.2rem 0}"
    "th,td{border-bottom:1px solid #e3e3e8;padding:.3rem .5rem;"
    "text-align:left;vertical-align:top}"
    "th{background:#f5f5f7}"
    ".n{text-align:right;font-variant-numeric:tabular-nums;"
    "white-space:nowrap}"
    "td.t{overflow-wrap:break-word}"
    "figure{margin:1rem 0}"
    "figcaption{font-weight:600;margin-bottom:.3rem}"
    "svg.chart{width:100%;height:auto;display:block}"
    "svg text{font:11px system-ui,sans-serif;fill:#444}"
    ".grid{stroke:#ddd;stroke-width:1}"
    ".axis{stroke:#888;stroke-width:1}"
    ".s-recipient{fill:#2f6db5}.s-sender{fill:#e08a1e}"
    ".s-receiving{fill:#7b4ea3}.s-other{fill:#9a9a9a}"
    ".hard{fill:#c0392b}.soft{fill:#f0b429}"
    "polyline.hard{fill:none;stroke:#c0392b;stroke-width:2}"
    "polyline.soft{fill:none;stroke:#d49a12;stroke-width:2;"
    "stroke-dasharray:6 3}"
    "ul.legend{list-style:none;padding:0;margin:.3rem 0;display:flex;"
    "flex-wrap:wrap;gap:.3rem 1.2rem;font-size:.9rem}"
    "ul.legend svg{vertical-align:middle;margin-right:.3rem}"
    "details{margin:.3rem 0 1rem}summary{cursor:pointer;color:#2f6db5}"
    "footer{color:#777;font-size:.85rem;margin-top:2rem}"
    /* A phone: larger chart text (the SVG shrinks to the width), the
     * reasons one block each rather than seven columns. */
    "@media (max-width:40rem){body{padding:.5rem;font-size:14px}"
    ".card b{font-size:1.2rem}th,td{padding:.25rem .3rem}"
    "svg.chart text{font-size:20px}"
    "#t-reasons thead{display:none}"
    "#t-reasons tr{display:block;border-bottom:2px solid #e3e3e8;"
    "padding:.3rem 0}"
    "#t-reasons th,#t-reasons td{display:block;border:0;text-align:left}"
    "#t-reasons td.n{display:inline-block}"
    "#t-reasons td[data-label]::before{content:attr(data-label) \": \";"
    "font-weight:600}}"
    "@media print{body{max-width:none;padding:0;font-size:11pt}"
    "h2{break-after:avoid}figure,tr{break-inside:avoid}"
    "summary{display:none}"
    /* The numbers of the charts are printed too (closed on screen). */
    "details::details-content{content-visibility:visible;display:block;"
    "height:auto}"
    ".wrap{overflow:visible}}";

/* Appends @text as HTML text (or as an attribute value): valid UTF-8,
 * & < > ' " escaped; "-" for no value. */
static void
esc (GString *out, const char *text)
{
    g_autofree char *valid = NULL;
    g_autofree char *escaped = NULL;

    if (text == NULL) {
        g_string_append (out, "-");
        return;
    }
    if (!g_utf8_validate (text, -1, NULL))
        text = valid = g_utf8_make_valid (text, -1);
    escaped = g_markup_escape_text (text, -1);
    g_string_append (out, escaped);
}

static gint64
num (const BounceTable *table, guint row, const char *column)
{
    const char *v = bounce_table_get (table, row, column);

    return v != NULL ? g_ascii_strtoll (v, NULL, 10) : 0;
}

/* A cell: <td> with the escaped @text, numbers on the right. */
static void
cell (GString *out, const char *text, gboolean number)
{
    g_string_append (out, number ? "<td class=\"n\">" : "<td class=\"t\">");
    esc (out, text);
    g_string_append (out, "</td>");
}

/* A cell that names its column (a phone shows it before the value). */
static void
labelled_cell (GString *out, const char *label, const char *text,
               gboolean number)
{
    g_string_append_printf (out, "<td class=\"%s\" data-label=\"%s\">",
                            number ? "n" : "t", label);
    esc (out, text);
    g_string_append (out, "</td>");
}

static void
header_cells (GString *out, const char *const *names, const char *numeric)
{
    g_string_append (out, "<thead><tr>");
    for (guint i = 0; names[i] != NULL; i++)
        g_string_append_printf (out, "<th scope=\"col\"%s>%s</th>",
                                numeric[i] == 'n' ? " class=\"n\"" : "",
                                names[i]);
    g_string_append (out, "</tr></thead>\n<tbody>\n");
}

/* A round number at or above @n for the top of a scale: 1, 2, 5 x 10^k. */
static gint64
nice_max (gint64 n)
{
    gint64 step = 1;

    if (n <= 1)
        return 1;
    for (;;) {
        if (n <= step)
            return step;
        if (n <= 2 * step)
            return 2 * step;
        if (n <= 5 * step)
            return 5 * step;
        step *= 10;
    }
}

/* Chart geometry (SVG user units; the SVG scales to the page width). */
#define CW 720.0
#define CH 220.0
#define ML 44.0
#define MR 10.0
#define MT 10.0
#define MB 26.0

/* The horizontal grid and the labels of the y axis (0, half, top) and
 * of the first, middle and last day. */
static void
chart_axes (GString *out, const BounceTable *trend, gint64 top)
{
    guint n = trend->rows->len;
    double pw = CW - ML - MR;

    for (int i = 0; i <= 2; i++) {
        double y = MT + (CH - MT - MB) * (1.0 - i / 2.0);

        g_string_append_printf (
            out,
            "<line class=\"%s\" x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" "
            "y2=\"%.1f\"/><text x=\"%.1f\" y=\"%.1f\" "
            "text-anchor=\"end\">%g</text>\n",
            i == 0 ? "axis" : "grid", ML, CW - MR, y, y, ML - 6, y + 4,
            (double) top * i / 2);
    }
    for (guint k = 0; k < 3 && n > 0; k++) {
        guint r = k == 0 ? 0 : k == 1 ? n / 2 : n - 1;
        const char *anchor = k == 0 ? "start" : k == 1 ? "middle" : "end";
        double x = k == 0 ? ML : k == 2 ? CW - MR
                                       : ML + pw * (r + 0.5) / n;

        if (k == 1 && (n < 5))
            continue;
        g_string_append_printf (out,
                                "<text x=\"%.1f\" y=\"%.1f\" "
                                "text-anchor=\"%s\">",
                                x, CH - 8, anchor);
        esc (out, bounce_table_get (trend, r, "day"));
        g_string_append (out, "</text>\n");
    }
}

static void
svg_open (GString *out, const char *id, double height, const char *title,
          const char *desc)
{
    g_string_append_printf (out,
                            "<svg class=\"chart\" id=\"%s\" role=\"img\" "
                            "viewBox=\"0 0 %.0f %.0f\" "
                            "aria-labelledby=\"%s-title %s-desc\" "
                            "xmlns=\"http://www.w3.org/2000/svg\">\n"
                            "<title id=\"%s-title\">",
                            id, CW, height, id, id, id);
    esc (out, title);
    g_string_append_printf (out, "</title>\n<desc id=\"%s-desc\">", id);
    esc (out, desc);
    g_string_append (out, "</desc>\n");
}

static void
legend_item (GString *out,
             const char *prefix,
             const char *css,
             const char *label)
{
    g_string_append_printf (out,
                            "<li><svg width=\"12\" height=\"12\" "
                            "aria-hidden=\"true\"><rect class=\"%s%s\" "
                            "width=\"12\" height=\"12\"/></svg>",
                            prefix, css);
    esc (out, label);
    g_string_append (out, "</li>");
}

/* Bounces a day, each bar stacked by whose side the reason is on. */
static void
chart_days (GString *out, const BounceTable *trend)
{
    guint n = trend->rows->len;
    double pw = CW - ML - MR, ph = CH - MT - MB;
    double slot = n > 0 ? pw / n : pw;
    gint64 max = 0, total = 0;
    guint busiest = 0;
    gint64 top;
    g_autofree char *desc = NULL;

    for (guint r = 0; r < n; r++) {
        gint64 b = num (trend, r, "bounces");

        total += b;
        if (b > max) {
            max = b;
            busiest = r;
        }
    }
    top = nice_max (max);
    desc = g_strdup_printf (
        "%" G_GINT64_FORMAT " bounces over %u days, from %s to %s; the "
        "busiest day, %s, had %" G_GINT64_FORMAT ". The numbers are in the "
        "table \"Bounces a day\".",
        total, n, n > 0 ? bounce_table_get (trend, 0, "day") : "-",
        n > 0 ? bounce_table_get (trend, n - 1, "day") : "-",
        n > 0 ? bounce_table_get (trend, busiest, "day") : "-", max);

    g_string_append (out, "<figure>\n<figcaption>Bounces a day");
    if (n > 0) {
        g_string_append (out, ", ");
        esc (out, bounce_table_get (trend, 0, "day"));
        g_string_append (out, " to ");
        esc (out, bounce_table_get (trend, n - 1, "day"));
    }
    g_string_append (out, ", by whose side the reason is on</figcaption>\n");
    svg_open (out, "chart-days", CH, "Bounces a day, stacked by side", desc);
    chart_axes (out, trend, top);
    for (guint r = 0; r < n; r++) {
        double x = ML + slot * r + slot * 0.1;
        double y = MT + ph;

        g_string_append (out, "<g class=\"day\"><title>");
        esc (out, bounce_table_get (trend, r, "day"));
        g_string_append_printf (out, ": %" G_GINT64_FORMAT " bounces",
                                num (trend, r, "bounces"));
        for (guint s = 0; s < G_N_ELEMENTS (sides); s++) {
            gint64 v = num (trend, r, sides[s].column);

            if (v > 0)
                g_string_append_printf (out, ", %" G_GINT64_FORMAT " %s",
                                        v, sides[s].brief);
        }
        g_string_append (out, "</title>");
        for (guint s = 0; s < G_N_ELEMENTS (sides); s++) {
            gint64 v = num (trend, r, sides[s].column);
            double h = ph * (double) v / (double) top;

            if (v == 0)
                continue;
            y -= h;
            g_string_append_printf (out,
                                    "<rect class=\"s-%s\" x=\"%.2f\" "
                                    "y=\"%.2f\" width=\"%.2f\" "
                                    "height=\"%.2f\"/>",
                                    sides[s].css, x, y, slot * 0.8, h);
        }
        g_string_append (out, "</g>\n");
    }
    g_string_append (out, "</svg>\n<ul class=\"legend\">");
    for (guint s = 0; s < G_N_ELEMENTS (sides); s++)
        legend_item (out, "s-", sides[s].css, sides[s].label);
    g_string_append (out, "</ul>\n</figure>\n");
}

/* Hard and soft bounces a day, as two lines. */
static void
chart_hard_soft (GString *out, const BounceTable *trend)
{
    static const char *const kinds[] = { "hard", "soft" };
    guint n = trend->rows->len;
    double pw = CW - ML - MR, ph = CH - MT - MB;
    double slot = n > 0 ? pw / n : pw;
    gint64 max = 0, sum[2] = { 0, 0 };
    gint64 top;
    g_autofree char *desc = NULL;

    for (guint r = 0; r < n; r++)
        for (guint k = 0; k < 2; k++) {
            gint64 v = num (trend, r, kinds[k]);

            sum[k] += v;
            max = MAX (max, v);
        }
    top = nice_max (max);
    desc = g_strdup_printf ("Hard bounces (%" G_GINT64_FORMAT " in all) and "
                            "soft bounces (%" G_GINT64_FORMAT ") a day over "
                            "%u days. The numbers are in the table "
                            "\"Bounces a day\".",
                            sum[0], sum[1], n);
    g_string_append (out, "<figure>\n<figcaption>Hard and soft bounces a "
                          "day</figcaption>\n");
    svg_open (out, "chart-hard-soft", CH, "Hard and soft bounces a day",
              desc);
    chart_axes (out, trend, top);
    for (guint k = 0; k < 2; k++) {
        g_string_append_printf (out, "<polyline class=\"%s\" points=\"",
                                kinds[k]);
        for (guint r = 0; r < n; r++)
            g_string_append_printf (
                out, "%s%.2f,%.2f", r > 0 ? " " : "",
                ML + slot * (r + 0.5),
                MT + ph * (1.0 - (double) num (trend, r, kinds[k]) / top));
        g_string_append (out, "\"/>\n");
        for (guint r = 0; r < n; r++) {
            gint64 v = num (trend, r, kinds[k]);

            if (v == 0)
                continue;
            g_string_append_printf (out,
                                    "<circle class=\"%s\" cx=\"%.2f\" "
                                    "cy=\"%.2f\" r=\"3\"><title>",
                                    kinds[k], ML + slot * (r + 0.5),
                                    MT + ph * (1.0 - (double) v / top));
            esc (out, bounce_table_get (trend, r, "day"));
            g_string_append_printf (out, ": %" G_GINT64_FORMAT " %s</title>"
                                    "</circle>\n", v, kinds[k]);
        }
    }
    g_string_append (out, "</svg>\n<ul class=\"legend\">");
    legend_item (out, "", "hard", "Hard (the address is bad)");
    legend_item (out, "", "soft", "Soft (the address may work later)");
    g_string_append (out, "</ul>\n</figure>\n");
}

/* The top domains as horizontal bars, hard then soft, each under its
 * name (the whole width for both, on a phone too). */
static void
chart_domains (GString *out, const BounceTable *domains)
{
    guint n = domains->rows->len;
    double row_h = 44, height = n * row_h + 8;
    double pw = CW - MR - 60;
    gint64 max = 0;
    g_autoptr (GString) desc = g_string_new (NULL);

    for (guint r = 0; r < n; r++) {
        max = MAX (max, num (domains, r, "bounces"));
        g_string_append_printf (desc, "%s%s: %" G_GINT64_FORMAT,
                                r > 0 ? "; " : "",
                                bounce_table_get (domains, r, "domain"),
                                num (domains, r, "bounces"));
    }
    g_string_append (desc, ". The numbers are in the table \"Top domains\".");
    g_string_append (out, "<figure>\n<figcaption>Bounces by domain (the "
                          "top ones)</figcaption>\n");
    svg_open (out, "chart-domains", height, "Bounces by domain", desc->str);
    for (guint r = 0; r < n; r++) {
        double y = 4 + r * row_h;
        double x = 0;

        g_string_append (out, "<g class=\"domain\"><title>");
        esc (out, bounce_table_get (domains, r, "domain"));
        g_string_append_printf (out, ": %" G_GINT64_FORMAT " bounces, %"
                                G_GINT64_FORMAT " hard, %" G_GINT64_FORMAT
                                " soft</title>",
                                num (domains, r, "bounces"),
                                num (domains, r, "hard"),
                                num (domains, r, "soft"));
        g_string_append_printf (out, "<text x=\"0\" y=\"%.1f\">", y + 14);
        esc (out, bounce_table_get (domains, r, "domain"));
        g_string_append (out, "</text>");
        for (guint k = 0; k < 2; k++) {
            const char *kind = k == 0 ? "hard" : "soft";
            double w = max > 0 ? pw * (double) num (domains, r, kind) / max
                               : 0;

            if (w <= 0)
                continue;
            g_string_append_printf (out,
                                    "<rect class=\"%s\" x=\"%.2f\" "
                                    "y=\"%.1f\" width=\"%.2f\" "
                                    "height=\"16\"/>",
                                    kind, x, y + 20, w);
            x += w;
        }
        g_string_append_printf (out, "<text x=\"%.1f\" y=\"%.1f\">%"
                                G_GINT64_FORMAT "</text></g>\n",
                                x + 6, y + 33, num (domains, r, "bounces"));
    }
    g_string_append (out, "</svg>\n<ul class=\"legend\">");
    legend_item (out, "", "hard", "Hard");
    legend_item (out, "", "soft", "Soft");
    g_string_append (out, "</ul>\n</figure>\n");
}

/* A table of @columns of @table (their headings @names; 'n' in @numeric
 * for a number column). */
static void
table_html (GString *out,
            const char *id,
            const char *caption,
            const BounceTable *table,
            const char *const *columns,
            const char *const *names,
            const char *numeric)
{
    g_string_append_printf (out, "<div class=\"wrap\"><table id=\"%s\">"
                                 "<caption>",
                            id);
    esc (out, caption);
    g_string_append (out, "</caption>\n");
    header_cells (out, names, numeric);
    for (guint r = 0; r < table->rows->len; r++) {
        g_string_append (out, "<tr>");
        for (guint c = 0; columns[c] != NULL; c++)
            cell (out, bounce_table_get (table, r, columns[c]),
                  numeric[c] == 'n');
        g_string_append (out, "</tr>\n");
    }
    g_string_append (out, "</tbody></table></div>\n");
}

static const char *
who_words (const char *who)
{
    if (g_strcmp0 (who, "recipient") == 0)
        return "the recipient";
    if (g_strcmp0 (who, "sender") == 0)
        return "you, the sender";
    if (g_strcmp0 (who, "receiving-admin") == 0)
        return "the receiving system's administrator";
    if (g_strcmp0 (who, "none") == 0)
        return "nobody";
    return who;
}

static void
section_reasons (GString *out, const BounceOverview *ov,
                 const BounceRules *rules)
{
    static const char *const names[] = { "Reason", "What it means",
                                         "Who must act", "Bounces", "Hard",
                                         "Soft", "What to do", NULL };
    /* The language of the meanings and advice (bs_language), when it is
     * not the page's English. */
    const char *code = rules != NULL ? bs_language (rules, NULL, NULL) : "en";
    g_autofree char *lang = strcmp (code, "en") != 0
                                ? g_strdup_printf (" lang=\"%s\"", code)
                                : g_strdup ("");

    g_string_append (out, "<section id=\"reasons\">\n<h2>Reasons</h2>\n"
                          "<div class=\"wrap\"><table id=\"t-reasons\">"
                          "<caption>Why the deliveries failed</caption>\n");
    header_cells (out, names, "tttnnnt");
    for (guint r = 0; r < ov->reasons->rows->len; r++) {
        const char *reason = bounce_table_get (ov->reasons, r, "reason");

        g_string_append (out, "<tr><th scope=\"row\">");
        esc (out, reason);
        g_string_append_printf (out, "</th><td class=\"t\"%s>", lang);
        esc (out, bs_meaning (rules, reason));
        g_string_append (out, "</td>");
        labelled_cell (out, "Who must act",
                       who_words (bounce_table_get (ov->reasons, r, "who")),
                       FALSE);
        labelled_cell (out, "Bounces",
                       bounce_table_get (ov->reasons, r, "bounces"), TRUE);
        labelled_cell (out, "Hard", bounce_table_get (ov->reasons, r, "hard"),
                       TRUE);
        labelled_cell (out, "Soft", bounce_table_get (ov->reasons, r, "soft"),
                       TRUE);
        g_string_append_printf (out, "<td class=\"t\" "
                                     "data-label=\"What to do\"%s>",
                                lang);
        esc (out, bs_advice (rules, reason));
        g_string_append (out, "</td></tr>\n");
    }
    g_string_append (out, "</tbody></table></div>\n</section>\n");
}

static void
section_suppress (GString *out, const BounceTable *suppress)
{
    static const char *const names[] = { "Reason", "Hard", "Soft",
                                         "Addresses", NULL };
    g_autoptr (GHashTable) seen =
        g_hash_table_new_full (g_str_hash, g_str_equal, NULL, g_free);
    g_autoptr (GPtrArray) order = g_ptr_array_new ();
    gint64 hard = 0, soft = 0;

    for (guint r = 0; r < suppress->rows->len; r++) {
        const char *reason = bounce_table_get (suppress, r, "reason");
        gboolean is_hard =
            g_strcmp0 (bounce_table_get (suppress, r, "why"), "hard") == 0;
        gint64 *counts;

        if (reason == NULL)
            reason = "unknown";
        counts = g_hash_table_lookup (seen, reason);
        if (counts == NULL) {
            counts = g_new0 (gint64, 2);
            g_hash_table_insert (seen, (gpointer) reason, counts);
            g_ptr_array_add (order, (gpointer) reason);
        }
        counts[is_hard ? 0 : 1]++;
        hard += is_hard;
        soft += !is_hard;
    }
    g_string_append_printf (
        out,
        "<section id=\"suppression\">\n<h2>Suppression list</h2>\n"
        "<p><b id=\"suppress-total\">%u</b> addresses to stop mailing: "
        "<span id=\"suppress-hard\">%" G_GINT64_FORMAT "</span> after a "
        "hard bounce, <span id=\"suppress-soft\">%" G_GINT64_FORMAT
        "</span> after repeated soft bounces over several days. "
        "<code>bouncestat suppress</code> lists them.</p>\n",
        suppress->rows->len, hard, soft);
    if (order->len > 0) {
        g_string_append (out, "<div class=\"wrap\"><table id=\"t-suppress\">"
                              "<caption>Addresses to stop mailing, by the "
                              "reason that decided</caption>\n");
        header_cells (out, names, "tnnn");
        for (guint i = 0; i < order->len; i++) {
            const gint64 *c = g_hash_table_lookup (seen, order->pdata[i]);

            g_string_append (out, "<tr><th scope=\"row\">");
            esc (out, order->pdata[i]);
            g_string_append_printf (out,
                                    "</th><td class=\"n\">%" G_GINT64_FORMAT
                                    "</td><td class=\"n\">%" G_GINT64_FORMAT
                                    "</td><td class=\"n\">%" G_GINT64_FORMAT
                                    "</td></tr>\n",
                                    c[0], c[1], c[0] + c[1]);
        }
        g_string_append (out, "</tbody></table></div>\n");
    }
    g_string_append (out, "</section>\n");
}

static void
card (GString *out, const char *id, const char *label, const char *value)
{
    g_string_append_printf (out, "<div class=\"card\"><b id=\"%s\">", id);
    esc (out, value);
    g_string_append (out, "</b>");
    esc (out, label);
    g_string_append (out, "</div>\n");
}

void
bs_report_print_html (const BsHtmlReport *report)
{
    const BounceOverview *ov = report->overview;
    const BsQueryOptions *opts = report->opts;
    const BounceTable *t = ov->totals;
    const char *first = bounce_table_get (t, 0, "first");
    const char *last = bounce_table_get (t, 0, "last");
    g_autoptr (GString) out = g_string_sized_new (64 * 1024);
    g_autoptr (GString) period = g_string_new (NULL);
    g_autofree char *now = g_date_time_format (report->now,
                                               "%Y-%m-%d %H:%M:%S UTC");
    static const char *const day_cols[] = {
        "day", "bounces", "hard", "soft", "who_recipient", "who_sender",
        "who_receiving_admin", "who_other", NULL
    };
    static const char *const day_names[] = {
        "Day", "Bounces", "Hard", "Soft", "Recipient side", "Sender side",
        "Receiving system", "Not known", NULL
    };
    static const char *const domain_cols[] = { "domain", "bounces", "hard",
                                               "soft", NULL };
    static const char *const domain_names[] = { "Domain", "Bounces", "Hard",
                                                "Soft", NULL };
    static const char *const mta_cols[] = { "remote_mta", "bounces",
                                            "recipients", "hard", "soft",
                                            NULL };
    static const char *const mta_names[] = { "Receiving server", "Bounces",
                                             "Addresses", "Hard", "Soft",
                                             NULL };

    if (opts->since_utc != NULL || opts->until_utc != NULL)
        g_string_append_printf (period, "Bounces%s%s%s%s (UTC)",
                                opts->since_utc != NULL ? " since " : "",
                                opts->since_utc != NULL ? opts->since_utc
                                                        : "",
                                opts->until_utc != NULL ? " before " : "",
                                opts->until_utc != NULL ? opts->until_utc
                                                        : "");
    else if (first != NULL)
        g_string_append_printf (period, "Bounces from %s to %s (UTC)", first,
                                last);
    else
        g_string_append (period, "No bounces stored yet");

    g_string_append (out, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n"
                          "<meta charset=\"utf-8\">\n<meta name=\"viewport\" "
                          "content=\"width=device-width, initial-scale=1\">\n"
                          /* Nothing to fetch, nothing to run. */
                          "<meta http-equiv=\"Content-Security-Policy\" "
                          "content=\"default-src 'none'; style-src "
                          "'unsafe-inline'; img-src data:\">\n"
                          "<title>Bounce report: ");
    esc (out, period->str);
    g_string_append_printf (out, "</title>\n<style>%s</style>\n</head>\n"
                                 "<body>\n<header>\n<h1>Bounce report</h1>\n"
                                 "<p class=\"period\" id=\"period\">",
                            style);
    esc (out, period->str);
    g_string_append (out, "</p>\n</header>\n<main>\n"
                          "<section id=\"overview\">\n<h2>Overview</h2>\n"
                          "<div class=\"cards\">\n");
    card (out, "total-bounces", "bounced recipients",
          bounce_table_get (t, 0, "bounces"));
    card (out, "total-recipients", "distinct addresses",
          bounce_table_get (t, 0, "recipients"));
    card (out, "total-messages", "bounce messages",
          bounce_table_get (t, 0, "messages"));
    card (out, "total-hard", "hard (the address is bad)",
          bounce_table_get (t, 0, "hard"));
    card (out, "total-soft", "soft (may work later)",
          bounce_table_get (t, 0, "soft"));
    g_string_append (out, "</div>\n<div class=\"wrap\"><table "
                          "id=\"t-messages\"><caption>The messages of the "
                          "period, each counted once</caption>\n"
                          "<thead><tr><th scope=\"col\">Messages</th>"
                          "<th scope=\"col\" class=\"n\">Count</th>"
                          "<th scope=\"col\" class=\"n\">Recipients</th>"
                          "</tr></thead>\n<tbody>\n");
    for (guint r = 0; r < ov->outcomes->rows->len; r++) {
        const char *outcome = bounce_table_get (ov->outcomes, r, "outcome");
        gboolean all = g_strcmp0 (outcome, "all") == 0;

        g_string_append (out, "<tr data-outcome=\"");
        esc (out, outcome);
        g_string_append (out, "\"><th scope=\"row\">");
        esc (out, all ? "All messages" : bs_report_outcome_label (outcome));
        g_string_append (out, "</th>");
        cell (out, bounce_table_get (ov->outcomes, r, "messages"), TRUE);
        cell (out, all ? "" : bounce_table_get (ov->outcomes, r,
                                                "recipients"),
              TRUE);
        g_string_append (out, "</tr>\n");
    }
    g_string_append (out, "</tbody></table></div>\n</section>\n");

    if (ov->reasons->rows->len == 0) {
        g_string_append (out, "<p id=\"no-bounces\">No bounces in this "
                              "period.</p>\n");
    } else {
        g_string_append (out, "<section id=\"charts\">\n<h2>Over time</h2>\n");
        chart_days (out, ov->trend);
        chart_hard_soft (out, ov->trend);
        g_string_append (out, "<details><summary>The numbers of the charts: "
                              "bounces a day</summary>\n");
        table_html (out, "t-days", "Bounces a day", ov->trend, day_cols,
                    day_names, "tnnnnnnn");
        g_string_append (out, "</details>\n</section>\n");
        section_reasons (out, ov, report->rules);
        g_string_append (out, "<section id=\"domains\">\n<h2>Domains and "
                              "providers</h2>\n");
        chart_domains (out, ov->domains);
        table_html (out, "t-domains", "Top domains", ov->domains,
                    domain_cols, domain_names, "tnnn");
        if (report->providers != NULL)
            table_html (out, "t-providers",
                        "Top providers: the receiving servers that refused",
                        report->providers, mta_cols, mta_names, "tnnnn");
        g_string_append (out, "</section>\n");
    }
    if (report->suppress != NULL)
        section_suppress (out, report->suppress);
    g_string_append_printf (out, "</main>\n<footer><p>Made by bouncestat %s "
                                 "on %s. All times are UTC.</p></footer>\n"
                                 "</body>\n</html>\n",
                            BOUNCESTAT_VERSION, now);
    fwrite (out->str, 1, out->len, stdout);
}
