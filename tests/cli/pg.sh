#!/bin/bash
# pg.sh - the PostgreSQL store against a real PostgreSQL 15, started by
# this test (tests/cli/lib/pg.bash: initdb in a temporary directory, as
# the user postgres when run as root, on 127.0.0.1:55432 and a Unix
# socket, stopped by PID on exit).
#
#   the connection string     URI, libpq keywords, $BOUNCESTAT_DB and the
#                             configuration file's database key
#   the same rows as SQLite   messages, events, reasons and the
#                             suppression state of the fixtures, written
#                             to both backends, compared column by column
#   stored once               the same message again, from another "host"
#   concurrency               8 processes x N pipe ingests: every message
#                             stored once, none failed; two hosts with
#                             overlapping inputs at once: each stored once
#   faults (standard input)   server down, unreachable, stopped mid-run,
#                             connection limit, read-only: exit 75, never
#                             another code, nothing half-written, and the
#                             redelivered messages stored once
#   errors                    name the host and libpq's message, never
#                             the password
#
# BOUNCESTAT_PG_N: ingests per process in the concurrency test (100 here,
# so that the suite stays minutes long on a shared machine; the issue's
# figure is 500: BOUNCESTAT_PG_N=500).
# Usage: bash pg.sh /path/to/bouncestat   (SOURCE_DIR set by CTest)
set -u

