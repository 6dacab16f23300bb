#!/bin/bash
# fetch.sh - `bouncestat fetch` against a real Dovecot (tests/cli/lib/
# dovecot.bash: its own configuration, a self-signed certificate, on
# 127.0.0.1), over IMAPS, IMAP (STARTTLS), POP3S and POP3 (STARTTLS),
# each with its own user and database:
#   - a mailbox of bounces and ordinary mail is stored whole, and without
#     options nothing on the server changes (no message gone, no \Seen);
#   - a second run fetches nothing; a new message is the only one fetched;
#   - --move-to (IMAP) and --delete (POP3) change the server only after
#     the commit: with the database locked the server keeps the message;
#   - --seen and --delete over IMAP, --folder repeated;
#   - a wrong password exits 77; an untrusted certificate (no --cacert)
#     is refused (76) and nothing is stored;
#   - the password from ~/.netrc and from the configuration file (with
#     the warning when others can read it); none in the URL;
#   - Dovecot killed mid-fetch (each protocol): the run exits 75 (or
#     69), every message stored is whole and remembered, and the next run
#     completes with every message once;
#   - a folder rebuilt with a new UIDVALIDITY is read again: all
#     duplicates, nothing stored twice.
#
# Usage: bash fetch.sh /path/to/bouncestat   (SOURCE_DIR set by CTest)
set -u

BS=${1:?usage: fetch.sh BOUNCESTAT}
SOURCE_DIR=${SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
FIXTURES=${FIXTURES:-$SOURCE_DIR/tests/fixtures}
T=$(mktemp -d); [ -n "${KEEP:-}" ] && echo "# T=$T"
tmp=$T
# shellcheck source=lib/harness.bash
. "$(dirname "$0")/lib/harness.bash"
# shellcheck source=lib/dovecot.bash
. "$(dirname "$0")/lib/dovecot.bash"
trap 'dovecot_stop; [ -n "${KEEP:-}" ] || rm -rf "$T"' EXIT
unset BOUNCESTAT_DB
export HOME=$T/home XDG_DATA_HOME=$T/xdg
mkdir -p "$HOME"

protos=(imaps imap pop3s pop3)
# "bounces@example.org": a hosted mailbox's user, written %40 in the URL.
NETRC_USER=bounces@example.org
dovecot_setup "${protos[@]}" "$NETRC_USER" conf
dovecot_start
CA=$T/dovecot/cert.pem

declare -A port=([imaps]=$IMAPS_PORT [imap]=$IMAP_PORT [pop3s]=$POP3S_PORT [pop3]=$POP3_PORT)
url () { # url PROTO USER
    case $1 in
        imap*) echo "$1://$2@localhost:${port[$1]}/INBOX" ;;
        *) echo "$1://$2@localhost:${port[$1]}" ;;
    esac
}

# The mailbox: three bounces and two ordinary messages.
bounces=("$FIXTURES/postfix/lhost-postfix-07.eml" "$FIXTURES/exim/lhost-exim-01.eml"
         "$FIXTURES/gmail/lhost-gmail-01.eml")
for i in 1 2; do
    printf 'From: alice@example.org\nTo: bounces@example.com\nSubject: hello %s\nMessage-ID: <hello-%s@example.org>\nDate: Sun, 6 Dec 2026 10:00:00 +0000\n\nNot a bounce (%s).\n' \
        "$i" "$i" "$i" >"$T/ordinary-$i.eml"
done
fill () { # fill USER
    local f
    for f in "${bounces[@]}" "$T/ordinary-1.eml" "$T/ordinary-2.eml"; do
        dovecot_deliver "$1" "$f"
    done
}
db_count () { q "$1" 'select count(*) from messages'; }

