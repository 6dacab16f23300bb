#!/bin/bash
# The held-out phrase test: every line of tests/phrases/*.tsv goes through
# `bouncestat explain --format=json` and its .reason must be the expected
# one.  The lines are written from primary sources (MTA sources, providers'
# published error references, RFCs), not from the corpus the rules are
# measured on, so this measures how general the rules are.
#
# Line format (tab-separated; empty lines and lines starting with # are
# skipped):
#   expected_reason <TAB> reply text <TAB> context <TAB> source
# context: "-" or space-separated key=value words:
#   command=RCPT (--smtp-command), action=delayed (--action),
#   status=5.0.0 (--status: the report's Status field),
#   type=x-unix (--diagnostic-type: the Diagnostic-Code's type).
# Every mismatch is printed (file:line, expected, got, rule, text); any
# mismatch or malformed line fails the test.  The script first checks
# itself on a small set with known mistakes, and explain's context options.
# Usage: phrases.sh /path/to/bouncestat   (SOURCE_DIR from the environment)
set -u
BIN=$1
SRC=${SOURCE_DIR:?}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
. "$(dirname "$0")/lib/harness.bash"

# run_phrases FILE... : checks every line; prints the mismatches on stderr
# and the count on stdout; returns the number of bad lines (capped at 255).
run_phrases () {
    local f ln line want text context source extra word bad=0
    local -a opts
    : >"$tmp/results"
    for f in "$@"; do
        ln=0
        while IFS= read -r line || [ -n "$line" ]; do
            ln=$((ln + 1))
            case $line in '' | '#'*) continue ;; esac
            IFS=$'\t' read -r want text context source extra <<<"$line"
            if [ -z "${want:-}" ] || [ -z "${text:-}" ] || [ -z "${context:-}" ] ||
                [ -z "${source:-}" ] || [ -n "${extra:-}" ]; then
                echo "FAIL: ${f##*/}:$ln: not 4 tab-separated fields" >&2
                bad=$((bad + 1))
                continue
            fi
            opts=()
            if [ "$context" != - ]; then
                for word in $context; do
                    case $word in
                        command=*) opts+=(--smtp-command "${word#command=}") ;;
                        action=*) opts+=(--action "${word#action=}") ;;
                        status=*) opts+=(--status "${word#status=}") ;;
                        type=*) opts+=(--diagnostic-type "${word#type=}") ;;
                        *) echo "FAIL: ${f##*/}:$ln: unknown context '$word'" >&2
                           bad=$((bad + 1)); continue 2 ;;
                    esac
                done
            fi
            if ! "$BIN" explain --format=json "${opts[@]}" -- "$text" >"$tmp/one" 2>"$tmp/err"; then
                echo "FAIL: ${f##*/}:$ln: explain failed: $(cat "$tmp/err")" >&2
                bad=$((bad + 1))
                continue
            fi
            printf '%s\t%s\t%s\t%s\n' "${f##*/}:$ln" "$want" "$text" "$(cat "$tmp/one")" >>"$tmp/results"
        done <"$f"
    done
    python3 - "$tmp/results" "$bad" <<'PY'
import json, sys
bad, total = int(sys.argv[2]), int(sys.argv[2])
for row in open(sys.argv[1], encoding="utf-8"):
    where, want, text, out = row.rstrip("\n").split("\t", 3)
    got = json.loads(out)
    total += 1
    if got["reason"] != want:
        bad += 1
        print(f"FAIL: {where}: expected {want}, got {got['reason']} "
              f"(rule {got['rule']}): {text}", file=sys.stderr)
print(f"{total - bad} of {total} phrase lines as expected")
sys.exit(min(bad, 255))
PY
}

# --- explain's context options ----------------------------------------------
expect_rc "unknown --smtp-command" 64 "$BIN" explain --smtp-command QUIT "550 x"
expect_err "unknown command message" "bouncestat: explain: unknown SMTP command 'QUIT' (CONNECT, HELO, MAIL, RCPT, DATA or NONE)"
expect_rc "unknown --action" 64 "$BIN" explain --action bounced "550 x"
expect_err "unknown action message" "bouncestat: explain: unknown action 'bounced' (failed, delayed, delivered, relayed or expanded)"
expect_rc "bad --status" 64 "$BIN" explain --status 5.x "550 x"
expect_err "bad status message" "bouncestat: explain: --status '5.x' is not a status code such as 5.1.1"
expect_rc "bad --diagnostic-type" 64 "$BIN" explain --diagnostic-type "x unix" "550 x"
expect_err "bad diagnostic type message" "bouncestat: explain: --diagnostic-type 'x unix' is not a type such as smtp or x-unix"
expect_rc "context in the JSON" 0 "$BIN" explain --format=json --smtp-command DATA --action delayed --status 4.0.0 --diagnostic-type X-Unix "450 try later"
python3 -c 'import json,sys; o=json.load(open(sys.argv[1])); sys.exit(0 if (o["smtp_command"], o["action"], o["status"], o["status_source"], o["diagnostic_type"]) == ("DATA", "delayed", "4.0.0", "dsn", "x-unix") else 1)' "$tmp/out"
check "smtp_command, action, status and diagnostic_type from the options" $?
expect_rc "command found in the text" 0 "$BIN" explain --format=json "550 User unknown (in reply to end of DATA command)"
python3 -c 'import json,sys; o=json.load(open(sys.argv[1])); sys.exit(0 if o["smtp_command"] == "DATA" else 1)' "$tmp/out"
check "smtp_command found in the text as parse does" $?
expect_rc "--smtp-command NONE" 0 "$BIN" explain --format=json --smtp-command NONE "550 User unknown (in reply to end of DATA command)"
python3 -c 'import json,sys; o=json.load(open(sys.argv[1])); sys.exit(0 if o["smtp_command"] is None else 1)' "$tmp/out"
check "NONE means the report does not say" $?

# --- the runner on a set with known mistakes --------------------------------
mkdir "$tmp/self"
printf '%s\n' '# a comment' '' \
    $'mailboxfull\t552 5.2.2 Mailbox full\t-\tRFC 3463 x.2.2' \
    $'userunknown\t552 5.2.2 Mailbox full\t-\ta wrong expectation' \
    $'userunknown\tonly three fields\t-' \
    $'filtered\t550 User unknown\tfrob=1\tan unknown context' >"$tmp/self/a.tsv"
run_phrases "$tmp/self/a.tsv" >"$tmp/self.out" 2>"$tmp/self.err"
[ $? = 3 ]; check "the runner counts 3 bad lines of 4" $?
grep -q "^FAIL: a.tsv:4: expected userunknown, got mailboxfull" "$tmp/self.err"; check "a mismatch is named with file, line, got and expected" $?
grep -q "^FAIL: a.tsv:5: not 4 tab-separated fields" "$tmp/self.err"; check "a malformed line is named" $?
grep -q "^FAIL: a.tsv:6: unknown context 'frob=1'" "$tmp/self.err"; check "an unknown context is named" $?

# --- every phrase file ------------------------------------------------------
shopt -s nullglob
files=("$SRC"/tests/phrases/*.tsv)
[ ${#files[@]} -gt 0 ]; check "tests/phrases/*.tsv exist" $?
if [ ${#files[@]} -gt 0 ]; then
    run_phrases "${files[@]}"
    check "every phrase line of ${#files[@]} file(s) as expected" $?
fi

echo "1..$n"
[ "$fails" = 0 ]
