#!/bin/bash
# postfix-e2e.sh - end-to-end test: a real Postfix and procmail on loopback
# deliver real bounces into `bouncestat ingest`.
#
# It runs a private Postfix instance (its own config, queue and data
# directories under a temporary directory; no listener but the fake SMTP
# server, which binds 127.0.0.1 only), a fake SMTP server (fake-smtp.py) that
# answers chosen failures per recipient, and test users whose ~/.forward or
# ~/.procmailrc (tools/dot-forward and tools/procmailrc) pipe every bounce into
# bouncestat ingest.  It then checks the SQLite files (check-db.py) and,
# when they exist, `bouncestat report` and `show`.  It also checks the retry
# contract: a locked database or a crashed ingest never makes Postfix bounce
# or drop a bounce, and procmail never files it in the mailbox instead; nor
# do broken rules in the rules.d the pipe reads or a database written by a
# newer bouncestat (phase 3).  And it carries a signed VERP return path end
# to end: a user whose ingest checks the tokens (--verp-secret-file) gets a
# real bounce of mail sent with one and forged bounces without a valid one;
# only the real one counts for `bouncestat suppress` (issue 12, item 8).
#
# It does not touch the system Postfix instance (/etc/postfix, port 25), and
# it stops what it started by process id at exit, pass or fail.
#
# Usage: BOUNCESTAT_E2E=1 bash postfix-e2e.sh /path/to/bouncestat
# Runs only when asked (BOUNCESTAT_E2E=1: tools/run-tests and CI set it),
# as root, with python3 and the Debian packages postfix, procmail and
# libsasl2-modules (tools/install-deps --test; this test installs nothing).
# Where another MTA than Postfix is installed it is skipped: it never
# replaces a mail server.  Exits 77 (skip) when it cannot run here, except
# under CI=true, where that is a failure.  Everything the test users read
# is copied into the test's own directory, so it runs from any checkout
# (one under /root, mode 0700, too).
# E2E_KEEP=1 keeps the temporary directory for a look afterwards.
set -euo pipefail
umask 022   # the Postfix daemons and the test users read what this writes

BOUNCESTAT_IN=${1:?usage: postfix-e2e.sh /path/to/bouncestat}
HERE=$(cd "$(dirname "$0")" && pwd)
SOURCE_DIR=${SOURCE_DIR:-$(cd "$HERE/../.." && pwd)}
HOST=e2e.bouncestat.test
TIMEOUT=${E2E_TIMEOUT:-60}
# Under the sanitizers every pipe delivery is several times slower.
[ "${BOUNCESTAT_SANITIZE:-OFF}" = ON ] && TIMEOUT=${E2E_TIMEOUT:-180}
T_START=$(date +%s)

log() { printf '[e2e %3ss] %s\n' "$(($(date +%s) - T_START))" "$*"; }
fail() { log "FAIL: $*"; FAILED=$((FAILED + 1)); }
die() { log "FATAL: $*"; exit 1; }
skip() {
    if [ "${CI:-}" = true ]; then die "cannot run under CI: $*"; fi
    log "SKIP: $*"
    exit 77
}
FAILED=0
PASSED=0
ok() { PASSED=$((PASSED + 1)); log "ok: $*"; }
check() {   # check DESCRIPTION COMMAND...
    local what=$1
    shift
    if "$@"; then ok "$what"; else fail "$what"; fi
}

# ------------------------------------------------------------------ prerequisites
if [ "${BOUNCESTAT_E2E:-}" != 1 ]; then
    # Not a failure under CI either: not asking is a choice.
    log "SKIP: the end-to-end test creates users and runs a Postfix instance, so it runs"
    log "only when asked: as root, 'BOUNCESTAT_E2E=1 ctest -R e2e' (tools/run-tests does;"
    log "tools/install-deps --test installs what it needs)"
    exit 77
fi
[ "$(id -u)" = 0 ] || skip "needs root (it creates users and runs a Postfix instance)"
for tool in python3 setpriv useradd userdel; do
    command -v "$tool" >/dev/null || skip "$tool is not installed"
done
[ -x "$BOUNCESTAT_IN" ] || die "$BOUNCESTAT_IN is not executable"
# The packages: Debian's postfix, procmail and libsasl2-modules, from
# tools/install-deps --test.  Never installed here: installing Postfix would
# remove another installed MTA.
# shellcheck source=../../tools/lib/mta.bash
. "$SOURCE_DIR/tools/lib/mta.bash"
have_packages() {
    command -v postfix >/dev/null && [ -x /usr/sbin/sendmail ] && [ -x /usr/bin/procmail ] \
        && [ -n "$(find /usr/lib -path '*/sasl2/libplain.so*' -print -quit 2>/dev/null)" ]
}
if ! dpkg-query -W -f='${Status}' postfix 2>/dev/null | grep -q 'install ok installed'; then
    others=$(other_mta | tr '\n' ' ')
    [ -z "$others" ] || skip "another mail server is installed (${others% }): this test runs Postfix and never replaces an installed MTA"
fi
have_packages || skip "postfix, procmail or libsasl2-modules is missing: tools/install-deps --test installs them"
# One run at a time on a machine: the users are fixed, and a run cleans up
# what an interrupted earlier run left.  A second run waits for the first.
# (A directory holding the owner's PID, not flock: Postfix and the fake
# server would inherit a lock descriptor and outlive a killed run.)
RUN_LOCK=/tmp/bouncestat-e2e.lock.d
waited=0
until mkdir "$RUN_LOCK" 2>/dev/null; do
    owner=$(cat "$RUN_LOCK/pid" 2>/dev/null)
    if [ -n "$owner" ] && ! kill -0 "$owner" 2>/dev/null; then
        rm -rf "$RUN_LOCK"          # its owner is gone: a killed run
        continue
    fi
    [ "$waited" -ge 900 ] && die "another end-to-end run (pid ${owner:-?}) has run for 15 minutes"
    sleep 1
    waited=$((waited + 1))
done
echo $$ >"$RUN_LOCK/pid"
"$BOUNCESTAT_IN" ingest --help >/dev/null 2>&1 \
    || skip "$BOUNCESTAT_IN has no 'ingest' command yet"
for f in dot-forward procmailrc; do
    [ -f "$SOURCE_DIR/tools/$f" ] || die "tools/$f is missing"
done

PF_VERSION=$(postconf -d -h mail_version 2>/dev/null || echo '?')

