package sources_test

import (
	"context"
	"errors"
	"io"
	"path/filepath"
	"testing"

	"github.com/sluice-ml/sluice/sources"
	"github.com/sluice-ml/sluice/testkit/benchdata"
)

// BenchmarkReadCSV measures parsing a CSV into typed Arrow chunks, the
// CPU side of CSV ingestion.
func BenchmarkReadCSV(b *testing.B) {
	const rows = 200_000
	path := filepath.Join(b.TempDir(), "wide.csv")
	if err := benchdata.WideCSV(path, rows); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		r, err := sources.OpenCSV(path, sources.Options{Key: "id", Timestamp: "ts"})
		if err != nil {
			b.Fatal(err)
		}
		for {
			ch, err := r.Next(context.Background())
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			if ch.Records != nil {
				ch.Records.Release()
			}
		}
		r.Close()
	}
	b.ReportMetric(float64(b.N*rows)/b.Elapsed().Seconds(), "rows/s")
}
