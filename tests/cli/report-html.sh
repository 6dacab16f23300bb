#!/bin/bash
# report-html.sh - `bouncestat report --format=html` opened in a real
# browser (headless Chromium) on a database of the repository's fixtures
# (every tests/fixtures/**/*.eml): the page renders with no console
# message; the charts are there, with one bar group per day of the
# trend; the tables hold the numbers of `report --format=json` for the
# same options; the messages add up to what ingest stored; text from the
# database that looks like markup (<script>, <img onerror>) stays text;
# the page fetches nothing and runs nothing.  Screenshots (desktop and
# phone width) are kept in BUILD/test-artifacts/.
#
# Also: explain and report give the same advice for authfailure.
#
# Usage: bash report-html.sh /path/to/bouncestat   (FIXTURES set by CTest)
set -u

BS=${1:?usage: report-html.sh BOUNCESTAT}
SOURCE_DIR=${SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
FIX=${FIXTURES:-$SOURCE_DIR/tests/fixtures}
. "$(dirname "$0")/lib/harness.bash"

CHROMIUM=$(command -v chromium || command -v chromium-browser || true)
[ -n "$CHROMIUM" ] ||
    skip "chromium is not installed (tools/install-deps --test installs it): the HTML report is not checked in a browser"

T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
unset BOUNCESTAT_DB LANGUAGE LC_ALL LC_MESSAGES
export LANG=C.UTF-8 NO_COLOR=1
# The trend: the 30 days before this "now" (the bouncelab samples are of
# 2026-11-29, the others older).
export BOUNCESTAT_NOW=2026-11-30T12:00:00Z
ART=$(cd "$(dirname "$BS")" && pwd)/test-artifacts
mkdir -p "$ART"

# browser WHAT FILE ARGS...: Chromium on FILE, stderr (its log, with the
# page's console messages) into $T/WHAT.log.
browser() {
    local what=$1 file=$2
    shift 2
    timeout 120 "$CHROMIUM" --headless --no-sandbox --disable-gpu \
        --disable-quic --no-first-run --disable-background-networking \
        --disable-component-update --disable-sync --disable-extensions \
        --user-data-dir="$T/profile-$what" --enable-logging=stderr --v=0 \
        "$@" "file://$file" 2>"$T/$what.log"
}
# console WHAT: the page's console messages in $T/WHAT.log.
console() { grep -a 'CONSOLE' "$T/$what.log" 2>/dev/null || true; }

# The console check can fail: a page that logs an error is caught.
printf '<!DOCTYPE html><title>x</title><script>console.error("caught")</script>\n' >"$T/control.html"
what=control
browser control "$T/control.html" --dump-dom >/dev/null
console | grep -q '"caught"' ||
    fail "the console check sees nothing of a page that logs an error: $(tail -5 "$T/control.log")"

DB=$T/fixtures.db
find "$FIX" -name '*.eml' -print0 | sort -z | xargs -0 "$BS" ingest --db "$DB" >"$T/ingest" 2>&1
expect "ingest the fixtures" "$?" 0
stored=$(sed -n 's/.* \([0-9]*\) stored,.*/\1/p' "$T/ingest")
[ -n "$stored" ] && [ "$stored" -gt 50 ] || fail "ingest: no count stored: $(cat "$T/ingest")"

# check_page NAME HTML JSON DOM: the DOM Chromium rendered against the
# JSON report of the same options (a Python script; prints what is wrong).
check_page() {
    python3 - "$@" <<'PY'
import html.parser, json, sys

name, html_path, json_path, dom_path, stored = sys.argv[1:6]
raw = open(html_path, encoding="utf-8").read()
d = json.load(open(json_path))
problems = []

class Dom(html.parser.HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack, self.tables, self.ids, self.elements = [], {}, {}, []
        self.table = self.row = self.cell = None
        self.svg = None
        self.days = {}   # svg id -> [rects of each g.day]
        self.text_of = None
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.elements.append((tag, a))
        if tag not in ("meta", "br", "img", "rect", "line", "circle",
                       "polyline", "path"):
            self.stack.append((tag, a))
        if tag == "table":
            self.table = a.get("id")
            self.tables[self.table] = []
        elif tag == "tr" and self.table:
            self.row = []
            self.tables[self.table].append(self.row)
        elif tag in ("td", "th") and self.row is not None:
            self.cell = ""
        elif tag == "svg" and a.get("class") == "chart":
            self.svg = a.get("id")
            self.days[self.svg] = []
        elif tag == "g" and a.get("class") in ("day", "domain") and self.svg:
            self.days[self.svg].append(0)
        elif tag == "rect" and self.svg and self.days[self.svg]:
            self.days[self.svg][-1] += 1
        if "id" in a and tag not in ("table", "svg"):
            self.ids[a["id"]] = ""
            self.text_of = (a["id"], len(self.stack))
    def handle_endtag(self, tag):
        while self.stack:
            t, _ = self.stack.pop()
            if t == tag:
                break
        if self.text_of and len(self.stack) < self.text_of[1]:
            self.text_of = None
        if tag in ("td", "th") and self.cell is not None:
            self.row.append(self.cell.strip())
            self.cell = None
        elif tag == "table":
            self.table = None
        elif tag == "svg":
            self.svg = None
    def handle_data(self, data):
        if self.cell is not None:
            self.cell += data
        if self.text_of:
            self.ids[self.text_of[0]] += data

dom = Dom()
dom.feed(open(dom_path, encoding="utf-8").read())

def want(what, got, expected):
    if got != expected:
        problems.append("%s: %s: got %r, expected %r" % (name, what, got, expected))

def body(table):
    return [r for r in dom.tables.get(table, [])[1:]]

# Nothing runs, nothing is fetched.
for tag, a in dom.elements:
    if tag in ("script", "img", "iframe", "object", "embed", "link"):
        problems.append("%s: a <%s> element in the page: %r" % (name, tag, a))
    for k, v in a.items():
        if k.startswith("on") or k in ("src", "href"):
            problems.append("%s: attribute %s=%r on <%s>" % (name, k, v, tag))
if "<script" in raw.lower():
    problems.append("%s: '<script' in the HTML" % name)
if "http://" in raw.replace('xmlns="http://www.w3.org/2000/svg"', "") or "https://" in raw:
    problems.append("%s: an address in the page (it must fetch nothing)" % name)

# Totals.
t = d["totals"]
for key in ("bounces", "recipients", "messages", "hard", "soft"):
    want("card " + key, dom.ids.get("total-" + key, "").strip(), str(t[key]))

# Messages: the JSON's, and they add up to what ingest stored.
rows = {r[0]: r[1:] for r in body("t-messages")}
for o in d["outcomes"]:
    label = [k for k in rows if (o["outcome"] == "all") == (k == "All messages")]
    got = [rows[k][0] for k in label]
    if str(o["messages"]) not in got:
        problems.append("%s: messages %s: %r not in %r" % (name, o["outcome"], o["messages"], got))
want("messages table rows", len(rows), len(d["outcomes"]))
if stored != "-":
    want("all messages = ingest's stored", rows.get("All messages", ["?"])[0], stored)

# The charts: one bar group per day of the trend; a bar (rect) on the
# days with bounces; one bar group per top domain.
trend = d["trend"]
want("days in the day chart", len(dom.days.get("chart-days", [])), len(trend))
want("days with bars", [n > 0 for n in dom.days.get("chart-days", [])],
     [x["bounces"] > 0 for x in trend])
want("bars stacked by side", dom.days.get("chart-days", []),
     [sum(1 for k in ("who_recipient", "who_sender", "who_receiving_admin", "who_other") if x[k] > 0) for x in trend])
want("domains in the domain chart", len(dom.days.get("chart-domains", [])), len(d["domains"]))
if "chart-hard-soft" not in dom.days:
    problems.append("%s: no hard/soft chart" % name)
for chart in ("chart-days", "chart-hard-soft", "chart-domains"):
    if ('id="%s-title"' % chart) not in raw or ('id="%s-desc"' % chart) not in raw:
        problems.append("%s: %s has no title or description" % (name, chart))

# The tables hold the JSON's numbers.
want("day table", [tuple(r[:4]) for r in body("t-days")],
     [(x["day"], str(x["bounces"]), str(x["hard"]), str(x["soft"])) for x in trend])
want("reasons table", [(r[0], r[3], r[4], r[5]) for r in body("t-reasons")],
     [(x["reason"], str(x["bounces"]), str(x["hard"]), str(x["soft"])) for x in d["reasons"]])
want("advice", [r[6] for r in body("t-reasons")],
     [x["advice"] if x["advice"] is not None else "-" for x in d["reasons"]])
want("domains table", [tuple(r) for r in body("t-domains")],
     [(x["domain"], str(x["bounces"]), str(x["hard"]), str(x["soft"])) for x in d["domains"]])

for p in problems:
    print(p)
PY
}

# report_pair NAME OPTIONS...: the HTML and JSON reports of OPTIONS, the
# rendered DOM, a screenshot, and the checks above.
report_pair() {
    local name=$1
    shift
    "$BS" report --db "$DB" "$@" --format=html >"$T/$name.html" 2>"$T/$name.err"
    expect "$name: report --format=html" "$?" 0
    [ -s "$T/$name.err" ] && fail "$name: report --format=html wrote on stderr: $(cat "$T/$name.err")"
    "$BS" report --db "$DB" "$@" --format=json >"$T/$name.json" ||
        fail "$name: report --format=json failed"
    what=$name
    browser "$name" "$T/$name.html" --dump-dom >"$T/$name.dom"
    expect "$name: chromium --dump-dom" "$?" 0
    [ -n "$(console)" ] && fail "$name: console messages: $(console)"
    check_page "$name" "$T/$name.html" "$T/$name.json" "$T/$name.dom" "${STORED:--}" >"$T/problems"
    [ -s "$T/problems" ] && fail "$(cat "$T/problems")"
}

# The whole history (the trend: the last 30 days).
STORED=$stored report_pair all
what=shot
browser shot "$T/all.html" --window-size=1000,4600 --hide-scrollbars \
    --screenshot="$ART/report-html.png" >/dev/null
[ -s "$ART/report-html.png" ] || fail "no screenshot: $(tail -3 "$T/shot.log")"
what=phone
browser phone "$T/all.html" --window-size=390,6400 --hide-scrollbars \
    --screenshot="$ART/report-html-phone.png" >/dev/null
[ -s "$ART/report-html-phone.png" ] || fail "no phone screenshot: $(tail -3 "$T/phone.log")"
cp "$T/all.html" "$ART/report.html"
# The suppression summary and the providers: those of suppress and
# report --by remote-mta.
"$BS" suppress --db "$DB" --format=json >"$T/suppress.json"
"$BS" report --db "$DB" --by remote-mta --top 5 --format=json >"$T/mta.json"
expect "suppression summary = suppress, providers = report --by remote-mta" \
    "$(python3 - "$T/all.dom" "$T/suppress.json" "$T/mta.json" <<'PY'
import json, re, sys
dom = open(sys.argv[1], encoding="utf-8").read()
s = json.load(open(sys.argv[2]))
rows = s["rows"] if isinstance(s, dict) else s
total = re.search(r'id="suppress-total">(\d+)<', dom).group(1)
hard = re.search(r'id="suppress-hard">(\d+)<', dom).group(1)
m = json.load(open(sys.argv[3]))["rows"]
t = dom[dom.index('id="t-providers"'):]
t = t[:t.index("</table>")]
cells = re.findall(r'<td class="[nt]">([^<]*)</td>', t)
print(int(total) == len(rows), int(hard) == sum(1 for r in rows if r["why"] == "hard"),
      cells[0::5] == [r["remote_mta"] for r in m], cells[1::5] == [str(r["bounces"]) for r in m])
PY
)" "True True True True"
expect "the default trend: 30 days" "$(grep -o '<g class="day">' "$T/all.html" | wc -l)" 30

# A window: --since and --until, the trend of those days only.
report_pair window --since 2026-11-20 --until 2026-11-29
expect "window: 10 days" "$(grep -o '<g class="day">' "$T/window.html" | wc -l)" 10
grep -q 'id="period">Bounces since 2026-11-20T00:00:00Z before 2026-11-30T00:00:00Z (UTC)<' "$T/window.html" ||
    fail "window: the period (UTC) is not on the page"
# In Polish (LANG=pl_PL.UTF-8, whether or not that locale is installed):
# the meanings and the advice, marked lang="pl".
LANG=pl_PL.UTF-8 "$BS" report --db "$DB" --format=html >"$T/pl.html"
grep -q '<td class="t" data-label="What to do" lang="pl">Sprawdź' "$T/pl.html" ||
    fail "LANG=pl: no Polish advice marked lang=pl"
grep -q 'lang="pl">Adres odbiorcy' "$T/pl.html" || fail "LANG=pl: no Polish meaning"
grep -q 'lang="pl"' "$T/all.html" && fail "LANG=C.UTF-8: Polish on the page"

# A period without bounces: the page says so, still renders cleanly.
# (a closed window long before the data: a message without a date is stored
# at the time it arrives, so an open window after the data is not empty)
"$BS" report --db "$DB" --since 2001-01-01 --until 2001-01-31 --format=html >"$T/empty.html"
expect "empty period: report --format=html" "$?" 0
what=empty
browser empty "$T/empty.html" --dump-dom >"$T/empty.dom"
[ -n "$(console)" ] && fail "empty period: console messages: $(console)"
grep -q 'id="no-bounces">No bounces in this period.<' "$T/empty.dom" ||
    fail "empty period: no 'No bounces in this period.'"
grep -q '<svg class="chart"' "$T/empty.dom" && fail "empty period: charts of nothing"
# --by is not for the page.
"$BS" report --db "$DB" --format=html --by day >/dev/null 2>&1
expect "html --by: usage error" "$?" 64

# Markup from the database is text: a domain and a receiving server that
# look like HTML.
python3 -c 'import sqlite3, sys
src = sqlite3.connect(sys.argv[2])
db = sqlite3.connect(sys.argv[1])
src.backup(db)     # the database with its -wal, not the main file alone
src.close()
db.execute("""UPDATE events SET registrable_domain = ?, domain = ?, remote_mta = ?
              WHERE outcome = ? AND registrable_domain =
                    (SELECT registrable_domain FROM events WHERE outcome = ?
                      GROUP BY registrable_domain ORDER BY count (*) DESC LIMIT 1)""",
           ("<script>alert(1)</script>x.example", "<script>alert(1)</script>x.example",
            "<img src=x onerror=alert(2)>", "bounce", "bounce"))
db.commit()
db.close()' "$T/evil.db" "$DB"
DB=$T/evil.db report_pair evil
python3 - "$T/evil.dom" <<'PY' || fail "evil: the markup is not text on the page"
import sys
dom = open(sys.argv[1], encoding="utf-8").read()
# The top domain's events (so that it is on the page) carry markup.
# Serialised back by the browser: text, escaped again.
assert "&lt;script&gt;alert(1)&lt;/script&gt;x.example</td>" in dom, "domain"
assert "&lt;img src=x onerror=alert(2)&gt;</td>" in dom, "remote MTA"
assert "<script" not in dom.lower() and "<img" not in dom.lower()
PY

# Advice: explain and report have one text for authfailure.
"$BS" report --db "$DB" --by reason --format=json >"$T/reasons.json"
for diag in "550 5.7.26 This message does not have authentication information" \
    "550 5.7.23 SPF validation failed"; do
    "$BS" explain --format=json "$diag" >"$T/explain.json"
    expect "explain and report: one advice for authfailure ($diag)" \
        "$(python3 -c 'import json, sys
e = json.load(open(sys.argv[1]))
r = [x["advice"] for x in json.load(open(sys.argv[2]))["rows"] if x["reason"] == "authfailure"]
print(e["reason"], e["advice"] == r[0])' "$T/explain.json" "$T/reasons.json")" "authfailure True"
done

if [ "$failures" -ne 0 ]; then
    echo "$failures failure(s)" >&2
    exit 1
fi
echo "report-html: all passed (screenshots: $ART/report-html.png, $ART/report-html-phone.png)"