# An instance left running by an earlier run that was killed (a ctest
# timeout sends SIGKILL, so its EXIT trap never ran): stop it, and its fake
# SMTP server.
for old in /tmp/bouncestat-e2e.*; do
    [ -d "$old/spool" ] || continue
    pid=$(sed -n '1s/ //gp' "$old/spool/pid/master.pid" 2>/dev/null || true)
    if [ -n "$pid" ] && grep -qs master "/proc/$pid/cmdline"; then
        log "stopping the Postfix instance left by an earlier run ($old, PID $pid)"
        postfix -c "$old/etc" stop >/dev/null 2>&1 || kill -TERM "$pid" 2>/dev/null || true
    fi
    pid=$(cat "$old/fake/pid" 2>/dev/null || true)
    if [ -n "$pid" ] && grep -qs fake-smtp.py "/proc/$pid/cmdline"; then
        log "stopping the fake SMTP server left by an earlier run (PID $pid)"
        kill -TERM "$pid" 2>/dev/null || true
    fi
done

# ------------------------------------------------------------------ layout
WORK=$(mktemp -d /tmp/bouncestat-e2e.XXXXXX)
chmod 755 "$WORK"
ETC=$WORK/etc           # config_directory of the private instance
SPOOL=$WORK/spool       # queue_directory
MAILLOG=$WORK/maillog
BIN=$WORK/bin
mkdir -p "$ETC" "$SPOOL" "$WORK/data" "$BIN" "$WORK/home" "$WORK/fake" "$WORK/msgs"
chmod 755 "$ETC" "$SPOOL" "$BIN" "$WORK/home"
chown postfix: "$WORK/data"

