#!/usr/bin/env bash
# Lake ingestion benchmarks: a 5M x 20 CSV and the same rows as Parquet
# (testkit/benchdata, deterministic) landed in raw.<source> through the
# Ingest activity (parse, quality, quarantine, Iceberg commit), on the local
# warehouse and on S3 (versitygw on loopback), with DuckDB's read_csv /
# read_parquet written to zstd Parquet on the same files in the same run.
# Needs PostgreSQL (the catalog) like `make test`. Prints a Markdown table.
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
ROWS=${ROWS:-5000000}
data=$PWD/bench/data
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
mkdir -p "$data"
export SLUICE_BENCH_DATA=$data SLUICE_BENCH_ROWS=$ROWS
export SLUICE_VERSITYGW=${SLUICE_VERSITYGW:-$PWD/bin/versitygw}
echo "Sluice: $ROWS rows (files generated on the first run)..." >&2
$GO test -run '^$' -bench 'Ingest' -benchtime 1x -count 1 ./activities/ >"$out/sluice.txt"
echo "DuckDB..." >&2
(cd bench/duckdb && $GO build -o "$out/duckdb" .)
"$out/duckdb" -threads 2 -level 1 -csv "$data/wide-$ROWS.csv" -parquet "$data/wide-$ROWS.parquet" >"$out/duckdb.json"
/usr/bin/python3 - "$out/sluice.txt" "$out/duckdb.json" "$ROWS" <<'PY'
import json, re, sys
rows = int(sys.argv[3])
sluice = {}
for line in open(sys.argv[1]):
    m = re.match(r"BenchmarkIngest/(\w+)/(\w+)-\d+\s+\d+\s+(\d+) ns/op\s+(\d+) rows/s", line)
    if m:
        sluice[(m[1], m[2])] = int(m[4])
duck = json.load(open(sys.argv[2]))
print(f"| {rows:,} rows x 20 columns, 2 cores | Sluice rows/s | DuckDB rows/s | Sluice / DuckDB |")
print("|---|---|---|---|")
for fmt, name in (("csv", "CSV"), ("parquet", "Parquet")):
    d = duck[f"{fmt}_rows_per_s"]
    for wh in ("local", "s3"):
        s = sluice.get((wh, fmt))
        if s:
            print(f"| {name} -> lake ({wh} warehouse) | {s:,.0f} | {d:,.0f} | {s / d:.2f} |")
PY
