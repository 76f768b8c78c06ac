#!/usr/bin/env bash
# Soak: online traffic at a fixed rate for a long time, with two promotions
# and a reload of every entity's online features in the middle, on
# loopback (the generator shares the cores with the server). Reports
# latency percentiles and errors from bench/servebench (open loop, latency
# from each request's scheduled time), the model versions served, and the
# server's heap over time from its /metrics (Go's runtime gauges).
#
#   make soak                           # 10 minutes at 2,000 req/s
#   DURATION=2m RATE=1000 bash bench/soak.sh
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
DB=${SLUICE_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable}
DURATION=${DURATION:-10m}
RATE=${RATE:-2000}
case $DURATION in
  *m) secs=$(( ${DURATION%m} * 60 )) ;;
  *s) secs=${DURATION%s} ;;
  *) echo "DURATION: want minutes or seconds, like 10m or 90s" >&2; exit 2 ;;
esac
PORT=18090
# shellcheck source=bench/lib/served-model.sh
source bench/lib/served-model.sh

heap() { curl -fs http://127.0.0.1:$PORT/metrics | awk '/^go_memstats_heap_inuse_bytes /{printf "%.1f", $2/1048576}'; }

echo "soak: $RATE req/s for $DURATION on $model" >&2
"$out/servebench" load -url "$url" -rate "$RATE" -duration "$DURATION" -warmup 30s >"$out/soak.json" &
load=$!
start=$(date +%s)
: >"$out/heap.tsv"
events=""
event_at() { # seconds since the start, then the event
  local at=$1; shift
  while [ $(( $(date +%s) - start )) -lt "$at" ]; do
    printf '%s\t%s\n' "$(( $(date +%s) - start ))" "$(heap)" >>"$out/heap.tsv"
    sleep 10
  done
  "$@" >/dev/null
  events="$events; $(( $(date +%s) - start )) s: $*"
}
event_at $(( secs * 3 / 10 )) "$out/servebench" promote -database-url "$DB" -model "$model"
event_at $(( secs * 5 / 10 )) "$out/servebench" refresh -database-url "$DB" -view "$model"
event_at $(( secs * 7 / 10 )) "$out/servebench" promote -database-url "$DB" -model "$model"
while kill -0 "$load" 2>/dev/null; do
  printf '%s\t%s\n' "$(( $(date +%s) - start ))" "$(heap)" >>"$out/heap.tsv"
  sleep 10
done
wait "$load"
served=$(curl -fs "http://127.0.0.1:$PORT/v2/models/$model" || true)
echo "events${events}" >&2
echo "heap MiB over time (seconds, MiB):" >&2
tr '\n' ' ' <"$out/heap.tsv" >&2; echo >&2
# Heap after warm-up (the first sample past 60 s) against the last.
first=$(awk -F'\t' '$1 >= 60 {print $2; exit}' "$out/heap.tsv")
last=$(tail -1 "$out/heap.tsv" | cut -f2)
echo "{\"load\": $(cat "$out/soak.json"), \"heap_mib_after_warmup\": ${first:-0}, \"heap_mib_at_end\": ${last:-0}, \"model\": $served}"
