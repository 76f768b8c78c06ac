#!/usr/bin/env bash
# Foundation benchmarks: build times, binary size, and `sluice dev` start to
# ready. Prints a Markdown table for BENCHMARKS.md. COLD=1 adds a cold build
# (an empty build cache; several minutes on 2 cores).
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

echo "| measure | value | command |"
echo "|---|---|---|"

if [ "${COLD:-0}" = 1 ]; then
  cache=$(mktemp -d)
  t0=$(now); GOCACHE=$cache $GO build -o "$out/cold" ./cmd/sluice; t1=$(now)
  rm -rf "$cache"
  echo "| cold build (empty GOCACHE, modules downloaded) | $(secs "$t0" "$t1") s | \`GOCACHE=\$(mktemp -d) go build ./cmd/sluice\` |"
fi

$GO build -o "$out/sluice" ./cmd/sluice
t0=$(now); $GO build -ldflags "-X main.version=bench-$RANDOM" -o "$out/sluice" ./cmd/sluice; t1=$(now)
echo "| warm build (main package changed: recompile and link) | $(secs "$t0" "$t1") s | \`go build -ldflags -X... ./cmd/sluice\` |"

size=$(stat -c %s "$out/sluice")
CGO_ENABLED=0 $GO build -trimpath -ldflags='-s -w' -o "$out/release" ./cmd/sluice
rsize=$(stat -c %s "$out/release")
echo "| binary size | $((size / 1048576)) MiB | \`go build ./cmd/sluice\` |"
echo "| binary size, release | $((rsize / 1048576)) MiB | \`make release\` |"

# Start to ready: from exec until the banner, then SIGTERM and time the stop.
# Arguments after the folder and log are env(1) options for the process.
dev_ready() {
  local dir=$1 log=$2; shift 2
  local t0 t1 pid
  : >"$log"
  t0=$(now)
  env "$@" "$out/sluice" dev --dir "$dir" --temporal-port 17233 --ui-port 18233 --api-port 18081 --serve-port 18080 >"$log" 2>&1 &
  pid=$!
  until grep -q "stack is ready" "$log"; do
    kill -0 $pid 2>/dev/null || { cat "$log" >&2; exit 1; }
    sleep 0.01
  done
  t1=$(now)
  kill -TERM $pid
  local s0 s1
  s0=$(now); wait $pid || true; s1=$(now)
  echo "$(secs "$t0" "$t1") $(secs "$s0" "$s1")"
}

dir=$out/dev
mkdir -p "$dir"; chmod 755 "$out" "$dir"
first=$(dev_ready "$dir" "$out/log0" -u SLUICE_DATABASE_URL)
echo "| \`sluice dev\` first start to ready (initdb of the private cluster) | ${first% *} s | \`sluice dev --dir NEW\` |"
for i in 1 2 3 4 5; do
  dev_ready "$dir" "$out/log$i" -u SLUICE_DATABASE_URL
done > "$out/restarts"
echo "| \`sluice dev\` restart to ready (private cluster), median of 5 | $(cut -d' ' -f1 "$out/restarts" | median) s | \`sluice dev --dir EXISTING\` |"
echo "| \`sluice dev\` SIGTERM to exit, median of 5 | $(cut -d' ' -f2 "$out/restarts" | median) s | \`kill -TERM\` |"
if pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
  for i in 1 2 3 4 5; do
    dev_ready "$out/ext" "$out/ext$i" SLUICE_DATABASE_URL='postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable'
  done > "$out/extres"
  echo "| \`sluice dev\` start to ready with SLUICE_DATABASE_URL, median of 5 | $(cut -d' ' -f1 "$out/extres" | median) s | \`SLUICE_DATABASE_URL=... sluice dev\` |"
fi