# The pipe runs as the recipient, with PATH=/usr/bin:/bin and cwd in the
# spool: the program must be at an absolute path those users can read, and
# so must everything else they read.  The checkout may not be readable by
# them (one under /root, mode 0700), so what they need is copied here, laid
# out as an installed tree: $PREFIX/bin/bouncestat finds its rules in
# $PREFIX/share/bouncestat/rules and its system directory in
# $PREFIX/etc/bouncestat/rules.d (phase 3 breaks it); dblock.py and the
# crash wrapper go to $BIN.  The source tree stays root's.
PREFIX=$WORK/prefix
SYSTEM_RULES=$PREFIX/etc/bouncestat/rules.d
install -d -m 755 "$PREFIX/bin" "$PREFIX/share/bouncestat/rules" "$SYSTEM_RULES"
install -m 755 "$BOUNCESTAT_IN" "$PREFIX/bin/bouncestat"
install -m 644 "$SOURCE_DIR"/rules/*.rules "$PREFIX/share/bouncestat/rules/"
install -m 644 "$HERE/dblock.py" "$BIN/dblock.py"
BOUNCESTAT=$PREFIX/bin/bouncestat
cd "$WORK"   # the users' commands run here, not in an unreadable build tree

U_FWD=bse2efwd      # ~/.forward pipe into ingest
U_PM=bse2epm        # no .forward: Postfix runs procmail with tools/procmailrc
U_CRASH=bse2ecrash  # ~/.forward pipe into a wrapper that crashes
U_FAULT=bse2efault  # ~/.forward pipe into ingest; phase 3: broken rules, newer schema
U_VERP=bse2everp    # ~/.forward pipe into ingest --verp-secret-file: signed VERP
U_VPM=bse2evpm      # procmail, $BOUNCESTAT_VERP_SECRET_FILE: signed VERP
USERS="$U_FWD $U_PM $U_CRASH $U_FAULT $U_VERP $U_VPM"
CREATED_USERS=""
FAKE_PID=""
LOCK_PIDS=""
POSTFIX_STARTED=0

home_of() { echo "$WORK/home/$1"; }
db_of() {   # where ingest keeps the user's history
    case $1 in
    "$U_CRASH") echo "$(home_of "$1")/bounces.db" ;;
    *) echo "$(home_of "$1")/.local/share/bouncestat/bounces.db" ;;
    esac
}
as_user() {   # as_user USER COMMAND...: the user's uid/gid/groups and HOME
    local u=$1
    shift
    env -i PATH=/usr/bin:/bin HOME="$(home_of "$u")" USER="$u" LOGNAME="$u" LANG=C \
        setpriv --reuid="$u" --regid="$u" --init-groups -- "$@"
}

# ------------------------------------------------------------------ clean-up
stop_pid() {   # stop_pid PID NAME: TERM, wait, then KILL; only if still ours
    local pid=$1 name=$2
    [ -n "$pid" ] || return 0
    grep -qs -- "$name" "/proc/$pid/cmdline" || return 0
    kill -TERM "$pid" 2>/dev/null || return 0
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
}
master_pid() { sed -n '1s/ //gp' "$SPOOL/pid/master.pid" 2>/dev/null; }
stop_postfix() {
    local pid
    [ "$POSTFIX_STARTED" = 1 ] || return 0
    pid=$(master_pid)
    postfix -c "$ETC" stop >/dev/null 2>&1 || true
    if [ -n "$pid" ]; then
        for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        stop_pid "$pid" master
    fi
    POSTFIX_STARTED=0
}
on_exit() {
    local rc=$? pid u
    trap - EXIT
    set +e
    for pid in $LOCK_PIDS; do stop_pid "$pid" dblock.py; done
    stop_postfix
    stop_pid "$FAKE_PID" fake-smtp.py
    if [ "$rc" != 77 ]; then
        [ "$rc" = 0 ] || [ "$FAILED" -gt 0 ] || FAILED=1
        echo "e2e-postfix: $PASSED passed, $FAILED failed"
    fi
    if [ "$rc" != 0 ] && [ "$rc" != 77 ] && [ -s "$MAILLOG" ]; then
        log "last lines of the Postfix log ($MAILLOG):"
        tail -n 40 "$MAILLOG" | sed 's/^/    /'
    fi
    for u in $CREATED_USERS; do
        userdel "$u" >/dev/null 2>&1 || log "warning: userdel $u failed"
        rm -f "/var/mail/$u"
    done
    if [ "${E2E_KEEP:-0}" = 1 ] || { [ "$rc" != 0 ] && [ "$rc" != 77 ]; }; then
        log "kept $WORK for inspection"
    else
        rm -rf "$WORK"
    fi
    log "done in $(($(date +%s) - T_START)) s, exit $rc"
    # Last: the next run may start once everything here is gone.
    [ "$(cat "$RUN_LOCK/pid" 2>/dev/null)" = $$ ] && rm -rf "$RUN_LOCK"
    exit "$rc"
}
trap on_exit EXIT
trap 'exit 130' INT TERM

# ------------------------------------------------------------------ users
GECOS="bouncestat e2e test"
for u in $USERS; do
    if id -u "$u" >/dev/null 2>&1 && [ "$(getent passwd "$u" | cut -d: -f5)" = "$GECOS" ]; then
        CREATED_USERS="$CREATED_USERS $u"     # left over by an interrupted run
        usermod --home "$(home_of "$u")" "$u"
    elif ! id -u "$u" >/dev/null 2>&1; then
        useradd --system --no-create-home --user-group --shell /bin/sh \
            --home-dir "$(home_of "$u")" --comment "$GECOS" "$u"
        CREATED_USERS="$CREATED_USERS $u"
    else
        usermod --home "$(home_of "$u")" "$u"
    fi
    install -d -o "$u" -g "$u" -m 755 "$(home_of "$u")"
    rm -f "/var/mail/$u"
done

# ~/.forward and ~/.procmailrc: the files shipped in tools/, as they are but
# for the program's path (this build's copy instead of /usr/local/bin).  No
# --db there: the database is the user's default one (db_of); the crash
# wrapper below passes --db.
shipped() {   # shipped FILE DEST
    sed "s#/usr/local/bin/bouncestat#$BOUNCESTAT#g" "$SOURCE_DIR/tools/$1" > "$2"
    grep -qF "$BOUNCESTAT ingest" "$2" \
        || die "tools/$1 does not run /usr/local/bin/bouncestat ingest: update this test"
}
shipped dot-forward "$(home_of $U_FWD)/.forward"
shipped dot-forward "$(home_of $U_FAULT)/.forward"
shipped procmailrc "$(home_of $U_PM)/.procmailrc"

# Signed VERP (issue 12, item 8; docs/verp.md): a secret in the test's own
# directory, readable by the bounce user only, and for $U_VERP a ~/.forward
# that is the shipped line plus --verp-secret-file (as the README shows it)
# and --sending-domain.  $U_VPM's copy of the same secret is named by
# $BOUNCESTAT_VERP_SECRET_FILE, set in the shipped ~/.procmailrc (procmail
# exports its variables to the pipe).  Every return path in this test is
# signed with the secret (verp_sender below); only these two users' ingest
# checks the tokens.
VERP_SECRET=$WORK/verp.secret
VPM_SECRET=$WORK/verp-pm.secret
head -c 32 /dev/urandom | base64 > "$VERP_SECRET"
cp "$VERP_SECRET" "$VPM_SECRET"
chown "$U_VERP:" "$VERP_SECRET"
chown "$U_VPM:" "$VPM_SECRET"
chmod 600 "$VERP_SECRET" "$VPM_SECRET"
shipped dot-forward "$(home_of $U_VERP)/.forward"
sed -i "s#$BOUNCESTAT ingest#& --verp-secret-file $VERP_SECRET --sending-domain $HOST#" \
    "$(home_of $U_VERP)/.forward"
grep -qF -- "ingest --verp-secret-file $VERP_SECRET" "$(home_of $U_VERP)/.forward" \
    || die "could not add --verp-secret-file to $U_VERP's .forward"
shipped procmailrc "$(home_of $U_VPM)/.procmailrc"
sed -i "s#^PATH=.*#&\nBOUNCESTAT_VERP_SECRET_FILE=$VPM_SECRET#" "$(home_of $U_VPM)/.procmailrc"
grep -qx "BOUNCESTAT_VERP_SECRET_FILE=$VPM_SECRET" "$(home_of $U_VPM)/.procmailrc" \
    || die "could not set BOUNCESTAT_VERP_SECRET_FILE in $U_VPM's .procmailrc"

# A stand-in for an ingest that crashes (SIGSEGV): once before storing
# anything, or once after the message is committed, as ~/crash-mode says.
cat > "$BIN/crash-ingest" <<EOF
#!/bin/sh
# Crash once with SIGSEGV, as ~/crash-mode says, else run the real ingest.
mode=\$(cat "\$HOME/crash-mode" 2>/dev/null) || mode=none
rm -f "\$HOME/crash-mode"
case \$mode in
before) cat >/dev/null; kill -SEGV \$\$ ;;
after) $BOUNCESTAT ingest --db "\$HOME/bounces.db" || exit \$?; kill -SEGV \$\$ ;;
esac
exec $BOUNCESTAT ingest --db "\$HOME/bounces.db"
EOF
chmod 755 "$BIN/crash-ingest"
printf '"|%s"\n' "$BIN/crash-ingest" > "$(home_of $U_CRASH)/.forward"
for u in $USERS; do
    chown "$u:" "$(home_of "$u")"/.[a-z]* 2>/dev/null || true
    chmod 644 "$(home_of "$u")"/.[a-z]* 2>/dev/null || true
done

# ------------------------------------------------------------------ fake SMTP server
python3 "$HERE/fake-smtp.py" --ports-file "$WORK/fake/ports.json" --log "$WORK/fake/log" \
    --pidfile "$WORK/fake/pid" rules greet421 auth535 \
    </dev/null >"$WORK/fake/out" 2>&1 &
FAKE_PID=$!
for _ in $(seq 100); do [ -s "$WORK/fake/ports.json" ] && break; sleep 0.1; done
[ -s "$WORK/fake/ports.json" ] || { cat "$WORK/fake/out"; die "the fake SMTP server did not start"; }
port() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$WORK/fake/ports.json" "$1"; }
P_RULES=$(port rules)
P_421=$(port greet421)
P_535=$(port auth535)
log "fake SMTP server PID $FAKE_PID on 127.0.0.1:$P_RULES (rules), :$P_421 (421), :$P_535 (535)"

# ------------------------------------------------------------------ Postfix instance
# Every test domain goes to a bracketed loopback next hop (no DNS); every
# other domain to the error transport, so nothing can leave the machine.
# Each failure mode has its own next hop: a 421 greeting throttles its site.
cat > "$ETC/transport" <<EOF
remote.test     smtp:[127.0.0.1]:$P_RULES
busy.test       smtp:[127.0.0.1]:$P_421
authfail.test   smtp-auth:[127.0.0.1]:$P_535
EOF
: > "$ETC/main.cf"
MASTER_DIST=/usr/share/postfix/master.cf.dist
[ -f "$MASTER_DIST" ] || MASTER_DIST=/etc/postfix/master.cf
cp "$MASTER_DIST" "$ETC/master.cf"
pc() { postconf -c "$ETC" "$@"; }
# A sanitizer build's options reach the pipe (Postfix clears the environment).
# abort_on_error: a sanitizer finding (or the SIGSEGV below) ends ingest with
# a signal, as a crash would, rather than with exit 1.  No effect otherwise.
SANITIZER_ENV="ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS"
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}abort_on_error=1"
# shellcheck disable=SC2016  # $myhostname and $EXTENSION are Postfix's
pc -e "compatibility_level = 3.6" \
    "queue_directory = $SPOOL" "data_directory = $WORK/data" \
    "mail_owner = postfix" "setgid_group = postdrop" \
    "myhostname = $HOST" "mydomain = $HOST" 'myorigin = $myhostname' \
    'mydestination = $myhostname, localhost' \
    "inet_interfaces = loopback-only" "inet_protocols = ipv4" "mynetworks = 127.0.0.0/8" \
    "relayhost =" "default_transport = error:outside the bouncestat e2e test" \
    "relay_transport = error:outside the bouncestat e2e test" \
    "transport_maps = texthash:$ETC/transport" \
    "smtp_dns_support_level = disabled" "smtpd_peername_lookup = no" \
    "alias_maps =" "alias_database =" "local_recipient_maps =" \
    'mailbox_command = /usr/bin/procmail -a "$EXTENSION"' \
    "allow_mail_to_commands = alias, forward" "biff = no" "recipient_delimiter = +" \
    "notify_classes =" "in_flow_delay = 0" \
    "queue_run_delay = 1s" "minimal_backoff_time = 3s" "maximal_backoff_time = 3s" \
    "delay_warning_time = 3s" "maximal_queue_lifetime = 8s" "bounce_queue_lifetime = 8s" \
    "maillog_file_prefixes = $WORK" "maillog_file = $MAILLOG" \
    "import_environment = $(postconf -d -h import_environment) $SANITIZER_ENV" \
    "export_environment = $(postconf -d -h export_environment) $SANITIZER_ENV"
# The backoff is 3 s, not 1 s: qmgr takes a deferred file whose time stamp
# is at most 1 s ahead (whole seconds), and the delivery agent still holds
# the file's lock for a moment after it reported the deferral.  A queue
# scan in that moment finds it locked ("skipped, still being delivered")
# and puts it back for 60 s, past the waits below.  With 3 s, the next
# attempt comes at least 1 s after the last one.
# No inet listener at all: mail is submitted with sendmail.  No chroot (it
# would need /etc files copied into the spool).  postlogd writes the log.
pc -MX smtp/inet
pc -F '*/*/chroot = n'
pc -M postlog/unix-dgram 2>/dev/null | grep -q . \
    || pc -M 'postlog/unix-dgram=postlog unix-dgram n - n - 1 postlogd'
