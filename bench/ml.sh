#!/usr/bin/env bash
# ML core benchmarks: Sluice's GBDT and logistic regression beside Debian's
# python3-xgboost (1.7) and python3-sklearn (1.2), in the same run, on the
# deterministic 1M x 28 set from bench/gendata (800k train / 200k test).
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
if ! /usr/bin/python3 -c 'import xgboost, sklearn' 2>/dev/null; then
  echo "installing the references: python3-xgboost python3-sklearn" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-xgboost python3-sklearn >/dev/null
fi
data=bench/data
[ -f "$data/binary-test.y.f32" ] || $GO run ./bench/gendata -o "$data"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
echo "reference: XGBoost and scikit-learn, 2 threads..." >&2
OMP_NUM_THREADS=2 /usr/bin/python3 bench/reference.py "$data" >"$out/ref.json"
$GO build -o "$out/mlbench" ./bench/mlbench
echo "Sluice..." >&2
"$out/mlbench" -data "$data" -ref "$out/ref.json" -threads 2
