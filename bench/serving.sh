#!/usr/bin/env bash
# Online serving benchmark on loopback, the load generator sharing the 2
# cores with the server: a 100-tree depth-6 GBDT over 10 features read
# from the online store's cache (50k entities). Open-loop load at a fixed
# rate (bench/servebench, latency from each request's scheduled time) for
# single instances at 5,000 req/s and 100-instance batches; wrk (closed
# loop, 16 connections) for the most requests per second; and, in the
# same run, the server users would otherwise write: Flask under gunicorn
# (2 sync workers) with XGBoost, same features, same model shape.
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
DB=${SLUICE_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable}
DURATION=${DURATION:-30s}
if ! /usr/bin/python3 -c 'import xgboost, flask' 2>/dev/null || ! command -v gunicorn >/dev/null || ! command -v wrk >/dev/null; then
  echo "installing the references: python3-xgboost python3-flask gunicorn wrk" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-xgboost python3-flask gunicorn wrk >/dev/null
fi
PORT=18080
# shellcheck source=bench/lib/served-model.sh
source bench/lib/served-model.sh
echo "open loop, GET /healthz at 5,000 req/s (the floor of this setup)..." >&2
"$out/servebench" load -url "http://127.0.0.1:$PORT/healthz" -get -rate 5000 -duration 10s >"$out/floor.json"
echo "open loop, single instances at 5,000 req/s..." >&2
"$out/servebench" load -url "$url" -rate 5000 -duration "$DURATION" >"$out/single.json"
echo "open loop, 100-instance batches at 200 req/s..." >&2
"$out/servebench" load -url "$url" -rate 200 -duration "$DURATION" -batch 100 >"$out/batch.json"
cat >"$out/post.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
request = function()
  return wrk.format(nil, nil, nil, string.format('{"instances":[{"entity_id":"E%d"}]}', math.random(0, 49999)))
end
LUA
echo "wrk, Sluice..." >&2
wrk -t2 -c16 -d"$DURATION" --latency -s "$out/post.lua" "$url" >"$out/wrk-sluice.txt"
kill "${pids[0]}"
/usr/bin/python3 bench/flaskref/train.py "$out"
(cd bench/flaskref && SERVEBENCH_DIR="$out" exec gunicorn -w 2 -b 127.0.0.1:18090 --log-level warning app:app >"$out/flask.log" 2>&1) &
pids+=($!)
for _ in $(seq 100); do curl -fs -XPOST -H 'Content-Type: application/json' -d '{"instances":[{"entity_id":"E1"}]}' "http://127.0.0.1:18090/v1/models/x:predict" >/dev/null && break; sleep 0.2; done
echo "wrk, Flask + XGBoost..." >&2
wrk -t2 -c16 -d"$DURATION" --latency -s "$out/post.lua" "http://127.0.0.1:18090/v1/models/x:predict" >"$out/wrk-flask.txt"
/usr/bin/python3 - "$out" <<'PY'
import json, re, sys
d = sys.argv[1]
s, b, fl = json.load(open(f"{d}/single.json")), json.load(open(f"{d}/batch.json")), json.load(open(f"{d}/floor.json"))
def wrk(name):
    t = open(f"{d}/wrk-{name}.txt").read()
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", t).group(1))
    m = re.search(r"99%\s+([\d.]+)(us|ms|s)", t)
    p99 = float(m.group(1)) * {"us": 1e-3, "ms": 1, "s": 1e3}[m.group(2)]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", t)
    return rps, p99, int(errors.group(1)) if errors else 0
ws, wf = wrk("sluice"), wrk("flask")
print("| measure | Sluice | Flask + XGBoost (gunicorn, 2 workers) | ratio | target |")
print("|---|---|---|---|---|")
print(f"| open loop, 1 instance, {s['rate']:,} req/s for {s['seconds']:.0f} s: p50 / p99 / p99.9 | {s['p50_ms']:.3f} / **{s['p99_ms']:.3f}** / {s['p999_ms']:.3f} ms ({s['errors']} errors of {s['sent']:,}) | | | p99 ≤ 1 ms |")
print(f"| the same generator on GET /healthz, 5,000 req/s: p50 / p99 | {fl['p50_ms']:.3f} / {fl['p99_ms']:.3f} ms | | | (floor) |")
print(f"| the generator's own timer lateness, p99 (not counted) | {s['generator_late_p99_ms']:.3f} ms | | | |")
print(f"| open loop, 100-instance batches, {b['rate']} req/s: p50 / p99 | {b['p50_ms']:.3f} / **{b['p99_ms']:.3f}** ms ({b['errors']} errors) | | | p99 ≤ 5 ms |")
print(f"| wrk, 16 connections: requests/s | **{ws[0]:,.0f}** | {wf[0]:,.0f} | {ws[0] / wf[0]:.1f}× | ≥ 5× |")
print(f"| wrk, 16 connections: p99 | {ws[1]:.2f} ms | {wf[1]:.2f} ms | | |")
print(f"| wrk non-2xx responses | {ws[2]} | {wf[2]} | | |")
PY
