#!/bin/bash
# disk-full.sh - `bouncestat ingest` on a full file system (a 4 MiB tmpfs
# filled up): from standard input and with a PATH it exits 75 (the MTA
# keeps the message and retries), stores nothing half, and stores the
# message on the retry once there is room (docs/faults.md).
#
# Needs root to mount the tmpfs, in a private mount namespace (unshare -m)
# so that it goes away with the test; skipped (77) otherwise.
#
# Usage: bash disk-full.sh /path/to/bouncestat   (SOURCE_DIR set by CTest)
set -u

BS=${1:?usage: disk-full.sh BOUNCESTAT}
SOURCE_DIR=${SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$(dirname "$0")/lib/harness.bash"
if [ "$(id -u)" != 0 ] || ! unshare -m true 2>/dev/null; then
    echo "SKIP: disk-full.sh needs root and unshare -m to mount a small tmpfs"
    exit 77
fi
tmp=$(mktemp -d)
T=$tmp
trap 'rm -rf "$T"' EXIT
unset BOUNCESTAT_DB ORIGINAL_RECIPIENT RECIPIENT

python3 "$SOURCE_DIR/tests/cli/gen-dsns.py" --count 2 --prefix full --dir "$T/m"
# A message that does not compress: it needs new pages in the database.
{ cat "$T/m/full-000001.eml"; head -c 700000 /dev/urandom | base64; } > "$T/bigger.eml"
mkdir "$T/full"
# One shell in a private mount namespace: the tmpfs goes with it.
unshare -m bash -s "$BS" "$T" <<'EOF' > "$T/full.out" 2>&1
BS=$1 T=$2
mount -t tmpfs -o size=4m tmpfs "$T/full" || { echo "mount failed"; exit 1; }
"$BS" ingest --db "$T/full/x.db" < "$T/m/full-000000.eml"; echo "first=$?"
dd if=/dev/zero of="$T/full/filler" bs=4k 2>/dev/null   # fill what is left
"$BS" ingest --db "$T/full/x.db" --raw-cap 0 < "$T/bigger.eml" 2>"$T/err1"; echo "stdin=$?"
"$BS" ingest --db "$T/full/x.db" --raw-cap 0 "$T/bigger.eml" 2>"$T/err2"; echo "path=$?"
python3 -c 'import sqlite3, sys
db = sqlite3.connect("file:%s?immutable=1" % sys.argv[1], uri=True)
print("count=%d" % db.execute("select count(*) from messages").fetchone()[0])' "$T/full/x.db"
rm "$T/full/filler"
# Room to open the database, not for the message: full while writing it.
avail=$(df --output=avail -k "$T/full" | tail -1)
dd if=/dev/zero of="$T/full/filler" bs=4k count=$(( (avail - 300) / 4 )) 2>/dev/null
"$BS" ingest --db "$T/full/x.db" --raw-cap 0 < "$T/bigger.eml" 2>"$T/err3"; echo "stdin-write=$?"
cat "$T/err3" >&2
python3 -c 'import sqlite3, sys
db = sqlite3.connect("file:%s?immutable=1" % sys.argv[1], uri=True)
print("count-write=%d" % db.execute("select count(*) from messages").fetchone()[0])' "$T/full/x.db"
rm "$T/full/filler"
"$BS" ingest --db "$T/full/x.db" --raw-cap 0 < "$T/bigger.eml"; echo "retry=$?"
python3 -c 'import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
print("after=%d" % db.execute("select count(*) from messages").fetchone()[0])
print("integrity=%s" % db.execute("pragma integrity_check").fetchone()[0])' "$T/full/x.db"
EOF
grep -q '^first=0$' "$T/full.out"; check "the first message fits" $?
grep -q '^stdin=75$' "$T/full.out"; check "disk full, stdin: 75" $?
grep -qi 'No space left on device' "$T/err1"; check "disk full, stdin: said" $?
grep -q '^path=75$' "$T/full.out"; check "disk full, PATH: 75" $?
grep -qi 'No space left on device' "$T/err2"; check "disk full, PATH: said" $?
grep -q '^count=1$' "$T/full.out"; check "disk full: nothing half-stored" $?
grep -q '^stdin-write=75$' "$T/full.out"; check "full while writing the message, stdin: 75" $?
grep -qi 'full' "$T/err3"; check "full while writing: said" $?
grep -q '^count-write=1$' "$T/full.out"; check "full while writing: nothing half-stored" $?
grep -q '^retry=0$' "$T/full.out"; check "room again: stored on the retry" $?
grep -q '^after=2$' "$T/full.out"; check "room again: both messages" $?
grep -q '^integrity=ok$' "$T/full.out"; check "integrity" $?
[ "$fails" = 0 ] || sed 's/^/# /' "$T/full.out" "$T/err1" "$T/err2" "$T/err3"
echo "$((n - fails)) passed, $fails failed"
[ "$fails" = 0 ]
