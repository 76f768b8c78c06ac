package activities_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/sluice-ml/sluice/activities"
	"github.com/sluice-ml/sluice/ingest"
	"github.com/sluice-ml/sluice/lakehouse"
	"github.com/sluice-ml/sluice/testkit/benchdata"
	"github.com/sluice-ml/sluice/testkit/testenv"
)

// benchFiles returns the benchmark's CSV and Parquet files of the same
// rows × 20 columns: SLUICE_BENCH_ROWS rows (200,000 unless set), kept in
// SLUICE_BENCH_DATA when set so a rerun does not generate them again.
func benchFiles(b *testing.B) (rows int, csvPath, pqPath string) {
	rows = 200_000
	if v := os.Getenv("SLUICE_BENCH_ROWS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			b.Fatalf("SLUICE_BENCH_ROWS=%q: %v", v, err)
		}
		rows = n
	}
	dir := os.Getenv("SLUICE_BENCH_DATA")
	if dir == "" {
		dir = b.TempDir()
	}
	csvPath = filepath.Join(dir, fmt.Sprintf("wide-%d.csv", rows))
	pqPath = filepath.Join(dir, fmt.Sprintf("wide-%d.parquet", rows))
	if _, err := os.Stat(pqPath); err == nil {
		return rows, csvPath, pqPath
	}
	if err := benchdata.WideCSV(csvPath, rows); err != nil {
		b.Fatal(err)
	}
	if err := benchdata.ParquetFromCSV(csvPath, pqPath); err != nil {
		b.Fatal(err)
	}
	return rows, csvPath, pqPath
}

// BenchmarkIngest lands a rows × 20 file in raw.<source> through the
// activity (parse, write Parquet, commit), to the local warehouse and to
// S3 (versitygw on loopback).
func BenchmarkIngest(b *testing.B) {
	benchRows, csvPath, pqPath := benchFiles(b)
	dir := b.TempDir()
	warehouses := map[string]lakehouse.Options{"local": {URL: "file://" + dir + "/lake"}, "s3": testenv.S3(b)}
	for _, wh := range []string{"local", "s3"} {
		for _, format := range []string{"csv", "parquet"} {
			b.Run(wh+"/"+format, func(b *testing.B) {
				cat, err := lakehouse.OpenCatalog(testenv.Context(b), lakehouse.CatalogOptions{
					DatabaseURL: testenv.PostgresURL(b), Lake: warehouses[wh], Name: fmt.Sprintf("bench_%s_%s_%d", wh, format, time.Now().UnixNano())})
				if err != nil {
					b.Fatal(err)
				}
				defer cat.Close()
				a := &activities.Ingest{Loader: &ingest.Loader{Catalog: cat}}
				path := map[string]string{"csv": csvPath, "parquet": pqPath}[format]
				i := 0
				for b.Loop() {
					i++
					in := activities.IngestInput{Source: fmt.Sprintf("wide_%d", i), Format: format, Path: path, Key: "id", Timestamp: "ts", RunID: fmt.Sprint(i)}
					if _, err := runBench(b, a, in); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.N*benchRows)/b.Elapsed().Seconds(), "rows/s")
			})
		}
	}
}
