#!/bin/bash
# manpage.sh - docs/bouncestat.1 is valid roff (groff -ww warns about
# nothing) and covers every command of `bouncestat --help`, each of
# which has a --help naming it.
#
# Needs groff (Debian groff-base, installed by tools/install-deps --test):
# without it the test is skipped (exit 77), a failure under CI=true.
set -u

BS=${1:?usage: manpage.sh BOUNCESTAT}
SOURCE_DIR=${SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
MAN=$SOURCE_DIR/docs/bouncestat.1
. "$(dirname "$0")/lib/harness.bash"
command -v groff >/dev/null ||
    skip "manpage.sh: groff is not installed (tools/install-deps --test installs groff-base)"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

groff -man -Tutf8 -ww -P-bcou "$MAN" >"$T/man" 2>"$T/groff"
expect "groff exit status" "$?" 0
[ -s "$T/groff" ] && fail "groff warns about the man page: $(cat "$T/groff")"
grep -q "EXIT STATUS" "$T/man" || fail "groff rendered no EXIT STATUS section"

COMMANDS=$("$BS" --help | sed -n '/^Commands:/,/^$/p' | awk 'NF > 1 { print $1 }')
[ -n "$COMMANDS" ] || fail "no commands in bouncestat --help"
for c in $COMMANDS; do
    grep -q "^\.SS $c\$" "$MAN" || fail "man page: no section for '$c'"
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
echo "manpage: all passed"