BS=${1:?usage: pg.sh BOUNCESTAT}
SOURCE_DIR=${SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$(dirname "$0")/lib/harness.bash"
. "$(dirname "$0")/lib/pg.bash"
GEN="python3 $SOURCE_DIR/tests/cli/gen-dsns.py"
FIXTURES=${FIXTURES:-$SOURCE_DIR/tests/fixtures}
N=${BOUNCESTAT_PG_N:-100}
PORT=55432
DEAD_PORT=55439 # nothing listens there
tmp=$(mktemp -d)
T=$tmp
trap 'pg_cleanup; rm -rf "$T"' EXIT
unset BOUNCESTAT_DB ORIGINAL_RECIPIENT RECIPIENT PGPASSWORD PGSERVICE
export XDG_DATA_HOME=$T/xdg BOUNCESTAT_CONFIG=

pg_start "$PORT" || exit 1
PASSWORD='pw-Zq8-never-printed'
psql_q "CREATE ROLE bs LOGIN PASSWORD '$PASSWORD'" >/dev/null
psql_q "CREATE DATABASE bounces OWNER bs" >/dev/null
# The credentials the libpq way: a password file.
printf '127.0.0.1:%s:*:bs:%s\n' "$PORT" "$PASSWORD" >"$T/pgpass"
chmod 600 "$T/pgpass"
export PGPASSFILE=$T/pgpass
DB="postgresql://bs@127.0.0.1:$PORT/bounces"

pq () { PSQL_DB=${PQ_DB:-bounces} psql_q "$1"; }

$GEN --count 4 --prefix s --dir "$T/s"

# --- The connection string, from every place ------------------------------
expect_rc "URI: stored" 0 "$BS" ingest --db "$DB" <"$T/s/s-000000.eml"
expect_rc "libpq keywords: the same message, a duplicate" 0 \
    "$BS" ingest --db "host=127.0.0.1 port=$PORT dbname=bounces user=bs" \
    <"$T/s/s-000000.eml"
BOUNCESTAT_DB="postgres://bs@127.0.0.1:$PORT/bounces" \
    expect_rc "\$BOUNCESTAT_DB: stored" 0 "$BS" ingest <"$T/s/s-000001.eml"
mkdir -p "$T/etc"
printf '[bouncestat]\ndatabase = host=127.0.0.1 port=%s dbname=bounces user=bs\n' \
    "$PORT" >"$T/etc/bouncestat.conf"
BOUNCESTAT_CONFIG=$T/etc/bouncestat.conf \
    expect_rc "configuration file: stored" 0 "$BS" ingest <"$T/s/s-000002.eml"
BOUNCESTAT_CONFIG=$T/etc/bouncestat.conf "$BS" config >"$T/config.out" 2>&1
grep -q "^database *= host=127.0.0.1 port=$PORT dbname=bounces user=bs " "$T/config.out"
check "config: the connection string is not taken for a relative path" $?
[ "$(pq 'SELECT count (*) FROM messages')" = 3 ]
check "three messages, the duplicate stored once" $?
[ "$(pq 'SELECT version FROM bouncestat_schema')" = 1 ]
check "schema-pg.sql version 1 applied" $?
[ "$(pq "SELECT count (*) FROM events e JOIN raw_messages r USING (message_id)")" = 3 ]
check "each message has its event and its raw message" $?
this=$(date -u +%Y_%m) next=$(date -u -d "$(date -u +%Y-%m-15) + 1 month" +%Y_%m)
[ "$(pq "SELECT string_agg (c.relname, ',' ORDER BY c.relname) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'events'::regclass")" = "events_${this},events_${next},events_default" ]
check "events: partitions of this month and the next, and the default" $?
[ "$(pq "SELECT tableoid::regclass FROM events GROUP BY 1")" = events_default ]
check "events of November 2026 (no partition of their own) in events_default" $?
[ -z "$(ls -A "$T/xdg" 2>/dev/null)" ]
check "no SQLite file made beside" $?

# --- The same rows as SQLite ------------------------------------------------
# Every fixture into both, then the columns compared (ids aside: the
# order of the files is the same, so are they).
psql_q "CREATE DATABASE same OWNER bs" >/dev/null
SAME="postgresql://bs@127.0.0.1:$PORT/same"
find "$FIXTURES" -type f -name '*.eml' | sort >"$T/fixtures"
[ -s "$T/fixtures" ]; check "fixtures to compare" $?
rc_sqlite=0 rc_pg=0
while read -r f; do
    "$BS" ingest --db "$T/same.db" "$f" >/dev/null 2>&1 || rc_sqlite=1
    "$BS" ingest --db "$SAME" "$f" >/dev/null 2>&1 || rc_pg=1
done <"$T/fixtures"
check "fixtures into SQLite" $rc_sqlite
check "fixtures into PostgreSQL" $rc_pg
MCOLS="content_hash, source, kind, mta, reporting_mta, arrival_date, subject, bounce_from, bounce_date, orig_message_id, orig_from, orig_to, orig_subject, orig_date, verp_address, warnings, recipients_dropped, raw_size, raw_truncated, classified"
ECOLS="m.content_hash, e.position, e.address, e.domain, e.registrable_domain, e.original_recipient, e.action, e.outcome, e.status, e.status_source, e.smtp_code, e.diagnostic_type, e.diagnostic, e.remote_mta, e.last_attempt, e.reason, e.hard, e.permanent, e.rule, e.feedback_type, e.event_time, e.event_time_source, e.smtp_command, e.verified"
SCOLS="address, domain, registrable_domain, last_delivered, bounces, hard_bounces, soft_bounces, first_bounce, last_bounce, first_soft, last_soft, last_reason, last_status, hard_reason, hard_status"
dump_sqlite () {
    python3 - "$T/same.db" "$1" <<'PY'
import sqlite3, sys
for row in sqlite3.connect(sys.argv[1]).execute(sys.argv[2]):
    print("|".join("" if v is None else str(v) for v in row))
PY
}
dump_pg () {
    PSQL_DB=same psql_q "COPY ($1) TO STDOUT WITH (FORMAT csv, DELIMITER '|', NULL '')" |
        python3 -c 'import csv, sys
for row in csv.reader(sys.stdin, delimiter="|"):
    print("|".join(row))'
}
for what in messages events suppression reasons raw; do
    case $what in
    messages) sql="SELECT $MCOLS FROM messages ORDER BY content_hash" ;;
    events) sql="SELECT $ECOLS FROM events e JOIN messages m ON m.id = e.message_id ORDER BY m.content_hash, e.position" ;;
    suppression) sql="SELECT $SCOLS FROM suppression_state ORDER BY address" ;;
    reasons) sql="SELECT name, who, hard FROM reasons ORDER BY name" ;;
    raw) sql="SELECT m.content_hash, length (r.raw) FROM raw_messages r JOIN messages m ON m.id = r.message_id ORDER BY 1" ;;
    esac
    dump_sqlite "$sql" >"$T/$what.sqlite"
    dump_pg "$sql" >"$T/$what.pg"
    [ -s "$T/$what.sqlite" ] && cmp -s "$T/$what.sqlite" "$T/$what.pg"
    check "same $what in both ($(wc -l <"$T/$what.sqlite") rows)" $?
    cmp -s "$T/$what.sqlite" "$T/$what.pg" ||
        diff "$T/$what.sqlite" "$T/$what.pg" | head -5 | sed 's/^/# /'
done

