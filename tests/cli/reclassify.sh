#!/bin/bash
# reclassify.sh - `bouncestat reclassify` on a database of tests/fixtures:
# with the rules it was stored with nothing changes; after a rule
# override in rules.d (the user-unknown rule now gives a reason that
# rules.d adds, sender-side), --dry-run reports the change and writes
# nothing, the real run makes the same change (events and suppression
# list), a second run changes nothing; the reasons table is the loaded
# rules' (the new reason reaches it, and `report --by reason` says the
# same who as `explain`'s side for it and for every other reason);
# `report` says when the history was classified by other rules; a
# message stored unclassified gets its events, one kept cut at the raw
# cap is left as it is.
#
# Usage: bash reclassify.sh /path/to/bouncestat   (SOURCE_DIR set by CTest)
set -u

BS=${1:?usage: reclassify.sh BOUNCESTAT}
SOURCE_DIR=${SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
FIX=$SOURCE_DIR/tests/fixtures
T=$(mktemp -d)
tmp=$T
trap 'rm -rf "$T"' EXIT
. "$(dirname "$0")/lib/harness.bash"
unset BOUNCESTAT_RULES_DIR BOUNCESTAT_DB
export BOUNCESTAT_NOW=2026-12-01T00:00:00Z

# A program beside its own rules and rules.d (as installed, found from
# the program's directory: tests/cli/install.sh).
P=$T/opt
mkdir -p "$P/bin" "$P/share/bouncestat/rules" "$P/etc/bouncestat/rules.d"
cp "$BS" "$P/bin/bouncestat"
cp "$SOURCE_DIR"/rules/*.rules "$P/share/bouncestat/rules/"
B=$P/bin/bouncestat
DB=$T/h.db
q() { python3 -c 'import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
for row in db.execute(sys.argv[2]):
    print("|".join("" if v is None else str(v) for v in row))' "$DB" "$1"; }

for d in "$FIX"/*/; do
    "$B" ingest --db "$DB" "$d" >/dev/null 2>"$T/ingest.err" ||
        fail "ingest $d: $(cat "$T/ingest.err")"
done
UU=$(q "select count(*) from events where rule = 'user-unknown'")
OLD_VERSION=$("$B" rules check | grep '^version: ')
[ "$UU" -gt 2 ] || fail "fixtures: $UU events of rule user-unknown, want several"
BEFORE=$(q "select id, reason, hard, rule, status from events order by id")
SUPPRESS_BEFORE=$("$B" suppress --db "$DB")

expect_rc "same rules: reclassify" 0 "$B" reclassify --db "$DB" --format=json
python3 - "$T/out" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
assert d["changed"] == 0 and d["reasons"] == [] and d["suppression"] == [], d
assert d["messages"] > 0 and d["events"] > 0, d
EOF
check "same rules: nothing changes" $?
expect "same rules: the events" "$(q "select id, reason, hard, rule, status from events order by id")" "$BEFORE"
expect "the view and suppress give the same list" \
    "$(q "select address from suppression_candidates order by address")" "$SUPPRESS_BEFORE"
expect "no note when the rules are those of the history" \
    "$("$B" report --db "$DB" 2>&1 >/dev/null)" ""

# --- A rule override in rules.d, to a reason rules.d adds ---------------
python3 - "$P/share/bouncestat/rules" "$P/etc/bouncestat/rules.d/50-local.rules" <<'EOF'
import glob, re, sys
for path in sorted(glob.glob(sys.argv[1] + "/*.rules")):
    text = open(path, encoding="utf-8").read()
    m = re.search(r"^\[rule user-unknown\]\n(.*?)(?=^\[|\Z)", text, re.M | re.S)
    if m:
        break
group = re.sub(r"^reason = .*$", "reason = localgone", m.group(0), flags=re.M)
open(sys.argv[2], "w", encoding="utf-8").write("""# A local reason and an override of a rule (rules/README.md).
[reason localgone]
meaning = The address is gone, as this site's servers say it
meaning[pl] = Adresu już nie ma
hard = true
who = sender
side = sender
advice = Check the address with the recipient.
advice[pl] = Sprawdź adres u odbiorcy.

""" + group)
EOF
"$B" rules check >"$T/check" 2>&1 || fail "rules check with rules.d: $(head -5 "$T/check")"
expect "rules check: the version of the rules the history was classified by" \
    "$(q "select 'version: ' || hash from rule_sets")" "$OLD_VERSION"
NEW_VERSION=$(sed -n 's/^version: //p' "$T/check")
[ ${#NEW_VERSION} = 64 ] || fail "rules check: no version: $(cat "$T/check")"
expect "explain: the override decides" \
    "$("$B" explain --format=json "550 5.1.1 User unknown" | python3 -c 'import json, sys
d = json.load(sys.stdin); print(d["reason"], d["rule"], d["side"], d["who"])')" \
    "localgone user-unknown sender sender"
"$B" report --db "$DB" >/dev/null 2>"$T/note"
grep -q "^bouncestat: report: [0-9]* of [0-9]* events were classified by other rules than the loaded ones" "$T/note"
check "report says the history was classified by other rules" $?

expect_rc "dry run" 0 "$B" reclassify --db "$DB" --dry-run --format=json
cp "$T/out" "$T/dry.json"
expect "dry run: the events unchanged" "$(q "select id, reason, hard, rule, status from events order by id")" "$BEFORE"
expect "dry run: the reasons table unchanged" "$(q "select count(*) from reasons where name = 'localgone'")" 0
expect "dry run: the suppression list unchanged" "$("$B" suppress --db "$DB")" "$SUPPRESS_BEFORE"

expect_rc "reclassify" 0 "$B" reclassify --db "$DB" --format=json
cp "$T/out" "$T/real.json"
python3 - "$T/dry.json" "$T/real.json" "$UU" <<'EOF'
import json, sys
dry, real = (json.load(open(p)) for p in sys.argv[1:3])
uu = int(sys.argv[3])
assert dry["dry_run"] is True and real["dry_run"] is False
for k in ("messages", "events", "changed", "reasons", "suppression"):
    assert dry[k] == real[k], (k, dry[k], real[k])
pairs = {(r["old_reason"], r["new_reason"]): r["events"] for r in real["reasons"]}
assert pairs.get(("userunknown", "localgone"), 0) >= 1, pairs
assert sum(pairs.values()) == real["changed"] >= uu - 1, (pairs, real["changed"])
# Sender-side now: the addresses suppressed only for it are no longer
# (or for their soft bounces only).
assert real["suppression"], real
assert all(s["before"] == "hard" and s["after"] in (None, "soft") for s in real["suppression"]), real["suppression"]
assert any(s["after"] is None for s in real["suppression"]), real["suppression"]
EOF
check "dry run and real run report the same change" $?
expect "reclassify: the override's reason stored" \
    "$(q "select count(*) from events where rule = 'user-unknown' and reason = 'localgone'")" "$UU"
expect "reclassify: no userunknown of the overridden rule left" \
    "$(q "select count(*) from events where rule = 'user-unknown' and reason <> 'localgone'")" 0
expect "the reason of rules.d reaches the database" \
    "$(q "select who, hard from reasons where name = 'localgone'")" "sender|1"
GONE=$(python3 -c 'import json, sys
print("\n".join(s["address"] for s in json.load(open(sys.argv[1]))["suppression"]
                if s["after"] is None))' "$T/real.json")
LEFT=$("$B" suppress --db "$DB")
for a in $GONE; do
    grep -qxF "$a" <<<"$LEFT" && fail "$a still suppressed"
    grep -qxF "$a" <<<"$SUPPRESS_BEFORE" || fail "$a was not suppressed before"
done
expect "the view and suppress give the same list after" \
    "$(q "select address from suppression_candidates order by address")" "$LEFT"
expect "the state is what a recount gives" "$(q "select count(*) from suppression_stale")" 0
expect "no note after reclassify" "$("$B" report --db "$DB" 2>&1 >/dev/null)" ""
expect "every event records the new rules' version" \
    "$(q "select count(*) from events e join rule_sets r on r.id = e.rule_set where r.hash = '$NEW_VERSION'")" \
    "$(q "select count(*) from events")"

AFTER=$(q "select id, reason, hard, rule, status from events order by id")
expect_rc "second run" 0 "$B" reclassify --db "$DB" --format=json
python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
assert d["changed"] == 0 and d["reasons"] == [] and d["suppression"] == [], d' "$T/out"
check "second run: nothing changes" $?
expect "second run: the events" "$(q "select id, reason, hard, rule, status from events order by id")" "$AFTER"

# --- report and explain: one who per reason -----------------------------
"$B" report --db "$DB" --by reason --format=json >"$T/by-reason.json" ||
    fail "report --by reason"
python3 - "$T/by-reason.json" "$P/share/bouncestat/rules" "$P/etc/bouncestat/rules.d" <<'EOF' >"$T/sides"
import glob, json, re, sys
rows = json.load(open(sys.argv[1]))["rows"]
side = {}
for d in sys.argv[2:]:
    for path in sorted(glob.glob(d + "/*.rules")):
        text = open(path, encoding="utf-8").read()
        for m in re.finditer(r"^\[reason (\S+)\]\n(.*?)(?=^\[|\Z)", text, re.M | re.S):
            side[m.group(1)] = re.search(r"^side = (\S+)", m.group(2), re.M).group(1)
for r in rows:
    print(r["reason"], r["who"], side.get(r["reason"]))
EOF
grep -q "^localgone sender sender$" "$T/sides"; check "report --by reason: the rules.d reason with its side" $?
awk '$2 != $3 { bad = 1; print "# " $0 } END { exit bad }' "$T/sides"
check "report --by reason: who is the rules' side for every reason" $?
# explain of a phrase of each reason the history holds says that side too.
agreed=0
while read -r reason who _; do
    text=$(q "select diagnostic from events where reason = '$reason' and diagnostic is not null limit 1")
    [ -n "$text" ] || continue
    got=$("$B" explain --format=json "$text" | python3 -c 'import json, sys
d = json.load(sys.stdin); print(d["reason"], d["side"])')
    # explain reads the text alone; only compare when it finds the reason.
    case $got in "$reason "*) agreed=$((agreed + 1)); expect "explain and report agree on $reason" "$got" "$reason $who" ;; esac
done <"$T/sides"
[ "$agreed" -ge 5 ] || fail "explain found the reason of only $agreed diagnostics"

# --- A message stored unclassified gets its events ----------------------
U=$T/u.db
BOUNCESTAT_RULES_DIR=$T/missing "$B" ingest --db "$U" <"$FIX/postfix-real/postfix-550-5.1.1-remote-unknown-user.eml" 2>/dev/null
DB=$U
expect "stored unclassified" "$(q "select classified, (select count(*) from events) from messages")" "0|0"
expect_rc "reclassify the unclassified" 0 "$B" reclassify --db "$U"
grep -q "^Reclassified 1 message (1 stored unclassified): 1 events, 1 changed\.$" "$T/out"
check "reclassify says it classified it" $?
expect "its events" "$(q "select m.classified, e.reason from messages m join events e on e.message_id = m.id")" "1|localgone"

# --- A message kept cut at the raw cap is not parsed again ---------------
C=$T/cut.db
"$B" ingest --db "$C" --raw-cap 300 "$FIX/postfix-real/postfix-550-5.1.1-remote-unknown-user.eml" 2>/dev/null
DB=$C
CUT_BEFORE=$(q "select id, reason, rule from events")
expect_rc "reclassify: a message kept cut" 0 "$B" reclassify --db "$C" --format=json
python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
assert d["cut"] == 1 and d["messages"] == 0 and d["changed"] == 0, d' "$T/out"
check "reclassify: the cut message counted, not read" $?
expect "reclassify: the cut message's events stay" "$(q "select id, reason, rule from events")" "$CUT_BEFORE"

expect_rc "reclassify: a missing database" 66 "$B" reclassify --db "$T/none.db"
expect_rc "reclassify: --no-rules" 64 "$B" reclassify --db "$DB" --no-rules
expect_rc "reclassify: a bad --since" 64 "$B" reclassify --db "$DB" --since yesterday

[ "$failures" = 0 ] && [ "$fails" = 0 ]
