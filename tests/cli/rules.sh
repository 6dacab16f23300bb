#!/bin/bash
# CLI tests of `bouncestat rules check` and `bouncestat explain`: exit
# codes, exact usage errors, explain's outputs in English and Polish, and
# a broken rules directory giving exit 78 (EX_CONFIG) everywhere.
# Usage: rules.sh /path/to/bouncestat   (SOURCE_DIR, FIXTURES from the environment)
set -u
BIN=$1
SRC=${SOURCE_DIR:?}
FIX=${FIXTURES:?}
RULES=$SRC/rules
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
unset LC_ALL LC_MESSAGES
export LANG=C
. "$(dirname "$0")/lib/harness.bash"

# --- rules check -------------------------------------------------------
expect_rc "rules without subcommand" 64 "$BIN" rules
expect_err "rules: missing subcommand message" "bouncestat: rules: missing subcommand (check, stats)"
expect_rc "rules unknown subcommand" 64 "$BIN" rules frob
expect_err "rules: unknown subcommand message" "bouncestat: rules: unknown subcommand 'frob' (check, stats)"
expect_rc "rules check two dirs" 64 "$BIN" rules check "$RULES" "$RULES"
expect_err "too many arguments message" "bouncestat: rules check: too many arguments (one DIR at most)"
expect_rc "rules check unknown option" 64 "$BIN" rules check --frob
expect_rc "rules check of the shipped rules" 0 "$BIN" rules check "$RULES"
grep -Eq "^$RULES: [0-9]+ rules, OK$" "$tmp/out"; check "rules check says OK" $?
expect_rc "rules check of the default rules" 0 env BOUNCESTAT_RULES_DIR="$RULES" "$BIN" rules check
expect_rc "rules check of a missing dir" 78 "$BIN" rules check "$tmp/nope"
grep -q "^bouncestat: $tmp/nope: " "$tmp/err"; check "missing dir named" $?

# A broken directory: a copy of the rules with one bad rule added.
mkdir "$tmp/broken"
cp "$RULES"/*.rules "$tmp/broken/"
cat > "$tmp/broken/45-local.rules" <<'RULES'
[rule local-bad-regex]
reason = blocked
diagnostic = (unclosed

[rule local-bad-reason]
reason = nosuchreason
status = 5.9.9

[rule local-bad-key]
reason = blocked
colour = red
RULES
expect_rc "rules check of a broken dir" 78 "$BIN" rules check "$tmp/broken"
grep -q "^bouncestat: $tmp/broken/45-local.rules: \[rule local-bad-regex\]: bad regular expression in diagnostic" "$tmp/err"
check "bad regex named by file and rule" $?
grep -q "^bouncestat: $tmp/broken/45-local.rules: \[rule local-bad-reason\]: unknown reason 'nosuchreason'$" "$tmp/err"
check "unknown reason named by file and rule" $?
grep -q "^bouncestat: $tmp/broken/45-local.rules: \[rule local-bad-key\]: unknown key 'colour'$" "$tmp/err"
check "unknown key named by file and rule" $?
[ "$(tail -1 "$tmp/err")" = "bouncestat: rules check: 3 problems in $tmp/broken" ]; check "problem count" $?

# A duplicate rule id in the same directory.
mkdir "$tmp/dup"
cp "$RULES"/*.rules "$tmp/dup/"
printf '[rule blocked]\nreason = blocked\n' > "$tmp/dup/45-dup.rules"
expect_rc "duplicate id" 78 "$BIN" rules check "$tmp/dup"
grep -q "45-dup.rules: \[rule blocked\]: duplicate rule id (also in .*/40-sender.rules)" "$tmp/err"; check "duplicate id message" $?

