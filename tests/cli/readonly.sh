#!/bin/bash
# readonly.sh - `report`, `suppress` and `show` for a user who can read
# the database but not write its directory (another user, a read-only
# mount): SQLite cannot create the WAL's -shm file there.  Both states a
# reader meets: no write-ahead log (every writer closed; the file alone
# is read, "immutable"), and a writer still open with transactions only
# in its -wal file (read through the existing -shm, read-only).
#
# As root the reader is `nobody` (setpriv); otherwise this user, with the
# directory made read-only.  Skips (77) when neither can be arranged.  As
# root, also through a read-only bind mount (in a mount namespace of its
# own), when the system allows one.
#
# Usage: bash readonly.sh /path/to/bouncestat   (SOURCE_DIR set by CTest)
set -u

BS=${1:?usage: readonly.sh BOUNCESTAT}
SOURCE_DIR=${SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
GEN="python3 $SOURCE_DIR/tests/cli/gen-dsns.py"
T=$(mktemp -d)
trap 'chmod -R u+w "$T" 2>/dev/null; rm -rf "$T"' EXIT
unset BOUNCESTAT_DB
export NO_COLOR=1
. "$(dirname "$0")/lib/harness.bash"
tmp=$T

chmod 755 "$T"
DB=$T/db/bounces.db
$GEN --count 2 --prefix ro --dir "$T/in" >/dev/null
"$BS" ingest --db "$DB" "$T/in" 2>/dev/null ||
    { echo "Bail out! ingest failed"; exit 1; }
chmod 644 "$DB"
chmod 755 "$T/db"

# as_reader COMMAND...: runs it as a user without write access to $T/db.
if [ "$(id -u)" = 0 ]; then
    if ! command -v setpriv >/dev/null; then
        echo "SKIP: running as root and setpriv (util-linux) is missing: cannot become another user"
        exit 77
    fi
    as_reader() { setpriv --reuid=nobody --regid=nogroup --clear-groups -- "$@"; }
    if ! as_reader "$BS" --help >/dev/null 2>&1; then
        echo "SKIP: user nobody cannot run $BS (a checkout under a private directory such as /root?)"
        exit 77
    fi
    if as_reader touch "$T/db/probe" 2>/dev/null; then
        echo "SKIP: user nobody can write $T/db"
        exit 77
    fi
else
    as_reader() { "$@"; }
    chmod 555 "$T/db"
    if touch "$T/db/probe" 2>/dev/null; then
        echo "SKIP: $T/db stays writable after chmod 555"
        exit 77
    fi
fi

# on_ro_mount COMMAND...: as root, runs it in a mount namespace where
# $T/rodb is $T/db mounted read-only (gone with the namespace); 1 when
# that cannot be arranged.
RODB=$T/rodb/bounces.db
mkdir "$T/rodb"
on_ro_mount() {
    # shellcheck disable=SC2016 # $1 and $2 are the inner shell's
    unshare -m sh -c 'mount --bind "$1" "$2" && mount -o remount,bind,ro "$2" &&
        shift 2 && exec "$@"' sh "$T/db" "$T/rodb" "$@"
}
ro_mount=no
# shellcheck disable=SC2016 # $1 is the inner shell's
if [ "$(id -u)" = 0 ] && command -v unshare >/dev/null &&
    on_ro_mount sh -c '! touch "$1/probe" 2>/dev/null' sh "$T/rodb" 2>/dev/null; then
    ro_mount=yes
else
    echo "# no read-only mount (needs root and mount namespaces): those checks skipped"
fi

# --- No write-ahead log: every writer has closed the database -----------
[ ! -e "$DB-wal" ] && [ ! -e "$DB-shm" ]; check "no -wal, no -shm" $?
expect_rc "report" 0 as_reader "$BS" report --db "$DB"
grep -q "bounced recipients  2" "$tmp/out"; check "report counts" $?
expect_err "report: no error" ""
expect_rc "suppress" 0 as_reader "$BS" suppress --db "$DB"
[ "$(cat "$tmp/out")" = "user-ro-0@example.com
user-ro-1@example.com" ]; check "suppress lists both" $?
expect_rc "show" 0 as_reader "$BS" show --db "$DB" user-ro-1@example.com
grep -q "userunknown" "$tmp/out"; check "show: the event" $?
[ ! -e "$DB-wal" ] && [ ! -e "$DB-shm" ]; check "the reader created nothing" $?
if [ "$ro_mount" = yes ]; then
    expect_rc "suppress on a read-only mount" 0 on_ro_mount "$BS" suppress --db "$RODB"
    [ "$(cat "$tmp/out")" = "user-ro-0@example.com
user-ro-1@example.com" ]; check "read-only mount: suppress lists both" $?
    expect_rc "report on a read-only mount" 0 on_ro_mount "$BS" report --db "$RODB"
    expect_rc "show on a read-only mount" 0 on_ro_mount "$BS" show --db "$RODB" @example.com
fi

# --- A writer holds the database open; its commit is in the -wal only ---
chmod 755 "$T/db"
coproc WRITER {
    python3 -c '
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("pragma wal_autocheckpoint = 0")
db.execute("insert into messages (content_hash, received_at, kind, raw_size)"
           " values (?, ?, ?, 1)", ("w" * 64, "2026-11-04T00:00:00Z", "dsn"))
db.execute("insert into events (message_id, position, address, outcome,"
           " reason, hard, event_time, event_time_source) values"
           " (last_insert_rowid(), 0, ?, ?, ?, 1, ?, ?)",
           ("walonly@example.com", "bounce", "userunknown",
            "2026-11-04T00:00:00Z", "received_at"))
print("ready", flush=True)
sys.stdin.read()
' "$DB"
}
read -r ready <&"${WRITER[0]}"
[ "$ready" = ready ]; check "writer ready" $?
[ "$(id -u)" = 0 ] || chmod 555 "$T/db"
[ -s "$DB-wal" ]; check "the writer's commit is in the -wal" $?
expect_rc "suppress with a writer open" 0 as_reader "$BS" suppress --db "$DB"
grep -qx "walonly@example.com" "$tmp/out"; check "suppress reads the -wal" $?
expect_rc "report with a writer open" 0 as_reader "$BS" report --db "$DB"
grep -q "bounced recipients  3" "$tmp/out"; check "report reads the -wal" $?
if [ "$ro_mount" = yes ]; then
    expect_rc "suppress on a read-only mount, writer open" 0 on_ro_mount "$BS" suppress --db "$RODB"
    grep -qx "walonly@example.com" "$tmp/out"; check "read-only mount: the -wal is read" $?
fi
wfd=${WRITER[1]}
exec {wfd}>&-
wait "$WRITER_PID"

# --- A user who cannot read the file is told so (66, not "try later") ---
if [ "$(id -u)" = 0 ]; then
    chmod 600 "$DB"
    expect_rc "unreadable database" 66 as_reader "$BS" suppress --db "$DB"
    expect_err "unreadable database: the cause" \
        "bouncestat: database $DB: cannot read it: Permission denied"
fi

echo "1..$n"
[ "$fails" = 0 ]
