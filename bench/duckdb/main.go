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
	flag.Parse()
	if *csvPath == "" || *pqPath == "" {
		log.Fatal("usage: duckdb -csv FILE -parquet FILE [-threads N]")
	}
	db, err := sql.Open("duckdb", "")
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if _, err := db.Exec(fmt.Sprintf("SET threads = %d", *threads)); err != nil {
		log.Fatal(err)
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
