#!/bin/bash
# ingest.sh - `bouncestat ingest`: where the database goes, its mode,
# deduplication, unparsable input, the raw cap, the exit statuses the MTA
# acts on (0 stored, 75 try later), 8 concurrent ingests, a bulk ingest
# killed midway, and a database held locked past the timeout.
#
# Usage: bash ingest.sh /path/to/bouncestat   (SOURCE_DIR set by CTest)
set -u

BS=${1:?usage: ingest.sh BOUNCESTAT}
SOURCE_DIR=${SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
GEN="python3 $SOURCE_DIR/tests/cli/gen-dsns.py"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
unset BOUNCESTAT_DB ORIGINAL_RECIPIENT RECIPIENT
. "$(dirname "$0")/lib/harness.bash"


$GEN --count 1 --prefix one --dir "$T/one"
MSG=$T/one/one-000000.eml

# --- Where the database is: XDG_DATA_HOME, $BOUNCESTAT_DB, --db --------
export XDG_DATA_HOME=$T/xdg
"$BS" ingest < "$MSG" 2>"$T/err"
expect "ingest from stdin" "$?" 0
expect "stderr of a stdin ingest" "$(cat "$T/err")" ""
DB=$T/xdg/bouncestat/bounces.db
expect "db under XDG_DATA_HOME" "$(q "$DB" 'select count(*) from messages')" 1
expect "db mode" "$(stat -c %a "$DB")" 600
expect "db directory mode" "$(stat -c %a "$T/xdg/bouncestat")" 700
expect "event" "$(q "$DB" "select address || ' ' || outcome || ' ' || status from events")" \
    "user-one-0@example.com bounce 5.1.1"

BOUNCESTAT_DB=$T/env.db "$BS" ingest < "$MSG"
expect "\$BOUNCESTAT_DB" "$(q "$T/env.db" 'select count(*) from messages')" 1
BOUNCESTAT_DB=$T/env.db "$BS" ingest --db "$T/opt/x.db" < "$MSG"
expect "--db wins" "$(q "$T/opt/x.db" 'select count(*) from messages')" 1
expect "--db wins (env db untouched)" "$(q "$T/env.db" 'select count(*) from messages')" 1

# HOME fallback: no XDG_DATA_HOME.
(unset XDG_DATA_HOME; HOME=$T/home "$BS" ingest < "$MSG")
expect "HOME/.local/share fallback" \
    "$(q "$T/home/.local/share/bouncestat/bounces.db" 'select count(*) from messages')" 1

# --- Re-ingest changes nothing; a "From " line does not make it new ------
"$BS" ingest < "$MSG"
expect "re-ingest exit" "$?" 0
{ echo "From MAILER-DAEMON  Tue Nov  3 10:00:00 2026"; cat "$MSG"; } | "$BS" ingest
expect "re-ingest with From line" "$?" 0
expect "re-ingest stores nothing" "$(q "$DB" 'select count(*) from messages')" 1
expect "re-ingest adds no event" "$(q "$DB" 'select count(*) from events')" 1

# --- Two different messages behind a From line are two, whatever the line
# ends (LF, CRLF, CR): the store and the parser leave out the same From line.
for le in lf crlf cr; do
    case $le in lf) e='\n' ;; crlf) e='\r\n' ;; cr) e='\r' ;; esac
    for i in 1 2; do
        # The line ends are in the format on purpose (printf expands them).
        # shellcheck disable=SC2059
        printf "From MAILER-DAEMON  Tue Nov  3 10:00:00 2026${e}Subject: %s %s${e}From: a@example.org${e}${e}body %s${e}" "$le" "$i" "$i" |
            "$BS" ingest --db "$T/le.db"
        expect "From line, $le, message $i: exit" "$?" 0
    done
done
expect "From line: 6 different messages stored" "$(q "$T/le.db" 'select count(distinct content_hash) from messages')" 6
expect "From line: subjects" "$(q "$T/le.db" "select group_concat(subject, ',') from (select subject from messages order by id)")" \
    "lf 1,lf 2,crlf 1,crlf 2,cr 1,cr 2"

# --- Unparsable input is kept raw, exit 0 ----------------------------
printf '\001\002 this is not mail' | "$BS" ingest
expect "unparsable exit" "$?" 0
expect "unparsable kept" "$(q "$DB" "select count(*) from messages where kind = 'unparsable' and raw_size = 19")" 1

# --- Extra headers, VERP from the Postfix environment, raw cap ----------
sed 's/^Final-Recipient: .*/Final-Recipient: rfc822; someone@example.net/' "$MSG" > "$T/verp.eml"
ORIGINAL_RECIPIENT='bounces+who=example.net@example.org' \
    "$BS" ingest --db "$T/h.db" --header X-Campaign-Id --raw-cap 200 < "$T/verp.eml"
