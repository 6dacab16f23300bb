#!/bin/bash
# install.sh - `cmake --install` puts everything in place: the program,
# the static library with its header and pkg-config file (a program
# builds against it), the rules, the schema and the man page.  The installed
# program finds its own rules from where it is (a --prefix install, then
# the installed tree moved elsewhere), reads DIR/etc/bouncestat/rules.d
# beside them, and never falls back to the source tree.
#
# Usage: bash install.sh /path/to/bouncestat   (the build directory is
# where the program is; SOURCE_DIR set by CTest)
set -u

BS=${1:?usage: install.sh BOUNCESTAT}
SOURCE_DIR=${SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
BUILD=$(dirname "$BS")
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
. "$(dirname "$0")/lib/harness.bash"
# CTest points the build tree's program at the source rules; the installed
# one must find its own.
unset BOUNCESTAT_RULES_DIR

P=$T/prefix
if ! cmake --install "$BUILD" --prefix "$P" >"$T/log" 2>&1; then
    cat "$T/log" >&2
    echo "FAIL: cmake --install" >&2
    exit 1
fi

LIBDIR=$(dirname "$(find "$P" -name libbounce.a | head -1)")
[ -x "$P/bin/bouncestat" ] || fail "no bin/bouncestat"
[ -f "$LIBDIR/libbounce.a" ] || fail "no libbounce.a"
[ -f "$P/include/bouncestat/bounce.h" ] || fail "no include/bouncestat/bounce.h"
[ -f "$LIBDIR/pkgconfig/bounce.pc" ] || fail "no pkgconfig/bounce.pc"
cmp -s "$P/share/bouncestat/schema.sql" "$SOURCE_DIR/schema.sql" ||
    fail "share/bouncestat/schema.sql missing or not the source's"
[ -f "$P/share/man/man1/bouncestat.1" ] || fail "no share/man/man1/bouncestat.1"
if [ -d "$SOURCE_DIR/rules" ]; then
    for f in "$SOURCE_DIR"/rules/*.rules; do
        cmp -s "$f" "$P/share/bouncestat/rules/$(basename "$f")" ||
            fail "rule file $(basename "$f") not installed"
    done
fi
"$P/bin/bouncestat" --version | grep -q '^bouncestat [0-9]' ||
    fail "the installed program does not run"

# --- the installed program finds its own rules --------------------------
explain_rule() { # explain_rule BOUNCESTAT TEXT: "reason rule" as explain says
    "$1" explain --format=json "$2" 2>"$T/explain.err" | python3 -c 'import json, sys
d = json.load(sys.stdin); print(d["reason"], d["rule"])'
}
# The build tree's program uses the source tree's rules, and says so.
expect "build tree: the rules it reads" "$("$BS" --version | sed -n 2p)" \
    "rules: $SOURCE_DIR/rules (the source tree's, for the program of the build tree)"
expect "installed: the rules it reads" "$("$P/bin/bouncestat" --version | sed -n 2p)" \
    "rules: $P/share/bouncestat/rules (installed, found from the program's directory)"
expect "installed: classifies with its rules" \
    "$(explain_rule "$P/bin/bouncestat" "552 5.2.2 Mailbox full")" "mailboxfull status-mailbox-full"
# Moved elsewhere (the prefix gone): the same, from the new place, and the
# system directory beside it adds a rule.
M=$T/moved/opt
mkdir -p "$T/moved"
mv "$P" "$M"
mkdir -p "$M/etc/bouncestat/rules.d"
cat >"$M/etc/bouncestat/rules.d/35-local.rules" <<'EOF2'
# A local rule (rules/README.md, "More directories").
[rule local-frobnicated]
reason = suspend
diagnostic = frobnicated mailbox
EOF2
expect "moved: the rules it reads" "$("$M/bin/bouncestat" --version | sed -n 2,3p | tr '\n' ';')" \
    "rules: $M/share/bouncestat/rules (installed, found from the program's directory);system rules: $M/etc/bouncestat/rules.d (read);"
expect "moved: classifies with its rules" \
    "$(explain_rule "$M/bin/bouncestat" "552 5.2.2 Mailbox full")" "mailboxfull status-mailbox-full"
expect "moved: DIR/etc/bouncestat/rules.d adds rules" \
    "$(explain_rule "$M/bin/bouncestat" "550 frobnicated mailbox")" "suspend local-frobnicated"
# The system configuration file is beside rules.d: DIR/etc/bouncestat/
# bouncestat.conf (the user's file, $XDG_CONFIG_HOME/bouncestat/config,
# comes after it and wins).
printf '[bouncestat]\ndatabase = system.db\nsoft-days = 9\n' >"$M/etc/bouncestat/bouncestat.conf"
mkdir -p "$T/xdg/bouncestat"
printf '[bouncestat]\nsoft-days = 2\n' >"$T/xdg/bouncestat/config"
(unset BOUNCESTAT_CONFIG BOUNCESTAT_DB; XDG_CONFIG_HOME=$T/xdg "$M/bin/bouncestat" config) >"$T/config" 2>&1
grep -qxF "database         = $M/etc/bouncestat/system.db  # $M/etc/bouncestat/bouncestat.conf" "$T/config" ||
    fail "moved: DIR/etc/bouncestat/bouncestat.conf not read: $(cat "$T/config")"
grep -qxF "soft-days        = 2  # $T/xdg/bouncestat/config" "$T/config" ||
    fail "moved: the user's file does not win over the system's: $(cat "$T/config")"
rm "$M/etc/bouncestat/bouncestat.conf"
# Without its rules it says which directory is missing (exit 78), and it
# does not use the source tree's.
mv "$M/share/bouncestat/rules" "$T/moved/rules-away"
"$M/bin/bouncestat" explain "552 5.2.2 Mailbox full" >/dev/null 2>"$T/err"
expect "no rules: exit status" "$?" 78
grep -qF "$M/share/bouncestat/rules" "$T/err" || fail "no rules: the message does not name the directory: $(cat "$T/err")"
grep -qF "$SOURCE_DIR" "$T/err" && fail "no rules: the message names the source tree: $(cat "$T/err")"
mv "$T/moved/rules-away" "$M/share/bouncestat/rules"
P=$M     # the rest uses the moved tree
LIBDIR=$(dirname "$(find "$P" -name libbounce.a | head -1)")

# A program builds against the installed library, through pkg-config.
cat >"$T/use.c" <<'EOF2'
#include <bounce.h>
#include <stdio.h>

int
main (void)
{
    char *status = bounce_status_normalize ("5.01.001 (unknown)");
    GError *error = NULL;
    BounceReader *reader = bounce_reader_open ("/nonexistent/x.db", &error);

    printf ("%s %d %d\n", status, reader == NULL,
            error != NULL && error->code == BOUNCE_ERROR_INPUT);
    g_free (status);
    g_clear_error (&error);
    return 0;
}
EOF2
export PKG_CONFIG_PATH=$LIBDIR/pkgconfig
# shellcheck disable=SC2046
if ! cc -o "$T/use" "$T/use.c" $(pkg-config --cflags --libs bounce) 2>"$T/cc"; then
    cat "$T/cc" >&2
    fail "a program does not build with pkg-config --cflags --libs bounce"
elif [ "$("$T/use")" != "5.1.1 1 1" ]; then
    fail "the program built against the library gives '$("$T/use")'"
fi
[ "$(pkg-config --modversion bounce)" = "$(sed -n 's/^project(bouncestat VERSION \([0-9.]*\).*/\1/p' "$SOURCE_DIR/CMakeLists.txt")" ] ||
    fail "bounce.pc version"

if [ "$failures" -ne 0 ]; then
    echo "$failures failure(s)" >&2
    exit 1
fi
echo "install: all passed"
