#!/bin/bash
# verp.sh - forged bounces: `bouncestat verp` signs return paths (and
# --verify checks them), and `ingest --verp-secret-file` (or
# $BOUNCESTAT_VERP_SECRET_FILE) from standard input, as the MTA runs it
# with $ORIGINAL_RECIPIENT, stores a forged bounce for a real subscriber
# unverified (it does not suppress) and a genuine one verified (it
# does); --sending-domain checks the original's Message-ID.  A secret
# file that cannot be read makes a piped ingest exit 75 (the MTA keeps
# the bounce).
#
# Usage: bash verp.sh /path/to/bouncestat   (SOURCE_DIR set by CTest)
set -u

BS=${1:?usage: verp.sh BOUNCESTAT}
SOURCE_DIR=${SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
GEN="python3 $SOURCE_DIR/tests/cli/gen-dsns.py"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
unset BOUNCESTAT_DB BOUNCESTAT_VERP_SECRET_FILE ORIGINAL_RECIPIENT RECIPIENT
. "$(dirname "$0")/lib/harness.bash"
tmp=$T


printf '0123456789abcdef0123456789abcdef\n' >"$T/secret"
chmod 600 "$T/secret"

# --- verp: the scheme of docs/verp.md -----------------------------------
expect_rc "verp" 0 "$BS" verp --secret-file "$T/secret" \
    --return-path bounces@your.domain alice@example.com User-X-1@Example.com
# hmac.new(b"0123456789abcdef0123456789abcdef", b"alice@example.com",
#          hashlib.sha256).hexdigest()[:16]
[ "$(sed -n 1p "$tmp/out")" = "bounces+alice=example.com+841240d2a5b6654b@your.domain" ]
check "verp: alice's signed return path" $?
want=$(python3 -c 'import hmac, hashlib
print(hmac.new(b"0123456789abcdef0123456789abcdef", b"user-x-1@example.com",
               hashlib.sha256).hexdigest()[:16])')
[ "$(sed -n 2p "$tmp/out")" = "bounces+user-x-1=example.com+$want@your.domain" ]
check "verp: what Python's hmac computes" $?
SIGNED_X1=$(sed -n 2p "$tmp/out")
BOUNCESTAT_VERP_SECRET_FILE=$T/secret expect_rc "verp --verify (secret from the environment)" 0 \
    "$BS" verp --verify "$SIGNED_X1"
[ "$(cat "$tmp/out")" = "user-x-1@example.com" ]; check "verp --verify: the address" $?
expect_rc "verp --verify: a wrong token" 65 "$BS" verp --secret-file "$T/secret" \
    --verify bounces+user-x-1=example.com+0000000000000000@your.domain
expect_err "verp --verify: says so" \
    "bouncestat: verp: bounces+user-x-1=example.com+0000000000000000@your.domain: wrong token"
expect_rc "verp: no secret" 64 "$BS" verp --return-path b@your.domain a@example.com
expect_rc "verp: no --return-path" 64 "$BS" verp --secret-file "$T/secret" a@example.com
expect_rc "verp: a return path with +" 65 "$BS" verp --secret-file "$T/secret" \
    --return-path b+x@your.domain a@example.com
printf 'short\n' >"$T/short"
expect_rc "verp: a short secret" 66 "$BS" verp --secret-file "$T/short" \
    --return-path b@your.domain a@example.com

# --- ingest from stdin: forged and genuine ------------------------------
$GEN --count 4 --prefix x --dir "$T/in" >/dev/null
DB=$T/bounces.db
# 0: genuine (its own signed return path); 1: no token; 2: a made-up
# token; 3: the valid token of user-x-0's return path, for user-x-3.
SIGNED_X0=$("$BS" verp --secret-file "$T/secret" --return-path bounces@your.domain user-x-0@example.com)
env_for=("$SIGNED_X0" "bounces+user-x-1=example.com@your.domain"
         "bounces+user-x-2=example.com+0123456789abcdef@your.domain" "$SIGNED_X0")
for i in 0 1 2 3; do
    ORIGINAL_RECIPIENT=${env_for[$i]} expect_rc "ingest message $i" 0 \
        "$BS" ingest --db "$DB" --verp-secret-file "$T/secret" <"$T/in/x-00000${i}.eml"
done
[ "$(q "$DB" "select group_concat(address || ':' || verified, ' ') from (select * from events order by address)")" = \
  "user-x-0@example.com:1 user-x-1@example.com:0 user-x-2@example.com:0 user-x-3@example.com:0" ]
check "events.verified: only the genuine one" $?
[ "$(q "$DB" "select count(*) from messages where warnings like '%unverified%'")" = 3 ]
check "the forged ones say why" $?
expect_rc "suppress" 0 "$BS" suppress --db "$DB"
[ "$(cat "$tmp/out")" = "user-x-0@example.com" ]; check "suppress: the genuine one only" $?
[ "$(q "$DB" "select group_concat(address) from suppression_candidates")" = "user-x-0@example.com" ]
check "the view agrees" $?

expect_rc "show" 0 "$BS" show --db "$DB" user-x-1@example.com
grep -q "UNVERIFIED" "$tmp/out"; check "show: a forged one is marked" $?
expect_rc "show (genuine)" 0 "$BS" show --db "$DB" user-x-0@example.com
! grep -q "UNVERIFIED" "$tmp/out"; check "show: a genuine one is not" $?

# parse says it too (JSON key "verified", only when checked).
expect_rc "parse --verp-secret-file" 0 \
    "$BS" parse --format json --envelope-recipient "$SIGNED_X0" --verp-secret-file "$T/secret" "$T/in/x-000000.eml"
[ "$(python3 -c 'import json, sys; print(json.load(sys.stdin)["recipients"][0]["verified"])' <"$tmp/out")" = True ]
check "parse: verified true" $?
expect_rc "parse --verp-secret-file (forged)" 0 \
    "$BS" parse --format json --envelope-recipient "$SIGNED_X0" --verp-secret-file "$T/secret" "$T/in/x-000003.eml"
[ "$(python3 -c 'import json, sys; print(json.load(sys.stdin)["recipients"][0]["verified"])' <"$tmp/out")" = False ]
check "parse: verified false" $?
expect_rc "parse without a secret" 0 "$BS" parse --format json "$T/in/x-000000.eml"
[ "$(python3 -c 'import json, sys; print("verified" in json.load(sys.stdin)["recipients"][0])' <"$tmp/out")" = False ]
check "parse: no verified key without a secret" $?

# The secret from the environment, as a .forward line cannot pass options.
$GEN --count 2 --prefix env --dir "$T/env" >/dev/null
SIGNED_E0=$("$BS" verp --secret-file "$T/secret" --return-path bounces@your.domain user-env-0@example.com)
BOUNCESTAT_VERP_SECRET_FILE=$T/secret ORIGINAL_RECIPIENT=$SIGNED_E0 \
    expect_rc "ingest, secret from the environment" 0 "$BS" ingest --db "$T/env.db" <"$T/env/env-000000.eml"
BOUNCESTAT_VERP_SECRET_FILE=$T/secret ORIGINAL_RECIPIENT=bounces@your.domain \
    expect_rc "ingest, forged, secret from the environment" 0 "$BS" ingest --db "$T/env.db" <"$T/env/env-000001.eml"
[ "$(q "$T/env.db" "select group_concat(address || ':' || verified, ' ') from (select * from events order by address)")" = \
  "user-env-0@example.com:1 user-env-1@example.com:0" ]
check "environment: verified and not" $?

# --- Sending domains: the original's Message-ID -------------------------
# gen-dsns.py's originals have Message-ID <orig-P-I@example.org>.
expect_rc "ingest --sending-domain (theirs)" 0 "$BS" ingest --db "$T/sd.db" \
    --sending-domain example.org "$T/in/x-000000.eml"
expect_rc "ingest --sending-domain (not theirs)" 0 "$BS" ingest --db "$T/sd.db" \
    --sending-domain your.domain "$T/in/x-000001.eml"
[ "$(q "$T/sd.db" "select group_concat(address || ':' || verified, ' ') from (select * from events order by address)")" = \
  "user-x-0@example.com:1 user-x-1@example.com:0" ]
check "sending domains: verified and not" $?

# --- A secret that cannot be read: the MTA must keep the bounce ---------
ORIGINAL_RECIPIENT=$SIGNED_X0 expect_rc "stdin, missing secret file: 75" 75 \
    "$BS" ingest --db "$T/x.db" --verp-secret-file "$T/nonexistent" <"$T/in/x-000000.eml"
grep -q "nonexistent" "$tmp/err"; check "missing secret file: named" $?
expect_rc "paths, missing secret file: 66" 66 \
    "$BS" ingest --db "$T/x.db" --verp-secret-file "$T/nonexistent" "$T/in/x-000000.eml"

echo "1..$n"
[ "$fails" = 0 ]