# A client that authenticates and makes a 535 a hard failure.
pc -M 'smtp-auth/unix=smtp-auth unix - - n - - smtp'
pc -P 'smtp-auth/unix/smtp_sasl_auth_enable=yes' \
    'smtp-auth/unix/smtp_sasl_password_maps=static:e2euser:e2epass' \
    'smtp-auth/unix/smtp_sasl_security_options=noanonymous' \
    'smtp-auth/unix/smtp_sasl_auth_soft_bounce=no'
postfix -c "$ETC" check >"$WORK/postfix-check.out" 2>&1 \
    || { cat "$WORK/postfix-check.out"; die "postfix check failed"; }
postfix -c "$ETC" start >"$WORK/postfix-start.out" 2>&1 \
    || { cat "$WORK/postfix-start.out"; die "postfix start failed"; }
POSTFIX_STARTED=1
for _ in $(seq 100); do [ -n "$(master_pid)" ] && kill -0 "$(master_pid)" 2>/dev/null && break; sleep 0.1; done
kill -0 "$(master_pid)" 2>/dev/null || die "the Postfix master did not start"
log "Postfix $PF_VERSION master PID $(master_pid), config $ETC"

# ------------------------------------------------------------------ helpers
RUN_ID=$(date +%Y%m%d%H%M%S)
send() {   # send CASE SENDER NOTIFY RET RCPT...
    local id=$1 sender=$2 notify=$3 ret=$4
    shift 4
    local msg=$WORK/msgs/$id.eml
    local -a opts=(-i -f "$sender@$HOST" -N "$notify")
    [ "$ret" = hdrs ] && opts+=(-R hdrs)
    cat > "$msg" <<EOF
From: bouncestat e2e <$sender@$HOST>
To: $(printf '%s, ' "$@" | sed 's/, $//')
Subject: [e2e] $id
Date: $(date -R)
Message-ID: <e2e.$id.$RUN_ID@$HOST>
MIME-Version: 1.0
Content-Type: text/plain; charset=us-ascii

Test message for case $id of the bouncestat end-to-end test.
EOF
    /usr/sbin/sendmail -C "$ETC" "${opts[@]}" -- "$@" < "$msg"
}
# verp_sender USER ADDRESS: the local part of the signed VERP return path
# of a message to ADDRESS whose bounce goes to USER, USER+local=domain+TOKEN
# (`bouncestat verp` with the test's secret; docs/verp.md).
verp_sender() {
    local rp
    rp=$("$BOUNCESTAT" verp --secret-file "$VERP_SECRET" --return-path "$1@$HOST" "$2") \
        || return 1
    echo "${rp%@"$HOST"}"
}
# send_forged CASE RCPT VICTIM [DOMAIN]: a hand-made DSN (RFC 3464) saying
# that VICTIM is unknown, submitted with the null sender straight to RCPT
# (the bounce address, with or without a VERP token), as anyone can.  Its
# returned headers are those of a message of this test (CASE's Message-ID,
# from $HOST unless DOMAIN is given), so only the token tells it from a
# real one.
send_forged() {
    local id=$1 to=$2 victim=$3 domain=${4:-$HOST}
    local msg=$WORK/msgs/$id.eml user=${2%%[+@]*}
    cat > "$msg" <<EOF
From: Mail Delivery System <MAILER-DAEMON@mx.remote.test>
To: $to
Subject: Undelivered Mail Returned to Sender
Date: $(date -R)
Message-ID: <forged.$id.$RUN_ID@mx.remote.test>
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status;
    boundary="forged-$id"

--forged-$id
Content-Type: text/plain; charset=us-ascii

Your message could not be delivered to one or more recipients.

<$victim>: host mx.remote.test[192.0.2.25] said: 550 5.1.1 <$victim>:
    Recipient address rejected: User unknown in virtual mailbox table

--forged-$id
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.remote.test
Arrival-Date: $(date -R)

Final-Recipient: rfc822; $victim
Original-Recipient: rfc822;$victim
Action: failed
Status: 5.1.1
Remote-MTA: dns; mx.remote.test
Diagnostic-Code: smtp; 550 5.1.1 <$victim>: Recipient address rejected: User
    unknown in virtual mailbox table

--forged-$id
Content-Type: text/rfc822-headers

From: bouncestat e2e <$user@$HOST>
To: $victim
Subject: [e2e] $id
Message-ID: <e2e.$id.$RUN_ID@$domain>

--forged-$id--
EOF
    /usr/sbin/sendmail -C "$ETC" -i -f '' -- "$to" < "$msg"
}
# Log lines about deliveries to local test user U with status S, counted.
n_log() {
    local n
    n=$(grep -cE "to=<$1(\+[^@>]*)?@$HOST>.*relay=local.*status=$2" "$MAILLOG" 2>/dev/null) || true
    echo "${n:-0}"
}
wait_for() {   # wait_for DESCRIPTION COMMAND...: poll every 0.2 s, up to TIMEOUT
    local what=$1 t0
    shift
    t0=$(date +%s)
    until "$@"; do
        if [ $(($(date +%s) - t0)) -ge "$TIMEOUT" ]; then
            fail "timed out after ${TIMEOUT}s waiting for $what"
            return 1
        fi
        sleep 0.2
    done
}
log_at_least() { [ "$(n_log "$1" "$2")" -ge "$3" ]; }
# done_or_wrong U N: U got N deliveries, or one was deferred or bounced.
done_or_wrong() {
    log_at_least "$1" sent "$2" || log_at_least "$1" deferred 1 || log_at_least "$1" bounced 1
}
# attempted U N_DEFERRED N_SENT: U got N deferrals, or the Nth delivery
# (which the checks that follow then report as a failure).
attempted() { log_at_least "$1" deferred "$2" || log_at_least "$1" sent "$3"; }
queue_json() { postqueue -c "$ETC" -j; }
queue_empty() { local q; q=$(queue_json) && [ -z "$q" ]; }
# The queued bounces (null sender) to U: count, and all deferred as temporary.
queued_bounces() {
    queue_json | python3 -c '
import json, sys
n = 0
for line in sys.stdin:
    m = json.loads(line)
    for r in m["recipients"]:
        # postqueue shows the null sender of a bounce as MAILER-DAEMON
        if m["sender"] not in ("", "MAILER-DAEMON") or r["address"] != sys.argv[1]:
            continue
        why = r.get("delay_reason", "")
        if m["queue_name"] == "deferred" and ("temporary failure" in why or "signal" in why):
            n += 1
        else:
            print("unexpected queue entry:", m["queue_name"], why, file=sys.stderr)
print(n)' "$1@$HOST"
}
mailbox_untouched() {   # procmail must not have filed anything for U
    local u=$1 f
    for f in "/var/mail/$u" "$(home_of "$u")/mbox" "$(home_of "$u")/Maildir"; do
        if [ -s "$f" ] || [ -d "$f" ]; then log "found $f"; return 1; fi
    done
}
lock_db() {   # lock_db USER: hold the user's database locked in the background
    local u=$1 ready
    ready=$(home_of "$u")/locked
    rm -f "$ready"
    # Not through as_user: $! must be the python process itself.
    env -i PATH=/usr/bin:/bin HOME="$(home_of "$u")" LANG=C \
        setpriv --reuid="$u" --regid="$u" --init-groups -- \
        python3 "$BIN/dblock.py" "$(db_of "$u")" "$ready" 150 </dev/null &
    LOCK_PIDS="$LOCK_PIDS $!"
    eval "LOCK_PID_$u=$!"
    for _ in $(seq 100); do [ -s "$ready" ] && return 0; sleep 0.1; done
    die "could not lock $(db_of "$u")"
}
ingest_running() { pgrep -u "$1" -x bouncestat >/dev/null; }
unlock_db() { local v="LOCK_PID_$1"; stop_pid "${!v}" dblock.py; }

