package sources

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"

	"github.com/apache/arrow-go/v18/arrow"
)

// JSONLReader reads JSON lines: one object per line, its keys the columns.
// The columns are those of the first chunk's objects, in sorted order;
// types are declared or inferred as for CSV. A line that is not an object,
// holds a nested value or a key outside the columns is rejected.
type JSONLReader struct {
	f      *os.File
	sc     *bufio.Scanner
	o      Options
	cols   []string
	schema *arrow.Schema
	key    int
	line   int64
	index  int
	done   bool

	pending [][]string
	lines   []int64
	reasons []string
	raws    []string
}

var _ Reader = (*JSONLReader)(nil)

// OpenJSONL opens a JSON-lines file and infers its schema from the first
// chunk.
func OpenJSONL(path string, o Options) (*JSONLReader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64*1024), MaxRowBytes)
	r := &JSONLReader{f: f, sc: sc, o: o, key: -1}
	objs, err := r.readRaw()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	seen := map[string]bool{}
	for _, obj := range objs {
		for k := range obj {
			seen[k] = true
		}
	}
	for k := range seen {
		r.cols = append(r.cols, k)
	}
	slices.Sort(r.cols)
	if o.Key != "" && !seen[o.Key] {
		f.Close()
		return nil, fmt.Errorf("%s: the key column %q is in no object of the first chunk", path, o.Key)
	}
	fields := make([]arrow.Field, len(r.cols))
	for i, c := range r.cols {
		if c == o.Key {
			r.key = i
		}
		t, ok := o.Types[c]
		if !ok {
			var sample []string
			for _, row := range r.cells(objs) {
				if row != nil {
					sample = append(sample, row[i])
				}
			}
			t = inferType(sample, c == o.Timestamp, o)
		}
		fields[i] = arrow.Field{Name: c, Type: t, Nullable: i != r.key}
	}
	r.schema = arrow.NewSchema(fields, nil)
	r.pending = r.cells(objs)
	return r, nil
}

// readRaw reads the next chunk of lines; malformed lines keep a reason.
func (r *JSONLReader) readRaw() ([]map[string]json.RawMessage, error) {
	r.lines, r.reasons, r.raws = r.lines[:0], r.reasons[:0], r.raws[:0]
	var objs []map[string]json.RawMessage
	for len(objs) < r.o.chunkRows() {
		if !r.sc.Scan() {
			if err := r.sc.Err(); errors.Is(err, bufio.ErrTooLong) {
				return nil, rowTooLong{line: r.line + 1}
			} else if err != nil {
				return nil, err
			}
			r.done = true
			break
		}
		r.line++
		text := bytes.TrimSpace(r.sc.Bytes())
		if len(text) == 0 {
			continue
		}
		var obj map[string]json.RawMessage
		reason := ""
		if err := json.Unmarshal(text, &obj); err != nil {
			reason, obj = jsonReason(err), nil
		}
		objs = append(objs, obj)
		r.lines = append(r.lines, r.line)
		r.reasons = append(r.reasons, reason)
		r.raws = append(r.raws, string(text))
	}
	return objs, nil
}

// cells turns objects into text cells in column order; a row it cannot
// turn gets its reason in r.reasons and a nil row.
func (r *JSONLReader) cells(objs []map[string]json.RawMessage) [][]string {
	rows := make([][]string, len(objs))
	for i, obj := range objs {
		if obj == nil {
			continue
		}
		row := make([]string, len(r.cols))
		for k, v := range obj {
			j, ok := slices.BinarySearch(r.cols, k)
			if !ok {
				if r.reasons[i] == "" {
					r.reasons[i] = fmt.Sprintf("unknown column %.64s", k)
				}
				continue
			}
			var x any
			dec := json.NewDecoder(bytes.NewReader(v))
			dec.UseNumber()
			if err := dec.Decode(&x); err != nil {
				r.reasons[i] = fmt.Sprintf("column %.64s: not a JSON value", k)
				continue
			}
			switch t := x.(type) {
			case nil:
				row[j] = ""
			case json.Number:
				row[j] = t.String()
			case bool:
				row[j] = fmt.Sprint(t)
			case string:
				row[j] = t
			default:
				if r.reasons[i] == "" {
					r.reasons[i] = fmt.Sprintf("column %s: nested values are not supported", k)
				}
			}
		}
		rows[i] = row
	}
	return rows
}

// Schema implements Reader.
func (r *JSONLReader) Schema() *arrow.Schema { return r.schema }

// Close implements Reader.
func (r *JSONLReader) Close() error { return r.f.Close() }

// Next implements Reader.
func (r *JSONLReader) Next(ctx context.Context) (Chunk, error) {
	if err := ctx.Err(); err != nil {
		return Chunk{}, err
	}
	if r.index > 0 {
		if r.done {
			return Chunk{}, io.EOF
		}
		objs, err := r.readRaw()
		if err != nil {
			return Chunk{}, err
		}
		r.pending = r.cells(objs)
	}
	if len(r.pending) == 0 {
		return Chunk{}, io.EOF
	}
	ch := buildChunk(r.index, r.schema, r.pending, r.lines, r.reasons,
		func(row []string, out []cell) string { return parseCells(r.schema, r.key, row, out) },
		func(i int, _ []string) string { return r.raws[i] })
	r.index++
	return ch, nil
}

// jsonReason says why a line is not a JSON object, by where, never by
// what it holds.
func jsonReason(err error) string {
	var syntax *json.SyntaxError
	if errors.As(err, &syntax) {
		return fmt.Sprintf("invalid JSON object (at byte %d)", syntax.Offset)
	}
	return "invalid JSON object (not an object)"
}
