#!/usr/bin/env bash
# Soak: online traffic at a fixed rate for a long time, with two promotions
# and a reload of every entity's online features in the middle, and a share
# of hostile requests mixed in (HOSTILE, 10% by default: bad model names,
# NUL and long keys, malformed, oversized and too-many-instance bodies,
# bad request ids), on loopback (the generator shares the cores with the
# server). Reports latency percentiles and errors of the valid requests
# from bench/servebench (open loop, latency from each request's scheduled
# time), how the hostile ones were answered, the model versions served,
# the server's heap and /metrics size over time, and whether the
# prediction log holds every valid request.
#
#   make soak                           # 10 minutes at 2,000 req/s
#   DURATION=2m RATE=1000 HOSTILE=0.1 bash bench/soak.sh
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
DB=${SLUICE_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable}
DURATION=${DURATION:-10m}
RATE=${RATE:-2000}
HOSTILE=${HOSTILE:-0.1}
case $DURATION in
  *m) secs=$(( ${DURATION%m} * 60 )) ;;
  *s) secs=${DURATION%s} ;;
  *) echo "DURATION: want minutes or seconds, like 10m or 90s" >&2; exit 2 ;;
esac
PORT=18090
# shellcheck source=bench/lib/served-model.sh
source bench/lib/served-model.sh

heap() { curl -fs http://127.0.0.1:$PORT/metrics | awk '/^go_memstats_heap_inuse_bytes /{printf "%.1f", $2/1048576}'; }
metrics_bytes() { curl -fs http://127.0.0.1:$PORT/metrics | wc -c; }
sample() { printf '%s\t%s\t%s\n' "$(( $(date +%s) - start ))" "$(heap)" "$(metrics_bytes)" >>"$out/heap.tsv"; }

ids="soak$(date +%s)-"
echo "soak: $RATE req/s for $DURATION on $model, $HOSTILE of them hostile" >&2
"$out/servebench" load -url "$url" -rate "$RATE" -duration "$DURATION" -warmup 30s -hostile "$HOSTILE" -request-ids "$ids" >"$out/soak.json" &
load=$!
start=$(date +%s)
: >"$out/heap.tsv"
events=""
event_at() { # seconds since the start, then the event
  local at=$1; shift
  while [ $(( $(date +%s) - start )) -lt "$at" ]; do
    sample
    sleep 10
  done
  "$@" >/dev/null
  events="$events; $(( $(date +%s) - start )) s: $*"
}
event_at $(( secs * 3 / 10 )) "$out/servebench" promote -database-url "$DB" -model "$model"
event_at $(( secs * 5 / 10 )) "$out/servebench" refresh -database-url "$DB" -view "$model"
event_at $(( secs * 7 / 10 )) "$out/servebench" promote -database-url "$DB" -model "$model"
while kill -0 "$load" 2>/dev/null; do
  sample
  sleep 10
done
wait "$load"
sleep 2 # the prediction log writes every 200 ms
logged=$(psql "$DB" -Atc "SELECT count(*) FROM sluice.prediction_log WHERE request_id LIKE '$ids%'")
served=$(curl -fs "http://127.0.0.1:$PORT/v2/models/$model" || true)
echo "events${events}" >&2
echo "heap MiB and /metrics bytes over time (seconds, MiB, bytes):" >&2
tr '\n' ' ' <"$out/heap.tsv" >&2; echo >&2
# Heap after warm-up (the first sample past 60 s) against the last.
first=$(awk -F'\t' '$1 >= 60 {print $2; exit}' "$out/heap.tsv")
last=$(tail -1 "$out/heap.tsv" | cut -f2)
metrics_first=$(awk -F'\t' '$1 >= 60 {print $3; exit}' "$out/heap.tsv")
metrics_last=$(tail -1 "$out/heap.tsv" | cut -f3)
echo "{\"load\": $(cat "$out/soak.json"), \"heap_mib_after_warmup\": ${first:-0}, \"heap_mib_at_end\": ${last:-0}, \"metrics_bytes_after_warmup\": ${metrics_first:-0}, \"metrics_bytes_at_end\": ${metrics_last:-0}, \"prediction_log_rows\": ${logged:-0}, \"model\": $served}"
