#!/bin/bash
# outcome.sh - one outcome: what `parse --format=json` says of each
# recipient ("outcome": bounce, delay, delivered, feedback, autoreply,
# unknown) is what `ingest` stores in events.outcome, for every fixture
# (bounce_recipient_outcome decides both; a second copy in the store
# would make them disagree).
# Usage: outcome.sh /path/to/bouncestat   (FIXTURES from CTest)
set -u
BIN=$1
FIX=${FIXTURES:?}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
. "$(dirname "$0")/lib/harness.bash"

find "$FIX" -name '*.eml' | sort >"$tmp/files"
[ -s "$tmp/files" ] || { echo "no fixtures" >&2; exit 1; }
# One message per file, the source being its path (a file with the
# bytes of another is stored once: only the stored ones are compared).
xargs -d '\n' "$BIN" parse --format=json <"$tmp/files" >"$tmp/parse.json" 2>"$tmp/err"
check "parse every fixture" $?
xargs -d '\n' "$BIN" ingest --db "$tmp/t.db" <"$tmp/files" >/dev/null 2>>"$tmp/err"
check "ingest every fixture" $?
python3 - "$tmp/parse.json" "$tmp/t.db" <<'PY'
import json, sqlite3, sys
from collections import Counter
parsed = Counter()
seen = set()
with open(sys.argv[1]) as f:
    for line in f:
        if not line.strip():
            continue
        r = json.loads(line)
        for rc in r["recipients"]:
            assert "outcome" in rc, (r["source"], "no outcome key")
            parsed[(r["source"], rc["address"], rc["outcome"])] += 1
            seen.add(rc["outcome"])
db = sqlite3.connect(sys.argv[2])
stored = Counter(db.execute("SELECT m.source, e.address, e.outcome FROM events e "
                            "JOIN messages m ON m.id = e.message_id").fetchall())
# A file with the same bytes as another is stored once (dedup).
sources = {k[0] for k in stored}
assert len(sources) > 50, len(sources)
parsed = Counter({k: v for k, v in parsed.items() if k[0] in sources})
diff = (parsed - stored) + (stored - parsed)
for k in sorted(diff, key=str)[:20]:
    print("# differ:", k, "parse", parsed[k], "stored", stored[k])
assert not diff, "parse and the database disagree"
assert {"bounce", "delay", "delivered", "feedback", "autoreply"} <= seen, seen
print("# %d recipients agree" % sum(parsed.values()))
PY
check "parse's outcome = the stored outcome, every outcome seen" $?

echo "1..$n"
[ "$fails" = 0 ]