# ------------------------------------------------------------------ phase 1
# Bounces of every kind to the .forward user, one through procmail; short
# timers make the 421 give a delay notice (3 s) and then expire (8 s).
log "phase 1: sending"
send local-unknown   $U_FWD failure,delay never "nosuchuser@$HOST"
send mailbox-full    $U_FWD failure,delay never full@remote.test
send unauthenticated $U_FWD failure,delay never noauth@remote.test
send spamhaus        $U_FWD failure,delay hdrs  blocked@remote.test
send auth-failed     $U_FWD failure,delay never postmaster@authfail.test
send too-many-conn   $U_FWD failure,delay never postmaster@busy.test
send multi           $U_FWD failure,delay never full@remote.test blocked@remote.test \
    nouser@remote.test "nosuchuser@$HOST" ok@remote.test
send success         $U_FWD success       never ok@remote.test
send procmail-full   $U_PM  failure,delay never full@remote.test
# VERP: the failed address is in the envelope sender; ingest recovers it from
# ORIGINAL_RECIPIENT (Postfix) or X-Original-To (the procmail recipe).
# The return paths are signed, as $U_VERP's are; these users do not check
# the token.
RP_FWD=$(verp_sender $U_FWD nouser@remote.test) || die "bouncestat verp failed"
RP_PM=$(verp_sender $U_PM blocked@remote.test) || die "bouncestat verp failed"
send verp-fwd "$RP_FWD" failure never nouser@remote.test
send verp-pm  "$RP_PM"  failure never blocked@remote.test
# Signed VERP, checked by $U_VERP's ingest: a real bounce of a message sent
# with the signed return path, and forged ones for ok@remote.test (a
# subscriber whose mail is delivered) sent to the bounce address with no
# VERP address, without a token, with a wrong token, with the valid token
# of another address (full@remote.test's, which that subscriber got), and
# with ok@remote.test's own valid token (a leaked return path) but the
# Message-ID of a message that is not ours (--sending-domain).
RP_VERP=$(verp_sender $U_VERP nouser@remote.test) || die "bouncestat verp failed"
check "VERP: bouncestat verp signs nouser@remote.test ($RP_VERP@$HOST)" \
    grep -qxE "$U_VERP\+nouser=remote\.test\+[0-9a-f]{16}" <<<"$RP_VERP"
