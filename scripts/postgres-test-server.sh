#!/usr/bin/env bash
# A throwaway PostgreSQL server for the tests of the PostgreSQL store.
#
#   scripts/postgres-test-server.sh [start]   start (or find running) and print
#                                             the connection string on stdout
#   scripts/postgres-test-server.sh stop      stop it
#
# Use:  export KMSGOV_TEST_POSTGRES=$(scripts/postgres-test-server.sh)
#
# The cluster lives in $KMSGOV_PG_DIR (default /tmp/kmsgov-pg-test), listens
# on 127.0.0.1 only, on $KMSGOV_PG_PORT or a free port, with a unix socket in
# the same directory. Its superuser `kmsgov` logs in without a password
# (trust, loopback only) and fsync is off: it is for tests, never for keys.
# initdb refuses to run as root, so as root the server runs as the `postgres`
# user (or `nobody` when there is none).
#
# Binaries: initdb and pg_ctl on PATH, else /usr/lib/postgresql/<version>/bin
# (Debian's `postgresql` package).

set -euo pipefail

dir=${KMSGOV_PG_DIR:-/tmp/kmsgov-pg-test}
data=$dir/data
log=$dir/server.log

say() {
    printf 'postgres-test-server: %s\n' "$*" >&2
}

find_bindir() {
    local d
    if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
        dirname "$(readlink -f "$(command -v pg_ctl)")"
        return 0
    fi
    for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
        if [[ -x $d/initdb && -x $d/pg_ctl ]]; then
            echo "$d"
            return 0
        fi
    done
    return 1
}

if ! bindir=$(find_bindir); then
    say "no PostgreSQL binaries (initdb, pg_ctl) found; on Debian: apt-get install -y postgresql"
    exit 1
fi

# Runs a command as the server's owner.
as_owner() {
    if [[ $(id -u) -ne 0 ]]; then
        "$@"
    else
        runuser -u "$owner" -- "$@"
    fi
}

if [[ $(id -u) -eq 0 ]]; then
    if id postgres >/dev/null 2>&1; then owner=postgres; else owner=nobody; fi
else
    owner=$(id -un)
fi

pg_ctl() {
    as_owner "$bindir/pg_ctl" "$@"
}

connection_string() {
    printf 'postgres://kmsgov@127.0.0.1:%s/postgres\n' "$(cat "$dir/port")"
}

free_port() {
    if [[ -n ${KMSGOV_PG_PORT:-} ]]; then
        echo "$KMSGOV_PG_PORT"
        return
    fi
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

case ${1:-start} in
stop)
    if [[ -f $data/postmaster.pid ]]; then
        pg_ctl -D "$data" stop -m fast >&2
    else
        say "not running ($data)"
    fi
    exit 0
    ;;
start) ;;
*)
    say "usage: $0 [start|stop]"
    exit 2
    ;;
esac

mkdir -p "$dir"
if [[ $(id -u) -eq 0 ]]; then
    chown "$owner" "$dir"
fi
chmod 700 "$dir"

if [[ -f $data/postmaster.pid && -f $dir/port ]] && pg_ctl -D "$data" status >/dev/null 2>&1; then
    say "already running ($data)"
    connection_string
    exit 0
fi

if [[ ! -f $data/PG_VERSION ]]; then
    say "initdb in $data ($bindir)"
    as_owner "$bindir/initdb" -D "$data" -U kmsgov --auth=trust -E UTF8 --no-sync >"$dir/initdb.log" 2>&1 || {
        say "initdb failed:"
        cat "$dir/initdb.log" >&2
        exit 1
    }
fi

port=$(free_port)
echo "$port" >"$dir/port"
say "starting on 127.0.0.1:$port (log: $log)"
if ! pg_ctl -D "$data" -l "$log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=off -c max_connections=300" \
    start >&2; then
    say "the server did not start:"
    tail -n 20 "$log" >&2 || true
    exit 1
fi
connection_string
