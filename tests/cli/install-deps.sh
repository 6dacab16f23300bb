#!/bin/bash
# install-deps.sh - what tools/install-deps installs, with dpkg-query,
# apt-get and friends replaced by stubs (nothing is installed): without
# --test only what building and running need (no test tools, no mail
# server: tools/demo uses that); with --test the test tools and Postfix;
# with another MTA installed (Exim) never Postfix, and apt-get is told
# never to remove anything; and the end-to-end test then skips (77) with a
# message naming the installed MTA, before it touches anything; and
# without BOUNCESTAT_E2E=1 (plain ctest) it skips (77) saying how to run it.
set -u

SOURCE_DIR=${SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$(dirname "$0")/lib/harness.bash"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

mkdir "$T/bin"
# dpkg-query: the packages listed in $T/installed ("NAME PROVIDES") are
# installed.
cat >"$T/bin/dpkg-query" <<'EOF2'
#!/bin/bash
db=$STUB_DIR/installed
pkg=${*: -1}
case $pkg in
-f=*|-W) while read -r name provides; do printf 'ii  %s %s\n' "$name" "$provides"; done <"$db" ;;
*) grep -q "^$pkg\( \|$\)" "$db" || exit 1; printf 'install ok installed' ;;
esac
EOF2
printf '#!/bin/sh\necho "$*" >>"$STUB_DIR/apt.log"\n' >"$T/bin/apt-get"
printf '#!/bin/sh\ncat >/dev/null\n' >"$T/bin/debconf-set-selections"
printf '#!/bin/sh\necho 0\n' >"$T/bin/id"
# Reached only if the e2e test went past its checks: it must not.
printf '#!/bin/sh\necho "$0 $*" >>"$STUB_DIR/touched"\nexit 1\n' >"$T/bin/useradd"
cp "$T/bin/useradd" "$T/bin/userdel"
cp "$T/bin/useradd" "$T/bin/mkdir"
chmod 755 "$T/bin"/*
export STUB_DIR=$T PATH=$T/bin:$PATH

deps() { # deps ARGS...: run install-deps, print the packages apt-get was asked for
    rm -f "$T/apt.log"
    "$SOURCE_DIR/tools/install-deps" "$@" >"$T/out" 2>&1 || fail "install-deps $*: exit $?: $(cat "$T/out")"
    [ -f "$T/apt.log" ] && sed -n 's/^install //p' "$T/apt.log" | tr ' ' '\n' | grep -v '^-' | sort | tr '\n' ' '
}
has() { case " $1 " in *" $2 "*) return 0 ;; esac; return 1; }

# Nothing installed.
: >"$T/installed"
build=$(deps)
has "$build" libgmime-3.0-dev || fail "build: libgmime-3.0-dev not installed ($build)"
has "$build" cmake || fail "build: cmake not installed"
for p in postfix procmail clang valgrind libsasl2-modules groff-base python3 chromium; do
    has "$build" "$p" && fail "build: installs $p, a test dependency"
done
all=$(deps --test)
for p in libgmime-3.0-dev postfix procmail libsasl2-modules clang valgrind groff-base python3 sqlite3 chromium; do
    has "$all" "$p" || fail "--test: $p not installed ($all)"
done
grep -q -- '--no-remove' "$T/apt.log" || fail "--test: apt-get may remove packages"
grep -q 'No configuration' "$SOURCE_DIR/tools/install-deps" || fail "Postfix is not preseeded 'No configuration'"

# Exim is installed: no Postfix (it would replace Exim), and it says so.
echo "exim4-daemon-light mail-transport-agent" >"$T/installed"
all=$(deps --test)
has "$all" postfix && fail "Exim installed: install-deps --test installs postfix"
has "$all" procmail || fail "Exim installed: procmail not installed"
grep -q 'another mail server is installed (exim4-daemon-light)' "$T/out" ||
    fail "Exim installed: no message ($(cat "$T/out"))"

# Everything installed: no apt-get at all.
{ for p in $all; do echo "$p"; done; echo "exim4-daemon-light mail-transport-agent"; } >"$T/installed"
[ -z "$(deps --test)" ] || fail "all installed: apt-get was run"

# The demo installs what building and running need, not the test tools.
grep -qE '^ *"\$src/tools/install-deps"$' "$SOURCE_DIR/tools/demo" ||
    fail "tools/demo does not run tools/install-deps (without --test)"

# The e2e test not asked for (plain ctest): skipped, saying how to run
# it, before anything else (even under CI).
env -u BOUNCESTAT_E2E CI=true bash "$SOURCE_DIR/tests/e2e/postfix-e2e.sh" /bin/true >"$T/e2e" 2>&1
expect "e2e not asked for: exit status" "$?" 77
grep -q "BOUNCESTAT_E2E=1 ctest -R e2e" "$T/e2e" || fail "e2e not asked for: no message: $(cat "$T/e2e")"
[ -e "$T/touched" ] && fail "e2e not asked for: it went on: $(cat "$T/touched")"

# The e2e test with Exim installed: skipped, naming it, nothing touched.
BOUNCESTAT_E2E=1 CI= bash "$SOURCE_DIR/tests/e2e/postfix-e2e.sh" /bin/true >"$T/e2e" 2>&1
expect "e2e with Exim: exit status" "$?" 77
grep -q 'SKIP: another mail server is installed (exim4-daemon-light): this test runs Postfix and never replaces an installed MTA' "$T/e2e" ||
    fail "e2e with Exim: no message: $(cat "$T/e2e")"
[ -e "$T/touched" ] && fail "e2e with Exim: it went on: $(cat "$T/touched")"

if [ "$failures" -ne 0 ]; then
    echo "$failures failure(s)" >&2
    exit 1
fi
echo "install-deps: all passed"