expect "extra header" "$(q "$T/h.db" "select name || '=' || value from message_headers")" \
    "x-campaign-id=campaign-one"
expect "VERP address" "$(q "$T/h.db" 'select verp_address from messages')" "who@example.net"
expect "raw cap" "$(q "$T/h.db" 'select raw_truncated || raw_size from messages')" \
    "1$(($(wc -c < "$T/verp.eml")))"
expect "raw cap keeps the events" "$(q "$T/h.db" 'select count(*) from events')" 1

# --- Usage errors: 64 with a PATH, 75 from standard input ----------------
"$BS" ingest --batch 0 --db "$T/u.db" "$MSG" 2>/dev/null
expect "bad --batch with a PATH" "$?" 64
"$BS" ingest --batch 0 --db "$T/u.db" < "$MSG" 2>/dev/null
expect "bad --batch from stdin" "$?" 75

# --- A newer schema is refused (EX_CONFIG with a PATH, 75 from stdin) ---
"$BS" ingest --db "$T/new.db" < "$MSG"
python3 -c 'import sqlite3, sys; sqlite3.connect(sys.argv[1]).execute("pragma user_version = 99")' "$T/new.db"
"$BS" ingest --db "$T/new.db" < "$T/one/one-000000.eml" 2>"$T/err"
expect "newer schema exit from stdin" "$?" 75
grep -q "newer" "$T/err" || fail "newer schema: message: $(cat "$T/err")"
expect "newer schema: one line" "$(wc -l < "$T/err")" 1
"$BS" ingest --db "$T/new.db" "$T/one/one-000000.eml" 2>"$T/err"
expect "newer schema exit with a PATH" "$?" 78
expect "newer schema: db untouched" "$(q "$T/new.db" 'pragma user_version')" 99

# --- An older schema is migrated ----------------------------------------
python3 - "$SOURCE_DIR/schema.sql" "$T/old.db" <<'EOF'
import re, sqlite3, sys
text = open(sys.argv[1]).read()
v1 = re.split(r"(?m)^-- @version \d+\s*$", text)[1]
db = sqlite3.connect(sys.argv[2])
db.executescript(v1)
db.execute("pragma user_version = 1")
db.commit()
EOF
"$BS" ingest --db "$T/old.db" < "$MSG"
expect "migration exit" "$?" 0
expect "migrated version" "$(q "$T/old.db" 'pragma user_version')" \
    "$(grep -c '^-- @version ' "$SOURCE_DIR/schema.sql")"
expect "migrated: views" "$(q "$T/old.db" "select address || ' ' || why from suppression_candidates")" \
    "user-one-0@example.com hard"

# --- Bulk: one summary line on stderr, nothing else (not a terminal) ----
$GEN --count 120 --prefix bulk --mbox "$T/bulk.mbox"
"$BS" ingest --db "$T/bulk.db" --batch 50 "$T/bulk.mbox" 2>"$T/err"
expect "bulk exit" "$?" 0
expect "bulk stored" "$(q "$T/bulk.db" 'select count(*) from messages')" 120
expect "bulk stderr lines" "$(wc -l < "$T/err")" 1
grep -q '120 stored, 0 duplicates, 0 unparsable, dsn 120$' "$T/err" ||
    fail "bulk summary: $(cat "$T/err")"
"$BS" ingest --db "$T/bulk.db" "$T/bulk.mbox" 2>"$T/err"
grep -q '0 stored, 120 duplicates' "$T/err" || fail "bulk rerun summary: $(cat "$T/err")"
"$BS" ingest --db "$T/bulk.db" "$T/missing" 2>"$T/err"
expect "missing input exit" "$?" 66
grep -q "missing" "$T/err" || fail "missing input not named: $(cat "$T/err")"

# --- Done when 1: 8 concurrent ingests x 500 messages, one per process --
for p in 0 1 2 3 4 5 6 7; do
    $GEN --count 500 --prefix "p$p" --dir "$T/conc/$p"
