#!/usr/bin/env bash
# Bulk scoring benchmark: ROWS entities (10M) with 10 numeric features,
# a 100-tree depth-6 GBDT, 16 parts two at a time on 2 cores
# (bench/scorebench). It times the path from the feature parts to
# committed predictions (PostgreSQL and the lake; then the lake alone) and,
# in the same run, the machine's ceiling: a plain pgx CopyFrom of the same
# rows generated in memory into the same table, and into a bare table of
# the same columns. Prints a Markdown table.
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
ROWS=${ROWS:-10000000}
DB=${SLUICE_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
$GO build -o "$out/scorebench" ./bench/scorebench
"$out/scorebench" -rows "$ROWS" -database-url "$DB" -dir "$out" >"$out/result.json"
/usr/bin/python3 - "$out/result.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
n = r["rows"]
rate = lambda s: f"{n / s / 1e6:.2f}M rows/s"
print(f"| {n:,} entities, 100 trees depth 6, {r['parts']} parts, {r['concurrency']} at once, 2 cores | seconds | throughput | vs same-table ceiling | vs bare-table ceiling |")
print("|---|---|---|---|---|")
c, b = r["ceiling_seconds"], r["ceiling_bare_seconds"]
print(f"| ceiling: pgx CopyFrom into predictions.<model> (partition + key index) | {c:.2f} | {rate(c)} | 1.00 | |")
print(f"| ceiling: pgx CopyFrom into a bare table of the same columns | {b:.2f} | {rate(b)} | | 1.00 |")
p = r["postgres_seconds"]
print(f"| Sluice: parts → PostgreSQL (published) + lake (committed) | {p:.2f} | {rate(p)} | {c / p:.2f} | {b / p:.2f} |")
l = r["lake_only_seconds"]
print(f"| Sluice: parts → lake only | {l:.2f} | {rate(l)} | | |")
print(f"\nchecked: PostgreSQL and the lake hold the same {r['postgres_table_rows']:,} rows (same score sum), one per entity: {r['one_row_per_entity_everywhere']}")
for name in ("postgres", "lake_only"):
    t = r[name + "_timings"]
    print(f"\n{name}: parts phase {r[name + '_parts_seconds']:.2f} s wall; summed over parts: " +
          ", ".join(f"{k} {t[k]:.2f} s" for k in ("read", "predict", "drift", "lake_write", "copy") if k in t) +
          f"; publish {t['commit']:.2f} s")
PY
