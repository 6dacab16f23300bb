#!/bin/bash
# import-log.sh - `bouncestat import-log` over the logs of real Postfix,
# Exim and Sendmail runs (tests/fixtures/logs/): every failure line
# becomes one event with the reason the same run's bounce gives; a bounce
# and its log line are one event, whichever is stored first; rotated .gz
# files and standard input; --follow across a rotation and a truncation.
#
# Usage: bash import-log.sh /path/to/bouncestat   (FIXTURES set by CTest)
set -u

BS=${1:?usage: import-log.sh BOUNCESTAT}
SOURCE_DIR=${SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
FIXTURES=${FIXTURES:-$SOURCE_DIR/tests/fixtures}
L=$FIXTURES/logs
T=$(mktemp -d)
# shellcheck disable=SC2034  # expect_rc (harness.bash) writes in $tmp
tmp=$T
FOLLOW_PID=
cleanup() {
    [ -n "$FOLLOW_PID" ] && kill -TERM "$FOLLOW_PID" 2>/dev/null
    rm -rf "$T"
}
trap cleanup EXIT
unset BOUNCESTAT_DB
. "$(dirname "$0")/lib/harness.bash"

# The failure lines of each log, as the MTA writes them (bounce-log.c).
declare -A LOG=([postfix]=maillog [exim]=mainlog [sendmail]=mail.log)
declare -A FAILURE_RE=(
    [postfix]='status=(bounced|deferred|expired)'
    [exim]=' (\*\*|==) '
    [sendmail]='dsn=[45]\.|sender notify: Cannot send'
)

# compare LOG BOUNCES: the bounces' failed and delayed recipients, each
# with the reason of the log's event of the same Message-ID, address and
# action ("same N differ N missing N").
compare() {
    "$BS" import-log --print "$1" > "$T/log.jsonl" &&
        "$BS" parse --format=json "$2"/*.eml > "$T/bounces.json" &&
        python3 - "$T/log.jsonl" "$T/bounces.json" <<'PY'
import json, sys
log = {}
for line in open(sys.argv[1]):
    d = json.loads(line)
    assert d["origin"] == "log" and d["queue_id"], d
    for r in d["recipients"]:
        log.setdefault((d["original"]["message_id"], r["address"], r["action"]), set()).add(r["reason"])
text = open(sys.argv[2]).read()
dec, i, docs = json.JSONDecoder(), 0, []
while i < len(text):
    if text[i].isspace():
        i += 1
        continue
    d, i = dec.raw_decode(text, i)
    docs.extend(d if isinstance(d, list) else [d])
same = differ = missing = 0
for d in docs:
    for r in d["recipients"]:
        if r["action"] not in ("failed", "delayed"):
            continue
        got = log.get((d["original"]["message_id"], r["address"], r["action"]))
        if got is None:
            missing += 1
            print("missing:", d["source"], r["address"], file=sys.stderr)
        elif r["reason"] in got:
            same += 1
        else:
            differ += 1
            print("differ:", d["source"], r["address"], r["reason"], got, file=sys.stderr)
print(f"same {same} differ {differ} missing {missing}")
PY
}

events() { # DB: the bounce and delay events
    q "$1" "select count(*) from events where outcome in ('bounce', 'delay')"
}

for mta in postfix exim sendmail; do
    log=$L/$mta/${LOG[$mta]}
    bounces=$L/$mta/bounces
    want=$(grep -cE "${FAILURE_RE[$mta]}" "$log")

    # --- Every failure line is one report, with its queue id --------------
    "$BS" import-log --print "$log" > "$T/$mta.jsonl"
    check "$mta: --print exits 0" $?
    [ "$(wc -l < "$T/$mta.jsonl")" = "$want" ]
    check "$mta: every failure line is one report ($want)" $?
    "$BS" import-log --print --mta "$mta" "$log" | cmp -s - "$T/$mta.jsonl"
    check "$mta: --mta $mta reads the same" $?

    # --- The reason the same bounce gives ---------------------------------
    n_bounce=$("$BS" parse --format=json "$bounces"/*.eml | python3 -c '
import json, sys
text, dec, i, n = sys.stdin.read(), json.JSONDecoder(), 0, 0
while i < len(text):
    if text[i].isspace():
        i += 1
        continue
    d, i = dec.raw_decode(text, i)
    for doc in d if isinstance(d, list) else [d]:
        n += sum(r["action"] in ("failed", "delayed") for r in doc["recipients"])
print(n)')
    result=$(compare "$log" "$bounces")
    [ "$result" = "same $n_bounce differ 0 missing 0" ]
    check "$mta: each of the $n_bounce bounced recipients has a log event with its reason ($result)" $?

    # --- One event, not two: bounces first, then the log, and the other way
    n_log=$(python3 -c 'import json, sys
print(sum(len(json.loads(l)["recipients"]) for l in open(sys.argv[1])))' "$T/$mta.jsonl")
    for order in bounces-first log-first; do
        db=$T/$mta-$order.db
        if [ $order = bounces-first ]; then
            "$BS" ingest --db "$db" "$bounces" 2>/dev/null
            "$BS" import-log --db "$db" "$log" 2>/dev/null
        else
            "$BS" import-log --db "$db" "$log" 2>/dev/null
            "$BS" ingest --db "$db" "$bounces" 2>/dev/null
        fi
        [ "$(events "$db")" = "$n_log" ]
        check "$mta, $order: $n_log events for $n_log log recipients and $n_bounce bounced ones ($(events "$db"))" $?
        [ "$(q "$db" 'select count(*) from event_reports')" = "$n_bounce" ]
        check "$mta, $order: each bounce is linked to its log line" $?
        [ "$(q "$db" "select count(*) from events e join messages m on m.id = e.message_id
                       join event_reports r on r.event_id = e.id
                      where m.origin = 'message'")" = "$n_bounce" ]
        check "$mta, $order: the linked event is the bounce's" $?
    done
    db=$T/$mta-log-first.db
    "$BS" import-log --db "$db" "$log" 2>"$T/err"
    check "$mta: reading the log again exits 0" $?
    [ "$(events "$db")" = "$n_log" ]
    check "$mta: reading the log again adds nothing" $?
    grep -q "$want failures: 0 stored, $want already stored" "$T/err"
    check "$mta: the summary says so" $?
    [ "$(q "$db" "select count(*) from messages where origin = 'log' and queue_id is null")" = 0 ]
    check "$mta: every log message has its queue id" $?
done

# A bounce stored unclassified (the rules could not be loaded) gets its
# event from reclassify, after its log line was stored: still one event.
db=$T/unclassified.db
BOUNCESTAT_RULES_DIR=$T/no-rules "$BS" ingest --db "$db" \
    < "$L/postfix/bounces/postfix-552-mailbox-full.eml" 2>/dev/null
check "a bounce stored unclassified" $?
"$BS" import-log --db "$db" "$L/postfix/maillog" 2>/dev/null
before=$(events "$db")
"$BS" reclassify --db "$db" >/dev/null 2>&1
check "reclassify exits 0" $?
[ "$(events "$db")" = "$before" ] && [ "$(q "$db" 'select count(*) from event_reports')" = 1 ]
check "reclassify: the bounce's event takes its log line's place ($before events)" $?

# Postfix's bounces carry the original's queue id (X-Postfix-Queue-ID).
"$BS" ingest --db "$T/qid.db" "$L/postfix/bounces/postfix-552-mailbox-full.eml" 2>/dev/null
qid=$(q "$T/qid.db" "select queue_id from messages")
grep -q "postfix/smtp\[[0-9]*\]: $qid: to=<full@remote.test>" "$L/postfix/maillog"
check "a Postfix bounce's queue id is its original's ($qid)" $?

# --- Rotated .gz files and standard input ---------------------------------
log=$L/postfix/maillog
half=$(( $(wc -l < "$log") / 2 ))
head -n "$half" "$log" | gzip > "$T/maillog.1.gz"
tail -n "+$((half + 1))" "$log" > "$T/maillog"
strip() { python3 -c 'import json, sys
for l in sys.stdin:
    d = json.loads(l); d["source"] = None; print(json.dumps(d, sort_keys=True))'; }
"$BS" import-log --print "$log" | strip > "$T/whole"
"$BS" import-log --print "$T/maillog.1.gz" "$T/maillog" | strip > "$T/rotated"
cmp -s "$T/whole" "$T/rotated"
check ".gz then plain: the same reports as the whole log (Message-IDs across files)" $?
gzip -c "$log" | "$BS" import-log --print | strip | cmp -s - "$T/whole"
check "gzip on standard input" $?
"$BS" import-log --db "$T/stdin.db" < "$log" 2>/dev/null
check "standard input stores" $?
first=$(grep -nE "${FAILURE_RE[postfix]}" "$log" | head -n 1 | cut -d: -f1)
[ "$(q "$T/stdin.db" "select source from messages order by id limit 1")" = "-:$first" ]
check "standard input's sources are -:LINE" $?

# --- report and show tell the log's events from the bounces' ---------------
n_log_bounces=$(q "$T/stdin.db" "select count(*) from events where outcome = 'bounce'")
"$BS" report --db "$T/stdin.db" --by origin --format csv > "$T/origin.csv"
grep -qx "log,$n_log_bounces,.*" "$T/origin.csv"
check "report --by origin: the log's $n_log_bounces bounces" $?
"$BS" report --db "$T/postfix-log-first.db" --by origin --format csv > "$T/origin.csv"
grep -qx "message,.*" "$T/origin.csv" && ! grep -q "^log," "$T/origin.csv"
check "report --by origin: bounces linked to their log lines count as the bounces'" $?
"$BS" show --db "$T/stdin.db" later@remote.test > "$T/show"
grep -q "from: the MTA's log" "$T/show"
check "show: an event of the log says so" $?
"$BS" show --db "$T/postfix-log-first.db" full@remote.test > "$T/show"
grep -q "from: a bounce, and the MTA's log" "$T/show"
check "show: a bounce linked to its log line says so" $?

expect_rc "a missing PATH exits 66" 66 "$BS" import-log --db "$T/x.db" "$T/nope"
expect_rc "an unknown --mta exits 64" 64 "$BS" import-log --mta qmail "$log"
expect_rc "--follow without PATH exits 64" 64 "$BS" import-log --follow
expect_rc "--help exits 0" 0 "$BS" import-log --help
grep -q "import-log --follow /var/log/mail.log" "$T/out"
check "--help has examples" $?

# --- --follow across a rotation and a truncation --------------------------
# wait_for WHAT SQL WANT: until the database says WANT (bounded: 30 s);
# a condition, not a duration.
wait_for() {
    for _ in $(seq 300); do
        [ "$(q "$T/follow.db" "$2" 2>/dev/null)" = "$3" ] && return 0
        kill -0 "$FOLLOW_PID" 2>/dev/null || break
        sleep 0.1
    done
    echo "# $1: got '$(q "$T/follow.db" "$2" 2>/dev/null)', want '$3'"
    return 1
}
log=$L/exim/mainlog
lines=$(wc -l < "$log")
third=$((lines / 3))
count="select count(*) from messages where origin = 'log'"
want1=$(head -n "$third" "$log" | "$BS" import-log --print | wc -l)
want2=$(head -n $((2 * third)) "$log" | "$BS" import-log --print | wc -l)
want3=$("$BS" import-log --print "$log" | wc -l)
head -n "$third" "$log" > "$T/follow.log"
"$BS" import-log --db "$T/follow.db" --follow --poll 50 "$T/follow.log" 2>"$T/follow.err" &
FOLLOW_PID=$!
wait_for "first part" "$count" "$want1"
check "--follow: the lines there at the start ($want1)" $?
# Rotation: the file is renamed, a new one takes its place.
mv "$T/follow.log" "$T/follow.log.1"
sed -n "$((third + 1)),$((2 * third))p" "$log" > "$T/follow.log.new"
mv "$T/follow.log.new" "$T/follow.log"
wait_for "after the rotation" "$count" "$want2"
check "--follow: reopens a rotated file ($want2)" $?
# Truncation (copytruncate): the same file, shorter, then the rest.
: > "$T/follow.log"
tail -n "+$((2 * third + 1))" "$log" > "$T/rest"
for _ in $(seq 300); do
    grep -q "follow.log: truncated" "$T/follow.err" && break
    sleep 0.1
done
grep -q "follow.log: truncated" "$T/follow.err"
check "--follow: says it saw the truncation" $?
# A line written in two parts is read once it is whole.
head -c 20 "$T/rest" >> "$T/follow.log"
sleep 0.2
tail -c "+21" "$T/rest" >> "$T/follow.log"
wait_for "after the truncation" "$count" "$want3"
check "--follow: rereads a truncated file ($want3)" $?
kill -TERM "$FOLLOW_PID"
wait "$FOLLOW_PID"
check "--follow: SIGTERM ends it with 0" $?
FOLLOW_PID=
[ "$(q "$T/follow.db" "$count")" = "$want3" ]
check "--follow: nothing read twice or lost" $?

[ "$failures" = 0 ]
check "no expect failures" $?
echo "1..$n"
[ "$fails" = 0 ]