# An example that another rule decides (a shadowed rule): a rule that
# decides alone, placed before another one for the same code.
mkdir "$tmp/shadow"
cp "$RULES"/*.rules "$tmp/shadow/"
printf '[rule too-wide]\nreason = blocked\ndecides-alone = true\nstatus = 5.2.2\n' > "$tmp/shadow/15-wide.rules"
expect_rc "shadowed examples" 78 "$BIN" rules check "$tmp/shadow"
grep -q "^bouncestat: $tmp/shadow/20-codes.rules: \[rule status-mailbox-full\]: example '552 5.2.2 Mailbox full' is decided by rule too-wide$" "$tmp/err"
check "shadowed example named" $?

# A status class placed first never shadows a phrase (words before
# structure), but a status class that claims to decide alone is refused.
mkdir "$tmp/class"
cp "$RULES"/*.rules "$tmp/class/"
printf '[rule early-class]\nreason = blocked\nstatus = 5.7.*\n' > "$tmp/class/05-early.rules"
expect_rc "explain with an early status class" 0 "$BIN" explain --rules "$tmp/class" "550 5.7.1 Mailbox full"
grep -q "^reason: mailboxfull$" "$tmp/out"; check "the words beat an earlier status class" $?
printf '[rule early-class]\nreason = blocked\nstatus = 5.7.*\ndecides-alone = true\n' > "$tmp/class/05-early.rules"
expect_rc "rules check of a class that decides alone" 78 "$BIN" rules check "$tmp/class"
grep -q "^bouncestat: $tmp/class/05-early.rules: \[rule early-class\]: decides-alone with status '5.7.\*': a class would overrule every phrase" "$tmp/err"
check "a class that decides alone named" $?

# A broken rules file at run time is exit 78, never a silent fallback.
expect_rc "parse with broken rules" 78 "$BIN" parse --rules "$tmp/broken" "$FIX/postfix-real/postfix-552-mailbox-full.eml"
grep -q "^bouncestat: bad rules: $tmp/broken/45-local.rules: \[rule local-bad-regex\]: bad regular expression" "$tmp/err"
check "parse names the broken rule" $?
[ ! -s "$tmp/out" ]; check "parse prints nothing with broken rules" $?
expect_rc "parse with broken default rules" 78 env BOUNCESTAT_RULES_DIR="$tmp/broken" "$BIN" parse "$FIX/postfix-real/postfix-552-mailbox-full.eml"
expect_rc "explain with broken rules" 78 "$BIN" explain --rules "$tmp/broken" 552
expect_rc "parse --no-rules ignores broken rules" 0 "$BIN" parse --no-rules --rules "$tmp/broken" "$FIX/postfix-real/postfix-552-mailbox-full.eml"

# A [reason] in a later directory that names no side keeps the side of
# the reason it replaces; a new reason must name one.
mkdir "$tmp/reword" "$tmp/newreason"
printf '[reason mailboxfull]\nmeaning = Full\nmeaning[pl] = Pelna\nhard = false\nwho = recipient\nadvice = Wait.\nadvice[pl] = Czekaj.\n' >"$tmp/reword/00-reasons.rules"
printf '[reason localgone]\nmeaning = Gone\nmeaning[pl] = Nie ma\nhard = true\nwho = sender\nadvice = Drop.\nadvice[pl] = Usun.\n' >"$tmp/newreason/00-local.rules"
printf '[bouncestat]\nrules = %s;%s\n' "$RULES" "$tmp/reword" >"$tmp/reword.conf"
printf '[bouncestat]\nrules = %s;%s\n' "$RULES" "$tmp/newreason" >"$tmp/newreason.conf"
expect_rc "a reworded reason without side" 0 env -u BOUNCESTAT_RULES_DIR BOUNCESTAT_CONFIG="$tmp/reword.conf" "$BIN" explain --format=json "552 5.2.2 Mailbox full"
grep -q '"advice":"Wait.".*' "$tmp/out" && grep -q '"side":"recipient"' "$tmp/out"
check "the reworded reason keeps the side it replaces" $?
expect_rc "a new reason without side" 78 env -u BOUNCESTAT_RULES_DIR BOUNCESTAT_CONFIG="$tmp/newreason.conf" "$BIN" explain 552
grep -q "^bouncestat: bad rules: $tmp/newreason/00-local.rules: \[reason localgone\]: no side$" "$tmp/err"
check "a new reason without side named" $?

# --- rules stats ---------------------------------------------------------
# Two messages that one rule decides, one that another decides alone.
mkdir "$tmp/stats"
cp "$FIX/postfix-real/postfix-552-mailbox-full.eml" "$tmp/stats/a.eml"
cp "$FIX/postfix-real/postfix-552-mailbox-full.eml" "$tmp/stats/b.eml"
cp "$FIX/postfix-real/postfix-535-5.7.8-auth-failed.eml" "$tmp/stats/c.eml"
expect_rc "rules stats" 0 "$BIN" rules stats --rules "$RULES" "$tmp/stats"
grep -q "^3 messages, 3 recipients with a rule; 2 of [0-9]* rules decide$" "$tmp/out"; check "stats totals" $?
grep -Eq "^status-mailbox-full +decides-alone +2 +2  20-codes.rules$" "$tmp/out"; check "stats: a rule for two messages" $?
grep -Eq "^smtp-535 +decides-alone +1 +1  20-codes.rules$" "$tmp/out"; check "stats: a rule for one message" $?
sed -n '/^1 rule decides for exactly one message/{n;p}' "$tmp/out" | grep -Eq "^  smtp-535 +$tmp/stats/c.eml$"
check "stats lists the rule that decides for one message, with the message" $?
grep -q "^[0-9]* rules never decide:$" "$tmp/out"; check "stats: the rules that never decide" $?
grep -q "^  .*user-unknown" "$tmp/out"; check "stats: user-unknown never decides here" $?
# The same message on standard input.
expect_rc "rules stats from stdin" 0 "$BIN" rules stats --rules "$RULES" < "$tmp/stats/c.eml"
grep -q "^1 messages, 1 recipients with a rule; 1 of [0-9]* rules decide$" "$tmp/out"; check "stats of stdin" $?
expect_rc "rules stats --no-rules" 64 "$BIN" rules stats --no-rules "$tmp/stats"
expect_err "rules stats --no-rules message" "bouncestat: rules stats: --no-rules leaves no rule to count"
expect_rc "rules stats of a missing path" 66 "$BIN" rules stats --rules "$RULES" "$tmp/nope.eml"
expect_rc "rules stats with broken rules" 78 "$BIN" rules stats --rules "$tmp/broken" "$tmp/stats"

# --- parse records the rule ----------------------------------------------
expect_rc "parse json with rules" 0 "$BIN" parse --format=json --rules "$RULES" "$FIX/postfix-real/postfix-multi-recipient-552-554-511.eml"
python3 - "$tmp/out" <<'PY'; check "reason, hard and rule per recipient" $?
import json, sys
o = json.loads(open(sys.argv[1]).read())
got = [(r["reason"], r["hard"], r["rule"]) for r in o["recipients"]]
assert got == [("userunknown", True, "user-unknown"), ("blocked", False, "blocked"),
               ("mailboxfull", False, "status-mailbox-full")], got
PY

# --- explain -----------------------------------------------------------
expect_rc "explain without text" 64 "$BIN" explain
expect_err "missing text message" "bouncestat: explain: missing TEXT (see --help)"
expect_rc "explain empty text" 64 "$BIN" explain "  "
expect_err "empty text message" "bouncestat: explain: TEXT is empty"
expect_rc "explain unknown language" 64 "$BIN" explain --lang de 552
expect_err "unknown language message" "bouncestat: explain: unknown language 'de' (the rules speak en, pl)"
expect_rc "explain unknown format" 64 "$BIN" explain --format=xml 552
expect_err "unknown format message" "bouncestat: explain: unknown format 'xml' (json or text)"
expect_rc "explain --help" 0 "$BIN" explain --help
grep -q -- "--lang" "$tmp/out"; check "explain --help names --lang" $?

expect_rc "explain 5.7.26" 0 "$BIN" explain "550 5.7.26 This message does not have authentication information"
cat > "$tmp/want" <<'EOF2'
reason: authfailure
meaning: The message failed the receiver's SPF, DKIM or DMARC checks
hard/soft: soft (the address may work)
who must act: sender
advice: Publish an SPF record that lists every server sending for your domain, enable DKIM signing, and check the DMARC policy; then send again.
rule: guide-550-5.7.26
status: 5.7.26
smtp code: 550
EOF2
diff "$tmp/want" "$tmp/out" >/dev/null; check "explain 5.7.26 text output" $?

expect_rc "explain 5.2.2" 0 "$BIN" explain 5.2.2
head -1 "$tmp/out" | grep -qx "reason: mailboxfull"; check "5.2.2 is mailboxfull" $?
grep -qx "who must act: recipient" "$tmp/out"; check "5.2.2: the recipient acts" $?
grep -q "^advice: .*quota" "$tmp/out"; check "5.2.2 advice names the quota" $?

expect_rc "explain 552" 0 "$BIN" explain 552
grep -qx "rule: smtp-552" "$tmp/out"; check "552 decided by the SMTP table" $?
grep -qx "status: 5.2.2 (inferred)" "$tmp/out"; check "552 infers 5.2.2" $?

expect_rc "explain 5.1.1 is hard" 0 "$BIN" explain 5.1.1
grep -qx "hard/soft: hard (the address is bad)" "$tmp/out"; check "5.1.1 is hard" $?

expect_rc "explain --lang pl" 0 "$BIN" explain --lang pl 5.2.2
head -1 "$tmp/out" | grep -qx "przyczyna: mailboxfull"; check "Polish labels" $?
grep -qx "znaczenie: Skrzynka odbiorcy jest pełna" "$tmp/out"; check "Polish meaning" $?
grep -qx "kto musi działać: odbiorca" "$tmp/out"; check "Polish who" $?
expect_rc "explain with LANG=pl_PL.UTF-8" 0 env LANG=pl_PL.UTF-8 "$BIN" explain 5.2.2
grep -qx "przyczyna: mailboxfull" "$tmp/out"; check "LANG picks Polish" $?
expect_rc "explain with LC_MESSAGES=pl_PL" 0 env LANG=en_US.UTF-8 LC_MESSAGES=pl_PL "$BIN" explain 5.2.2
grep -qx "przyczyna: mailboxfull" "$tmp/out"; check "LC_MESSAGES picks Polish" $?
expect_rc "explain with LC_ALL=C over LANG=pl" 0 env LANG=pl_PL.UTF-8 LC_ALL=C "$BIN" explain 5.2.2
grep -qx "reason: mailboxfull" "$tmp/out"; check "LC_ALL wins over LANG" $?
expect_rc "--lang en over LANG=pl" 0 env LANG=pl_PL.UTF-8 "$BIN" explain --lang en 5.2.2
grep -qx "reason: mailboxfull" "$tmp/out"; check "--lang wins over the locale" $?

expect_rc "explain --format=json" 0 "$BIN" explain --format=json "550 5.7.26 This message does not have authentication information"
python3 - "$tmp/out" <<'PY'; check "explain json object" $?
import json, sys
lines = open(sys.argv[1]).read().splitlines()
assert len(lines) == 1, lines
o = json.loads(lines[0])
assert {"reason", "meaning", "hard", "who", "advice", "rule"} <= set(o), o
assert o["reason"] == "authfailure" and o["hard"] is False and o["who"] == "sender"
assert o["rule"] == "guide-550-5.7.26" and "SPF" in o["advice"] and "DKIM" in o["advice"]
assert o["status"] == "5.7.26" and o["smtp_code"] == 550
PY
expect_rc "explain --format=json --lang pl" 0 "$BIN" explain --format=json --lang pl 535
python3 - "$tmp/out" <<'PY'; check "explain json in Polish" $?
import json, sys
o = json.loads(open(sys.argv[1]).read())
assert o["reason"] == "securityerror" and o["rule"] == "smtp-535", o
assert "hasło" in o["advice"] and o["lang"] == "pl", o
PY

echo "1..$n"
[ "$fails" = 0 ]