done
for p in 0 1 2 3 4 5 6 7; do
    (
        bad=0
        for f in "$T/conc/$p"/*.eml; do
            "$BS" ingest --db "$T/conc.db" < "$f" || bad=$((bad + 1))
        done
        echo "$bad" > "$T/conc/$p.failed"
    ) &
done
wait
failed=0
for p in 0 1 2 3 4 5 6 7; do failed=$((failed + $(cat "$T/conc/$p.failed"))); done
expect "concurrent: failed ingests" "$failed" 0
expect "concurrent: messages" "$(q "$T/conc.db" 'select count(*) from messages')" 4000
expect "concurrent: distinct hashes" "$(q "$T/conc.db" 'select count(distinct content_hash) from messages')" 4000
expect "concurrent: events" "$(q "$T/conc.db" 'select count(distinct address) from events')" 4000

# --- Done when 2: SIGKILL midway, integrity ok, a rerun stores the rest --
N=20000
$GEN --count $N --prefix kill --mbox "$T/kill.mbox"
"$BS" ingest --db "$T/kill.db" --batch 200 "$T/kill.mbox" 2>/dev/null &
pid=$!
stored=0
for _ in $(seq 1 600); do
    stored=$(q "$T/kill.db" 'select count(*) from messages' 2>/dev/null || echo 0)
    [ "${stored:-0}" -ge 1000 ] && break
    sleep 0.05
done
kill -KILL "$pid"
wait "$pid" 2>/dev/null
before=$(q "$T/kill.db" 'select count(*) from messages')
if [ "$before" -lt 1000 ] || [ "$before" -ge $N ]; then
    fail "kill: expected a partial database, found $before of $N"
fi
expect "kill: whole batches only" "$((before % 200))" 0
expect "kill: integrity" "$(q "$T/kill.db" 'pragma integrity_check')" ok
"$BS" ingest --db "$T/kill.db" "$T/kill.mbox" 2>"$T/err"
expect "kill: rerun exit" "$?" 0
grep -q "$((N - before)) stored, $before duplicates" "$T/err" ||
    fail "kill: rerun summary: $(cat "$T/err")"
expect "kill: all stored once" "$(q "$T/kill.db" 'select count(*) || count(distinct content_hash) from messages')" "$N$N"

# --- Done when 3: locked past the timeout -> 75, stored on the next try -
"$BS" ingest --db "$T/lock.db" < "$T/conc/0/p0-000000.eml"
hold_db_lock "$T/lock.db" "$T/locked" "$T/release"
locker=$!
"$BS" ingest --db "$T/lock.db" --busy-timeout 300 < "$MSG" 2>"$T/err"
expect "locked: exit" "$?" 75
expect "locked: one line on stderr" "$(wc -l < "$T/err")" 1
grep -q "standard input" "$T/err" || fail "locked: input not named: $(cat "$T/err")"
expect "locked: not stored" "$(q "$T/lock.db" "select count(*) from events where address = 'user-one-0@example.com'")" 0
touch "$T/release"
wait "$locker"
"$BS" ingest --db "$T/lock.db" --busy-timeout 300 < "$MSG"
expect "locked: next try exit" "$?" 0
expect "locked: stored on the next try" "$(q "$T/lock.db" "select count(*) from events where address = 'user-one-0@example.com'")" 1

# The same during a bulk run: 75 too, and nothing half-stored.
python3 - "$T/bulk2.db" "$T/locked2" "$T/release2" <<'EOF' &
import os, sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("begin exclusive")
open(sys.argv[2], "w").close()
while not os.path.exists(sys.argv[3]):
    time.sleep(0.01)
db.execute("rollback")
EOF
locker=$!
while [ ! -e "$T/locked2" ]; do sleep 0.01; done
"$BS" ingest --db "$T/bulk2.db" --busy-timeout 300 "$T/bulk.mbox" 2>"$T/err"
expect "locked bulk: exit" "$?" 75
touch "$T/release2"
wait "$locker"
"$BS" ingest --db "$T/bulk2.db" "$T/bulk.mbox" 2>/dev/null
expect "locked bulk: rerun" "$(q "$T/bulk2.db" 'select count(*) from messages')" 120

# --- --jobs: workers store the same rows in the same order --------------
$GEN --count 300 --prefix jobs --dir "$T/jobs"
for j in 1 3; do
    "$BS" ingest --jobs $j --db "$T/jobs$j.db" "$T/jobs" "$SOURCE_DIR/tests/fixtures/samples" 2>"$T/err"
    expect "ingest --jobs $j" "$?" 0
done
rows() {
    python3 -c 'import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
for r in db.execute("select m.id, m.source, m.kind, m.content_hash, e.address, e.reason, e.status "
                    "from messages m left join events e on e.message_id = m.id order by m.id, e.id"):
    print(r)' "$1"
}
rows "$T/jobs1.db" > "$T/jobs1.rows"
rows "$T/jobs3.db" > "$T/jobs3.rows"
expect "ingest --jobs 1 stored" "$(q "$T/jobs1.db" 'select count(*) > 300 from messages')" 1
cmp -s "$T/jobs1.rows" "$T/jobs3.rows" || fail "ingest --jobs 3: rows differ from --jobs 1"

if [ "$failures" -ne 0 ]; then
    echo "ingest.sh: $failures failure(s)" >&2
    exit 1
fi
echo "ingest.sh: all passed"
