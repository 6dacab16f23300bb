#!/bin/bash
# From a pipe (.forward, procmail) a failure to store must ask the MTA to
# retry (75), never be a code that makes it bounce the bounce; with PATH
# arguments the real sysexits code is kept.
# Usage: pipe-status.sh /path/to/bouncestat   (FIXTURES from the environment)
set -u
BIN=$1
FIX=${FIXTURES:?}
msg="$FIX/rfc3464/rfc3464-01.eml"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
n=0 fails=0
check () { n=$((n + 1)); if [ "$2" = 0 ]; then echo "ok $n - $1"; else echo "not ok $n - $1"; fails=$((fails + 1)); fi; }

echo "this is not an SQLite database, but a text file of some length" > "$tmp/bad.db"
"$BIN" ingest --db "$tmp/bad.db" < "$msg" 2>"$tmp/err"; rc=$?
[ "$rc" = 75 ]; check "corrupt database from stdin exits 75 (got $rc)" $?
grep -q "^bouncestat: ingest: database $tmp/bad.db: .*file is not a database" "$tmp/err"
check "the error names the database" $?
"$BIN" ingest --db "$tmp/bad.db" "$msg" 2>/dev/null; rc=$?
[ "$rc" = 74 ]; check "corrupt database with a PATH exits 74 (got $rc)" $?

mkdir "$tmp/dir.db"
"$BIN" ingest --db "$tmp/dir.db" < "$msg" 2>/dev/null; rc=$?
[ "$rc" = 75 ]; check "unopenable database from stdin exits 75 (got $rc)" $?

"$BIN" ingest --no-such-option < "$msg" 2>/dev/null; rc=$?
[ "$rc" = 75 ]; check "a usage error from stdin exits 75 (got $rc)" $?

# Once the database is fixed, the retried message is stored.
rm "$tmp/bad.db"
"$BIN" ingest --db "$tmp/bad.db" < "$msg"; rc=$?
[ "$rc" = 0 ]; check "stored on the retry (got $rc)" $?
[ "$(python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("select count(*) from messages").fetchone()[0])' "$tmp/bad.db")" = 1 ]
check "one message in the database" $?

echo "$((n - fails)) passed, $fails failed"
[ "$fails" = 0 ]
