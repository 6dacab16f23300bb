# tests/cli/lib/pg.bash - a real PostgreSQL 15 for the tests of the
# PostgreSQL store.  Sourced after harness.bash.
#
#   pg_start PORT       initdb in a new temporary directory $pg_dir
#                       (Debian's binaries) and start the server on
#                       127.0.0.1:PORT and a Unix socket in $pg_dir, as an
#                       unprivileged user (as root: postgres); sets pg_pid.
#                       The script's trap calls pg_cleanup.
#   pg_stop             stops the server by its PID (fast shutdown).
#   pg_cleanup          pg_stop, and removes $pg_dir.
#   pg_restart          stops and starts it again on the same data.
#   psql_q SQL          the first column of the first row, as superuser.
#
# Test roles and databases are made by the caller with psql_q.  Exit 77
# (skip) when the binaries are missing; under CI=true that fails.

PG_BIN=/usr/lib/postgresql/15/bin
pg_pid=
pg_dir=
pg_port=

# as_pg COMMAND...: run it as the server's user (postgres when root).
as_pg () {
    if [ "$(id -u)" = 0 ]; then
        setpriv --reuid=postgres --regid=postgres --init-groups \
            --reset-env -- "$@"
    else
        "$@"
    fi
}

pg_start () {
    pg_port=$1
    if [ ! -x "$PG_BIN/initdb" ] || [ ! -x "$PG_BIN/postgres" ]; then
        skip "PostgreSQL 15 is not installed ($PG_BIN; tools/install-deps --test)"
    fi
    if [ "$(id -u)" = 0 ]; then
        id postgres >/dev/null 2>&1 || skip "no user postgres to run the server as"
        command -v setpriv >/dev/null || skip "setpriv (util-linux) is missing"
    fi
    # Its own directory: the server's user must reach it.
    pg_dir=$(mktemp -d /tmp/bouncestat-pg.XXXXXX) || return 1
    if [ "$(id -u)" = 0 ]; then chown postgres: "$pg_dir"; fi
    as_pg "$PG_BIN/initdb" -D "$pg_dir/data" -U postgres -A trust -E UTF8 \
        --locale=C.UTF-8 >"$pg_dir/initdb.log" 2>&1 ||
        { cat "$pg_dir/initdb.log" >&2; fail "initdb"; return 1; }
    # Password authentication on the loopback port (scram), trust on the
    # socket for the test's superuser.
    as_pg sh -c "cat >'$pg_dir/data/pg_hba.conf'" <<EOF
local all postgres trust
local all all scram-sha-256
host all all 127.0.0.1/32 scram-sha-256
EOF
    pg_launch
}

pg_launch () {
    # exec in the background subshell: $! is the server's own PID.
    {
        set -- "$PG_BIN/postgres" -D "$pg_dir/data" -p "$pg_port" \
            -c listen_addresses=127.0.0.1 -c unix_socket_directories="$pg_dir" \
            -c max_connections=40 -c logging_collector=off
        # Tests need no durability; benchmarks (PG_DURABLE=1) do.
        if [ "${PG_DURABLE:-0}" != 1 ]; then
            set -- "$@" -c fsync=off -c synchronous_commit=off \
                -c full_page_writes=off
        fi
        if [ "$(id -u)" = 0 ]; then
            exec setpriv --reuid=postgres --regid=postgres --init-groups \
                --reset-env -- "$@"
        fi
        exec "$@"
    } >>"$pg_dir/server.log" 2>&1 &
    pg_pid=$!
    local tries
    for tries in $(seq 1 200); do
        : "$tries"
        if "$PG_BIN/pg_isready" -q -h "$pg_dir" -p "$pg_port"; then
            return 0
        fi
        kill -0 "$pg_pid" 2>/dev/null || break
        sleep 0.05
    done
    cat "$pg_dir/server.log" >&2
    fail "PostgreSQL did not start"
    return 1
}

pg_stop () {
    [ -n "$pg_pid" ] || return 0
    kill -INT "$pg_pid" 2>/dev/null
    wait "$pg_pid" 2>/dev/null
    pg_pid=
}

pg_cleanup () {
    pg_stop
    if [ -n "$pg_dir" ]; then rm -rf "$pg_dir"; fi
}

pg_restart () {
    pg_stop
    pg_launch
}

psql_q () {
    "$PG_BIN/../bin/psql" -X -q -t -A -v ON_ERROR_STOP=1 -h "$pg_dir" \
        -p "$pg_port" -U postgres -d "${PSQL_DB:-postgres}" -c "$1"
}
