// Package sources reads raw data — CSV, Parquet and JSON-lines files — in chunks of
// typed Arrow records, and sets aside the rows that do not parse, each with
// its line and the reason, for quarantine.
package sources

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// Reject is a row that did not parse.
type Reject struct {
	// Line is the 1-based line of a text file (the header is line 1), or
	// the 1-based row of a Parquet file.
	Line   int64
	Reason string
	Raw    string
}

// Chunk is a slice of a source: the rows that parsed, and those that did
// not.
type Chunk struct {
	Index   int
	Records arrow.RecordBatch // nil when every row was rejected
	Rejects []Reject
}

// Reader yields a source's chunks in order; Next returns io.EOF after the
// last. The caller releases each chunk's records.
type Reader interface {
	Next(ctx context.Context) (Chunk, error)
	// Schema is the Arrow schema of the records.
	Schema() *arrow.Schema
	Close() error
}

// Options shape a read.
type Options struct {
	// ChunkRows is the rows per chunk; 0 means 100,000.
	ChunkRows int
	// Key is a column that may not be null (the entity key).
	Key string
	// Timestamp is the event-time column, parsed as a UTC timestamp.
	Timestamp string
	// Types declares column types by name; undeclared columns are
	// inferred from the first chunk.
	Types map[string]arrow.DataType
}

func (o Options) chunkRows() int {
	if o.ChunkRows > 0 {
		return o.ChunkRows
	}
	return 100_000
}

var timestampType = &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}

// timeLayouts are the timestamp formats read, with or without a zone (no
// zone means UTC).
var timeLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05",
	"2006-01-02 15:04:05Z07:00",
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05",
	"2006-01-02 15:04:05.999999999",
	"2006-01-02",
}

func parseTime(s string) (time.Time, bool) {
	for _, l := range timeLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

func isNull(s string) bool {
	switch s {
	case "", "NA", "null", "NULL":
		return true
	}
	return false
}

// inferSample caps the values per column that type inference looks at.
const inferSample = 2000

// inferType picks the narrowest type every sampled non-null value parses
// as. A type ruled out is not tried again.
func inferType(vals []string, isTimestamp bool) arrow.DataType {
	if isTimestamp {
		return timestampType
	}
	isInt, isFloat, isBool, isTime, any := true, true, true, true, false
	seen := 0
	for _, v := range vals {
		if isNull(v) {
			continue
		}
		if seen++; seen > inferSample {
			break
		}
		any = true
		if isInt {
			if _, err := strconv.ParseInt(v, 10, 64); err != nil {
				isInt = false
			}
		}
		if isFloat && !isInt {
			if _, err := strconv.ParseFloat(v, 64); err != nil {
				isFloat = false
			}
		}
		if isBool {
			if lv := strings.ToLower(v); lv != "true" && lv != "false" {
				isBool = false
			}
		}
		if isTime {
			// Only strings shaped like dates are worth the layouts.
			if len(v) < 10 || v[4] != '-' {
				isTime = false
			} else if _, ok := parseTime(v); !ok {
				isTime = false
			}
		}
		if !isInt && !isFloat && !isBool && !isTime {
			break
		}
	}
	switch {
	case !any:
		return arrow.BinaryTypes.String
	case isInt:
		return arrow.PrimitiveTypes.Int64
	case isFloat:
		return arrow.PrimitiveTypes.Float64
	case isBool:
		return arrow.FixedWidthTypes.Boolean
	case isTime:
		return timestampType
	}
	return arrow.BinaryTypes.String
}

// CSVReader reads a CSV file with a header row.
type CSVReader struct {
	f      *os.File
	r      *csv.Reader
	o      Options
	header []string
	schema *arrow.Schema
	key    int
	line   int64
	index  int
	// pending holds the first chunk's rows, read to infer types.
	pending [][]string
	lines   []int64
	done    bool
}

var _ Reader = (*CSVReader)(nil)

// OpenCSV opens a CSV file and infers the schema from its first chunk.
func OpenCSV(path string, o Options) (*CSVReader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	r := csv.NewReader(f)
	r.FieldsPerRecord = -1 // a wrong count is a reject, not an error
	r.LazyQuotes = false
	header, err := r.Read()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: reading the header: %w", path, err)
	}
	c := &CSVReader{f: f, r: r, o: o, header: append([]string(nil), header...), line: 1, key: -1}
	seen := map[string]bool{}
	for i, h := range c.header {
		if h == "" || seen[h] {
			f.Close()
			return nil, fmt.Errorf("%s: header column %d is empty or repeated (%q)", path, i+1, h)
		}
		seen[h] = true
		if h == o.Key {
			c.key = i
		}
	}
	if o.Key != "" && c.key < 0 {
		f.Close()
		return nil, fmt.Errorf("%s: the key column %q is not in the header", path, o.Key)
	}
	if o.Timestamp != "" && !seen[o.Timestamp] {
		f.Close()
		return nil, fmt.Errorf("%s: the timestamp column %q is not in the header", path, o.Timestamp)
	}
	if err := c.fill(); err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	fields := make([]arrow.Field, len(c.header))
	for i, h := range c.header {
		t, ok := o.Types[h]
		if !ok {
			col := make([]string, 0, len(c.pending))
			for _, row := range c.pending {
				if len(row) == len(c.header) {
					col = append(col, row[i])
				}
			}
			t = inferType(col, h == o.Timestamp)
		}
		fields[i] = arrow.Field{Name: h, Type: t, Nullable: i != c.key}
	}
	c.schema = arrow.NewSchema(fields, nil)
	return c, nil
}

