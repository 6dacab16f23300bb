# tests/cli/lib/harness.bash - the checks the CLI test scripts share.
# Sourced (not run: tests/CMakeLists.txt only runs tests/cli/*.sh).
#
# Two styles, each with its own counter; a script ends by testing it:
#   check NAME RESULT, expect_rc NAME WANT COMMAND..., expect_err NAME TEXT
#     count in n and fails and print "ok N - NAME" / "not ok N - NAME";
#     expect_rc and expect_err keep the output in $tmp/out and $tmp/err
#     (the script sets tmp).
#   fail MESSAGE..., expect WHAT ACTUAL EXPECTED
#     count in failures and print "FAIL: ..." on stderr.

fails=0 n=0
failures=0

check () { # name, condition result
    n=$((n + 1))
    if [ "$2" = 0 ]; then echo "ok $n - $1"; else echo "not ok $n - $1"; fails=$((fails + 1)); fi
}

expect_rc () { # name, want, command...
    local name=$1 want=$2; shift 2
    "$@" >"$tmp/out" 2>"$tmp/err"; local rc=$?
    [ "$rc" = "$want" ]; check "$name (exit $rc, want $want)" $?
}

expect_err () { # name, exact stderr
    [ "$(cat "$tmp/err")" = "$2" ]; check "$1" $?
    [ "$(cat "$tmp/err")" = "$2" ] || { echo "# got: $(cat "$tmp/err")"; echo "# want: $2"; }
}

fail () {
    echo "FAIL: $*" >&2
    failures=$((failures + 1))
}

expect () { # expect WHAT ACTUAL EXPECTED
    if [ "$2" != "$3" ]; then fail "$1: got '$2', expected '$3'"; fi
}

# skip REASON...: this test cannot run here; CTest counts exit 77 as a skip
# (SKIP_RETURN_CODE).  Under CI (CI=true) a skip is a failure: CI installs
# everything the tests need (tools/install-deps --test).
skip () {
    if [ "${CI:-}" = true ]; then
        echo "FAIL: cannot run under CI: $*" >&2
        exit 1
    fi
    echo "SKIP: $*"
    exit 77
}

# q DB SQL: the first column of the first row ("" for none or NULL).
q() {
    python3 -c 'import sqlite3, sys
r = sqlite3.connect(sys.argv[1]).execute(sys.argv[2]).fetchone()
print("" if r is None or r[0] is None else r[0])' "$1" "$2"
}

# hold_db_lock DB READY RELEASE: hold DB's write lock (BEGIN IMMEDIATE) in
# the background until the file RELEASE exists; returns once the lock is
# held (READY exists).  $! is the holder's PID, for wait.
hold_db_lock () {
    python3 - "$1" "$2" "$3" <<'PY' &
import os, sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("begin immediate")
open(sys.argv[2], "w").close()
while not os.path.exists(sys.argv[3]):
    time.sleep(0.01)
db.execute("rollback")
PY
    while [ ! -e "$2" ]; do sleep 0.01; done
}
