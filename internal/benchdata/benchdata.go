// Package benchdata writes the synthetic files the ingestion benchmarks
// read.
package benchdata

import (
	"bufio"
	"fmt"
	"os"
)

// WideCSV writes rows × 20 columns: an id, a timestamp, 12 numbers, 4
// strings and 2 booleans.
func WideCSV(path string, rows int) error {
	f, err := os.Create(path)
	if err != nil {
		return err
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
	if err := w.Flush(); err != nil {
		f.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return f.Close()
}
