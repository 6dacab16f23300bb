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

# A usage error: 75 unless a PATH is certainly named (not after an option
# written without "=", which may be its value) or standard input is a
# terminal (a person, not the MTA).
"$BIN" ingest --no-such-option < "$msg" 2>"$tmp/err"; rc=$?
[ "$rc" = 75 ]; check "a bad option from stdin exits 75 (got $rc)" $?
grep -q "^bouncestat: Unknown option --no-such-option" "$tmp/err"
check "the bad option is named" $?
grep -q "^bouncestat: ingest: standard input not read: exit 75" "$tmp/err"
check "the 75 is explained" $?
rc_of () { "$@" < "$msg" 2>/dev/null; echo $?; }
for args in "--db $tmp/x.db --bogus" "--batch abc" "--batch=abc" "--bogus -" \
    "--bogus -- -" "--rules $tmp --bogus" "-H X --bogus" "--bogus $msg"; do
    # shellcheck disable=SC2086
    rc=$(rc_of "$BIN" ingest $args)
    [ "$rc" = 75 ]; check "ingest $args < msg: 75, no PATH certainly named (got $rc)" $?
done
for args in "$msg --bogus" "--bogus=1 $msg" "--batch=abc $msg" "--bogus -- $msg" \
    "--no-rules $msg $msg --bogus"; do
    # shellcheck disable=SC2086
    rc=$(rc_of "$BIN" ingest $args)
    [ "$rc" = 64 ]; check "ingest $args: 64, a PATH (got $rc)" $?
done
[ ! -e "$tmp/x.db" ]; check "nothing was created by a bad command line" $?
if command -v script > /dev/null; then
    script -qec "$BIN ingest --bogus; echo rc=\$?" /dev/null > "$tmp/tty" 2>&1
    grep -q 'rc=64' "$tmp/tty"; check "a bad option with a terminal on stdin: 64" $?
else
    check "script(1) (util-linux) is needed for the terminal case" 1
fi
"$BIN" ingest --batch 0 --db "$tmp/x.db" < "$msg" 2>/dev/null; rc=$?
[ "$rc" = 75 ]; check "a bad value from stdin: 75 (got $rc)" $?
"$BIN" ingest --batch 0 --db "$tmp/x.db" "$msg" 2>/dev/null; rc=$?
[ "$rc" = 64 ]; check "a bad value with a PATH: 64 (got $rc)" $?
# "ingest -" is standard input.
"$BIN" ingest --db "$tmp/dash.db" - < "$msg"; rc=$?
[ "$rc" = 0 ]; check "ingest - reads standard input (got $rc)" $?
echo "this is not an SQLite database, but a text file of some length" > "$tmp/bad2.db"
"$BIN" ingest --db "$tmp/bad2.db" - < "$msg" 2>/dev/null; rc=$?
[ "$rc" = 75 ]; check "ingest - is the pipe case: 75 (got $rc)" $?

# Once the database is fixed, the retried message is stored.
rm "$tmp/bad.db"
"$BIN" ingest --db "$tmp/bad.db" < "$msg"; rc=$?
[ "$rc" = 0 ]; check "stored on the retry (got $rc)" $?
[ "$(python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("select count(*) from messages").fetchone()[0])' "$tmp/bad.db")" = 1 ]
check "one message in the database" $?

echo "$((n - fails)) passed, $fails failed"
[ "$fails" = 0 ]
