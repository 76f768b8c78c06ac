package activities_test

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/sluice-ml/sluice/activities"
	"github.com/sluice-ml/sluice/internal/benchdata"
	"github.com/sluice-ml/sluice/internal/tabfile"
	"github.com/sluice-ml/sluice/internal/testenv"
	"github.com/sluice-ml/sluice/lakehouse"
)

const benchRows = 200_000

// wideParquet writes benchRows × 20 columns: 16 numbers and 4 strings.
func wideParquet(b *testing.B, path string) {
	var cols []tabfile.Column
	for i := range 16 {
		v := make([]float64, benchRows)
		for r := range v {
			v[r] = float64(r%1000 + i)
		}
		cols = append(cols, tabfile.Column{Name: fmt.Sprintf("n%d", i), Values: v})
	}
	for i := range 4 {
		s := make([]string, benchRows)
		for r := range s {
			s[r] = fmt.Sprintf("v%d-%d", i, r%50)
		}
		cols = append(cols, tabfile.Column{Name: fmt.Sprintf("s%d", i), Strings: s})
	}
	if err := tabfile.Write(path, cols); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkIngest lands a 200k × 20 file in raw.<source> through the
// activity (parse, write Parquet, commit), to the local warehouse and to
// S3 (versitygw on loopback).
func BenchmarkIngest(b *testing.B) {
	dir := b.TempDir()
	csvPath, pqPath := filepath.Join(dir, "wide.csv"), filepath.Join(dir, "wide.parquet")
	if err := benchdata.WideCSV(csvPath, benchRows); err != nil {
		b.Fatal(err)
	}
	wideParquet(b, pqPath)
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
				a := &activities.Ingest{Catalog: cat}
				path := map[string]string{"csv": csvPath, "parquet": pqPath}[format]
				i := 0
				for b.Loop() {
					i++
					in := activities.IngestInput{Source: fmt.Sprintf("wide_%d", i), Format: format, Path: path, RunID: fmt.Sprint(i)}
					if _, err := runBench(b, a, in); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.N*benchRows)/b.Elapsed().Seconds(), "rows/s")
			})
		}
	}
}