RP_OTHER=$(verp_sender $U_VERP full@remote.test) || die "bouncestat verp failed"
RP_LEAKED=$(verp_sender $U_VERP ok@remote.test) || die "bouncestat verp failed"
send verp-signed "$RP_VERP" failure never nouser@remote.test
send_forged forged-plain      "$U_VERP@$HOST"                                 ok@remote.test
send_forged forged-unsigned   "$U_VERP+ok=remote.test@$HOST"                  ok@remote.test
send_forged forged-wrongtoken "$U_VERP+ok=remote.test+0123456789abcdef@$HOST" ok@remote.test
send_forged forged-othertoken "$RP_OTHER@$HOST"                               ok@remote.test
send_forged forged-foreignid  "$RP_LEAKED@$HOST" ok@remote.test elsewhere.test
# The same through procmail: the envelope recipient comes from the
# X-Original-To header Postfix writes, the secret from the environment.
RP_VPM=$(verp_sender $U_VPM nouser@remote.test) || die "bouncestat verp failed"
send verp-signed-pm "$RP_VPM" failure never nouser@remote.test
send_forged forged-pm-wrongtoken "$U_VPM+ok=remote.test+0123456789abcdef@$HOST" ok@remote.test
# 10 DSNs to the .forward user (the 421 gives two), 2 through procmail.
# Stop waiting at the first delivery that went wrong (checked just below).
wait_for "10 DSNs delivered to $U_FWD" done_or_wrong $U_FWD 10
wait_for "2 DSNs delivered to $U_PM" done_or_wrong $U_PM 2
wait_for "6 DSNs delivered to $U_VERP" done_or_wrong $U_VERP 6
wait_for "2 DSNs delivered to $U_VPM" done_or_wrong $U_VPM 2
check "phase 1: no delivery to $U_FWD, $U_PM, $U_VERP or $U_VPM was deferred" \
    test "$(n_log $U_FWD deferred)$(n_log $U_PM deferred)$(n_log $U_VERP deferred)$(n_log $U_VPM deferred)" = 0000
wait_for "an empty queue" queue_empty
log "phase 1: all DSNs delivered"
check "phase 1: no bounce of a bounce" \
    test "$(grep -cE "to=<bse2e[^@>]*@$HOST>.*status=bounced" "$MAILLOG")" = 0
check "phase 1: procmail filed nothing in $U_PM's mailbox" mailbox_untouched $U_PM
check "phase 1: procmail filed nothing in $U_VPM's mailbox" mailbox_untouched $U_VPM
for u in $U_FWD $U_PM; do
    check "phase 1: $u's default database was created by the pipe, owned by $u, mode 600" \
        test "$(stat -c %U:%a "$(db_of "$u")" 2>&1)" = "$u:600"
done
check "phase 1: the databases hold every bounce once, as expected" \
    python3 "$HERE/check-db.py" phase1 "$(db_of $U_FWD)" "$(db_of $U_PM)" \
    "$SOURCE_DIR" "$(db_of $U_CRASH)"
check "VERP (.forward): the signed bounce is verified and suppresses; the forged ones are unverified and do not" \
    python3 "$HERE/check-db.py" verp forward "$(db_of $U_VERP)" "$SOURCE_DIR" "$BOUNCESTAT" $U_VERP
check "VERP (procmail): the signed bounce is verified and suppresses; the forged one is unverified and does not" \
    python3 "$HERE/check-db.py" verp procmail "$(db_of $U_VPM)" "$SOURCE_DIR" "$BOUNCESTAT" $U_VPM

# ------------------------------------------------------------------ phase 2
# The retry contract.  Long timers now, so that nothing is retried until the
# queue is flushed and no deferred bounce can expire while we look.
pc -e "queue_run_delay = 300s" "minimal_backoff_time = 300s" "maximal_backoff_time = 600s" \
    "maximal_queue_lifetime = 1h" "bounce_queue_lifetime = 1h" "delay_warning_time = 0h"
postfix -c "$ETC" reload >/dev/null 2>&1
log "phase 2: databases locked, ingest crashing"
lock_db $U_FWD
lock_db $U_PM
printf 'before\n' > "$(home_of $U_CRASH)/crash-mode"
chown $U_CRASH: "$(home_of $U_CRASH)/crash-mode"

# ingest itself, with the database locked: exit 75 (EX_TEMPFAIL) after its
# busy timeout.  In the background, while Postfix meets the same lock.
( rc=0
  as_user $U_FWD "$BOUNCESTAT" ingest --db "$(db_of $U_FWD)" \
      < "$WORK/msgs/local-unknown.eml" >"$WORK/ingest-locked.out" 2>&1 || rc=$?
  echo "$rc" > "$WORK/ingest-locked.rc" ) &
DIRECT_PID=$!
send locked-fwd   $U_FWD   failure never nouser@remote.test
send locked-pm    $U_PM    failure never blocked@remote.test
send crash-before $U_CRASH failure never full@remote.test
wait_for "a delivery attempt to $U_FWD" attempted $U_FWD 1 11
wait_for "a delivery attempt to $U_PM" attempted $U_PM 1 3
wait_for "a delivery attempt to $U_CRASH" attempted $U_CRASH 1 1
printf 'after\n' > "$(home_of $U_CRASH)/crash-mode"
chown $U_CRASH: "$(home_of $U_CRASH)/crash-mode"
send crash-after  $U_CRASH failure never noauth@remote.test
wait_for "a second delivery attempt to $U_CRASH" attempted $U_CRASH 2 1
# And the real program, killed with SIGSEGV while it waits for a lock.
lock_db $U_CRASH
send crash-killed $U_CRASH failure never nouser@remote.test
wait_for "ingest of $U_CRASH waiting for the lock" ingest_running $U_CRASH
pid=$(pgrep -u $U_CRASH -x bouncestat | head -1)
log "killing bouncestat ingest (PID $pid, user $U_CRASH) with SIGSEGV"
kill -SEGV "$pid"
wait_for "a third delivery attempt to $U_CRASH" attempted $U_CRASH 3 1
unlock_db $U_CRASH

wait "$DIRECT_PID" || true
rc=$(cat "$WORK/ingest-locked.rc" 2>/dev/null || echo none)
check "ingest exits 75 while the database is locked (got $rc: $(head -c 200 "$WORK/ingest-locked.out"))" \
    test "$rc" = 75
