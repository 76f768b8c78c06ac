# Sourced by bench/serving.sh and bench/soak.sh: builds sluice and
# servebench into a temporary folder, sets up servebench's model and online
# view, starts `sluice serve` on $PORT and warms its cache. Sets out, pids,
# model and url; the caller's EXIT trap is installed here.
out=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$out"; }
trap cleanup EXIT
$GO build -o "$out/sluice" ./cmd/sluice
$GO build -o "$out/servebench" ./bench/servebench
lake="file://$out/lake"
model=$("$out/servebench" setup -database-url "$DB" -lake "$lake" -out "$out")
echo "model $model" >&2
SLUICE_LOG_LEVEL=warn "$out/sluice" serve --addr "127.0.0.1:$PORT" --database-url "$DB" --lake "$lake" >"$out/serve.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$PORT/v2/models/$model/ready" >/dev/null && break; sleep 0.2; done
url="http://127.0.0.1:$PORT/v1/models/$model:predict"
# Warm the cache: every entity once, in batches.
"$out/servebench" load -url "$url" -rate 20 -duration 10s -warmup 0s -batch 1000 >"$out/warm.json"
grep -q '"errors":0' "$out/warm.json" || { echo "warming the cache failed: $(cat "$out/warm.json")" >&2; exit 1; }
