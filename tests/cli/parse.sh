#!/bin/bash
# CLI tests of `bouncestat parse`: exit codes, usage errors, the JSON
# contract (exact key set), inputs (file, stdin, mbox, folder), text output.
# Usage: parse.sh /path/to/bouncestat   (FIXTURES from the environment)
set -u
BIN=$1
FIX=${FIXTURES:?}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
. "$(dirname "$0")/lib/harness.bash"

expect_rc "no command is a usage error" 64 "$BIN"
grep -q "^Usage: bouncestat COMMAND" "$tmp/err"; check "usage goes to stderr" $?
expect_rc "--help" 0 "$BIN" --help
grep -q "parse" "$tmp/out"; check "--help lists parse" $?
expect_rc "unknown command" 64 "$BIN" frobnicate
[ "$(cat "$tmp/err")" = "bouncestat: unknown command 'frobnicate' (see 'bouncestat --help')" ]
check "unknown command message" $?
expect_rc "unknown option" 64 "$BIN" parse --no-such-option
grep -q "^bouncestat: Unknown option --no-such-option (see --help)" "$tmp/err"; check "unknown option message" $?
expect_rc "unknown format" 64 "$BIN" parse --format=xml "$FIX/rfc3464/rfc3464-01.eml"
[ "$(cat "$tmp/err")" = "bouncestat: parse: unknown format 'xml' (json or text)" ]; check "unknown format message" $?
expect_rc "parse --help" 0 "$BIN" parse --help
grep -q -- "--format" "$tmp/out"; check "parse --help names --format" $?

expect_rc "missing file is EX_NOINPUT" 66 "$BIN" parse "$tmp/does-not-exist"
grep -q "does-not-exist: No such file or directory" "$tmp/err"; check "missing file named on stderr" $?
# A missing file does not stop the others.
expect_rc "missing file among good ones" 66 "$BIN" parse --format=json "$tmp/nope" "$FIX/rfc3464/rfc3464-01.eml"
[ "$(wc -l < "$tmp/out")" = 1 ]; check "the good file is still parsed" $?

# The JSON contract: exactly these keys (more may be added, none dropped).
expect_rc "json of an RFC 3464 report" 0 "$BIN" parse --format=json "$FIX/rfc3464/rfc3464-01.eml"
python3 - "$tmp/out" <<'PY'; check "json keys and values" $?
import json, sys
objs = [json.loads(l) for l in open(sys.argv[1])]
assert len(objs) == 1, objs
o = objs[0]
top = {"format_version", "source", "kind", "mta", "reporting_mta", "arrival_date",
       "subject", "original", "recipients", "warnings"}
assert top <= set(o), set(o) ^ top
assert o["format_version"] == 1
assert o["kind"] == "dsn" and o["mta"] == "rfc3464"
assert o["reporting_mta"] == "smtpgw.example.jp"
assert o["arrival_date"] == "2013-10-16T14:15:34+09", o["arrival_date"]
assert set(o["original"]) >= {"message_id", "from", "to", "subject", "date"}
rkeys = {"address", "original_recipient", "action", "status", "status_source", "smtp_code",
         "diagnostic_type", "diagnostic", "remote_mta", "last_attempt", "reason", "hard",
         "permanent", "rule"}
assert len(o["recipients"]) == 1
r = o["recipients"][0]
assert rkeys <= set(r), rkeys - set(r)
assert r["address"] == "userunknown@bouncehammer.jp"
assert r["status"] == "5.1.1" and r["status_source"] == "dsn" and r["smtp_code"] == 550
assert r["action"] == "failed" and r["permanent"] is True
assert r["diagnostic_type"] == "smtp"
assert r["original_recipient"] is None   # unknown is null, never invented
PY

# LF, CRLF and CR give the same recipients.
"$BIN" parse --format=json "$FIX/rfc3464/rfc3464-01.eml" "$FIX/rfc3464/rfc3464-01-crlf.eml" \
    "$FIX/rfc3464/rfc3464-01-cr.eml" > "$tmp/ends"
python3 - "$tmp/ends" <<'PY'; check "line ends give the same result" $?
import json, sys
objs = [json.loads(l) for l in open(sys.argv[1])]
assert len(objs) == 3
strip = lambda o: json.dumps([o["kind"], o["recipients"], o["original"], o["subject"]])
assert strip(objs[0]) == strip(objs[1]) == strip(objs[2]), [strip(o) for o in objs]
PY

# stdin, and the source of stdin is "-".
"$BIN" parse --format=json < "$FIX/rfc3464/rfc3464-01.eml" > "$tmp/stdin"; check "stdin exit 0" $?
python3 -c 'import json,sys; o=json.load(open(sys.argv[1])); assert o["source"]=="-" and o["kind"]=="dsn"' "$tmp/stdin"
check "stdin source is -" $?