// fill reads the first chunk's raw rows, to infer types from.
func (c *CSVReader) fill() error {
	c.pending, c.lines = c.pending[:0], c.lines[:0]
	for len(c.pending) < c.o.chunkRows() {
		row, err := c.r.Read()
		if errors.Is(err, io.EOF) {
			c.done = true
			return nil
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				c.pending = append(c.pending, nil) // a malformed line
				c.lines = append(c.lines, int64(pe.StartLine))
				continue
			}
			return err
		}
		line, _ := c.r.FieldPos(0)
		c.line = int64(line)
		c.pending = append(c.pending, append([]string(nil), row...))
		c.lines = append(c.lines, c.line)
	}
	return nil
}

// Schema implements Reader.
func (c *CSVReader) Schema() *arrow.Schema { return c.schema }

// Close implements Reader.
func (c *CSVReader) Close() error { return c.f.Close() }

// Next implements Reader.
func (c *CSVReader) Next(ctx context.Context) (Chunk, error) {
	if err := ctx.Err(); err != nil {
		return Chunk{}, err
	}
	if c.index > 0 {
		return c.stream()
	}
	if len(c.pending) == 0 {
		return Chunk{}, io.EOF
	}
	// The first chunk was read ahead to infer the types.
	ch := buildChunk(c.index, c.schema, c.pending, c.lines, nil, c.parseRow, func(_ int, row []string) string { return strings.Join(row, ",") })
	c.pending, c.lines = nil, nil
	c.index++
	return ch, nil
}

// stream parses the next chunk as it reads it, holding no raw rows.
func (c *CSVReader) stream() (Chunk, error) {
	if c.done {
		return Chunk{}, io.EOF
	}
	ch := Chunk{Index: c.index}
	b := array.NewRecordBuilder(memory.DefaultAllocator, c.schema)
	defer b.Release()
	cells := make([]cell, len(c.header))
	n, count := 0, 0
	for count < c.o.chunkRows() {
		row, err := c.r.Read()
		if errors.Is(err, io.EOF) {
			c.done = true
			break
		}
		count++
		if err != nil {
			var pe *csv.ParseError
			if !errors.As(err, &pe) {
				return Chunk{}, err
			}
			ch.Rejects = append(ch.Rejects, Reject{Line: int64(pe.StartLine), Reason: c.parseRow(nil, cells)})
			continue
		}
		if reason := c.parseRow(row, cells); reason != "" {
			line, _ := c.r.FieldPos(0)
			ch.Rejects = append(ch.Rejects, Reject{Line: int64(line), Reason: reason, Raw: strings.Join(row, ",")})
			continue
		}
		for j, v := range cells {
			appendCell(b.Field(j), v)
		}
		n++
	}
	if count == 0 {
		return Chunk{}, io.EOF
	}
	c.index++
	if n > 0 {
		ch.Records = b.NewRecordBatch()
	}
	return ch, nil
}

