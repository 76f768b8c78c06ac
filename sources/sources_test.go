package sources

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

const sample = `customer_id,plan,tenure,charges,autopay,updated_at
C1,pro,3,19.5,true,2026-11-01T10:00:00+02:00
C2,basic,0,,false,2026-11-01 09:00:00
C3,pro,x,20,true,2026-11-02
,basic,1,1.0,true,2026-11-02
C5,max,4,abc,true,2026-11-03
C6,max,5,1.5,true,yesterday
C7,basic,6,2.5
C8,"pro,7,3.5,true,2026-11-04
`

func readAll(t *testing.T, r Reader) (rows int64, rejects []Reject, chunks int) {
	t.Helper()
	for {
		ch, err := r.Next(context.Background())
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		chunks++
		if ch.Records != nil {
			rows += ch.Records.NumRows()
			ch.Records.Release()
		}
		rejects = append(rejects, ch.Rejects...)
	}
}

func TestCSVTypesChunksAndRejects(t *testing.T) {
	path := filepath.Join(t.TempDir(), "customers.csv")
	if err := os.WriteFile(path, []byte(sample), 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := OpenCSV(path, Options{ChunkRows: 3, Key: "customer_id", Timestamp: "updated_at", Types: map[string]arrow.DataType{"tenure": arrow.PrimitiveTypes.Int64, "charges": arrow.PrimitiveTypes.Float64}})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	want := map[string]arrow.Type{"customer_id": arrow.STRING, "plan": arrow.STRING, "tenure": arrow.INT64, "charges": arrow.FLOAT64, "autopay": arrow.BOOL, "updated_at": arrow.TIMESTAMP}
	for _, f := range r.Schema().Fields() {
		if f.Type.ID() != want[f.Name] {
			t.Errorf("column %s is %s, want %s", f.Name, f.Type, want[f.Name])
		}
	}
	rows, rejects, chunks := readAll(t, r)
	if rows != 2 || chunks != 3 {
		t.Errorf("%d good rows in %d chunks, want 2 in 3", rows, chunks)
	}
	wantRejects := []struct {
		line   int64
		reason string
	}{
		{4, `column tenure: not an integer`},
		{5, "null key customer_id"},
		{6, `column charges: not a number`},
		{7, `column updated_at: not a timestamp`},
		{8, "4 columns, want 6"},
		{9, "malformed CSV"},
	}
	if len(rejects) != len(wantRejects) {
		t.Fatalf("rejects %+v", rejects)
	}
	for i, w := range wantRejects {
		if rejects[i].Line != w.line || !strings.Contains(rejects[i].Reason, w.reason) {
			t.Errorf("reject %d: line %d %q, want line %d %q", i, rejects[i].Line, rejects[i].Reason, w.line, w.reason)
		}
	}
}

func TestCSVTimestampsAreUTC(t *testing.T) {
	path := filepath.Join(t.TempDir(), "t.csv")
	os.WriteFile(path, []byte("id,ts\n1,2026-11-01T10:00:00+02:00\n2,2026-11-01 08:00:00\n"), 0o644)
	r, err := OpenCSV(path, Options{Timestamp: "ts"})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ch, err := r.Next(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Records.Release()
	ts := ch.Records.Column(1).(*array.Timestamp)
	want := time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC).UnixMicro()
	if int64(ts.Value(0)) != want || int64(ts.Value(1)) != want {
		t.Errorf("timestamps %v %v, want both %v", ts.Value(0), ts.Value(1), want)
	}
}

func TestParquetRejectsNullKeys(t *testing.T) {
	schema := arrow.NewSchema([]arrow.Field{{Name: "id", Type: arrow.BinaryTypes.String, Nullable: true}, {Name: "v", Type: arrow.PrimitiveTypes.Float64}}, nil)
	b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	b.Field(0).(*array.StringBuilder).AppendValues([]string{"a", "", "c", "d"}, []bool{true, false, true, true})
	b.Field(1).(*array.Float64Builder).AppendValues([]float64{1, 2, 3, 4}, nil)
	rec := b.NewRecordBatch()
	defer rec.Release()
	path := filepath.Join(t.TempDir(), "x.parquet")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w, err := pqarrow.NewFileWriter(schema, f, nil, pqarrow.DefaultWriterProps())
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(rec); err != nil {
		t.Fatal(err)
	}
	w.Close()
	r, err := Open(context.Background(), "parquet", path, Options{Key: "id", ChunkRows: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	rows, rejects, _ := readAll(t, r)
	if rows != 3 || len(rejects) != 1 || rejects[0].Line != 2 {
		t.Errorf("%d rows, rejects %+v", rows, rejects)
	}
}

func TestJSONLTypesAndRejects(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.jsonl")
	body := `{"id": "a", "n": 1, "amount": 1.5, "ok": true, "ts": "2026-11-01T10:00:00+01:00"}
{"id": "b", "n": 2, "amount": null, "ok": false, "ts": "2026-11-02T10:00:00Z"}

{"id": "c", "n": "three", "amount": 2, "ok": true, "ts": "2026-11-03T10:00:00Z"}
{"id": null, "n": 4, "amount": 2, "ok": true, "ts": "2026-11-03T10:00:00Z"}
not json
{"id": "e", "n": 5, "nested": {"x": 1}, "ts": "2026-11-03T10:00:00Z"}
{"id": "f", "n": 6, "extra": 1, "ts": "2026-11-03T10:00:00Z"}
`
	os.WriteFile(path, []byte(body), 0o644)
	r, err := Open(context.Background(), "jsonl", path, Options{ChunkRows: 4, Key: "id", Timestamp: "ts", Types: map[string]arrow.DataType{"n": arrow.PrimitiveTypes.Int64}})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	got := map[string]arrow.Type{}
	for _, f := range r.Schema().Fields() {
		got[f.Name] = f.Type.ID()
	}
	if got["n"] != arrow.INT64 || got["amount"] != arrow.FLOAT64 || got["ok"] != arrow.BOOL || got["ts"] != arrow.TIMESTAMP || got["id"] != arrow.STRING {
		t.Errorf("schema %v", r.Schema())
	}
	rows, rejects, _ := readAll(t, r)
	if rows != 2 {
		t.Errorf("%d good rows, want 2", rows)
	}
	want := []string{`4 column n: not an integer`, "5 null key id", "6 invalid JSON object", "7 unknown column nested", "8 unknown column extra"}
	if len(rejects) != len(want) {
		t.Fatalf("rejects %+v", rejects)
	}
	for i, w := range want {
		if g := fmt.Sprintf("%d %s", rejects[i].Line, rejects[i].Reason); !strings.HasPrefix(g, w) {
			t.Errorf("reject %d: %q, want %q", i, g, w)
		}
	}
	if rejects[2].Raw != "not json" {
		t.Errorf("raw %q", rejects[2].Raw)
	}
}

// TestCSVMatchesEncodingCSV reads random RFC 4180 text (quoted delimiters,
// doubled quotes, line breaks in fields, CRLF) in small chunks across the
// splitter's read size and compares every field with encoding/csv.
func TestCSVMatchesEncodingCSV(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	alphabet := []string{"a", "b", "7", ",", "\"", "\n", "é", "x y", "\r\n"}
	var b strings.Builder
	b.WriteString("c0,c1,c2\n")
	for range 30000 {
		for j := range 3 {
			if j > 0 {
				b.WriteByte(',')
			}
			var v strings.Builder
			v.WriteString("v")
			for range r.IntN(12) {
				v.WriteString(alphabet[r.IntN(len(alphabet))])
			}
			s := v.String()
			if strings.ContainsAny(s, ",\"\n\r") {
				s = `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
			}
			b.WriteString(s)
		}
		if r.IntN(4) == 0 {
			b.WriteString("\r\n")
		} else {
			b.WriteString("\n")
		}
	}
	text := b.String()
	path := filepath.Join(t.TempDir(), "random.csv")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	want, err := csv.NewReader(strings.NewReader(text)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	want = want[1:]
	str := arrow.BinaryTypes.String
	rd, err := OpenCSV(path, Options{ChunkRows: 777, Types: map[string]arrow.DataType{"c0": str, "c1": str, "c2": str}})
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	row := 0
	for {
		ch, err := rd.Next(context.Background())
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if len(ch.Rejects) > 0 {
			t.Fatalf("rejects %+v", ch.Rejects[0])
		}
		for i := range int(ch.Records.NumRows()) {
			for j := range 3 {
				// encoding/csv turns CRLF inside a quoted field into LF.
				w := want[row][j]
				got := strings.ReplaceAll(ch.Records.Column(j).(*array.String).Value(i), "\r\n", "\n")
				if got != w {
					t.Fatalf("row %d column %d: %q, want %q", row, j, got, w)
				}
			}
			row++
		}
		ch.Records.Release()
	}
	if row != len(want) {
		t.Errorf("%d rows, want %d", row, len(want))
	}
}

func TestCSVDelimiterDatesSchemaAndLines(t *testing.T) {
	path := filepath.Join(t.TempDir(), "semi.csv")
	text := "id;day;note;score;code\r\n" +
		"1;2026-11-01;\"two\nlines\";1.5;007\r\n" +
		"2;2026-11-02;plain;NaN;008\r\n" +
		"3;2026-11-31;bad day;2;009\r\n" +
		"4;2026-11-04;\"a;b\";x;010\r\n"
	os.WriteFile(path, []byte(text), 0o644)
	// code looks like an integer; the declared schema keeps it text. Bad
	// values in the first chunk would make inference pick text, so day and
	// score are declared too.
	r, err := OpenCSV(path, Options{Delimiter: ';', Key: "id", Types: map[string]arrow.DataType{
		"code": arrow.BinaryTypes.String, "day": arrow.FixedWidthTypes.Date32, "score": arrow.PrimitiveTypes.Float64}})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	want := map[string]arrow.Type{"id": arrow.INT64, "day": arrow.DATE32, "note": arrow.STRING, "score": arrow.FLOAT64, "code": arrow.STRING}
	for _, f := range r.Schema().Fields() {
		if f.Type.ID() != want[f.Name] {
			t.Errorf("column %s is %s, want %s", f.Name, f.Type, want[f.Name])
		}
	}
	ch, err := r.Next(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Records.Release()
	if ch.Records.NumRows() != 2 {
		t.Fatalf("%d rows, want 2", ch.Records.NumRows())
	}
	if got := ch.Records.Column(2).(*array.String).Value(0); got != "two\nlines" {
		t.Errorf("note %q", got)
	}
	if ch.Records.Column(3).IsValid(1) {
		t.Error("NaN should read as a missing number")
	}
	if got := ch.Records.Column(4).(*array.String).Value(0); got != "007" {
		t.Errorf("code %q, want 007", got)
	}
	// The quoted line break makes the third row start on line 5.
	if len(ch.Rejects) != 2 || ch.Rejects[0].Line != 5 || !strings.Contains(ch.Rejects[0].Reason, `column day: not a date`) ||
		ch.Rejects[1].Line != 6 || !strings.Contains(ch.Rejects[1].Reason, `not a number`) {
		t.Errorf("rejects %+v", ch.Rejects)
	}
}

func TestCSVInfersDates(t *testing.T) {
	path := filepath.Join(t.TempDir(), "d.csv")
	os.WriteFile(path, []byte("d,t\n2026-11-01,2026-11-01T10:00:00Z\n2026-11-02,2026-11-02\n,\n"), 0o644)
	r, err := OpenCSV(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if d, ts := r.Schema().Field(0).Type.ID(), r.Schema().Field(1).Type.ID(); d != arrow.DATE32 || ts != arrow.TIMESTAMP {
		t.Errorf("types %s and %s, want date32 and timestamp", d, ts)
	}
}

func TestParquetFolderRefusesAMixedSchema(t *testing.T) {
	dir := t.TempDir()
	if err := WriteFile(filepath.Join(dir, "a.parquet"), []Column{{Name: "id", Strings: []string{"A"}}, {Name: "v", Values: []float64{1}}}); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(filepath.Join(dir, "b.parquet"), []Column{{Name: "id", Strings: []string{"B"}}, {Name: "v", Strings: []string{"x"}}}); err != nil {
		t.Fatal(err)
	}
	r, err := OpenParquet(context.Background(), dir, Options{Key: "id"})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ch, err := r.Next(context.Background())
	if err != nil || ch.Records.NumRows() != 1 {
		t.Fatalf("first file: %v", err)
	}
	ch.Records.Release()
	if _, err := r.Next(context.Background()); err == nil || !strings.Contains(err.Error(), "b.parquet: its schema differs") {
		t.Errorf("got %v, want the second file's schema refused", err)
	}
	if _, err := OpenParquet(context.Background(), t.TempDir(), Options{}); err == nil || !strings.Contains(err.Error(), "holds no .parquet files") {
		t.Errorf("an empty folder: %v", err)
	}
}

// TestCSVWithoutFinalLineBreak: the last row needs no line break (the
// fuzzer found that such a file panicked the splitter).
func TestCSVWithoutFinalLineBreak(t *testing.T) {
	for _, body := range []string{"id,ts\n1,2026-11-01\n2,2026-11-02", "id,ts\n1,2026-11-01\n\"2\",2026-11-02", "id"} {
		path := filepath.Join(t.TempDir(), "x.csv")
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		r, err := OpenCSV(path, Options{})
		if err != nil {
			t.Fatalf("%q: %v", body, err)
		}
		rows := 0
		for {
			c, err := r.Next(context.Background())
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%q: %v", body, err)
			}
			if c.Records != nil {
				rows += int(c.Records.NumRows())
				c.Records.Release()
			}
		}
		r.Close()
		if want := strings.Count(body, "\n"); rows != want {
			t.Errorf("%q: %d rows, want %d", body, rows, want)
		}
	}
}