for p in "${protos[@]}"; do
    u=$p U=$(url "$p" "$p") D=$T/$p.db
    echo "$u-secret" >"$T/$u.pass"
    chmod 600 "$T/$u.pass"
    F=("$BS" fetch --db "$D" --cacert "$CA" --password-file "$T/$u.pass")
    fill "$u"

    # --- The mailbox is stored; the server is as it was --------------
    expect_rc "$p: fetch" 0 "${F[@]}" "$U"
    check "$p: 5 stored" "$([ "$(db_count "$D")" = 5 ]; echo $?)"
    check "$p: 3 bounces among them" \
        "$([ "$(q "$D" "select count(*) from messages where kind = 'bounce'")" = 3 ]; echo $?)"
    check "$p: the summary line" \
        "$(grep -q '^fetch: 5 messages in .* 5 stored, 0 duplicates, 0 unparsable, .*, bounce 3' "$T/err"; echo $?)"
    check "$p: the bounces' events" \
        "$([ "$(q "$D" "select count(*) from events")" -ge 3 ]; echo $?)"
    check "$p: the server keeps every message" "$([ "$(dovecot_count "$u")" = 5 ]; echo $?)"
    check "$p: and flags none \\Seen" "$([ "$(dovecot_seen "$u")" = 0 ]; echo $?)"
    check "$p: the source names the mailbox, never the password" \
        "$([ "$(q "$D" "select count(*) from messages where source like '$p://$u@localhost:${port[$p]}/%' and source not like '%secret%'")" = 5 ]; echo $?)"

    # --- A second run fetches nothing; then only the new message -------
    expect_rc "$p: second fetch" 0 "${F[@]}" "$U"
    check "$p: second fetch reads nothing" \
        "$(grep -q '^fetch: 0 messages in' "$T/err"; echo $?)"
    dovecot_deliver "$u" "$FIXTURES/postfix/lhost-postfix-34.eml"
    expect_rc "$p: fetch after new mail" 0 "${F[@]}" "$U"
    check "$p: only the new message is read" \
        "$(grep -q '^fetch: 1 messages in .* 1 stored' "$T/err"; echo $?)"
    check "$p: 6 stored" "$([ "$(db_count "$D")" = 6 ]; echo $?)"

    # --- Moved or deleted only after the commit --------------------------
    case $p in imap*) act=(--move-to Done) ;; *) act=(--delete) ;; esac
    case $p in imap*) dovecot_folder "$u" Done ;; esac
    dovecot_deliver "$u" "$FIXTURES/gmail/lhost-gmail-04.eml"
    hold_db_lock "$D" "$T/locked" "$T/release"
    holder=$!
    expect_rc "$p: ${act[*]} with the database locked" 75 \
        "${F[@]}" --busy-timeout 200 "${act[@]}" "$U"
    touch "$T/release"; wait "$holder"; rm -f "$T/locked" "$T/release"
    check "$p: nothing stored, the server keeps all 7" \
        "$([ "$(db_count "$D")" = 6 ] && [ "$(dovecot_count "$u")" = 7 ]; echo $?)"
    expect_rc "$p: ${act[*]}" 0 "${F[@]}" "${act[@]}" "$U"
    check "$p: the 7th stored" "$([ "$(db_count "$D")" = 7 ]; echo $?)"
    check "$p: the server's mailbox is empty" "$([ "$(dovecot_count "$u")" = 0 ]; echo $?)"
    case $p in
        imap*) check "$p: all 7 in Done" "$([ "$(dovecot_count "$u" Done)" = 7 ]; echo $?)"
               check "$p: summary says moved" "$(grep -q '; 7 moved to Done$' "$T/err"; echo $?)" ;;
        *) check "$p: summary says deleted" "$(grep -q '; 7 deleted$' "$T/err"; echo $?)" ;;
    esac

    # --- A wrong password; an untrusted certificate --------------------
    echo wrong >"$T/wrong.pass"
    expect_rc "$p: wrong password" 77 "$BS" fetch --db "$D" --cacert "$CA" \
        --password-file "$T/wrong.pass" "$U"
    check "$p: wrong password says so" "$(grep -qi 'login denied' "$T/err"; echo $?)"
    dovecot_deliver "$u" "$T/ordinary-1.eml"
    expect_rc "$p: untrusted certificate" 76 "$BS" fetch --db "$T/$p-nocert.db" \
        --password-file "$T/$u.pass" "$U"
    check "$p: the certificate is named" "$(grep -q 'certificate' "$T/err"; echo $?)"
    check "$p: nothing stored without trust" \
        "$([ "$(db_count "$T/$p-nocert.db")" = 0 ]; echo $?)"
    expect_rc "$p: --insecure" 0 "$BS" fetch --db "$T/$p-nocert.db" --insecure \
        --password-file "$T/$u.pass" "$U"
    check "$p: --insecure says so" "$(grep -q 'warning: --insecure' "$T/err"; echo $?)"