// buildChunk parses rows into a record batch and rejects. preReasons, when
// set, holds a reason found before parsing (malformed input) per row.
func buildChunk(index int, schema *arrow.Schema, rows [][]string, lines []int64, preReasons []string,
	parse func(row []string, out []cell) string, raw func(i int, row []string) string) Chunk {
	ch := Chunk{Index: index}
	b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	defer b.Release()
	cells := make([]cell, schema.NumFields())
	n := 0
	for i, row := range rows {
		reason := ""
		if preReasons != nil {
			reason = preReasons[i]
		}
		if reason == "" {
			reason = parse(row, cells)
		}
		if reason != "" {
			ch.Rejects = append(ch.Rejects, Reject{Line: lines[i], Reason: reason, Raw: raw(i, row)})
			continue
		}
		for j, v := range cells {
			appendCell(b.Field(j), v)
		}
		n++
	}
	if n > 0 {
		ch.Records = b.NewRecordBatch()
	}
	return ch
}

// parseRow parses one row's cells into out, or says why it cannot.
func (c *CSVReader) parseRow(row []string, out []cell) string {
	if row == nil {
		return "malformed CSV (quoting)"
	}
	if len(row) != len(c.header) {
		return fmt.Sprintf("%d columns, want %d", len(row), len(c.header))
	}
	return parseCells(c.schema, c.key, row, out)
}

// cell is one parsed value, unboxed: the field its type uses is set.
type cell struct {
	null bool
	i    int64 // int64, and timestamps in microseconds
	f    float64
	b    bool
	s    string
}

// parseCells parses text cells into out by the schema's types, or says why
// it cannot. A null key is a reason too.
func parseCells(schema *arrow.Schema, key int, row []string, out []cell) string {
	for j, s := range row {
		s = strings.TrimSpace(s)
		f := schema.Field(j)
		if isNull(s) {
			if j == key {
				return fmt.Sprintf("null key %s", f.Name)
			}
			out[j] = cell{null: true}
			continue
		}
		var c cell
		switch f.Type.ID() {
		case arrow.INT64:
			v, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				return fmt.Sprintf("column %s: %q is not an integer", f.Name, s)
			}
			c.i = v
		case arrow.FLOAT64:
			v, err := strconv.ParseFloat(s, 64)
			if err != nil {
				return fmt.Sprintf("column %s: %q is not a number", f.Name, s)
			}
			c.f = v
		case arrow.BOOL:
			v, err := strconv.ParseBool(strings.ToLower(s))
			if err != nil {
				return fmt.Sprintf("column %s: %q is not true or false", f.Name, s)
			}
			c.b = v
		case arrow.TIMESTAMP:
			v, ok := parseTime(s)
			if !ok {
				return fmt.Sprintf("column %s: %q is not a timestamp", f.Name, s)
			}
			c.i = v.UnixMicro()
		default:
			c.s = s
		}
		out[j] = c
	}
	return ""
}

func appendCell(b array.Builder, c cell) {
	if c.null {
		b.AppendNull()
		return
	}
	switch x := b.(type) {
	case *array.Int64Builder:
		x.Append(c.i)
	case *array.Float64Builder:
		x.Append(c.f)
	case *array.BooleanBuilder:
		x.Append(c.b)
	case *array.TimestampBuilder:
		x.Append(arrow.Timestamp(c.i))
	case *array.StringBuilder:
		x.Append(c.s)
	}
}
