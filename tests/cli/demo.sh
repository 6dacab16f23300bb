#!/bin/bash
# demo.sh - tools/demo with the built program (BOUNCESTAT=..., nothing
# installed or built): it runs, keeps its database, and ends with
# commands to try next that work on that database as printed.
#
# Usage: bash demo.sh /path/to/bouncestat   (SOURCE_DIR set by CTest)
set -u

BS=${1:?usage: demo.sh BOUNCESTAT}
BS=$(cd "$(dirname "$BS")" && pwd)/$(basename "$BS")
SOURCE_DIR=${SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$(dirname "$0")/lib/harness.bash"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
unset BOUNCESTAT_DB LANGUAGE LC_ALL LC_MESSAGES
export LANG=C.UTF-8 NO_COLOR=1

BOUNCESTAT=$BS DEMO_DB=$T/demo.db bash "$SOURCE_DIR/tools/demo" >"$T/out" 2>"$T/err"
expect "tools/demo exit" "$?" 0
[ -s "$T/demo.db" ] || fail "the demo did not keep its database"
expect "the demo's database: the 10 samples" \
    "$(python3 -c 'import sqlite3, sys; print(sqlite3.connect(sys.argv[1]).execute("SELECT count (*) FROM messages").fetchone()[0])' "$T/demo.db")" 10

# The end: the database, then the commands, each of which works.
sed -n '/^==== Try next/,$p' "$T/out" >"$T/try"
grep -q "^==== Try next: the database stays in $T/demo.db\$" "$T/try" ||
    fail "the demo does not say where its database stays: $(cat "$T/try")"
grep -qx "  export BOUNCESTAT_DB=$T/demo.db" "$T/try" || fail "no export line"
n=0
while IFS= read -r line; do
    cmd=${line#  }
    cmd=${cmd%%   #*}
    case $cmd in
    "$BS report --by domain")
        BOUNCESTAT_DB=$T/demo.db $cmd >"$T/c" 2>&1 || fail "$cmd: exit $?"
        grep -q "remote.test" "$T/c" || fail "$cmd: no remote.test: $(cat "$T/c")"
        n=$((n + 1)) ;;
    "$BS show "*)
        address=${cmd#"$BS show "}
        BOUNCESTAT_DB=$T/demo.db $cmd >"$T/c" 2>&1 || fail "$cmd: exit $?"
        grep -qF "$address" "$T/c" || fail "$cmd: the address is not in it"
        grep -q "^Suppressed: $address " "$T/c" || fail "$cmd: a suppressed address is not said to be: $(cat "$T/c")"
        n=$((n + 1)) ;;
    "$BS report --format=html > report.html")
        (cd "$T" && BOUNCESTAT_DB=$T/demo.db "$BS" report --format=html >report.html) ||
            fail "$cmd: exit $?"
        head -n 1 "$T/report.html" | grep -qx '<!DOCTYPE html>' || fail "$cmd: not a page"
        n=$((n + 1)) ;;
    esac
done <"$T/try"
expect "commands to try next that work" "$n" 3

if [ "$failures" -ne 0 ]; then
    echo "$failures failure(s)" >&2
    exit 1
fi
echo "demo: all passed"
