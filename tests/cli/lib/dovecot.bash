# tests/cli/lib/dovecot.bash - a real Dovecot (Debian's dovecot-imapd and
# dovecot-pop3d) for the fetch tests, with its own configuration in a
# temporary directory: passwd-file users, Maildirs in that directory, a
# self-signed certificate made here with openssl, listeners on 127.0.0.1
# only.  Sourced, after harness.bash; the script sets T (the temporary
# directory) and traps dovecot_stop on EXIT.
#
#   dovecot_setup USER...   writes the certificate, the configuration and
#                        the users (the password of USER is USER-secret)
#   dovecot_start        starts it in the foreground (PID in $dovecot_pid)
#   dovecot_stop         stops it by that PID
#   dovecot_kill         kills it and its processes at once (by their
#                        PIDs: the login processes that hold the clients'
#                        TLS connections outlive a stopped master)
#   dovecot_deliver USER FILE [FOLDER]   puts a message in a Maildir (new/)
#
# Ports (this test's own range): IMAP 10110 (STARTTLS), IMAPS 10111,
# POP3 10112 (STARTTLS), POP3S 10113.
IMAP_PORT=10110 IMAPS_PORT=10111 POP3_PORT=10112 POP3S_PORT=10113
dovecot_pid=

dovecot_setup () {
    if ! command -v dovecot >/dev/null || [ ! -x /usr/lib/dovecot/imap ] ||
        [ ! -x /usr/lib/dovecot/pop3 ]; then
        skip "Dovecot is not installed (tools/install-deps --test: dovecot-imapd, dovecot-pop3d)"
    fi
    command -v openssl >/dev/null || skip "openssl is not installed (tools/install-deps --test)"
    local dc=$T/dovecot
    mkdir -p "$dc/run" "$dc/mail" "$dc/state"
    # The certificate of "localhost" (and 127.0.0.1), self-signed: it is
    # its own CA, given to fetch with --cacert.
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost \
        -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
        -keyout "$dc/key.pem" -out "$dc/cert.pem" 2>"$dc/openssl.log" ||
        { cat "$dc/openssl.log"; fail "openssl req"; exit 1; }
    # Dovecot runs its mail processes as an ordinary user: as root the
    # test's files belong to nobody; else to the user running the test.
    local user group uid gid
    if [ "$(id -u)" = 0 ]; then
        user=dovecot group=dovecot uid=$(id -u nobody) gid=$(id -g nobody)
        login=dovenull
    else
        user=$(id -un) group=$(id -gn) uid=$(id -u) gid=$(id -g) login=$user
    fi
    local u
    : >"$dc/passwd"
    for u in "$@"; do
        echo "$u:{PLAIN}$u-secret:$uid:$gid::$dc/mail/$u::" >>"$dc/passwd"
        mkdir -p "$dc/mail/$u/Maildir/"{cur,new,tmp}
    done
    cat >"$dc/dovecot.conf" <<CONF
instance_name = bouncestat-test-$$
base_dir = $dc/run
state_dir = $dc/state
log_path = $dc/dovecot.log
protocols = imap pop3
listen = 127.0.0.1
default_internal_user = $user
default_internal_group = $group
default_login_user = $login
first_valid_uid = $uid
ssl = yes
ssl_cert = <$dc/cert.pem
ssl_key = <$dc/key.pem
# No password before TLS: imap:// and pop3:// must use STARTTLS.
disable_plaintext_auth = yes
auth_mechanisms = plain login
passdb {
  driver = passwd-file
  args = $dc/passwd
}
userdb {
  driver = passwd-file
  args = $dc/passwd
}
mail_location = maildir:~/Maildir
namespace inbox {
  inbox = yes
  separator = /
}
pop3_uidl_format = %08Xu%08Xv
protocol imap {
  mail_max_userip_connections = 50
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = $IMAP_PORT
  }
  inet_listener imaps {
    address = 127.0.0.1
    port = $IMAPS_PORT
    ssl = yes
  }
}
service pop3-login {
  inet_listener pop3 {
    address = 127.0.0.1
    port = $POP3_PORT
  }
  inet_listener pop3s {
    address = 127.0.0.1
    port = $POP3S_PORT
    ssl = yes
  }
}
service stats {
  unix_listener stats-reader {
    mode = 0600
  }
  unix_listener stats-writer {
    mode = 0660
  }
}
CONF
    chown -R "$uid:$gid" "$dc/mail"
    chmod 755 "$T" "$dc"
    dovecot_uid=$uid dovecot_gid=$gid
}