# The readers on both: the same output byte for byte (on PostgreSQL they
# read a snapshot of the history into memory, bounce-query-pg.c).
addr=$("$BS" suppress --db "$T/same.db" | awk 'NR == 1 { print $1 }')
[ -n "$addr" ]; check "an address to show" $?
for cmd in "report --format=json" "report" "report --format=csv --by=domain" \
    "suppress" "suppress --format=json" "show $addr"; do
    # shellcheck disable=SC2086 # the words of $cmd
    "$BS" $cmd --db "$T/same.db" >"$T/out.sqlite" 2>&1
    rc1=$?
    # shellcheck disable=SC2086
    "$BS" $cmd --db "$SAME" >"$T/out.pg" 2>&1
    rc2=$?
    [ "$rc1" = 0 ] && [ "$rc2" = 0 ] && [ -s "$T/out.sqlite" ] &&
        cmp -s "$T/out.sqlite" "$T/out.pg"
    check "$cmd: the same on both ($(wc -c <"$T/out.sqlite") bytes)" $?
done
expect_rc "report on a database without a history: 66" 66 \
    "$BS" report --db "postgresql://bs@127.0.0.1:$PORT/postgres"
expect_err "report without a history: says so" \
    "bouncestat: PostgreSQL database postgres on 127.0.0.1:$PORT has no bouncestat history (run 'bouncestat ingest' first)"

