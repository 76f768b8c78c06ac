#!/usr/bin/env bash
# ML core benchmarks, each side by side with Debian's python3-xgboost (1.7),
# python3-sklearn (1.2) and python3-pandas in the same run:
#
# 1. the data shapes (bench/mlshapes): dense, sparse/missing, wide,
#    categorical-heavy, tall, regression and 5-class multiclass CSV files
#    from `bench/gendata -shapes all`; `sluice ml train` against pandas
#    read_csv + xgb.train, each in its own process (training alone, end to
#    end, peak RSS, test metric, batch prediction);
# 2. small tables (bench/smalldata): Sluice's defaults against XGBoost's
#    by 5-fold cross-validation on scikit-learn's bundled data sets and
#    the public-style tables of `bench/gendata -small`;
# 3. the older figures (bench/mlbench): logistic regression against
#    scikit-learn, single-row latency and three small mixed tables, on the
#    1M x 28 set from bench/gendata.
#
# SHAPES=dense,tall runs some shapes only; SHAPES=none skips them.
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
if ! /usr/bin/python3 -c 'import xgboost, sklearn, pandas' 2>/dev/null; then
  echo "installing the references: python3-xgboost python3-sklearn python3-pandas" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-xgboost python3-sklearn python3-pandas >/dev/null
fi
data=bench/data
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
$GO build -o "$out/sluice" ./cmd/sluice
$GO build -o "$out/mlshapes" ./bench/mlshapes
$GO build -o "$out/mlbench" ./bench/mlbench
$GO build -o "$out/smalldata" ./bench/smalldata

if [ "${SHAPES:-all}" != none ]; then
  [ -f "$data/shapes/multiclass-test.csv" ] || $GO run ./bench/gendata -shapes all -o "$data/shapes"
  echo "data shapes: Sluice and XGBoost, 2 threads each..." >&2
  "$out/mlshapes" -data "$data/shapes" -shapes "${SHAPES:-all}" -sluice "$out/sluice" -threads 2
fi

if [ ! -f "$data/small/digits.csv" ]; then
  $GO run ./bench/gendata -small -o "$data/small"
  /usr/bin/python3 bench/small.py export "$data/small"
fi
echo "small tables: XGBoost's defaults, then Sluice's..." >&2
# shellcheck disable=SC2046 # the table list is words
OMP_NUM_THREADS=2 /usr/bin/python3 bench/small.py xgboost "$data/small" $("$out/smalldata" -list) >"$out/small.json"
"$out/smalldata" -data "$data/small" -ref "$out/small.json"

[ -f "$data/binary-test.y.f32" ] || $GO run ./bench/gendata -o "$data"
echo "reference: XGBoost and scikit-learn, 2 threads..." >&2
OMP_NUM_THREADS=2 /usr/bin/python3 bench/reference.py "$data" >"$out/ref.json"
echo "Sluice..." >&2
"$out/mlbench" -data "$data" -ref "$out/ref.json" -threads 2