dovecot_start () {
    local dc=$T/dovecot
    dovecot -F -c "$dc/dovecot.conf" >>"$dc/stdout.log" 2>&1 &
    dovecot_pid=$!
    # Ready when the listeners answer.
    for _ in $(seq 100); do
        if python3 - "$IMAPS_PORT" "$POP3S_PORT" <<'PY' 2>/dev/null
import socket, sys
for p in sys.argv[1:]:
    socket.create_connection(("127.0.0.1", int(p)), 1).close()
PY
        then
            # Ours, not another instance still on the ports.
            sleep 0.2
            kill -0 "$dovecot_pid" 2>/dev/null && return 0
            break
        fi
        kill -0 "$dovecot_pid" 2>/dev/null || break
        sleep 0.1
    done
    cat "$dc/dovecot.log" "$dc/stdout.log" 2>/dev/null
    fail "Dovecot did not start"
    exit 1
}

dovecot_stop () {
    if [ -n "$dovecot_pid" ]; then
        kill "$dovecot_pid" 2>/dev/null
        wait "$dovecot_pid" 2>/dev/null
        dovecot_pid=
    fi
}

dovecot_kill () {
    local pids st line rest
    [ -n "$dovecot_pid" ] || return 0
    # Its children, from /proc (no procps on a minimal Debian).
    pids=$(for st in /proc/[0-9]*/stat; do
        read -r line 2>/dev/null <"$st" || continue
        # After "(comm) ": the state, then the parent's PID.
        read -r -a rest <<<"${line##*) }"
        [ "${rest[1]}" = "$dovecot_pid" ] && echo "${st//[^0-9]/}"
    done)
    # shellcheck disable=SC2086
    kill -KILL $pids "$dovecot_pid" 2>/dev/null
    wait "$dovecot_pid" 2>/dev/null
    dovecot_pid=
}

# dovecot_deliver USER FILE [FOLDER]: a message into the user's Maildir
# (the INBOX, or FOLDER: Dovecot's Maildir++ ".FOLDER").
dovecot_deliver () {
    local dir=$T/dovecot/mail/$1/Maildir name
    [ -n "${3:-}" ] && dovecot_folder "$1" "$3" && dir=$dir/.$3
    name=$(date +%s).$RANDOM$RANDOM.test
    cp "$2" "$dir/tmp/$name" && chown "$dovecot_uid:$dovecot_gid" "$dir/tmp/$name" &&
        mv "$dir/tmp/$name" "$dir/new/$name"
}

# dovecot_folder USER FOLDER: an empty folder (Maildir++ ".FOLDER").
dovecot_folder () {
    local dir=$T/dovecot/mail/$1/Maildir/.$2
    mkdir -p "$dir/cur" "$dir/new" "$dir/tmp"
    chown -R "$dovecot_uid:$dovecot_gid" "$dir"
}

# dovecot_count USER [FOLDER]: the messages in the Maildir (of FOLDER).
dovecot_count () {
    local dir=$T/dovecot/mail/$1/Maildir
    [ -n "${2:-}" ] && dir=$dir/.$2
    find "$dir/cur" "$dir/new" -type f 2>/dev/null | wc -l
}

# dovecot_seen USER: the messages of the INBOX flagged \Seen (Maildir
# info ":2,...S...").
dovecot_seen () {
    find "$T/dovecot/mail/$1/Maildir/cur" -type f -name '*:2,*S*' | wc -l
}