done

# --- IMAP: --seen, --delete, --folder repeated --------------------------
u=imaps D=$T/imaps.db
F=("$BS" fetch --db "$D" --cacert "$CA" --password-file "$T/$u.pass")
dovecot_deliver "$u" "$FIXTURES/exim/lhost-exim-02.eml"
expect_rc "imaps: --seen" 0 "${F[@]}" --seen "$(url imaps imaps)"
# The new ones: this and the one left by the --insecure run above.
check "imaps: --seen flags the new ones" \
    "$([ "$(dovecot_seen "$u")" = 2 ] && [ "$(dovecot_count "$u")" = 2 ]; echo $?)"
dovecot_deliver "$u" "$T/ordinary-2.eml" Junk
expect_rc "imaps: --folder twice" 0 "${F[@]}" --folder INBOX --folder Junk \
    "imaps://imaps@localhost:$IMAPS_PORT"
check "imaps: --folder reads the new one of Junk only" \
    "$(grep -q '^fetch: 1 messages in' "$T/err"; echo $?)"
expect_rc "imaps: --delete" 0 "${F[@]}" --delete "$(url imaps imaps)"
check "imaps: --delete empties the INBOX" "$([ "$(dovecot_count "$u")" = 0 ]; echo $?)"
check "imaps: the state per mailbox" \
    "$([ "$(q "$D" "select group_concat(mailbox, ',') from (select mailbox from fetch_imap where account = 'imaps@localhost' order by mailbox)")" = INBOX,Junk ]; echo $?)"

# --- The password from ~/.netrc, the configuration; never in the URL ----
fill "$NETRC_USER"
printf 'machine localhost login %s password %s-secret\n' "$NETRC_USER" "$NETRC_USER" >"$HOME/.netrc"
chmod 600 "$HOME/.netrc"
expect_rc "the password from \$HOME/.netrc, user bounces%40example.org" 0 \
    "$BS" fetch --db "$T/netrc.db" --cacert "$CA" "$(url imaps bounces%40example.org)"
check "\$HOME/.netrc: 5 stored" "$([ "$(db_count "$T/netrc.db")" = 5 ]; echo $?)"
rm "$HOME/.netrc"
fill conf
printf '[bouncestat]\nfetch-password = conf-secret\n' >"$T/conf.conf"
chmod 644 "$T/conf.conf"
expect_rc "configuration's fetch-password" 0 \
    env BOUNCESTAT_CONFIG="$T/conf.conf" "$BS" fetch --db "$T/conf.db" --cacert "$CA" "$(url pop3s conf)"
check "configuration: 5 stored" "$([ "$(db_count "$T/conf.db")" = 5 ]; echo $?)"
check "configuration readable by others: warned" \
    "$(grep -q "warning: $T/conf.conf holds fetch-password and others can read it" "$T/err"; echo $?)"
expect_rc "a password in the URL" 64 "$BS" fetch --db "$T/conf.db" --cacert "$CA" \
    "imaps://conf:conf-secret@localhost:$IMAPS_PORT/INBOX"
check "a password in the URL: refused" "$(grep -q 'holds a password' "$T/err"; echo $?)"
expect_rc "no server" 69 "$BS" fetch --db "$T/none.db" --cacert "$CA" \
    --password-file "$T/imaps.pass" "imaps://imaps@localhost:$((IMAPS_PORT + 8))/INBOX"