check "locked: the bounce to $U_FWD waits in the deferred queue" test "$(queued_bounces $U_FWD)" = 1
check "locked: the bounce to $U_PM waits in the deferred queue" test "$(queued_bounces $U_PM)" = 1
check "crashed: the 3 bounces to $U_CRASH wait in the deferred queue" test "$(queued_bounces $U_CRASH)" = 3
check "locked: Postfix saw a temporary failure from ingest (.forward)" \
    grep -qE "to=<$U_FWD@$HOST>.*status=deferred \(temporary failure" "$MAILLOG"
check "locked: Postfix saw a temporary failure from procmail" \
    grep -qE "to=<$U_PM@$HOST>.*status=deferred \(temporary failure" "$MAILLOG"
# (Signal 11, or 6 where a sanitizer turns the SIGSEGV into an abort.)
check "crashed: Postfix deferred all 3 bounces when ingest died of a signal" \
    test "$(grep -cE "to=<$U_CRASH@$HOST>.*status=deferred \(Command died with signal (11|6):" "$MAILLOG")" = 3
check "locked: procmail did not fall back to $U_PM's mailbox" mailbox_untouched $U_PM

unlock_db $U_FWD
unlock_db $U_PM
check "phase 2: nothing of the deferred bounces stored but the crash-after one" \
    python3 "$HERE/check-db.py" phase2-before-flush "$(db_of $U_FWD)" "$(db_of $U_PM)" \
    "$SOURCE_DIR" "$(db_of $U_CRASH)"
log "phase 2: locks released, postqueue -f"
postqueue -c "$ETC" -f
wait_for "the redelivery to $U_FWD" log_at_least $U_FWD sent 11
wait_for "the redelivery to $U_PM" log_at_least $U_PM sent 3
wait_for "the redeliveries to $U_CRASH" log_at_least $U_CRASH sent 3
wait_for "an empty queue" queue_empty
check "no bounce was bounced or dropped" \
    test "$(grep -cE "to=<bse2e[^@>]*@$HOST>.*status=bounced" "$MAILLOG")" = 0
check "after the retry: procmail filed nothing in $U_PM's mailbox" mailbox_untouched $U_PM
check "phase 2: every retried bounce stored exactly once" \
    python3 "$HERE/check-db.py" phase2 "$(db_of $U_FWD)" "$(db_of $U_PM)" \
    "$SOURCE_DIR" "$(db_of $U_CRASH)"

# ------------------------------------------------------------------ phase 3
# Faults of the pipe's own setup (issue 12, item 1): a typo'd file in the
# rules.d the pipe reads, one it may not read, a bad option in ~/.forward,
# and a database written by a newer bouncestat
# (PRAGMA user_version above this program's).  Postfix bounces a bounce for
# every exit status but 0 and 75 (and a signal), and a bounce of a bounce
# has a null sender and is dropped.  So each fault must leave the bounce
# stored (exit 0, e.g. kept raw and unclassified) or deferred (exit 75) and
# then stored once the fault is fixed and the queue is run.  Never bounced.
log "phase 3: broken or unreadable rules, a bad option, a newer database"
stored_count() {   # stored_count DB CASE: stored messages holding CASE's Message-ID
    python3 - "$1" "e2e.$2.$RUN_ID@$HOST" <<'PY'
import os, sqlite3, sys, zlib
if not os.path.exists(sys.argv[1]):
    print(0)
    sys.exit(0)
db = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True)
# The raw bytes live in raw_messages (schema version 8).
print(sum(1 for (raw,) in db.execute("SELECT raw FROM raw_messages")
          if raw is not None and sys.argv[2].encode() in zlib.decompress(raw)))
PY
}
# stored_state DB CASE: "CLASSIFIED EVENTS" of each stored message that
# holds CASE's Message-ID (messages.classified, its events rows).
stored_state() {
    python3 - "$1" "e2e.$2.$RUN_ID@$HOST" <<'PY'
import sqlite3, sys, zlib
db = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True)
print(" ".join(
    f"{classified} {db.execute('SELECT count(*) FROM events WHERE message_id = ?', (i,)).fetchone()[0]}"
    for (i, classified, raw) in db.execute(
        "SELECT m.id, m.classified, r.raw FROM messages m"
        " JOIN raw_messages r ON r.message_id = m.id")
    if raw is not None and sys.argv[2].encode() in zlib.decompress(raw)))