# --- Concurrency: 8 writers x N pipe ingests ------------------------------
psql_q "CREATE DATABASE conc OWNER bs" >/dev/null
CONC="postgresql://bs@127.0.0.1:$PORT/conc"
for w in 1 2 3 4 5 6 7 8; do $GEN --count "$N" --prefix "c$w" --dir "$T/c$w"; done
writer () { # dir: every file through a pipe; the failures counted
    local f bad=0
    for f in "$1"/*.eml; do
        "$BS" ingest --db "$CONC" <"$f" 2>>"$1.err" || bad=$((bad + 1))
    done
    echo "$bad" >"$1.bad"
}
pids=()
for w in 1 2 3 4 5 6 7 8; do writer "$T/c$w" & pids+=($!); done
wait "${pids[@]}" # (not the server)
bad=$(awk '{ s += $1 } END { print s + 0 }' "$T"/c?.bad)
[ "$bad" = 0 ]; check "8 x $N pipe ingests: none failed ($bad)" $?
[ "$bad" = 0 ] || head -3 "$T"/c?.err | sed 's/^/# /'
PQ_DB=conc
[ "$(pq 'SELECT count (*) FROM messages')" = $((8 * N)) ]
check "8 x $N messages stored" $?
[ "$(pq 'SELECT count (*) FROM events')" = $((8 * N)) ]
check "one event each" $?
[ "$(pq 'SELECT count (*) FROM suppression_state WHERE hard_bounces = 1')" = $((8 * N)) ]
check "the suppression state of every address" $?
[ "$(pq 'SELECT count (*) FROM suppression_stale')" = 0 ]
check "nothing left stale" $?

# Two hosts, overlapping inputs, at once: each message stored once.
M=$((N / 2))
$GEN --count $((M * 3)) --prefix h --dir "$T/h"
mkdir "$T/hA" "$T/hB"
find "$T/h" -name '*.eml' | sort | head -n $((M * 2)) | xargs cp -t "$T/hA/"
find "$T/h" -name '*.eml' | sort | tail -n $((M * 2)) | xargs cp -t "$T/hB/"
host () { # dir, pid file
    local f bad=0
    for f in "$1"/*.eml; do "$BS" ingest --db "$CONC" <"$f" 2>>"$1.err" || bad=$((bad + 1)); done
    echo "$bad" >"$1.bad"
}
host "$T/hA" & pids=($!)
host "$T/hB" & pids+=($!)
wait "${pids[@]}"
[ "$(cat "$T/hA.bad")" = 0 ] && [ "$(cat "$T/hB.bad")" = 0 ]
check "two hosts: none failed" $?
[ "$(pq "SELECT count (*) FROM messages")" = $((8 * N + M * 3)) ]
check "two hosts with $((M * 2)) messages each, $M in common: $((M * 3)) stored" $?
[ "$(pq "SELECT count (*) FROM (SELECT address FROM events GROUP BY address HAVING count (*) > 1) d")" = 0 ]
check "no message twice (one event per address)" $?
PQ_DB=

# --- Faults, from standard input: always 75 -------------------------------
$GEN --count 40 --prefix f --dir "$T/f"
F0=$T/f/f-000000.eml
msgs () { pq 'SELECT count (*) FROM messages'; }
before=$(msgs)

expect_rc "unreachable (nothing on port $DEAD_PORT): 75" 75 \
    "$BS" ingest --db "postgresql://bs@127.0.0.1:$DEAD_PORT/bounces" <"$F0"
grep -q "PostgreSQL database bounces on 127.0.0.1:$DEAD_PORT: cannot connect: connection to server at \"127.0.0.1\", port $DEAD_PORT failed" "$tmp/err"
check "unreachable: the host, port and libpq's message" $?

expect_rc "wrong password in the URI: 75" 75 \
    "$BS" ingest --db "postgresql://bs:not-$PASSWORD@127.0.0.1:$PORT/bounces" <"$F0"
grep -q 'password authentication failed for user "bs"' "$tmp/err"
check "wrong password: libpq's message" $?
! grep -q -e "$PASSWORD" "$tmp/err"
check "wrong password: the password not in the message" $?
expect_rc "wrong password, with a PATH: 75 (the server refused: try again)" 75 \
    "$BS" ingest --db "postgresql://bs:not-$PASSWORD@127.0.0.1:$PORT/bounces" "$F0"
! grep -q -e "$PASSWORD" "$tmp/err"
check "with a PATH: the password not in the message either" $?

psql_q "ALTER ROLE bs CONNECTION LIMIT 0" >/dev/null
expect_rc "connection limit reached: 75" 75 "$BS" ingest --db "$DB" <"$F0"
grep -q 'too many connections for role "bs"' "$tmp/err"
check "connection limit: libpq's message" $?
psql_q "ALTER ROLE bs CONNECTION LIMIT -1" >/dev/null

psql_q "ALTER DATABASE bounces SET default_transaction_read_only = on" >/dev/null
expect_rc "read-only server: 75" 75 "$BS" ingest --db "$DB" <"$F0"
grep -q 'read-only transaction' "$tmp/err"
check "read-only: libpq's message" $?
expect_rc "read-only, with a PATH: 73 (may not write)" 73 "$BS" ingest --db "$DB" "$F0"
psql_q "ALTER DATABASE bounces RESET default_transaction_read_only" >/dev/null
[ "$(msgs)" = "$before" ]; check "the faults stored nothing" $?

pg_stop
expect_rc "server down: 75" 75 "$BS" ingest --db "$DB" <"$F0"
grep -q "PostgreSQL database bounces on 127.0.0.1:$PORT: cannot connect" "$tmp/err"
check "server down: the host named" $?
pg_launch || exit 1

# Stopped mid-run: every exit 0 or 75; after the restart the messages
# given 75 are delivered again (and, to be sure, all of them): each
# stored once, none half-written.
: >"$T/rcs"
( for f in "$T"/f/*.eml; do
      "$BS" ingest --db "$DB" <"$f" 2>/dev/null
      echo "$? $f" >>"$T/rcs"
  done ) &
runner=$!
while [ "$(wc -l <"$T/rcs")" -lt 10 ]; do sleep 0.05; done
pg_stop
wait "$runner"
pg_launch || exit 1
[ -z "$(awk '$1 != 0 && $1 != 75' "$T/rcs")" ]
check "stopped mid-run: only exit 0 and 75 ($(cut -d' ' -f1 "$T/rcs" | sort | uniq -c | tr -s ' ' | paste -sd,))" $?
grep -q '^75 ' "$T/rcs"; check "stopped mid-run: some got 75" $?
stored0=$(awk '$1 == 0' "$T/rcs" | wc -l)
# (A commit the server made just before it stopped may still have been
# answered 75: the redelivery below then finds it stored.)
[ "$(msgs)" -ge $((before + stored0)) ]
check "stopped mid-run: every message given 0 is stored" $?
[ "$(pq "SELECT count (*) FROM messages m WHERE NOT EXISTS (SELECT 1 FROM raw_messages r WHERE r.message_id = m.id) OR NOT EXISTS (SELECT 1 FROM events e WHERE e.message_id = m.id)")" = 0 ]
check "nothing half-written" $?
bad=0
for f in "$T"/f/*.eml; do "$BS" ingest --db "$DB" <"$f" 2>/dev/null || bad=1; done
check "redelivered after the restart: exit 0" $bad
[ "$(msgs)" = $((before + 40)) ]
check "redelivered: each of the 40 stored once" $?

if [ "$fails" != 0 ]; then
    echo "# server log:"; tail -20 "$pg_dir/server.log" | sed 's/^/# /'
fi
echo "1..$n"
[ "$fails" = 0 ]
