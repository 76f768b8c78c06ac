// Command duckdb times DuckDB on the lake benchmark's files: read_csv (and
// read_parquet) written out as zstd Parquet, the reference that Sluice's
// ingestion is compared with. It is its own module, so Sluice does not
// depend on DuckDB.
package main

import (
	"database/sql"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"
	"time"

	_ "github.com/duckdb/duckdb-go/v2"
)

func main() {
	csvPath := flag.String("csv", "", "the CSV file")
	pqPath := flag.String("parquet", "", "the Parquet file")
	threads := flag.Int("threads", 2, "DuckDB threads")
	level := flag.Int("level", 1, "zstd level (Sluice's lake tables write level 1)")
	events := flag.String("events", "", "the feature benchmark's events (instead of -csv/-parquet)")
	labels := flag.String("labels", "", "the feature benchmark's labels")
	flag.Parse()
	db, err := sql.Open("duckdb", "")
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if _, err := db.Exec(fmt.Sprintf("SET threads = %d", *threads)); err != nil {
		log.Fatal(err)
	}
	if *events != "" {
		featureQueries(db, *events, *labels)
		return
	}
	if *csvPath == "" || *pqPath == "" {
		log.Fatal("usage: duckdb -csv FILE -parquet FILE | -events FILE -labels FILE [-threads N]")
	}
	out, err := os.MkdirTemp("", "duckdb-bench")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(out)
	res := map[string]float64{}
	for name, src := range map[string]string{"csv": "read_csv('" + quote(*csvPath) + "')", "parquet": "read_parquet('" + quote(*pqPath) + "')"} {
		dst := filepath.Join(out, name+".parquet")
		start := time.Now()
		if _, err := db.Exec(fmt.Sprintf("COPY (SELECT * FROM %s) TO '%s' (FORMAT parquet, COMPRESSION zstd, COMPRESSION_LEVEL %d)", src, quote(dst), *level)); err != nil {
			log.Fatalf("%s: %v", name, err)
		}
		secs := time.Since(start).Seconds()
		var rows int64
		if err := db.QueryRow(fmt.Sprintf("SELECT count(*) FROM read_parquet('%s')", quote(dst))).Scan(&rows); err != nil {
			log.Fatal(err)
		}
		res[name+"_rows_per_s"] = float64(rows) / secs
		res[name+"_seconds"] = secs
		if st, err := os.Stat(dst); err == nil {
			res[name+"_output_mib"] = float64(st.Size()) / (1 << 20)
		}
	}
	if err := json.NewEncoder(os.Stdout).Encode(res); err != nil {
		log.Fatal(err)
	}
}

func quote(s string) string { return strings.ReplaceAll(s, "'", "''") }

// featureQueries times the feature store's two references: windowed
// aggregations at every event (window functions over RANGE frames; the
// frames start a microsecond after t-w, as Sluice's windows (t-w, t] do)
// and a point-in-time join (ASOF JOIN), each summed into a checksum.
func featureQueries(db *sql.DB, events, labels string) {
	ev, lab := quote(events), quote(labels)
	queries := map[string]string{
		"windows": fmt.Sprintf(`SELECT count(*), sum(s7) + sum(c7) + sum(m7) + sum(s30) + sum(c30) + sum(m30) FROM (
			SELECT sum(amount) OVER w7 AS s7, count(amount) OVER w7 AS c7, avg(amount) OVER w7 AS m7,
			       sum(amount) OVER w30 AS s30, count(amount) OVER w30 AS c30, avg(amount) OVER w30 AS m30
			FROM read_parquet('%s')
			WINDOW w7 AS (PARTITION BY customer_id ORDER BY ts RANGE BETWEEN INTERVAL '604799999999 microseconds' PRECEDING AND CURRENT ROW),
			       w30 AS (PARTITION BY customer_id ORDER BY ts RANGE BETWEEN INTERVAL '2591999999999 microseconds' PRECEDING AND CURRENT ROW))`, ev),
		"pit": fmt.Sprintf(`SELECT (SELECT count(*) FROM read_parquet('%s')), sum(e.amount)
			FROM read_parquet('%s') l ASOF LEFT JOIN read_parquet('%s') e ON l.customer_id = e.customer_id AND l.label_at >= e.ts`, lab, lab, ev),
	}
	res := map[string]float64{}
	for name, q := range queries {
		start := time.Now()
		var rows int64
		var check float64
		if err := db.QueryRow(q).Scan(&rows, &check); err != nil {
			log.Fatalf("%s: %v", name, err)
		}
		res[name+"_seconds"] = time.Since(start).Seconds()
		res[name+"_rows"] = float64(rows)
		res[name+"_checksum"] = check
	}
	if err := json.NewEncoder(os.Stdout).Encode(res); err != nil {
		log.Fatal(err)
	}
}