PY
}
fault_attempted() {   # fault_attempted N_SENT N_DEFERRED N_BOUNCED: one more of any
    [ "$(n_log $U_FAULT sent)" -gt "$1" ] || [ "$(n_log $U_FAULT deferred)" -gt "$2" ] \
        || [ "$(n_log $U_FAULT bounced)" -gt "$3" ]
}
# fault_case CASE FIX...: one bounce to $U_FAULT while the fault is in
# place: stored, or deferred and, after FIX and a queue run, stored.
FAULT_TOOK=0   # fault_case: 1 when ingest stored the bounce while the fault was there
fault_case() {
    local case=$1 sent0 deferred0 bounced0 line
    shift
    FAULT_TOOK=0
    sent0=$(n_log $U_FAULT sent)
    deferred0=$(n_log $U_FAULT deferred)
    bounced0=$(n_log $U_FAULT bounced)
    send "$case" $U_FAULT failure never nouser@remote.test
    wait_for "a delivery attempt to $U_FAULT ($case)" \
        fault_attempted "$sent0" "$deferred0" "$bounced0"
    if [ "$(n_log $U_FAULT bounced)" -gt "$bounced0" ]; then
        line=$(grep -E "to=<$U_FAULT@$HOST>.*status=bounced" "$MAILLOG" | tail -1)
        fail "$case: Postfix bounced the bounce, so it is lost: status=${line#*status=}"
        "$@"
        return
    fi
    if [ "$(n_log $U_FAULT deferred)" -gt "$deferred0" ]; then
        line=$(grep -E "to=<$U_FAULT@$HOST>.*status=deferred" "$MAILLOG" | tail -1)
        ok "$case: Postfix deferred the bounce (status=$(printf '%.100s' "${line#*status=}"))"
        check "$case: the deferred bounce waits in the queue" test "$(queued_bounces $U_FAULT)" = 1
        "$@"
        postqueue -c "$ETC" -f
        wait_for "the redelivery to $U_FAULT ($case)" log_at_least $U_FAULT sent $((sent0 + 1))
    else
        ok "$case: ingest took the bounce (status=sent)"
        FAULT_TOOK=1
        "$@"
    fi
    check "$case: the bounce is stored, once" \
        test "$(stored_count "$(db_of $U_FAULT)" "$case")" = 1
}
user_version() {   # user_version [N]: read, or set, $U_FAULT's PRAGMA user_version (as that user)
    as_user $U_FAULT python3 -c 'import sqlite3, sys
db = sqlite3.connect(sys.argv[1], isolation_level=None)
if len(sys.argv) > 2:
    db.execute("PRAGMA user_version = %d" % int(sys.argv[2]))
print(db.execute("PRAGMA user_version").fetchone()[0])' "$(db_of $U_FAULT)" "$@"
}

# A first bounce creates the database.
fault_case fault-baseline true
check "fault-baseline: stored classified, with its 1 event" \
    test "$(stored_state "$(db_of $U_FAULT)" fault-baseline)" = "1 1"
check "phase 3: the pipe reads $SYSTEM_RULES" \
    grep -qxF "system rules: $SYSTEM_RULES (read)" <(as_user $U_FAULT "$BOUNCESTAT" --version)

# A typo in a local rules file: "reasn" for "reason" (an unknown key).
cat > "$SYSTEM_RULES/35-local.rules" <<'EOF'
# A local rule with a typo (bouncestat e2e test, phase 3).
[rule local-typo]
reasn = userunknown
diagnostic = no such mailbox here
EOF
chmod 644 "$SYSTEM_RULES/35-local.rules"
check "phase 3: the typo'd rules file is broken (rules check exits 78)" \
    test "$(as_user $U_FAULT "$BOUNCESTAT" rules check >/dev/null 2>&1; echo $?)" = 78
fault_case fault-rules rm -f "$SYSTEM_RULES/35-local.rules"
# Stored while the rules were broken: kept raw and unclassified, with no
# events, so that nothing counts it until it is classified again.
if [ "$FAULT_TOOK" = 1 ]; then
    check "fault-rules: stored unclassified (classified 0), with no events" \
        test "$(stored_state "$(db_of $U_FAULT)" fault-rules)" = "0 0"
else
    check "fault-rules: stored classified after the fix, with its 1 event" \
        test "$(stored_state "$(db_of $U_FAULT)" fault-rules)" = "1 1"
fi

# A rules file the pipe's user may not read (root's, mode 0600), as with a
# checkout under /root: the same as broken rules.
printf '# A local rules file only root may read (bouncestat e2e test, phase 3).\n' \
    > "$SYSTEM_RULES/36-private.rules"
chmod 600 "$SYSTEM_RULES/36-private.rules"
check "phase 3: the unreadable rules file breaks the rules (rules check exits 78)" \
    test "$(as_user $U_FAULT "$BOUNCESTAT" rules check >/dev/null 2>&1; echo $?)" = 78
fault_case fault-rules-unreadable rm -f "$SYSTEM_RULES/36-private.rules"
if [ "$FAULT_TOOK" = 1 ]; then
    check "fault-rules-unreadable: stored unclassified (classified 0), with no events" \
        test "$(stored_state "$(db_of $U_FAULT)" fault-rules-unreadable)" = "0 0"
else
    check "fault-rules-unreadable: stored classified after the fix, with its 1 event" \
        test "$(stored_state "$(db_of $U_FAULT)" fault-rules-unreadable)" = "1 1"
fi

# A bad option in ~/.forward (a typo, or an option of a newer bouncestat).
cp "$(home_of $U_FAULT)/.forward" "$WORK/fault-forward"
sed -i 's# ingest# ingest --no-such-option#' "$(home_of $U_FAULT)/.forward"
check "phase 3: $U_FAULT's .forward now has a bad option" \
    grep -qF "ingest --no-such-option" "$(home_of $U_FAULT)/.forward"
restore_forward() { cp "$WORK/fault-forward" "$(home_of $U_FAULT)/.forward"; }
fault_case fault-bad-option restore_forward
check "fault-bad-option: stored classified, with its 1 event" \
    test "$(stored_state "$(db_of $U_FAULT)" fault-bad-option)" = "1 1"

# A database written by a newer bouncestat.
V=$(user_version)
set_user_version() { user_version "$1" >/dev/null; }
set_user_version $((V + 1))
check "phase 3: the database now says schema version $((V + 1))" test "$(user_version)" = $((V + 1))
fault_case fault-newer-db set_user_version "$V"
check "fault-newer-db: stored classified, with its 1 event" \
    test "$(stored_state "$(db_of $U_FAULT)" fault-newer-db)" = "1 1"
check "phase 3: the database is back at version $V" test "$(user_version)" = "$V"
wait_for "an empty queue" queue_empty
check "phase 3: no bounce was bounced or dropped" \
    test "$(grep -cE "to=<bse2e[^@>]*@$HOST>.*status=bounced" "$MAILLOG")" = 0

# ------------------------------------------------------------------ report / show
# The same history through the commands people use, run as the users.
if "$BOUNCESTAT" report --help >/dev/null 2>&1 && "$BOUNCESTAT" show --help >/dev/null 2>&1; then
    check "report and show: totals, recipients, reasons and events as stored" \
        python3 "$HERE/check-db.py" report "$(db_of $U_FWD)" "$(db_of $U_PM)" \
        "$SOURCE_DIR" "$(db_of $U_CRASH)" "$BOUNCESTAT" $U_FWD $U_PM
else
    log "note: bouncestat has no 'report' or 'show' command yet: their checks are skipped"
fi

# No traffic left loopback: every delivery went to a local user, to the
# error transport, or to the fake server on 127.0.0.1.
relays=$(grep -oE ' relay=[^,]+' "$MAILLOG" | sort -u | tr '\n' ' ')
check "every relay was local or 127.0.0.1 ($relays)" \
    test -z "$(grep -oE ' relay=[^,]+' "$MAILLOG" \
        | grep -vE '^ relay=(local|none|127\.0\.0\.1\[127\.0\.0\.1\]:[0-9]+)$')"
check "the Postfix log has no fatal error or panic" \
    test "$(grep -cE 'postfix/[a-z-]+\[[0-9]+\]: (fatal|panic):' "$MAILLOG")" = 0
log "Postfix $PF_VERSION, $(($(date +%s) - T_START)) s"
[ "$FAILED" = 0 ]   # on_exit prints the summary line
