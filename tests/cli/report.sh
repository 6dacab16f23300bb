#!/bin/bash
# report.sh - `bouncestat report`, `suppress` and `show` on a small
# database built from schema.sql (make-report-db.py): every grouping and
# format, --top, --since/--until, CSV quoting, JSON validity, NO_COLOR,
# and each edge of the suppression policy (soft bounces under and over
# the count and the days, sender-side hard bounces, delivered after a
# bounce), checked against the schema's suppression_candidates view too.
#
# Usage: bash report.sh /path/to/bouncestat   (SOURCE_DIR set by CTest)
set -u

BS=${1:?usage: report.sh BOUNCESTAT}
SOURCE_DIR=${SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
unset BOUNCESTAT_DB LANGUAGE LC_ALL LC_MESSAGES
export LANG=C.UTF-8
# A fixed "now" for the relative times and the trend.
export BOUNCESTAT_NOW=2026-11-30T12:00:00Z
export NO_COLOR=1
. "$(dirname "$0")/lib/harness.bash"

# same WHAT FILE: stdin must equal FILE's content (diff shown).
same() {
    if ! diff -u - "$2" >"$T/diff"; then
        fail "$1"
        cat "$T/diff" >&2
    fi
}

DB=$T/t.db
python3 "$SOURCE_DIR/tests/cli/make-report-db.py" "$SOURCE_DIR/schema.sql" "$DB" ||
    { echo "cannot build the test database" >&2; exit 1; }
# R: report and show without advice; S: suppress.
R() { "$BS" "$@" --db "$DB" --no-rules; }
S() { "$BS" "$@" --db "$DB"; }

# --- suppress: the policy ------------------------------------------------
S suppress >"$T/out"
expect "suppress exit" "$?" 0
same "suppress plain (defaults: 3 soft over 7 days)" "$T/out" <<'OUT'
hard@a.example
relapsed@a.example
soft3over@b.example
x@mail.a.example
y@mail.a.example
OUT
# Not there: soft3under (3 soft over 4 days), soft2 (2 soft), sender
# (hard "blocked": sender-side), redeemed (delivered after the bounce).
# The view of schema.sql says the same.
python3 -c 'import sqlite3, sys
for (a,) in sqlite3.connect(sys.argv[1]).execute(
        "SELECT address FROM suppression_candidates ORDER BY address"):
    print(a)' "$DB" | same "suppress = the suppression_candidates view" "$T/out"
# Of one domain (its domain or registrable domain) or one address.
S suppress @A.example >"$T/out"
same "suppress @domain (and below its registrable domain)" "$T/out" <<'OUT'
hard@a.example
relapsed@a.example
x@mail.a.example
y@mail.a.example
OUT
S suppress @mail.a.example >"$T/out"
same "suppress @subdomain" "$T/out" <<'OUT'
x@mail.a.example
y@mail.a.example
OUT
expect "suppress ADDRESS" "$(S suppress Hard@a.example)" "hard@a.example"
expect "suppress @domain without any" "$(S suppress @nowhere.example | wc -l)" 0
S suppress a@b.example c@d.example 2>/dev/null
expect "suppress: one ADDRESS at most" "$?" 64

expect "days under the threshold" "$(S suppress --soft-days 4 | grep -c soft3under)" 1
expect "days just over" "$(S suppress --soft-days 5 | grep -c soft3under)" 0
expect "count under the threshold" "$(S suppress --soft-count 2 --soft-days 10 | grep -c soft2@)" 1
expect "count over" "$(S suppress --soft-count 3 --soft-days 0 | grep -c soft2@)" 0
expect "sender-side never, whatever the thresholds" \
    "$(S suppress --soft-count 1 --soft-days 0 | grep -c sender@)" 0
expect "delivered after the bounce clears it" \
    "$(S suppress --soft-count 1 --soft-days 0 | grep -c redeemed@)" 0
S suppress --soft-count 1 --soft-days 0 >"$T/out"
same "soft-count 1 soft-days 0" "$T/out" <<'OUT'
hard@a.example
relapsed@a.example
soft2@b.example
soft3over@b.example
soft3under@b.example
x@mail.a.example
y@mail.a.example
OUT
# The settings table is the default when no option is given.
cp "$DB" "$T/settings.db"
python3 -c 'import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
db.execute("UPDATE settings SET value = 2 WHERE name = %r" % "suppress_soft_count")
db.commit()' "$T/settings.db"
expect "settings: suppress_soft_count" \
    "$("$BS" suppress --db "$T/settings.db" | grep -c soft2@)" 1
# --since: only bounces since then count.
S suppress --since 2026-11-21 >"$T/out"
same "suppress --since" "$T/out" <<'OUT'
relapsed@a.example
x@mail.a.example
y@mail.a.example
OUT

# --until: the list as it was then (the delivery of 11-06 had not
# happened on 11-05).
S suppress --until 2026-11-05 >"$T/out"
same "suppress --until" "$T/out" <<'OUT'
redeemed@a.example
OUT
S suppress --format csv >"$T/out"
same "suppress csv" "$T/out" <<'OUT'
address,why,reason,status,first_bounce,last_bounce,bounces,hard_bounces,soft_bounces,domain
hard@a.example,hard,userunknown,5.1.1,2026-11-20T10:00:00Z,2026-11-20T10:00:00Z,1,1,0,a.example
relapsed@a.example,hard,hostunknown,5.1.2,2026-11-25T10:00:00Z,2026-11-25T10:00:00Z,1,1,0,a.example
soft3over@b.example,soft,mailboxfull,4.2.2,2026-11-01T08:00:00Z,2026-11-09T08:00:00Z,3,0,3,b.example
x@mail.a.example,hard,suspend,5.2.1,2026-11-28T06:00:00Z,2026-11-28T06:00:00Z,1,1,0,mail.a.example
y@mail.a.example,hard,suspend,5.2.1,2026-11-28T06:00:00Z,2026-11-28T06:00:00Z,1,1,0,mail.a.example
OUT
S suppress --format json >"$T/out"
expect "suppress json" "$(python3 -c 'import json, sys
rows = json.load(open(sys.argv[1]))
print(len(rows), rows[2]["address"], rows[2]["why"], rows[2]["soft_bounces"] + 0)' "$T/out")" \
    "5 soft3over@b.example soft 3"
S suppress --format bogus 2>/dev/null
expect "suppress: unknown format" "$?" 64
S suppress --soft-count 0 2>/dev/null
expect "suppress: --soft-count 0" "$?" 64
S suppress --soft-count -1 2>/dev/null
expect "suppress: --soft-count -1 (not the default)" "$?" 64
S suppress --soft-days -1 2>/dev/null
expect "suppress: --soft-days -1" "$?" 64

# --- report --by: every grouping ----------------------------------------
R report --by reason >"$T/out"
same "by reason" "$T/out" <<'OUT'
reason       bounces  recipients  messages  hard  soft  who
mailboxfull        8           3         8     0     8  recipient
blocked            4           1         4     1     3  sender
suspend            2           2         1     2     0  recipient
userunknown        2           2         2     2     0  recipient
hostunknown        1           1         1     1     0  recipient
OUT
R report --by domain >"$T/out"
same "by domain (registrable: mail.a.example is a.example)" "$T/out" <<'OUT'
domain     bounces  recipients  messages  hard  soft
b.example        8           3         8     0     8
a.example        5           5         4     5     0
c.example        4           1         4     1     3
OUT
R report --by day --since 2026-11-20 >"$T/out"
same "by day, since a date" "$T/out" <<'OUT'
day         bounces  recipients  messages  hard  soft
2026-11-20        1           1         1     1     0
2026-11-21        1           1         1     0     1
2026-11-25        1           1         1     1     0
2026-11-28        2           2         1     2     0
OUT
R report --by week >"$T/out"
same "by week (Monday first; 2026-11-01 is a Sunday)" "$T/out" <<'OUT'
week        bounces  recipients  messages  hard  soft
2026-10-26        2           2         2     0     2
2026-11-02        5           4         5     1     4
2026-11-09        4           3         4     1     3
2026-11-16        3           2         3     1     2
2026-11-23        3           3         2     3     0
OUT
R report --by week --top 2 >"$T/out"
same "by week --top 2: the latest two, in order" "$T/out" <<'OUT'
week        bounces  recipients  messages  hard  soft
2026-11-16        3           2         3     1     2
2026-11-23        3           3         2     3     0
OUT
R report --by mta >"$T/out"
same "by mta" "$T/out" <<'OUT'
mta      bounces  recipients  messages  hard  soft
exim           8           3         8     0     8
postfix        7           4         7     4     3
qmail          2           2         1     2     0
OUT
R report --by remote-mta --top 1 >"$T/out"
same "by remote-mta --top 1" "$T/out" <<'OUT'
remote_mta    bounces  recipients  messages  hard  soft
mx.b.example        8           3         8     0     8
OUT
R report --by recipient --top 3 >"$T/out"
same "by recipient --top 3 (ties by name)" "$T/out" <<'OUT'
recipient             bounces  recipients  messages  hard  soft
sender@c.example            4           1         4     1     3
soft3over@b.example         3           1         3     0     3
soft3under@b.example        3           1         3     0     3
OUT
R report --by sender >"$T/out"
same "by sender" "$T/out" <<'OUT'
sender                         bounces  recipients  messages  hard  soft
News <news@shop.example>            15           8        14     6     9
Shop, Inc <shop@shop.example>        2           1         2     0     2
OUT
R report --by campaign >"$T/out"
same "by campaign (X-Campaign-Id)" "$T/out" <<'OUT'
campaign  bounces  recipients  messages  hard  soft
nov-sale       11           7        10     5     6
(none)          3           2         3     0     3
oct-news        3           3         3     1     2
OUT
R report --by campaign --campaign-header List-Id >"$T/out"
same "by campaign --campaign-header List-Id" "$T/out" <<'OUT'
campaign  bounces  recipients  messages  hard  soft
list-0          9           7         8     4     5
list-1          8           6         8     2     6
OUT
R report --by bogus 2>/dev/null
expect "report: unknown grouping" "$?" 64
R report --top 0 2>/dev/null
expect "report: --top 0" "$?" 64
R report --top -1 2>"$T/err"
expect "report: --top -1 (not the default)" "$?" 64
expect "report: --top -1 message" "$(cat "$T/err")" "bouncestat: report: --top must be 1 or more"
R report --by domain --top -1 2>/dev/null
expect "report --by: --top -1" "$?" 64

# --- formats ------------------------------------------------------------
R report --by sender --format csv >"$T/out"
same "csv quoting" "$T/out" <<'OUT'
sender,bounces,recipients,messages,hard,soft
News <news@shop.example>,15,8,14,6,9
"Shop, Inc <shop@shop.example>",2,1,2,0,2
OUT
R show --format csv hard@a.example >"$T/out"
expect "csv: quotes doubled" \
    "$(python3 -c 'import csv, sys
rows = list(csv.DictReader(open(sys.argv[1], newline="")))
print(len(rows), rows[0]["diagnostic"])' "$T/out")" \
    '1 smtp; 550 5.1.1 "hard" unknown, sorry'
grep -q '"smtp; 550 5.1.1 ""hard"" unknown, sorry"' "$T/out" ||
    fail "csv: the diagnostic is not quoted as RFC 4180 says"
for by in reason domain day week mta remote-mta recipient sender campaign; do
    R report --by $by --format json >"$T/out"
    expect "json --by $by" "$(python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
print(d["by"], sum(r["bounces"] for r in d["rows"]))' "$T/out")" "$by 17"
done
R report --format json >"$T/out"
expect "overview json" "$(python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
t = d["totals"]
print(t["bounces"], t["recipients"], t["messages"], t["hard"], t["soft"],
      d["reasons"][0]["reason"], d["reasons"][0]["who"],
      [x["domain"] for x in d["domains"]], len(d["trend"]),
      d["trend"][-3], d["since"])' "$T/out")" \
    "17 9 16 6 11 mailboxfull recipient ['b.example', 'a.example', 'c.example'] 30 {'day': '2026-11-28', 'bounces': 2, 'hard': 2, 'soft': 0, 'who_recipient': 2, 'who_sender': 0, 'who_receiving_admin': 0, 'who_other': 0} None"
R report --format csv >"$T/out"
expect "overview csv: sections" "$(cut -d, -f1 "$T/out" | uniq -c | tr -s ' ' | tr '\n' ';')" \
    " 1 section; 1 total; 5 reason; 3 domain; 30 day;"
expect "overview csv: total" "$(sed -n 2p "$T/out")" "total,all,17,6,11"

# --- the overview -------------------------------------------------------
R report >"$T/out"
same "overview" "$T/out" <<'OUT'
Bounces from 2026-11-01T08:00:00Z to 2026-11-28T06:00:00Z (UTC)
  bounced recipients  17 (9 addresses, 16 messages)
  hard                6
  soft                11
  messages            19
    with bounces      16
    delay notices     1
    delivery notices  2
    complaints (ARF)  0
    auto-replies      0

Reasons
  reason       bounces  hard  soft  who
  mailboxfull        8     0     8  recipient
  blocked            4     1     3  sender
  suspend            2     2     0  recipient
  userunknown        2     2     0  recipient
  hostunknown        1     1     0  recipient

Top domains
  domain     bounces  hard  soft
  b.example        8     0     8
  a.example        5     5     0
  c.example        4     1     3

Bounces a day, 2026-11-01 to 2026-11-30 (busiest: 2)
  ██▅▁█▁▁▁▅▅▅▅▁▁▁▅▁▁▁▅▅▁▁▁▅▁▁█▁▁
OUT
R report --top 1 --since 7d >"$T/out"
same "overview --top 1 --since 7d" "$T/out" <<'OUT'
Bounces since 2026-11-23T12:00:00Z (UTC)
  bounced recipients  3 (3 addresses, 2 messages)
  hard                3
  soft                0
  messages            3
    with bounces      2
    delay notices     1
    delivery notices  0
    complaints (ARF)  0
    auto-replies      0

Reasons
  reason       bounces  hard  soft  who
  suspend            2     2     0  recipient
  hostunknown        1     1     0  recipient

Top domains
  domain     bounces  hard  soft
  a.example        3     3     0

Bounces a day, 2026-11-23 to 2026-11-30 (busiest: 2)
  ▁▁▅▁▁█▁▁
OUT
R report --since 2026-12-01 >"$T/out"
same "overview of nothing" "$T/out" <<'OUT'
Bounces since 2026-12-01T00:00:00Z (UTC)
  bounced recipients  0 (0 addresses, 0 messages)
  hard                0
  soft                0
  messages            0
    with bounces      0
    delay notices     0
    delivery notices  0
    complaints (ARF)  0
    auto-replies      0

No bounces in this period.
OUT

# --- --since / --until --------------------------------------------------
total() { R report --format json "$@" | python3 -c 'import json, sys
print(json.load(sys.stdin)["totals"]["bounces"])'; }
expect "since 24h (now 2026-11-30T12:00Z)" "$(total --since 24h)" 0
expect "since 3d" "$(total --since 3d)" 2
expect "since 2w" "$(total --since 2w)" 6
expect "since 90m of a fixed time" "$(total --since 2026-11-28T06:00:00Z)" 2
expect "since with an offset" "$(total --since 2026-11-28T07:00:00+02:00)" 2
expect "until a date includes that day" "$(total --until 2026-11-01)" 2
expect "until a time excludes it" "$(total --until 2026-11-01T09:00:00Z)" 1
expect "since and until" "$(total --since 2026-11-02 --until 2026-11-05)" 5
R report --format json --since 2026-11-02 --until 2026-11-05 >"$T/out"
expect "window in json" "$(python3 -c 'import json, sys
d = json.load(open(sys.argv[1])); print(d["since"], d["until"])' "$T/out")" \
    "2026-11-02T00:00:00Z 2026-11-06T00:00:00Z"
R report --since yesterday 2>"$T/err"
expect "bad --since" "$?" 64
grep -q "since" "$T/err" || fail "bad --since: no message"
R report --until 2026-02-30 2>/dev/null
expect "bad --until date" "$?" 64
R report --since 2026-11-20 --until 2026-11-10 2>"$T/err"
expect "--until before --since" "$?" 64
expect "--until before --since: message" "$(cat "$T/err")" \
    "bouncestat: report: --until 2026-11-10 is before --since 2026-11-20"
R show --since 2026-11-20 --until 2026-11-10 sender@c.example 2>/dev/null
expect "show: --until before --since" "$?" 64
S suppress --since 2026-11-20 --until 2026-11-10 2>/dev/null
expect "suppress: --until before --since" "$?" 64
R report --since 2026-11-02 --until 2026-11-02 >/dev/null
expect "--until the day of --since (one day)" "$?" 0

# --- show ---------------------------------------------------------------
R show soft3under@B.example >"$T/out"
same "show (any case)" "$T/out" <<'OUT'
soft3under@B.example: 3 events
  2026-11-01T09:00:00Z  bounce  4.2.2 (452)  mailboxfull, soft  [rule test-mailboxfull]
    diagnostic: smtp; 452 4.2.2 over quota
    remote MTA: mx.b.example
    message: <m5@shop.example> "Offer 5"
  2026-11-03T09:00:00Z  bounce  4.2.2 (452)  mailboxfull, soft  [rule test-mailboxfull]
    diagnostic: smtp; 452 4.2.2 over quota
    remote MTA: mx.b.example
    message: <m6@shop.example> "Offer 6"
  2026-11-05T09:00:00Z  bounce  4.2.2 (452)  mailboxfull, soft  [rule test-mailboxfull]
    diagnostic: smtp; 452 4.2.2 over quota
    remote MTA: mx.b.example
    message: <m7@shop.example> "Offer 7"

Not on the suppression list.
OUT
python3 -c 'import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
if "smtp_command" in [r[1] for r in db.execute("PRAGMA table_info(events)")]:
    db.execute("UPDATE events SET smtp_command = ? WHERE address = ?", ("RCPT", "relapsed@a.example"))
    db.commit()
    print("yes")' "$DB" >"$T/has-command"
if [ "$(cat "$T/has-command")" = yes ]; then
    expect "show: the SMTP command" "$(R show relapsed@a.example | grep -c '5.1.2 (550) at RCPT  hostunknown, hard')" 1
fi
R show redeemed@a.example | grep -c '^  2026' >"$T/out"
expect "show: deliveries too" "$(cat "$T/out")" 2
expect "show: a delivery is neither hard nor soft" \
    "$(R show redeemed@a.example | grep '^  2026-11-06' | sed 's/  \[rule.*//')" \
    "  2026-11-06T10:00:00Z  delivered  2.0.0 (250)  delivered"
R show @a.example >"$T/out"
expect "show @domain: sub-domains too" "$(grep -c '^  2026' "$T/out")" 8
expect "show @domain: suppressed" "$(grep '^Suppressed' "$T/out" | tr '\n' ';')" \
    "Suppressed: hard@a.example (hard bounce: userunknown, last 2026-11-20T10:00:00Z);Suppressed: relapsed@a.example (hard bounce: hostunknown, last 2026-11-25T10:00:00Z);Suppressed: x@mail.a.example (hard bounce: suspend, last 2026-11-28T06:00:00Z);Suppressed: y@mail.a.example (hard bounce: suspend, last 2026-11-28T06:00:00Z);"
R show nobody@nowhere.example >"$T/out"
expect "show: unknown address" "$(cat "$T/out")" "No history for nobody@nowhere.example."
R show --format json sender@c.example >"$T/out"
expect "show json" "$(python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
e = d["events"]
print(d["match"], len(e), e[0]["reason"], json.dumps(e[0]["hard"]), e[0]["smtp_code"], e[0]["rule"], d["suppressed"])' "$T/out")" \
    "sender@c.example 4 blocked true 554 test-blocked []"
R show 2>/dev/null
expect "show without an address" "$?" 64

# --- terminal safety and colour -----------------------------------------
python3 -c 'import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
db.execute("UPDATE events SET diagnostic = ? WHERE address = ?",
           ("evil \x1b[2J\x1b]0;pwned\x07 text", "soft2@b.example"))
db.commit()' "$DB"
R show soft2@b.example >"$T/out"
if grep -q $'\x1b' "$T/out"; then fail "show: an escape sequence reached the terminal"; fi
grep -q 'diagnostic: evil ?\[2J?\]0;pwned? text' "$T/out" || fail "show: controls not replaced"
# NO_COLOR (and no terminal) means no escapes; under script(1) (a
# terminal) colour appears, unless NO_COLOR is set.
R report >"$T/out"
if grep -q $'\x1b' "$T/out"; then fail "colour without a terminal"; fi
if command -v script >/dev/null; then
    env -u NO_COLOR script -qec "$BS report --db $DB --no-rules" /dev/null >"$T/tty" 2>&1
    grep -q $'\x1b\[1m' "$T/tty" || fail "no colour on a terminal"
    NO_COLOR=1 script -qec "$BS report --db $DB --no-rules" /dev/null >"$T/tty" 2>&1
    if grep -q $'\x1b\[' "$T/tty"; then fail "colour on a terminal with NO_COLOR"; fi
fi

# --- wide characters line up --------------------------------------------
python3 -c 'import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
db.execute("UPDATE messages SET orig_from = ? WHERE id = 8", ("日本 <jp@shop.example>",))
db.commit()' "$DB"
R report --by sender >"$T/out"
same "wide characters take two columns" "$T/out" <<'OUT'
sender                         bounces  recipients  messages  hard  soft
News <news@shop.example>            15           8        14     6     9
Shop, Inc <shop@shop.example>        1           1         1     0     1
日本 <jp@shop.example>               1           1         1     0     1
OUT

# --- the reason given is that of the bounce that decided ----------------
python3 -c 'import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
db.execute("INSERT INTO messages (id, content_hash, received_at, kind, raw_size)"
           " VALUES (100, ?, ?, ?, 1), (101, ?, ?, ?, 1)",
           ("h100", "2026-11-10T00:00:00Z", "dsn", "h101", "2026-11-12T00:00:00Z", "dsn"))
for m, t, reason, hard, status in ((100, "2026-11-10T00:00:00Z", "userunknown", 1, "5.1.1"),
                                   (101, "2026-11-12T00:00:00Z", "mailboxfull", 0, "4.2.2")):
    db.execute("INSERT INTO events (message_id, position, address, domain,"
               " registrable_domain, outcome, reason, hard, status, event_time,"
               " event_time_source) VALUES (?, 0, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
               (m, "mixed@a.example", "a.example", "a.example", "bounce", reason,
                hard, status, t, "last_attempt"))
db.commit()' "$DB"
expect "suppress: the hard bounce decided, not the later soft one" \
    "$(S suppress --format csv | grep '^mixed@' | cut -d, -f1-6)" \
    "mixed@a.example,hard,userunknown,5.1.1,2026-11-10T00:00:00Z,2026-11-12T00:00:00Z"

# --- the advice comes from the rules ------------------------------------
RULES=${BOUNCESTAT_RULES_DIR:-$SOURCE_DIR/rules}
ADVICE=$(python3 - "$RULES/00-reasons.rules" <<'EOF2'
import re, sys
try:
    text = open(sys.argv[1], encoding="utf-8").read()
except OSError:
    sys.exit(0)
m = re.search(r"^\[reason userunknown\]$(.*?)^\[", text, re.M | re.S)
a = m and re.search(r"^advice\s*=\s*(.*)$", m.group(1), re.M)
print(a.group(1).strip() if a else "")
EOF2
)
[ -n "$ADVICE" ] || fail "advice: no advice for userunknown in $RULES/00-reasons.rules"
"$BS" report --db "$DB" --rules "$RULES" >"$T/out" 2>"$T/err" ||
    fail "overview with the rules: exit $?: $(cat "$T/err")"
grep -q "^What to do" "$T/out" || fail "overview: no 'What to do' section with the rules"
if [ -n "$ADVICE" ]; then
    grep -qF "  userunknown: $ADVICE" "$T/out" || fail "overview: the advice for userunknown"
    "$BS" report --db "$DB" --rules "$RULES" --by reason --format json |
        python3 -c 'import json, sys
rows = {r["reason"]: r for r in json.load(sys.stdin)["rows"]}
sys.exit(0 if rows["userunknown"]["advice"] == sys.argv[1] else 1)' "$ADVICE" ||
        fail "--by reason json: the advice"
    "$BS" show --db "$DB" --rules "$RULES" hard@a.example | grep -qF "  userunknown: $ADVICE" ||
        fail "show: the advice"
fi

# --- every message accounted for ------------------------------------------
# The overview's messages add up: each message of the database once, the
# bounces as many as the totals say, the delay and delivery notices of
# make-report-db.py on their own lines.
R report --format json >"$T/out"
expect "messages add up" "$(python3 -c 'import json, sqlite3, sys
d = json.load(open(sys.argv[1]))
m = {o["outcome"]: o["messages"] for o in d["outcomes"]}
n = sqlite3.connect(sys.argv[2]).execute("SELECT count (*) FROM messages").fetchone()[0]
print(m["all"] == n == sum(v for k, v in m.items() if k != "all"),
      m["bounce"] == d["totals"]["messages"], m.get("delay"), m.get("delivered"))' "$T/out" "$DB")" \
    "True True 1 2"
# The days' sides add up to their bounces.
expect "trend sides add up" "$(python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
print(all(t["bounces"] == t["who_recipient"] + t["who_sender"] + t["who_receiving_admin"] + t["who_other"] for t in d["trend"]),
      sum(t["who_sender"] for t in d["trend"]))' "$T/out")" "True 4"

# --- help in the C locale -----------------------------------------------
# Without a locale GLib printed "[OPTION?]" (the ellipsis in ASCII).
LC_ALL=C "$BS" report --help >"$T/out"
expect "--help in the C locale" "$(sed -n 2p "$T/out")" \
    "  bouncestat report [OPTION…] - count what bounced and why"
env -i "$BS" suppress --help >"$T/out"
grep -q '?' "$T/out" && fail "--help without any locale variable has a '?': $(grep '?' "$T/out")"

# --- html: the overview only ----------------------------------------------
R report --format html --by domain >/dev/null 2>"$T/err"
expect "html --by: usage error" "$?" 64
grep -q "html is the overview" "$T/err" || fail "html --by: message: $(cat "$T/err")"

# --- errors -------------------------------------------------------------
"$BS" report --db "$T/missing.db" 2>"$T/err"
expect "missing database" "$?" 66
grep -q "does not exist" "$T/err" || fail "missing database: message"
echo "not a database" >"$T/junk.db"
"$BS" suppress --db "$T/junk.db" 2>/dev/null
expect "not a database" "$?" 74
# Read-only: the database is not changed, even when its file cannot be
# written.
chmod 0444 "$DB"
S suppress >/dev/null
expect "read-only database file" "$?" 0
BOUNCESTAT_DB=$DB "$BS" report --no-rules --by mta --top 1 >"$T/out"
expect "\$BOUNCESTAT_DB" "$(sed -n 2p "$T/out")" "exim        8           3         8     0     8"

if [ "$failures" -ne 0 ]; then
    echo "$failures failure(s)" >&2
    exit 1
fi
echo "report: all passed"
