package sources

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// writeWideCSV writes rows × 20 columns: an id, a timestamp, 12 numbers,
// 4 strings and 2 booleans.
func writeWideCSV(b *testing.B, path string, rows int) {
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriter(f)
	fmt.Fprint(w, "id,ts")
	for i := range 12 {
		fmt.Fprintf(w, ",n%d", i)
	}
	fmt.Fprint(w, ",s0,s1,s2,s3,b0,b1\n")
	for r := range rows {
		fmt.Fprintf(w, "C%d,2026-11-%02dT%02d:00:00Z", r, 1+r%28, r%24)
		for i := range 12 {
			fmt.Fprintf(w, ",%d.%d", r%1000+i, r%100)
		}
		fmt.Fprintf(w, ",plan-%d,region-%d,x,y,%v,%v\n", r%3, r%7, r%2 == 0, r%3 == 0)
	}
	w.Flush()
	f.Close()
}

// BenchmarkReadCSV measures parsing a CSV into typed Arrow chunks, the
// CPU side of CSV ingestion.
func BenchmarkReadCSV(b *testing.B) {
	const rows = 200_000
	path := filepath.Join(b.TempDir(), "wide.csv")
	writeWideCSV(b, path, rows)
	b.ResetTimer()
	for b.Loop() {
		r, err := OpenCSV(path, Options{Key: "id", Timestamp: "ts"})
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
