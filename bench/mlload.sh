#!/usr/bin/env bash
# Loading a CSV for `sluice ml`: `sluice ml eval` of a one-tree model on an
# 800k × 29 numeric CSV (28 Higgs-like continuous features printed with 7
# significant digits, and a 0/1 label) beside pandas' read_csv on the same
# file, in the same run, each 3 times, interleaved; medians.
#
# Sluice's figures are the whole process (start, the artifact, the load,
# the prediction and the metrics). pandas' wall time is the read_csv call
# alone, timed inside Python; its peak RSS is the process's. The baseline
# is the peak RSS of `sluice ml eval` on a 100-row file.
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
PY=/usr/bin/python3
if ! $PY -c 'import pandas' 2>/dev/null; then
  echo "installing the reference: python3-pandas" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-pandas >/dev/null
fi
data=bench/data
csv=$data/higgs-800k.csv
mkdir -p "$data"
if [ ! -f "$csv" ]; then
  echo "writing $csv..." >&2
  $PY - "$csv" 800000 <<'EOF'
import sys
import numpy as np
path, rows = sys.argv[1], int(sys.argv[2])
rng = np.random.default_rng(42)
cols = []
for j in range(28):
    k = j % 4
    if k == 0:
        c = rng.exponential(1.0, rows)  # momenta: positive, skewed
    elif k == 1:
        c = rng.normal(0.0, 1.0, rows)  # pseudorapidities
    elif k == 2:
        c = rng.uniform(-np.pi, np.pi, rows)  # angles
    else:
        c = rng.lognormal(0.0, 0.5, rows)  # masses
    cols.append(c)
x = np.column_stack(cols)
y = (x[:, 0] + 0.5 * x[:, 1] + rng.normal(0, 1, rows) > 1.0).astype(np.int8)
with open(path + ".tmp", "w") as f:
    f.write("label," + ",".join(f"f{j}" for j in range(28)) + "\n")
    for s in range(0, rows, 50000):
        f.write("\n".join(str(int(l)) + "," + ",".join("%.7g" % v for v in r)
                          for l, r in zip(y[s:s + 50000], x[s:s + 50000])) + "\n")
import os
os.replace(path + ".tmp", path)
EOF
fi
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
echo "building sluice..." >&2
CGO_ENABLED=0 $GO build -trimpath -ldflags='-s -w' -o "$out/sluice" ./cmd/sluice
head -5001 "$csv" >"$out/small.csv"
head -101 "$csv" >"$out/tiny.csv"
"$out/sluice" ml train -data "$out/small.csv" -label label -param trees=1 -param max_depth=1 -o "$out/m.sluice" >/dev/null
cat >"$out/readcsv.py" <<'EOF'
import sys, time
import pandas as pd
t = time.perf_counter()
df = pd.read_csv(sys.argv[1])
print("%.3f" % (time.perf_counter() - t), file=sys.stderr)
assert df.shape == (800000, 29)
EOF

# timed CMD...: prints "wall_s peak_kb" from /usr/bin/time -v; the
# command's stderr is left in $out/err.
timed() {
  /usr/bin/time -v -o "$out/time" "$@" >/dev/null 2>"$out/err"
  awk -F': ' '/Elapsed \(wall clock\)/ { n = split($2, p, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + p[i]; w = s }
    /Maximum resident set size/ { m = $2 } END { print w, m }' "$out/time"
}
median() { sort -g | sed -n 2p; }

cat "$csv" >/dev/null # into the page cache
for i in 1 2 3; do
  timed "$out/sluice" ml eval -model "$out/m.sluice" -data "$out/tiny.csv" >>"$out/base"
  timed "$out/sluice" ml eval -model "$out/m.sluice" -data "$csv" >>"$out/go"
  timed $PY "$out/readcsv.py" "$csv" >>"$out/py"
  cat "$out/err" >>"$out/pycall"
  echo "run $i: sluice $(tail -1 "$out/go"), pandas $(tail -1 "$out/py") (read_csv $(tail -1 "$out/pycall") s)" >&2
done
base_kb=$(cut -d' ' -f2 "$out/base" | median)
go_s=$(cut -d' ' -f1 "$out/go" | median)
go_kb=$(cut -d' ' -f2 "$out/go" | median)
py_s=$(median <"$out/pycall")
py_proc_s=$(cut -d' ' -f1 "$out/py" | median)
py_kb=$(cut -d' ' -f2 "$out/py" | median)
echo "$(nproc) cores, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo), $($GO version | cut -d' ' -f3), pandas $($PY -c 'import pandas; print(pandas.__version__)')"
awk -v gs="$go_s" -v gk="$go_kb" -v bk="$base_kb" -v ps="$py_s" -v pps="$py_proc_s" -v pk="$py_kb" 'BEGIN {
  mb = 1024 / 1e6; matrix = 800000 * 29 * 4 / 1e6
  printf "| median of 3 | sluice ml eval | pandas read_csv | sluice / pandas |\n|---|---|---|---|\n"
  printf "| wall | %.2f s (the whole process) | %.2f s (the call; the process %.2f s) | %.2f |\n", gs, ps, pps, gs / ps
  printf "| peak RSS | %.0f MB | %.0f MB | %.2f |\n", gk * mb, pk * mb, gk / pk
  printf "| peak RSS above the baseline (%.0f MB, a 100-row file) | %.0f MB = %.2f × the %.0f MB float32 matrix | | |\n", bk * mb, (gk - bk) * mb, (gk - bk) * mb / matrix, matrix
}'
