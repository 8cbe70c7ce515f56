#!/usr/bin/env bash
# One server against two on one PostgreSQL database, side by side in one run:
# `kmsgov bench` for Encrypt and CreateKey, first against a single server,
# then with the same clients spread over two servers.
#
#   scripts/bench-nodes.sh [seconds per run, default 5] [clients, default 16]
#
# Uses the release build (target/release/kmsgov, built when missing) and the
# throwaway PostgreSQL server of scripts/postgres-test-server.sh (fsync off,
# so the numbers show kmsgov's cost, not the disk's). Prints one JSON line
# per run, each with a "label".

set -euo pipefail

seconds=${1:-5}
clients=${2:-16}
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${KMSGOV_BIN:-$root/target/release/kmsgov}
[ -x "$bin" ] || cargo build --release --locked -p kmsgov-cli --manifest-path "$root/Cargo.toml" >&2

url=$("$root/scripts/postgres-test-server.sh" start)
db=kmsgov_bench_$$
base=${url%/*}
psql "$url" -qc "CREATE DATABASE $db" >&2
work=$(mktemp -d)
cleanup() {
    # The servers' pids are in files: start_server runs in a subshell.
    for f in "$work"/*.pid; do [ -e "$f" ] && kill "$(cat "$f")" 2>/dev/null || true; done
    wait 2>/dev/null || true
    psql "$url" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >&2 || true
    rm -rf "$work"
}
trap cleanup EXIT

key=$(head -c 32 /dev/urandom | base64)
start_server() {
    local name=$1
    mkdir -p "$work/$name"
    KMSGOV_ROOT_KEY=$key RUST_LOG=error "$bin" serve --dev --listen 127.0.0.1:0 \
        --store "$base/$db" --data-dir "$work/$name" >"$work/$name.out" 2>"$work/$name.err" &
    echo $! >"$work/$name.pid"
    for _ in $(seq 100); do
        if grep -q '^kmsgov listening on ' "$work/$name.out"; then
            sed -n 's/^kmsgov listening on \([^ ]*\).*/\1/p' "$work/$name.out"
            return
        fi
        sleep 0.1
    done
    echo "server $name did not start: $(cat "$work/$name.err")" >&2
    exit 1
}
a=$(start_server a)
b=$(start_server b)

run() {
    "$bin" bench --access-key-id AKIAKMSGOVDEVEXAMPLE \
        --secret-access-key kmsgov-development-mode-secret-access-key \
        --clients "$clients" --duration "$seconds" --warmup 1 "$@"
}
for op in Encrypt CreateKey; do
    run --op "$op" --endpoint "$a" --label "$op, one server"
    run --op "$op" --endpoint "$a" --endpoint "$b" --label "$op, two servers"
done
