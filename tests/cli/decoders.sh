#!/bin/bash
# CLI tests of the non-standard decoders through `bouncestat parse`: the
# kinds and MTA names of golden samples (tests/fixtures/<family>/), and
# --decoders FILE (adding a format; exit codes for a bad or missing file).
# Usage: decoders.sh /path/to/bouncestat   (FIXTURES from the environment)
set -u
BIN=$1
FIX=${FIXTURES:?}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
. "$(dirname "$0")/lib/harness.bash"

first_line () { # file: its first line, exactly
    head -n 1 "$1"
}

# The first line of the text output: "SOURCE: KIND (MTA) "SUBJECT"".
while read -r file want; do
    expect_rc "parse $file" 0 "$BIN" parse --no-rules "$FIX/$file"
    got=$(first_line "$tmp/out")
    [ "${got#"$FIX/$file: "}" = "$want" ]; check "$file: $want (got: ${got#"$FIX/$file: "})" $?
done <<'LIST'
qmail/lhost-qmail-02.eml bounce (qmail) "failure notice"
exim/lhost-exim-02.eml bounce (exim) "Mail delivery failed: returning message to sender"
gmail/lhost-gmail-01.eml bounce (gmail) "Delivery Status Notification (Failure)"
arf/arf-01.eml feedback (arf) "Email Feedback Report for IP 192.0.2."
rfc3834/rfc3834-01.eml autoreply (rfc3834) "Away until May 5"
not-bounce/is-not-bounce-02.eml not-bounce "original as attachment"
LIST

# An auto-reply that says the account is closed: suspend, by the rule
# autoreply-closed (rules of BOUNCESTAT_RULES_DIR); a plain one: vacation.
printf 'From: greg@example.com\nTo: s@example.org\nSubject: Out of Office: hi\nAuto-Submitted: auto-replied\n\nGreg no longer works at Example Corp.\n' > "$tmp/closed.eml"
printf 'From: ann@example.com\nTo: s@example.org\nSubject: Out of Office: hi\nAuto-Submitted: auto-replied\n\nBack on Monday.\n' > "$tmp/away.eml"
expect_rc "auto-replies with rules" 0 "$BIN" parse "$tmp/closed.eml" "$tmp/away.eml"
grep -q "^  greg@example.com - .*suspend (an auto-reply, not a bounce) \[autoreply-closed\]$" "$tmp/out"; check "closed account: suspend" $?
grep -q "^  ann@example.com - vacation (an auto-reply, not a bounce) \[autoreply\]$" "$tmp/out"; check "away: vacation" $?

# --decoders: a format of one's own.
cat > "$tmp/acme.eml" <<'MSG'
From: robot@acme.example
To: sender@example.org
Subject: note

ACME bounce

alice@example.com: 550 5.1.1 no such user
MSG
printf '[decoder acme]\nfrom=@acme\\.example$\nbody=^ACME bounce\n' > "$tmp/acme.conf"
printf '[decoder bad]\nbody=(unclosed\n' > "$tmp/bad.conf"

expect_rc "unknown sender without --decoders" 0 "$BIN" parse --no-rules "$tmp/acme.eml"
[ "$(first_line "$tmp/out")" = "$tmp/acme.eml: not-bounce \"note\"" ]; check "not a bounce by default" $?
expect_rc "--decoders FILE" 0 "$BIN" parse --no-rules --decoders "$tmp/acme.conf" "$tmp/acme.eml"
[ "$(first_line "$tmp/out")" = "$tmp/acme.eml: bounce (acme) \"note\"" ]; check "the added format names it" $?
grep -q "^  alice@example.com failed 5.1.1 (550)$" "$tmp/out"; check "its recipient, status and code" $?
expect_rc "an invalid pattern is EX_CONFIG" 78 "$BIN" parse --decoders "$tmp/bad.conf" "$tmp/acme.eml"
grep -q "bad.conf: \[decoder bad\] body: " "$tmp/err"; check "the error names file, group and key" $?
[ ! -s "$tmp/out" ]; check "nothing parsed after a bad --decoders" $?
expect_rc "a missing file is EX_NOINPUT" 66 "$BIN" parse --decoders "$tmp/none.conf" "$tmp/acme.eml"

echo "$((n - fails)) passed, $fails failed"
[ "$fails" = 0 ]