# --- Dovecot killed mid-fetch: nothing lost, nothing half-stored --------
python3 "$SOURCE_DIR/tests/cli/gen-dsns.py" --count 200 --prefix cut --dir "$T/cut"
for p in "${protos[@]}"; do
    u=$p D=$T/cut-$p.db U=$(url "$p" "$p")
    for f in "$T"/cut/*.eml; do dovecot_deliver "$u" "$f"; done
    # A new database: all the mailbox is new to it.
    total=$(dovecot_count "$u")
    "$BS" fetch --db "$D" --cacert "$CA" --password-file "$T/$u.pass" "$U" \
        >"$T/cut.out" 2>"$T/cut.err" &
    fetcher=$!
    # Cut once 10 are stored (sqlite3: python's start is too slow here).
    for _ in $(seq 1000); do
        [ "$(sqlite3 "$D" 'select count(*) from messages' 2>/dev/null)" -ge 10 ] 2>/dev/null && break
        sleep 0.01
    done
    dovecot_kill
    wait "$fetcher"; rc=$?
    check "$p: cut mid-fetch exits 75 or 69 (exit $rc)" "$([ "$rc" = 75 ] || [ "$rc" = 69 ]; echo $?)"
    got=$(db_count "$D")
    check "$p: some but not all of $total stored before the cut ($got)" \
        "$([ "$got" -gt 0 ] && [ "$got" -lt "$total" ]; echo $?)"
    check "$p: every message stored is whole" \
        "$([ "$(q "$D" 'select count(*) from messages m join raw_messages r on r.message_id = m.id')" = "$got" ]; echo $?)"
    case $p in
        imap*) check "$p: the last UID remembered is the last stored" \
                   "$([ "$(q "$D" "select last_uid - (select min(cast(substr(source, instr(source, ';UID=') + 5) as integer)) from messages) + 1 from fetch_imap")" = "$got" ]; echo $?)" ;;
        *) check "$p: each stored is remembered" \
               "$([ "$(q "$D" 'select count(*) from fetch_pop3')" = "$got" ]; echo $?)" ;;
    esac
    dovecot_start
    expect_rc "$p: the next run" 0 "$BS" fetch --db "$D" --cacert "$CA" \
        --password-file "$T/$u.pass" "$U"
    check "$p: the next run completes: $total stored once" \
        "$([ "$(db_count "$D")" = "$total" ] && grep -q "^fetch: $((total - got)) messages in .* $((total - got)) stored, 0 duplicates" "$T/err"; echo $?)"
    check "$p: and the server still has them all" "$([ "$(dovecot_count "$u")" = "$total" ]; echo $?)"
done

# --- A rebuilt folder (a new UIDVALIDITY): read again, nothing doubled ---
D=$T/cut-imaps.db
before=$(q "$D" "select uidvalidity from fetch_imap where mailbox = 'INBOX'")
total=$(dovecot_count imaps)
dovecot_stop
sleep 1 # UIDVALIDITY is a time in seconds: make the new one another
rm -f "$T/dovecot/mail/imaps/Maildir/dovecot-uidlist" "$T/dovecot/mail/imaps/Maildir/dovecot-uidvalidity"* \
    "$T/dovecot/mail/imaps/Maildir/dovecot.index"*
dovecot_start
expect_rc "imaps: after a new UIDVALIDITY" 0 "$BS" fetch --db "$D" --cacert "$CA" \
    --password-file "$T/imaps.pass" "$(url imaps imaps)"
check "imaps: a new UIDVALIDITY reads all again, all duplicates" \
    "$(grep -q "^fetch: $total messages in .* 0 stored, $total duplicates" "$T/err"; echo $?)"
check "imaps: the new UIDVALIDITY is remembered" \
    "$([ "$(q "$D" "select uidvalidity from fetch_imap where mailbox = 'INBOX'")" != "$before" ]; echo $?)"

echo "1..$n"
[ "$fails" = 0 ] && [ "$failures" = 0 ]
