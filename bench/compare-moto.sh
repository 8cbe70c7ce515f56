#!/usr/bin/env bash
# kmsgov and moto side by side, in one run, with the same load client.
#
# Starts `kmsgov serve` (release build, embedded SQLite store, SigV4 checked,
# every request authorized and written to the durable audit log), the same
# server with `--no-audit` on another data directory, and moto's server
# (`python -m moto.server`, installed from PyPI when missing); drives each
# with `kmsgov bench`, one after the other; prints each result line, then
# one summary line: kmsgov against moto, and the audit log's cost.
#
# Environment: OP (Encrypt), CLIENTS (16), DURATION seconds (10), WARMUP
# seconds (2), BYTES plaintext size (100).

set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

OP=${OP:-Encrypt}
CLIENTS=${CLIENTS:-16}
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
BYTES=${BYTES:-100}

python=${PYTHON:-python3}
if ! "$python" -c 'import moto.server' >/dev/null 2>&1; then
    echo "installing moto[server] from PyPI" >&2
    "$python" -m pip install --quiet 'moto[server]'
fi

cargo build --release --locked -p kmsgov-cli >&2
target_dir=$(cargo metadata --format-version 1 --no-deps | "$python" -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
kmsgov="$target_dir/release/kmsgov"

work=$(mktemp -d)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

access_key=AKIABENCH00000000001
secret=bench/secret/000000000000000000000000000
cat >"$work/world.json" <<JSON
{"accounts": {"111122223333": {}},
 "principals": [{"arn": "arn:aws:iam::111122223333:user/bench",
   "policies": [{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kms:*", "Resource": "*"}]}],
   "access_keys": [{"id": "$access_key", "secret": "$secret"}]}]}
JSON

free_port() {
    "$python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

wait_for() {
    local url=$1
    for _ in $(seq 1 200); do
        if "$python" -c "import urllib.request,sys; urllib.request.urlopen(sys.argv[1], timeout=1)" "$url" >/dev/null 2>&1; then
            return 0
        fi
        sleep 0.1
    done
    echo "error: $url never answered" >&2
    exit 1
}

kmsgov_port=$(free_port)
RUST_LOG=warn "$kmsgov" serve --listen "127.0.0.1:$kmsgov_port" --data-dir "$work/data" \
    --world "$work/world.json" >"$work/kmsgov.out" 2>"$work/kmsgov.log" &
pids+=($!)
wait_for "http://127.0.0.1:$kmsgov_port/health"

plain_port=$(free_port)
RUST_LOG=warn "$kmsgov" serve --listen "127.0.0.1:$plain_port" --data-dir "$work/data-no-audit" \
    --world "$work/world.json" --no-audit >"$work/plain.out" 2>"$work/plain.log" &
pids+=($!)
wait_for "http://127.0.0.1:$plain_port/health"

moto_port=$(free_port)
"$python" -m moto.server -H 127.0.0.1 -p "$moto_port" >"$work/moto.log" 2>&1 &
pids+=($!)
wait_for "http://127.0.0.1:$moto_port/moto-api/"

run() {
    local label=$1 port=$2
    AWS_ACCESS_KEY_ID=$access_key AWS_SECRET_ACCESS_KEY=$secret \
        "$kmsgov" bench --endpoint "http://127.0.0.1:$port" --op "$OP" --clients "$CLIENTS" \
        --duration "$DURATION" --warmup "$WARMUP" --plaintext-bytes "$BYTES" --label "$label"
}

kmsgov_line=$(run kmsgov "$kmsgov_port")
echo "$kmsgov_line"
plain_line=$(run kmsgov-no-audit "$plain_port")
echo "$plain_line"
moto_line=$(run moto "$moto_port")
echo "$moto_line"

"$python" - "$kmsgov_line" "$plain_line" "$moto_line" <<'PY'
import json, sys
k, p, m = (json.loads(a) for a in sys.argv[1:4])
ratio = lambda a, b: round(a / b, 2) if b else None
print(json.dumps({
    "op": k["op"], "clients": k["clients"],
    "kmsgov_requests_per_s": k["requests_per_s"], "kmsgov_p99_ms": k["p99_ms"], "kmsgov_errors": k["errors"],
    "kmsgov_no_audit_requests_per_s": p["requests_per_s"], "kmsgov_no_audit_p99_ms": p["p99_ms"],
    "moto_requests_per_s": m["requests_per_s"], "moto_p99_ms": m["p99_ms"], "moto_errors": m["errors"],
    "kmsgov_over_moto": ratio(k["requests_per_s"], m["requests_per_s"]),
    "audit_on_over_off": ratio(k["requests_per_s"], p["requests_per_s"]),
}))
PY
