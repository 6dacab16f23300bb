#!/bin/bash
# install.sh - `cmake --install` puts everything in place: the program,
# the static library with its header and pkg-config file (a program
# builds against it), the rules, the schema and the man page; and every
# subcommand has a --help that the man page also covers.
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

# The man page: valid roff, and every command of `bouncestat --help` in it.
if command -v groff >/dev/null; then
    groff -man -Tutf8 -ww "$P/share/man/man1/bouncestat.1" >"$T/man" 2>"$T/groff"
    [ -s "$T/groff" ] && { cat "$T/groff" >&2; fail "groff warns about the man page"; }
fi
COMMANDS=$("$BS" --help | sed -n '/^Commands:/,/^$/p' | awk 'NF > 1 { print $1 }')
[ -n "$COMMANDS" ] || fail "no commands in bouncestat --help"
for c in $COMMANDS; do
    grep -q "^\.SS $c\$" "$SOURCE_DIR/doc/bouncestat.1" || fail "man page: no section for '$c'"
    out=$("$BS" "$c" --help 2>&1)
    [ $? -eq 0 ] || fail "$c --help: exit status"
    case $out in
    *"Usage:"*"bouncestat $c"*) ;;
    *) fail "$c --help: no usage naming 'bouncestat $c'" ;;
    esac
done

if [ "$failures" -ne 0 ]; then
    echo "$failures failure(s)" >&2
    exit 1
fi
echo "install: all passed"
