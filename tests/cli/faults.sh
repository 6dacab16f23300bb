#!/bin/bash
# faults.sh - what `bouncestat ingest` does under each fault of the fault
# table (docs/faults.md), from standard input (the MTA's pipe: exit 0
# stored, else 75 so that the MTA keeps the message) and with a PATH (the
# real sysexits code); and that once the fault is gone the message is
# stored: none is lost.
#
#   rules broken or unreadable     stdin: stored unclassified, 0; PATH: 78
#   newer schema                   stdin: 75; PATH: 78; database untouched
#   directory or file unwritable   stdin: 75; PATH: 73; the cause named
#   disk full                      disk-full.sh (root only)
#   input truncated while read     PATH: 66 for it, the rest stored
#   standard input past the limit  stored cut (raw_truncated), 0
#
# Permissions are tested as the user nobody when run as root.  Database
# locked and SIGKILL mid-bulk are in ingest.sh, disk full in
# disk-full.sh.
#
# Usage: bash faults.sh /path/to/bouncestat   (SOURCE_DIR set by CTest)
set -u

BS=${1:?usage: faults.sh BOUNCESTAT}
SOURCE_DIR=${SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$(dirname "$0")/lib/harness.bash"
GEN="python3 $SOURCE_DIR/tests/cli/gen-dsns.py"
tmp=$(mktemp -d)
T=$tmp
trap 'rm -rf "$T"' EXIT
unset BOUNCESTAT_DB ORIGINAL_RECIPIENT RECIPIENT
export XDG_DATA_HOME=$T/xdg


$GEN --count 4 --prefix f --dir "$T/m"
M0=$T/m/f-000000.eml
M1=$T/m/f-000001.eml
M2=$T/m/f-000002.eml

# --- Rules broken (a typo) or unreadable ---------------------------------
mkdir "$T/broken"
cp "$SOURCE_DIR"/rules/*.rules "$T/broken/"
last_rules=$(find "$T/broken" -name '*.rules' | sort | tail -1)
echo '[rule typo' >> "$last_rules"
expect_rc "broken rules, stdin: stored" 0 \
    "$BS" ingest --db "$T/r.db" --rules "$T/broken" < "$M0"
grep -q 'bad rules' "$T/err"; check "broken rules, stdin: the rules error is said" $?
grep -q 'standard input: stored unclassified' "$T/err"
check "broken rules, stdin: 'stored unclassified' is said" $?
[ "$(q "$T/r.db" 'select count(*) || classified || raw_truncated from messages')" = 100 ]
check "broken rules: one message, classified = 0, raw whole" $?
[ "$(q "$T/r.db" 'select count(*) from events')" = 0 ]
check "broken rules: no events (nothing counts it)" $?
[ "$(q "$T/r.db" "select count(*) from messages where warnings like '%not classified%'")" = 1 ]
check "broken rules: the warning is stored" $?
expect_rc "broken rules: suppress runs" 0 "$BS" suppress --db "$T/r.db"
[ ! -s "$T/out" ]; check "broken rules: a 5.1.1 stored unclassified suppresses nothing" $?
expect_rc "broken rules: report runs" 0 "$BS" report --db "$T/r.db" --by reason --format=csv
[ "$(wc -l < "$T/out")" -le 1 ]; check "broken rules: report counts no bounce" $?
expect_rc "broken rules, PATH: EX_CONFIG" 78 \
    "$BS" ingest --db "$T/r.db" --rules "$T/broken" "$M1"
[ "$(q "$T/r.db" 'select count(*) from messages')" = 1 ]
check "broken rules, PATH: nothing stored" $?
BOUNCESTAT_RULES_DIR=$T/broken expect_rc "broken rules (BOUNCESTAT_RULES_DIR), stdin" 0 \
    "$BS" ingest --db "$T/r.db" < "$M1"
[ "$(q "$T/r.db" 'select count(*) from messages where classified = 0')" = 2 ]
check "broken rules (installed rules dir): stored unclassified too" $?
expect_rc "broken --decoders file, stdin: stored" 0 \
    "$BS" ingest --db "$T/r.db" --decoders "$last_rules" < "$M2"
[ "$(q "$T/r.db" 'select count(*) from messages where classified = 0')" = 3 ]
check "broken --decoders: stored unclassified" $?
expect_rc "missing rules directory, stdin: stored" 0 \
    "$BS" ingest --db "$T/r2.db" --rules "$T/no-such-dir" < "$M0"
[ "$(q "$T/r2.db" 'select classified from messages')" = 0 ]
check "missing rules directory: unclassified" $?
expect_rc "rules fixed: the next one is classified" 0 "$BS" ingest --db "$T/r2.db" < "$M1"
[ "$(q "$T/r2.db" 'select count(*) from events')" = 1 ]
check "rules fixed: events again" $?

# --- Newer schema ----------------------------------------------------------
"$BS" ingest --db "$T/new.db" < "$M0"
q "$T/new.db" 'pragma user_version = 99' > /dev/null
expect_rc "newer schema, stdin: 75" 75 "$BS" ingest --db "$T/new.db" < "$M1"
grep -q 'newer' "$T/err"; check "newer schema: said" $?
expect_rc "newer schema, PATH: 78" 78 "$BS" ingest --db "$T/new.db" "$M1"
[ "$(q "$T/new.db" 'pragma user_version')$(q "$T/new.db" 'select count(*) from messages')" = 991 ]
check "newer schema: database untouched" $?

# --- Permissions: the directory or the file may not be written ------------
# As root, run as nobody (root may write anything); the program and the
# messages are copied where nobody can read them.
if [ "$(id -u)" = 0 ]; then
    chmod 755 "$T"
    cp "$BS" "$T/bs"
    chmod 755 "$T/bs"
    chmod -R a+rX "$T/m" "$SOURCE_DIR/rules" 2>/dev/null
    as() { setpriv --reuid=65534 --regid=65534 --clear-groups -- "$@"; }
    BSU=$T/bs
else
    as() { "$@"; }
    BSU=$BS
fi
mkdir -p "$T/perm/ro" "$T/perm/wal"
[ "$(id -u)" = 0 ] && chown 65534 "$T/perm/ro" "$T/perm/wal"
as "$BSU" ingest --db "$T/perm/wal/x.db" "$M0" 2>/dev/null
[ "$(q "$T/perm/wal/x.db" 'select count(*) from messages')" = 1 ]
check "permissions: the first message stored" $?
chmod 555 "$T/perm/ro" "$T/perm/wal"
expect_rc "directory unwritable, stdin: 75" 75 as "$BSU" ingest --db "$T/perm/ro/x.db" < "$M1"
grep -q "may not write the directory $T/perm/ro" "$T/err"
check "directory unwritable: the directory is named" $?
grep -qi 'full' "$T/err"; [ $? = 1 ]; check "directory unwritable: not called 'disk full'" $?
expect_rc "directory unwritable, PATH: 73" 73 as "$BSU" ingest --db "$T/perm/ro/x.db" "$M1"
expect_rc "-wal cannot be created, stdin: 75" 75 as "$BSU" ingest --db "$T/perm/wal/x.db" < "$M1"
grep -q "may not write the directory $T/perm/wal.*-wal" "$T/err"
check "-wal cannot be created: the directory and -wal are named" $?
chmod 755 "$T/perm/wal"
chmod 444 "$T/perm/wal/x.db"
expect_rc "database file read-only, stdin: 75" 75 as "$BSU" ingest --db "$T/perm/wal/x.db" < "$M1"
grep -q "may not write the file $T/perm/wal/x.db" "$T/err"
check "database file read-only: the file is named" $?
chmod 600 "$T/perm/wal/x.db"
# Left by the try above with the database's mode: named, then fixed too.
expect_rc "stale read-only -shm, stdin: 75" 75 as "$BSU" ingest --db "$T/perm/wal/x.db" < "$M1"
grep -q "may not write the file $T/perm/wal/x.db-shm" "$T/err"
check "stale read-only -shm: the -shm file is named" $?
chmod 600 "$T/perm/wal/x.db-shm"
expect_rc "permissions fixed: stored on the retry" 0 as "$BSU" ingest --db "$T/perm/wal/x.db" < "$M1"
[ "$(q "$T/perm/wal/x.db" 'select count(*) from messages')" = 2 ]
check "permissions fixed: both messages" $?
# Rules this user cannot read (a checkout under /root): kept unclassified.
mkdir "$T/perm/rules"
cp "$SOURCE_DIR"/rules/*.rules "$T/perm/rules/"
chmod 000 "$(find "$T/perm/rules" -name '*.rules' | sort | head -1)"
mkdir "$T/perm/db"
[ "$(id -u)" = 0 ] && chown 65534 "$T/perm/db"
expect_rc "unreadable rules, stdin: stored" 0 \
    as "$BSU" ingest --db "$T/perm/db/u.db" --rules "$T/perm/rules" < "$M2"
[ "$(q "$T/perm/db/u.db" 'select classified from messages')" = 0 ]
check "unreadable rules: stored unclassified" $?

# --- Input truncated while it is read --------------------------------------
# Deterministic: the database is held locked, so the writer waits and the
# reader stops a few batches in (at most 2 batches wait for the writer);
# the mbox is truncated once ingest has read from it (fdinfo pos > 0),
# then the lock is released.
$GEN --count 4000 --prefix big --mbox "$T/big.mbox"
size=$(stat -c %s "$T/big.mbox")
"$BS" ingest --db "$T/t.db" < "$M0"
hold_db_lock "$T/t.db" "$T/locked" "$T/release"
locker=$!
"$BS" ingest --db "$T/t.db" --batch 10 --busy-timeout 60000 "$T/big.mbox" "$M2" \
    >"$T/out" 2>"$T/err" &
pid=$!
pos=0
while [ "${pos:-0}" = 0 ]; do
    for fd in "/proc/$pid/fd/"*; do
        if [ "$(readlink "$fd")" = "$T/big.mbox" ]; then
            pos=$(awk '/^pos:/ {print $2}' "/proc/$pid/fdinfo/${fd##*/}")
        fi
    done
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.01
done
truncate -s $((size / 3)) "$T/big.mbox"
touch "$T/release"
wait "$locker"
wait "$pid"; rc=$?
[ "$rc" = 66 ]; check "truncated while read, PATH: 66 (got $rc)" $?
grep -q "big.mbox: the file shrank from $size to $((size / 3)) bytes while it was read" "$T/err"
check "truncated while read: said, with the sizes" $?
stored=$(q "$T/t.db" "select count(*) from messages where source like '%big.mbox%'")
[ "$stored" -gt 0 ] && [ "$stored" -lt 4000 ]
check "truncated while read: the messages read before it are stored ($stored)" $?
[ "$(q "$T/t.db" "select count(*) from messages where source = '$M2'")" = 1 ]
check "truncated while read: the next PATH is still read and stored" $?
[ "$(q "$T/t.db" 'pragma integrity_check')" = ok ]; check "truncated while read: integrity" $?
# From standard input, a regular file is checked the same way; a pipe
# cannot shrink.

