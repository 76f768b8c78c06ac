package sources

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// TestWriteFileReadsBack writes the same columns as CSV and Parquet and
// reads them back through the one reader: NaN is written as a missing
// value and reads as null.
func TestWriteFileReadsBack(t *testing.T) {
	cols := []Column{
		{Name: "id", Strings: []string{"a", "b,c", `say "hi"`}},
		{Name: "v", Values: []float64{1.5, math.NaN(), -2e-9}},
	}
	for _, ext := range []string{"csv", "parquet", "pq"} {
		t.Run(ext, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "out."+ext)
			if err := WriteFile(path, cols); err != nil {
				t.Fatal(err)
			}
			recs, err := ReadFile(context.Background(), path, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if len(recs) != 1 || recs[0].NumRows() != 3 {
				t.Fatalf("%d batches", len(recs))
			}
			defer recs[0].Release()
			ids, ok := recs[0].Column(0).(*array.String)
			if !ok {
				t.Fatalf("id is %s", recs[0].Column(0).DataType())
			}
			v, ok := recs[0].Column(1).(*array.Float64)
			if !ok {
				t.Fatalf("v is %s", recs[0].Column(1).DataType())
			}
			for i, s := range cols[0].Strings {
				if ids.Value(i) != s {
					t.Errorf("id %d: %q, want %q", i, ids.Value(i), s)
				}
			}
			if v.Value(0) != 1.5 || v.IsValid(1) || v.Value(2) != -2e-9 {
				t.Errorf("v: %v", v)
			}
		})
	}
	if err := WriteFile(filepath.Join(t.TempDir(), "out.txt"), cols); err == nil || !strings.Contains(err.Error(), "use .csv or .parquet") {
		t.Errorf("a .txt file: %v", err)
	}
}

// TestInferLimitsTheTypes: with Infer set, whole numbers read as float64
// when int64 is not allowed, and dates and times as strings; AllNull types
// a column with no values.
func TestInferLimitsTheTypes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "t.csv")
	body := "n,x,b,d,ts,s,e\n1,1.5,true,2026-11-01,2026-11-01T10:00:00Z,a,\n,NaN,FALSE,,,,NA\n3,NA,,2026-11-02,2026-11-02 10:00:00,b,\n"
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		infer   []arrow.DataType
		allNull arrow.DataType
		want    []arrow.Type
	}{
		{nil, nil, []arrow.Type{arrow.INT64, arrow.FLOAT64, arrow.BOOL, arrow.DATE32, arrow.TIMESTAMP, arrow.STRING, arrow.STRING}},
		{[]arrow.DataType{arrow.PrimitiveTypes.Float64, arrow.FixedWidthTypes.Boolean}, arrow.PrimitiveTypes.Float64,
			[]arrow.Type{arrow.FLOAT64, arrow.FLOAT64, arrow.BOOL, arrow.STRING, arrow.STRING, arrow.STRING, arrow.FLOAT64}},
		{[]arrow.DataType{arrow.FixedWidthTypes.Date32}, nil,
			[]arrow.Type{arrow.STRING, arrow.STRING, arrow.STRING, arrow.DATE32, arrow.STRING, arrow.STRING, arrow.STRING}},
	}
	for _, tt := range tests {
		r, err := OpenCSV(path, Options{Infer: tt.infer, AllNull: tt.allNull})
		if err != nil {
			t.Fatal(err)
		}
		for i, f := range r.Schema().Fields() {
			if f.Type.ID() != tt.want[i] {
				t.Errorf("infer %v: column %s is %s, want %s", tt.infer, f.Name, f.Type, tt.want[i])
			}
		}
		if rows, rejects, _ := readAll(t, r); rows != 3 || len(rejects) != 0 {
			t.Errorf("infer %v: %d rows, rejects %v", tt.infer, rows, rejects)
		}
		r.Close()
	}
}

// TestRecordsEndsAtARowThatDoesNotParse: Records is for callers that take
// every row or none.
func TestRecordsEndsAtARowThatDoesNotParse(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad.csv")
	if err := os.WriteFile(path, []byte("x\n1\n2\n3\nx\ny\n6\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := OpenCSV(path, Options{ChunkRows: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	rows := int64(0)
	var last error
	for rec, err := range Records(context.Background(), r) {
		if err != nil {
			last = err
			continue
		}
		rows += rec.NumRows()
	}
	if rows != 3 || last == nil || last.Error() != `line 5 does not parse: column x: not an integer (and 1 more rows of the chunk)` {
		t.Errorf("%d rows, then %v", rows, last)
	}
	if _, err := ReadFile(context.Background(), path, Options{Types: map[string]arrow.DataType{"x": arrow.PrimitiveTypes.Int64}}); err == nil || !strings.Contains(err.Error(), "bad.csv: line 5") {
		t.Errorf("ReadFile: %v", err)
	}
}

// TestEstimatedRows: a CSV's estimate scales its first chunk to the file;
// a Parquet file's is its footer's count.
func TestEstimatedRows(t *testing.T) {
	dir := t.TempDir()
	var b strings.Builder
	b.WriteString("x,y\n")
	for i := range 10_000 {
		b.WriteString(strings.Repeat("7", 1+i%5) + ",1.25\n")
	}
	csvPath := filepath.Join(dir, "e.csv")
	if err := os.WriteFile(csvPath, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := OpenCSV(csvPath, Options{ChunkRows: 1000})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if got := r.EstimatedRows(); got < 9_900 || got > 10_100 {
		t.Errorf("CSV estimate %d, want about 10,000", got)
	}
	pqPath := filepath.Join(dir, "e.parquet")
	if err := WriteFile(pqPath, []Column{{Name: "v", Values: make([]float64, 1234)}}); err != nil {
		t.Fatal(err)
	}
	p, err := OpenParquet(context.Background(), pqPath, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if got := p.EstimatedRows(); got != 1234 {
		t.Errorf("Parquet estimate %d, want 1234", got)
	}
}
