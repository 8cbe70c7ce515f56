#!/usr/bin/env bash
# Sustained load on one `kmsgov serve` (release build, SQLite store, audit
# log on): `kmsgov bench` at 16 clients for a baseline, then at 64 clients
# for a minute, with the server's resident memory read before and after.
# Prints the two result lines and a summary line: the p99 ratio (64 against
# 16 clients), failed requests, and RSS at start and end.
#
# Environment: OP (Encrypt), DURATION seconds at 64 clients (60), BASELINE
# seconds at 16 clients (10).

set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

OP=${OP:-Encrypt}
DURATION=${DURATION:-60}
BASELINE=${BASELINE:-10}
python=${PYTHON:-python3}

cargo build --release --locked -p kmsgov-cli >&2
target_dir=$(cargo metadata --format-version 1 --no-deps | "$python" -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
kmsgov="$target_dir/release/kmsgov"

work=$(mktemp -d)
server=
cleanup() {
    [[ -n "$server" ]] && kill "$server" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

access_key=AKIALOAD000000000001
secret=load/secret/00000000000000000000000000000
cat >"$work/world.json" <<JSON
{"accounts": {"111122223333": {}},
 "principals": [{"arn": "arn:aws:iam::111122223333:user/load",
   "policies": [{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kms:*", "Resource": "*"}]}],
   "access_keys": [{"id": "$access_key", "secret": "$secret"}]}]}
JSON

port=$("$python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
RUST_LOG=warn "$kmsgov" serve --listen "127.0.0.1:$port" --data-dir "$work/data" \
    --world "$work/world.json" >"$work/out" 2>"$work/log" &
server=$!
for _ in $(seq 1 200); do
    "$python" -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/health', timeout=1)" 2>/dev/null && break
    sleep 0.1
done

rss() { awk '/^VmRSS/ {print $2}' "/proc/$server/status"; }
run() {
    AWS_ACCESS_KEY_ID=$access_key AWS_SECRET_ACCESS_KEY=$secret \
        "$kmsgov" bench --endpoint "http://127.0.0.1:$port" --op "$OP" --clients "$1" \
        --duration "$2" --warmup 2 --label "$1 clients"
}

baseline=$(run 16 "$BASELINE")
echo "$baseline"
rss_start=$(rss)
loaded=$(run 64 "$DURATION")
echo "$loaded"
rss_end=$(rss)

"$python" - "$baseline" "$loaded" "$rss_start" "$rss_end" <<'PY'
import json, sys
b, l = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print(json.dumps({
    "op": l["op"],
    "p99_ms_16_clients": b["p99_ms"], "p99_ms_64_clients": l["p99_ms"],
    "p99_ratio": round(l["p99_ms"] / b["p99_ms"], 2) if b["p99_ms"] else None,
    "requests_64_clients": l["requests"], "errors": b["errors"] + l["errors"],
    "requests_per_s_64_clients": l["requests_per_s"],
    "rss_kib_start_of_64": int(sys.argv[3]), "rss_kib_end_of_64": int(sys.argv[4]),
}))
PY
