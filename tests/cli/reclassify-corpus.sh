#!/bin/bash
# reclassify-corpus.sh - `bouncestat reclassify` on a database of the whole
# dev corpus (../shared/corpus/sisimai beside the source tree; not part of
# the repository: without it the test is skipped, exit 77, also under CI,
# which has no such corpus): with the rules it was stored with nothing
# changes; after a rule override in rules.d the dry run and the real run
# report the same change (per old -> new reason, and the suppression
# list), the dry run writes nothing, the real one changes every event of
# the overridden rule, and a second run changes nothing.
#
# Usage: bash reclassify-corpus.sh /path/to/bouncestat   (SOURCE_DIR set by CTest)
set -u

BS=${1:?usage: reclassify-corpus.sh BOUNCESTAT}
SOURCE_DIR=${SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
CORPUS=$SOURCE_DIR/../shared/corpus/sisimai
if [ ! -d "$CORPUS/maildir" ]; then
    echo "SKIP: no dev corpus at $CORPUS (not part of the repository)"
    exit 77
fi
T=$(mktemp -d)
tmp=$T
trap 'rm -rf "$T"' EXIT
. "$(dirname "$0")/lib/harness.bash"
unset BOUNCESTAT_RULES_DIR BOUNCESTAT_DB

# The program beside its own rules and rules.d (tests/cli/reclassify.sh).
P=$T/opt
mkdir -p "$P/bin" "$P/share/bouncestat/rules" "$P/etc/bouncestat/rules.d"
cp "$BS" "$P/bin/bouncestat"
cp "$SOURCE_DIR"/rules/*.rules "$P/share/bouncestat/rules/"
B=$P/bin/bouncestat
DB=$T/corpus.db
q() { python3 -c 'import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
for row in db.execute(sys.argv[2]):
    print("|".join("" if v is None else str(v) for v in row))' "$DB" "$1"; }

"$B" ingest --db "$DB" "$CORPUS"/maildir/* "$CORPUS/mailbox" >/dev/null 2>"$T/ingest.err" ||
    fail "ingest: $(tail -3 "$T/ingest.err")"
N=$(q "select count(*) from events")
UU=$(q "select count(*) from events where rule = 'user-unknown'")
if [ "$N" -le 500 ] || [ "$UU" -le 20 ]; then fail "corpus: $N events, $UU of rule user-unknown"; fi
BEFORE=$(q "select id, reason, hard, rule, status from events order by id")
SUPPRESS_BEFORE=$("$B" suppress --db "$DB")

expect_rc "same rules: reclassify" 0 "$B" reclassify --db "$DB" --format=json
python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
assert d["changed"] == 0 and d["reasons"] == [] and d["suppression"] == [], d' "$T/out"
check "same rules: nothing changes" $?

# The user-unknown rule overridden in rules.d: a reason rules.d adds.
python3 - "$P/share/bouncestat/rules" "$P/etc/bouncestat/rules.d/50-local.rules" <<'EOF'
import glob, re, sys
for path in sorted(glob.glob(sys.argv[1] + "/*.rules")):
    m = re.search(r"^\[rule user-unknown\]\n(.*?)(?=^\[|\Z)",
                  open(path, encoding="utf-8").read(), re.M | re.S)
    if m:
        break
group = re.sub(r"^reason = .*$", "reason = localgone", m.group(0), flags=re.M)
open(sys.argv[2], "w", encoding="utf-8").write("""[reason localgone]
meaning = The address is gone, as this site's servers say it
meaning[pl] = Adresu już nie ma
hard = true
who = sender
side = sender
advice = Check the address with the recipient.
advice[pl] = Sprawdź adres u odbiorcy.

""" + group)
EOF
expect_rc "dry run" 0 "$B" reclassify --db "$DB" --dry-run --format=json
cp "$T/out" "$T/dry.json"
expect "dry run: the events unchanged" "$(q "select id, reason, hard, rule, status from events order by id")" "$BEFORE"
expect "dry run: the suppression list unchanged" "$("$B" suppress --db "$DB")" "$SUPPRESS_BEFORE"
expect_rc "reclassify" 0 "$B" reclassify --db "$DB" --format=json
python3 - "$T/dry.json" "$T/out" <<'EOF'
import json, sys
dry, real = (json.load(open(p)) for p in sys.argv[1:3])
for k in ("messages", "events", "changed", "reasons", "suppression"):
    assert dry[k] == real[k], (k, dry[k], real[k])
assert real["changed"] > 0 and real["suppression"], real
EOF
check "dry run and real run report the same change" $?
expect "every event of the overridden rule changed" \
    "$(q "select count(*) from events where rule = 'user-unknown' and reason = 'localgone'")" "$UU"
expect "the rules.d reason in the database" "$(q "select who from reasons where name = 'localgone'")" sender
expect "the view and suppress give the same list" \
    "$(q "select address from suppression_candidates order by address")" "$("$B" suppress --db "$DB")"
AFTER=$(q "select id, reason, hard, rule, status from events order by id")
expect_rc "second run" 0 "$B" reclassify --db "$DB" --format=json
python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
assert d["changed"] == 0 and d["reasons"] == [] and d["suppression"] == [], d' "$T/out"
check "second run: nothing changes" $?
expect "second run: the events" "$(q "select id, reason, hard, rule, status from events order by id")" "$AFTER"

[ "$failures" = 0 ] && [ "$fails" = 0 ]
