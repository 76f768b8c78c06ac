package sources

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// fuzzRead reads every chunk of a source file: no panic, and every row is
// either in a record or rejected with a reason.
func fuzzRead(t *testing.T, open func(string, Options) (Reader, error), path string) {
	r, err := open(path, Options{ChunkRows: 7, Key: "id", Timestamp: "ts"})
	if err != nil {
		return // a clear error is a fine answer to a malformed file
	}
	defer r.Close()
	for {
		c, err := r.Next(context.Background())
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			return
		}
		for _, rej := range c.Rejects {
			if rej.Reason == "" {
				t.Fatalf("a row rejected without a reason: %+v", rej)
			}
		}
		if c.Records != nil {
			if int(c.Records.NumCols()) != len(r.Schema().Fields()) {
				t.Fatalf("records with %d columns under a schema of %d", c.Records.NumCols(), len(r.Schema().Fields()))
			}
			c.Records.Release()
		}
	}
}

// fuzzFile writes each input to a file and reads it. Inputs are capped at
// 1 MiB: the readers stream, so size alone proves nothing more.
func fuzzFile(f *testing.F, name string, open func(string, Options) (Reader, error), seeds []string) {
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 1<<20 {
			t.Skip()
		}
		path := filepath.Join(t.TempDir(), name)
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		fuzzRead(t, open, path)
	})
}

func FuzzCSV(f *testing.F) {
	fuzzFile(f, "in.csv", func(p string, o Options) (Reader, error) { return OpenCSV(p, o) }, []string{
		"id,ts,amount,plan\n1,2026-11-01T00:00:00Z,1.5,pro\n2,2026-11-02,NaN,\n",
		"id,ts,x\n\"a,\"\"b\",2026-11-01,\"multi\nline\"\n,2026-11-01,1\n",
		"id,ts\n1\n2,3,4\n",
		"id,id,ts\n1,1,2026-11-01\n",
		"\xef\xbb\xbfid,ts\r\n1,2026-11-01\r\n",
		"id,ts,n\n1,2026-11-01,9223372036854775808\n2,not a time,1e400\n",
		"",
		"\"unterminated\n",
	})
}

func FuzzJSONL(f *testing.F) {
	fuzzFile(f, "in.jsonl", func(p string, o Options) (Reader, error) { return OpenJSONL(p, o) }, []string{
		`{"id": 1, "ts": "2026-11-01T00:00:00Z", "amount": 1.5, "plan": "pro"}` + "\n" + `{"id": 2, "ts": "2026-11-02", "amount": null}`,
		`{"id": "a", "ts": "2026-11-01", "nested": {"x": [1, 2]}}` + "\n" + `[1, 2]` + "\n" + `{"id": 1e999}`,
		`{"id": 1, "ts": "2026-11-01", "x": 1}` + "\n" + `{"id": 2, "ts": "2026-11-01", "x": "one"}`,
		`{"id": 1, "id": 2, "ts": "2026-11-01"}`,
		"{\"id\": \"\xff\", \"ts\": \"2026-11-01\"}",
		"not json\n\n{}",
		"",
	})
}
