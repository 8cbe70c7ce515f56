#!/usr/bin/env bash
# Decrypt with governance and the audit log on, against a server with both
# off, in one `kmsgov bench` run.
#
#   scripts/bench-governance.sh [seconds per side, default 5] [clients, default 64] [op, default Decrypt] [data, default bound]
#
# The baseline server runs with --no-audit --no-governance and decrypts a
# plain ciphertext. The measured server runs as shipped (audit log and
# governance records on, SQLite with synchronous=FULL) and decrypts a
# ciphertext bound to a data-use policy, stating an allowed purpose, so that
# every answer is written to the audit log before it leaves and carries a
# signed use receipt. With `plain` as the fourth argument the governed
# server decrypts an unbound ciphertext instead: the audit log and the
# governance checks without a data-use policy or a receipt. Uses the release build (target/release/kmsgov, built
# when missing). Prints one JSON line: both runs and their ratio.

set -euo pipefail

seconds=${1:-5}
clients=${2:-64}
op=${3:-Decrypt}
data=${4:-bound}
case $data in
bound | plain) ;;
*)
    echo "the fourth argument is bound or plain, not $data" >&2
    exit 2
    ;;
esac
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${KMSGOV_BIN:-$root/target/release/kmsgov}
[ -x "$bin" ] || cargo build --release --locked -p kmsgov-cli --manifest-path "$root/Cargo.toml" >&2

work=$(mktemp -d)
cleanup() {
    # The servers' pids are in files: start_server runs in a subshell.
    for f in "$work"/*.pid; do [ -e "$f" ] && kill "$(cat "$f")" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

start_server() {
    local name=$1
    shift
    mkdir -p "$work/$name"
    RUST_LOG=error "$bin" serve --dev --listen 127.0.0.1:0 --data-dir "$work/$name" "$@" \
        >"$work/$name.out" 2>"$work/$name.err" &
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
plain=$(start_server plain --no-audit --no-governance)
governed=$(start_server governed)

cat >"$work/policy.json" <<'POLICY'
{"Version": "kmsgov-data-use/1", "Purposes": ["fraud-scoring"], "Audiences": ["svc:scoring"],
 "MaxReceiptSeconds": 600, "ReshareDepth": 1}
POLICY

bound=()
label="$op: governance and audit on, against both off"
if [ "$data" = bound ]; then
    bound=(--data-policy "$work/policy.json")
else
    label="$label (unbound data, no receipt)"
fi

"$bin" bench --access-key-id AKIAKMSGOVDEVEXAMPLE \
    --secret-access-key kmsgov-development-mode-secret-access-key \
    --clients "$clients" --duration "$seconds" --warmup 1 --op "$op" \
    --baseline-endpoint "$plain" --endpoint "$governed" "${bound[@]}" \
    --label "$label"
