package sources

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestAStrayQuoteFailsFastAsBadInput: a 200 MB CSV with an opening
// quote on line 3 that never closes fails as bad input naming line 3,
// after reading a little over MaxRowBytes of it and allocating a bounded
// amount. (Before, the splitter rescanned the row from its start after
// every 1 MiB read, quadratic in the file, and grew its buffer to the
// whole file; out of memory was then retried for hours.)
func TestAStrayQuoteFailsFastAsBadInput(t *testing.T) {
	path := filepath.Join(t.TempDir(), "stray.csv")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	fmt.Fprintln(w, "id,name,amount")
	fmt.Fprintln(w, `1,"ok",1.5`)
	fmt.Fprintln(w, `2,"never closed,2.5`)
	for i, n := 3, 0; n < 200<<20; i++ {
		k, _ := fmt.Fprintf(w, "%d,name %d,%d.25\n", i, i, i)
		n += k
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	f.Close()

	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	r, err := OpenCSV(path, Options{})
	if err == nil {
		defer r.Close()
		err = readToError(r)
	}
	runtime.ReadMemStats(&after)
	if errors.Is(err, io.EOF) || !errors.Is(err, ErrBadValue) || !strings.Contains(err.Error(), "line 3 ") {
		t.Fatalf("got %v, want bad input naming line 3", err)
	}
	if r != nil {
		if read, _ := r.f.Seek(0, io.SeekCurrent); read > MaxRowBytes+8<<20 {
			t.Errorf("read %d MiB of the file before failing, want little over %d", read>>20, MaxRowBytes>>20)
		}
	}
	if allocated := after.TotalAlloc - before.TotalAlloc; allocated > 128<<20 {
		t.Errorf("allocated %d MiB, want at most 128", allocated>>20)
	}
	t.Logf("%v", err)
}

// TestJSONLineOverTheCapIsBadInput: the same for a JSON line over
// MaxRowBytes.
func TestJSONLineOverTheCapIsBadInput(t *testing.T) {
	path := filepath.Join(t.TempDir(), "long.jsonl")
	long := `{"id": 2, "name": "` + strings.Repeat("x", MaxRowBytes) + `"}`
	if err := os.WriteFile(path, []byte(`{"id": 1, "name": "a"}`+"\n"+long+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r, err := OpenJSONL(path, Options{})
	if err == nil {
		defer r.Close()
		err = readToError(r)
	}
	if !errors.Is(err, ErrBadValue) || !strings.Contains(err.Error(), "line 2 ") {
		t.Fatalf("got %v, want bad input naming line 2", err)
	}
}

// readToError reads a source until an error (io.EOF at its end).
func readToError(r interface {
	Next(context.Context) (Chunk, error)
}) error {
	for {
		ch, err := r.Next(context.Background())
		if ch.Records != nil {
			ch.Records.Release()
		}
		if err != nil {
			return err
		}
	}
}

// TestResumedScanKeepsADoubledQuoteCutByARead: a read that ends between
// the two quotes of an escaped "" inside a quoted field is resumed as a
// full rescan would read it: one row, its line break quoted. (The first
// resuming scan took the first quote as the field's end and cut the row
// at the quoted line break.)
func TestResumedScanKeepsADoubledQuoteCutByARead(t *testing.T) {
	whole := "1,\"a\"\"b\nc\"\n2,x\n"
	cut := strings.Index(whole, "\"\"") + 1 // just after the first quote of ""
	sc := rowScanner{data: []byte(whole[:cut]), comma: ',', quote: -1}
	if _, _, ended, ok := sc.next(); !ok || ended {
		t.Fatalf("the cut row: ok %v, ended %v; want a row that goes on", ok, ended)
	}
	sc.pos, sc.data = 0, []byte(whole) // the splitter reads more and scans on
	row, lines, ended, ok := sc.next()
	if !ok || !ended || string(row) != "1,\"a\"\"b\nc\"" || lines != 2 {
		t.Fatalf("row %q over %d lines (ended %v); want the whole quoted row over 2", row, lines, ended)
	}
	if row, _, _, _ := sc.next(); string(row) != "2,x" {
		t.Errorf("next row %q", row)
	}
}
