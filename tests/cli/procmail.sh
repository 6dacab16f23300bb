#!/bin/bash
# procmail.sh - tools/procmailrc with the real bouncestat: a bounce is
# stored (with the VERP address from X-Original-To) and procmail exits 0;
# with the database locked procmail exits 75 and files nothing in the
# mailbox, so the MTA retries; the retry stores it.
#
# Needs procmail and formail: without them it is skipped (exit 77; a
# failure under CI=true).  tools/install-deps --test installs them.
set -u

BS=${1:?usage: procmail.sh BOUNCESTAT}
SOURCE_DIR=${SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$(dirname "$0")/lib/harness.bash"
if ! command -v procmail >/dev/null || ! command -v formail >/dev/null; then
    skip "procmail.sh: procmail or formail is not installed (tools/install-deps --test installs it)"
fi
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
unset BOUNCESTAT_DB ORIGINAL_RECIPIENT RECIPIENT

python3 "$SOURCE_DIR/tests/cli/gen-dsns.py" --count 1 --prefix pm --dir "$T/m"
{
    echo "From MAILER-DAEMON  Tue Nov  3 10:00:00 2026"
    echo "X-Original-To: bounces+who=example.net@example.org"
    cat "$T/m/pm-000000.eml"
} > "$T/msg"
sed "s#/usr/local/bin/bouncestat ingest#$BS ingest --db $T/pm.db --busy-timeout 300#" \
    "$SOURCE_DIR/tools/procmailrc" > "$T/rc"
grep -q -- "--db $T/pm.db" "$T/rc" || fail "the recipe has no ingest line to test"
pm() { HOME=$T procmail DEFAULT="$T/mbox" ORGMAIL="$T/mbox" "$T/rc" < "$T/msg" 2>/dev/null; }

# Locked: 75, nothing in the mailbox, nothing stored.
"$BS" ingest --db "$T/pm.db" < /dev/null
hold_db_lock "$T/pm.db" "$T/locked" "$T/release"
locker=$!
pm
expect "locked: procmail exit" "$?" 75
[ -s "$T/mbox" ] && fail "locked: the bounce was filed in the mailbox"
expect "locked: nothing stored" "$(q "$T/pm.db" "select count(*) from events")" 0
touch "$T/release"
wait "$locker"

# The retry: stored, exit 0, the VERP address recovered.
pm
expect "retry: procmail exit" "$?" 0
[ -s "$T/mbox" ] && fail "retry: the bounce was filed in the mailbox"
expect "retry: stored" "$(q "$T/pm.db" "select address from events")" "user-pm-0@example.com"
expect "retry: VERP" "$(q "$T/pm.db" "select verp_address from messages where kind = 'dsn'")" \
    "who@example.net"

[ "$failures" -eq 0 ] || { echo "procmail.sh: $failures failure(s)" >&2; exit 1; }
echo "procmail.sh: all passed"