# --- Standard input past the limit ------------------------------------------
{
    cat "$M0"
    yes 'an attachment line of a message much bigger than the limit, 0123456789' |
        head -c 3000000
} > "$T/huge.eml"
huge=$(stat -c %s "$T/huge.eml")
# Through a pipe, as the MTA gives it (cat: not a regular file).
# shellcheck disable=SC2002
cat "$T/huge.eml" | "$BS" ingest --db "$T/h.db" --max-input 100000 2>"$T/err"
rc=$?
[ "$rc" = 0 ]; check "stdin past --max-input: stored, exit 0 (got $rc)" $?
grep -q "message of $huge bytes: the first 100000 were kept and classified" "$T/err"
check "stdin past --max-input: said on stderr" $?
[ "$(q "$T/h.db" 'select raw_size || raw_truncated from messages')" = "${huge}1" ]
check "stdin past --max-input: raw_size is the whole size, raw_truncated" $?
[ "$(q "$T/h.db" "select count(*) from events where status = '5.1.1'")" = 1 ]
check "stdin past --max-input: what was read is classified" $?
[ "$(q "$T/h.db" "select count(*) from messages where warnings like '%only the first 100000 were read%'")" = 1 ]
check "stdin past --max-input: the warning is stored" $?
expect_rc "--max-input 0 is a usage error (stdin: 75)" 75 "$BS" ingest --db "$T/h.db" --max-input 0 < "$M0"

echo "$((n - fails)) passed, $fails failed"
[ "$fails" = 0 ]
