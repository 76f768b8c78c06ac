#!/usr/bin/env bash
# The GPU trainer's device check, for a machine with an NVIDIA GPU and no Go
# toolchain. Build the binary where Go is, carry it over, run:
#
#   make gpucheck                       # bin/gpucheck: ~5 MB, no cgo
#   gpu/devicecheck.sh [bin/gpucheck]   # on the GPU machine; < 4 minutes
#
# It runs nvidia-smi, the self-test of every GPU (load the driver, JIT the
# kernels, compare a histogram with the CPU's), then GPU against CPU
# training of the same model (100 trees, depth 6) on the 1M × 28 benchmark
# set on every core: AUC (difference ≤ 0.001), tree structure and timings.
# It ends with one summary table; record it in BENCHMARKS.md with the card.
set -euo pipefail
bin=${1:-${GPUCHECK:-bin/gpucheck}}
rows=${ROWS:-1000000}
[ -x "$bin" ] || { echo "devicecheck: no $bin (make gpucheck, then carry it here)" >&2; exit 2; }
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
start=$(date +%s)
status=0

echo "== nvidia-smi" >&2
if nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap --format=csv,noheader >"$out/smi" 2>&1; then
  cat "$out/smi" >&2
else
  cat "$out/smi" >&2
  echo "nvidia-smi failed" >"$out/smi"
  status=1
fi

echo "== self-test" >&2
if ! timeout 60 "$bin" selftest >"$out/selftest" 2>&1; then status=1; fi
cat "$out/selftest" >&2

echo "== GPU against CPU training, $rows rows" >&2
if ! timeout 180 "$bin" bench --rows "$rows" >"$out/bench" 2>&1; then status=1; fi
cat "$out/bench" >&2

elapsed=$(( $(date +%s) - start ))
cores=$(nproc)
{
  echo
  echo "| check | result |"
  echo "|---|---|"
  echo "| GPU (nvidia-smi) | $(head -1 "$out/smi" | sed 's/|/\\|/g') |"
  grep -E '^(driver|self-test)' "$out/selftest" |
    sed -E 's/ {2,}/ | /; s/ {2,}/ /g; s/^/| /; s/$/ |/' || echo "| self-test | $(tail -1 "$out/selftest") |"
  grep -E '^(model|cpu training|gpu training|speed-up|AUC difference|identical trees)' "$out/bench" |
    sed -E 's/ {2,}/ | /; s/ {2,}/ /g; s/^/| /; s/$/ |/' || echo "| bench | $(tail -1 "$out/bench") |"
  echo "| host | $cores cores |"
  echo "| elapsed | ${elapsed} s |"
  if [ "$status" = 0 ]; then echo "| verdict | PASS |"; else echo "| verdict | FAIL |"; fi
}
exit $status