# An mbox of two messages gives two results named path#1 and path#2, in order.
{ printf 'From MAILER-DAEMON Wed Oct 16 14:15:35 2013\n'; cat "$FIX/rfc3464/rfc3464-01.eml"
  printf '\nFrom someone Wed Oct 16 14:15:36 2013\nFrom: a@example.com\nSubject: hello\n\nhi\n'; } > "$tmp/box"
"$BIN" parse --format=json "$tmp/box" > "$tmp/boxout"; check "mbox exit 0" $?
python3 - "$tmp/boxout" "$tmp/box" <<'PY'; check "mbox results in order" $?
import json, sys
objs = [json.loads(l) for l in open(sys.argv[1])]
assert [o["source"] for o in objs] == [sys.argv[2] + "#1", sys.argv[2] + "#2"], objs
assert [o["kind"] for o in objs] == ["dsn", "not-bounce"]
assert objs[1]["recipients"] == []
PY

# Garbage and empty input are results, not errors.
printf '' > "$tmp/empty"; head -c 3000 /dev/urandom > "$tmp/garbage"
printf '\x00\x01garbage' >> "$tmp/garbage"
expect_rc "garbage is exit 0" 0 "$BIN" parse --format=json "$tmp/empty" "$tmp/garbage"
python3 -c '
import json,sys
objs=[json.loads(l) for l in open(sys.argv[1])]
assert [o["kind"] for o in objs]==["unparsable","unparsable"], objs
assert all(o["warnings"] for o in objs)' "$tmp/out"
check "empty and garbage are unparsable with a warning" $?

# Text output names the recipient and status.
expect_rc "text format" 0 "$BIN" parse "$FIX/rfc3464/rfc3464-01.eml"
grep -q "^  userunknown@bouncehammer.jp failed 5.1.1 (550)" "$tmp/out"; check "text shows the recipient" $?
grep -q "^  userunknown@bouncehammer.jp failed 5.1.1 (550) userunknown, hard " "$tmp/out"
check "text: a failure says hard or soft" $?
# Hard or soft means nothing for a success or a complaint: they say what
# they are.  Without a Message-ID the original is its subject alone.
expect_rc "text: a success notice" 0 "$BIN" parse "$FIX/samples/postfix-success-relayed.eml"
grep -q "^  ok@remote.test relayed 2.0.0 (250) delivered (a success notice, not a bounce) \[" "$tmp/out"
check "text: delivered is a success, not 'soft'" $?
expect_rc "text: a delay notice" 0 "$BIN" parse "$FIX/samples/postfix-450-4.2.1-try-later-delayed.eml"
grep -q "(a delay notice, still being tried)" "$tmp/out"; check "text: a delay says it is still tried" $?
expect_rc "text: an ARF complaint" 0 "$BIN" parse "$FIX/samples/sisimai-arf-01.eml"
grep -q "^  redacted@example.net failed feedback (a complaint report, not a bounce) \[" "$tmp/out"
check "text: ARF is a complaint, not 'soft'" $?
grep -q '^  original "' "$tmp/out"; check "text: no double space without a Message-ID" $?
grep -q ', soft\|, hard' "$tmp/out"; [ $? = 1 ]; check "text: ARF says neither hard nor soft" $?

# --jobs: workers change nothing in the output, its order included, and a
# missing file's error still comes after what was read before it.
expect_rc "parse --jobs 1 of the fixtures" 66 "$BIN" parse --format=json --jobs 1 "$FIX"/*/ "$tmp/nope" "$FIX/samples"
mv "$tmp/out" "$tmp/jobs1.out"; mv "$tmp/err" "$tmp/jobs1.err"
[ "$(wc -l < "$tmp/jobs1.out")" -gt 40 ]; check "--jobs 1: many results" $?
for j in 2 3; do
    expect_rc "parse --jobs $j of the fixtures" 66 "$BIN" parse --format=json --jobs $j "$FIX"/*/ "$tmp/nope" "$FIX/samples"
    cmp -s "$tmp/out" "$tmp/jobs1.out"; check "--jobs $j: the same output as --jobs 1" $?
    cmp -s "$tmp/err" "$tmp/jobs1.err"; check "--jobs $j: the same errors" $?
done
expect_rc "parse --jobs text" 0 "$BIN" parse --jobs 2 "$FIX/samples"
"$BIN" parse --jobs 1 "$FIX/samples" > "$tmp/text1" 2>/dev/null
cmp -s "$tmp/out" "$tmp/text1"; check "--jobs 2: the same text output" $?
expect_rc "negative --jobs is a usage error" 64 "$BIN" parse --jobs -1 "$FIX/samples"

echo "$((n - fails)) passed, $fails failed"
[ "$fails" = 0 ]
