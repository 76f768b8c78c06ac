// Package sources reads and writes tabular data. It reads raw data — CSV,
// Parquet and JSON-lines files, and PostgreSQL queries — in chunks of typed
// Arrow records, and sets aside the rows that do not parse, each with its
// line and the reason, for quarantine. It is the one reader of tabular
// files: ingest and `sluice ml` both read through it. It writes CSV and
// Parquet files too, so what it writes reads back as written.
//
// In text (CSV and JSON lines) one null rule holds: an empty cell, "NA",
// "null" and "NULL" are missing in every column, and "NaN" and "nan" are
// missing in a float64 column (as pandas and R write a missing number).
// Cells are trimmed of surrounding blanks first.
package sources

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
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
	// Raw is the row's text, or for Parquet the file's name.
	Raw string
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
	// Delimiter separates a CSV file's fields; 0 means a comma.
	Delimiter rune
	// Infer lists the types an undeclared column may be inferred as; a
	// column that fits none of them is a string. Nil allows them all:
	// int64, float64, bool, date and timestamp. With float64 listed and
	// int64 not, whole numbers read as float64.
	Infer []arrow.DataType
	// AllNull is the type of an undeclared column whose sampled values
	// are all null; nil means string.
	AllNull arrow.DataType
}

// mayInfer says whether undeclared columns may be inferred as id.
func (o Options) mayInfer(id arrow.Type) bool {
	if o.Infer == nil {
		return true
	}
	return slices.ContainsFunc(o.Infer, func(t arrow.DataType) bool { return t.ID() == id })
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

// inferType picks the narrowest type that o allows and every sampled
// non-null value parses as. A type ruled out is not tried again.
func inferType(vals []string, isTimestamp bool, o Options) arrow.DataType {
	if isTimestamp {
		return timestampType
	}
	isInt, isFloat, isBool := o.mayInfer(arrow.INT64), o.mayInfer(arrow.FLOAT64), o.mayInfer(arrow.BOOL)
	isDate, isTime, any := o.mayInfer(arrow.DATE32), o.mayInfer(arrow.TIMESTAMP), false
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
		if isDate {
			if _, ok := parseDate([]byte(v)); !ok {
				isDate = false
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
		if !isInt && !isFloat && !isBool && !isDate && !isTime {
			break
		}
	}
	switch {
	case !any && o.AllNull != nil:
		return o.AllNull
	case !any:
		return arrow.BinaryTypes.String
	case isInt:
		return arrow.PrimitiveTypes.Int64
	case isFloat:
		return arrow.PrimitiveTypes.Float64
	case isBool:
		return arrow.FixedWidthTypes.Boolean
	case isDate:
		return arrow.FixedWidthTypes.Date32
	case isTime:
		return timestampType
	}
	return arrow.BinaryTypes.String
}

// CSVReader reads a CSV file with a header row. A splitter cuts the file
// into chunks of whole rows and the chunks are parsed on all cores, each
// straight into Arrow buffers; Next returns them in file order.
type CSVReader struct {
	f      *os.File
	o      Options
	comma  byte
	header []string
	schema *arrow.Schema
	key    int
	// estimate is the rows the file likely holds.
	estimate int64

	split   *splitter
	results chan chan csvResult
	stop    chan struct{}
	done    sync.WaitGroup
	closed  bool
}

type csvResult struct {
	chunk Chunk
	err   error
}

var _ Reader = (*CSVReader)(nil)

// OpenCSV opens a CSV file and infers the schema from its first chunk.
func OpenCSV(path string, o Options) (*CSVReader, error) {
	comma := byte(',')
	if o.Delimiter != 0 {
		if o.Delimiter > 0x7f || o.Delimiter == '"' || o.Delimiter == '\n' || o.Delimiter == '\r' {
			return nil, fmt.Errorf("%s: the delimiter %q must be one ASCII character other than a quote or line break", path, o.Delimiter)
		}
		comma = byte(o.Delimiter)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	c, err := openCSV(f, path, comma, o)
	if err != nil {
		f.Close()
		return nil, err
	}
	return c, nil
}

func openCSV(f *os.File, path string, comma byte, o Options) (*CSVReader, error) {
	// The header is a chunk of one row.
	s := &splitter{r: f, comma: comma, rows: 1, line: 1, free: make(chan []byte, runtime.GOMAXPROCS(0)+2)}
	hc, err := s.next()
	if errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s: the file is empty (a header row is needed)", path)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	fields, _, err := splitFields(trimCR(bytes.TrimSuffix(hc.data, []byte("\n"))), comma, nil, nil)
	if err != nil {
		return nil, fmt.Errorf("%s: the header: %w", path, err)
	}
	c := &CSVReader{f: f, o: o, comma: comma, key: -1, split: s}
	seen := map[string]bool{}
	for i, h := range fields {
		name := string(trimSpace(h))
		if name == "" || seen[name] {
			return nil, fmt.Errorf("%s: header column %d is empty or repeated (%q)", path, i+1, name)
		}
		seen[name] = true
		c.header = append(c.header, name)
		if name == o.Key {
			c.key = i
		}
	}
	if o.Key != "" && c.key < 0 {
		return nil, fmt.Errorf("%s: the key column %q is not in the header", path, o.Key)
	}
	if o.Timestamp != "" && !seen[o.Timestamp] {
		return nil, fmt.Errorf("%s: the timestamp column %q is not in the header", path, o.Timestamp)
	}
	for name := range o.Types {
		if !seen[name] {
			return nil, fmt.Errorf("%s: the declared column %q is not in the header", path, name)
		}
	}
	s.rows, s.index = o.chunkRows(), 0
	first, err := s.next()
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	c.schema = c.infer(first.data)
	c.estimate = estimateRows(f, len(hc.data), first)
	c.results = make(chan chan csvResult, runtime.GOMAXPROCS(0))
	c.stop = make(chan struct{})
	c.done.Add(1)
	go c.produce(s, first, err == nil)
	return c, nil
}

// estimateRows scales the first chunk's rows to the file's size.
func estimateRows(f *os.File, header int, first rawChunk) int64 {
	st, err := f.Stat()
	if err != nil || len(first.data) == 0 || !st.Mode().IsRegular() {
		return int64(first.rows)
	}
	rest := st.Size() - int64(header)
	return (int64(first.rows)*rest + int64(len(first.data)) - 1) / int64(len(first.data))
}

// EstimatedRows is the rows the file likely holds (blank lines and rows
// that will not parse included): the first chunk's rows scaled to the
// file's size, for a caller that sizes memory up front.
func (c *CSVReader) EstimatedRows() int64 { return c.estimate }

// infer types the columns from the first chunk's rows: declared types
// win, the rest are inferred from up to inferSample values each.
func (c *CSVReader) infer(data []byte) *arrow.Schema {
	cols := make([][]string, len(c.header))
	sc := rowScanner{data: data, comma: c.comma, quote: -1}
	var fields [][]byte
	var scratch []byte
	for rows := 0; rows < 10*inferSample; {
		row, _, _, ok := sc.next()
		if !ok {
			break
		}
		row = trimCR(row)
		if len(row) == 0 {
			continue
		}
		var err error
		fields, scratch, err = splitFields(row, c.comma, fields, scratch[:0])
		if err != nil || len(fields) != len(c.header) {
			continue
		}
		for i, f := range fields {
			cols[i] = append(cols[i], string(trimSpace(f)))
		}
		rows++
	}
	out := make([]arrow.Field, len(c.header))
	for i, h := range c.header {
		t, ok := c.o.Types[h]
		if !ok {
			t = inferType(cols[i], h == c.o.Timestamp, c.o)
		}
		out[i] = arrow.Field{Name: h, Type: t, Nullable: i != c.key}
	}
	return arrow.NewSchema(out, nil)
}

// produce feeds chunks to parsers, at most GOMAXPROCS at a time, and
// queues their results in file order.
func (c *CSVReader) produce(s *splitter, first rawChunk, more bool) {
	defer c.done.Done()
	defer close(c.results)
	workers := make(chan struct{}, cap(c.results))
	submit := func(rc rawChunk) bool {
		res := make(chan csvResult, 1)
		select {
		case c.results <- res:
		case <-c.stop:
			return false
		}
		select {
		case workers <- struct{}{}:
		case <-c.stop:
			return false
		}
		go func() {
			defer func() { <-workers }()
			res <- csvResult{chunk: c.parse(rc)}
		}()
		return true
	}
	if len(first.data) > 0 && !submit(first) {
		return
	}
	for more {
		rc, err := s.next()
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			res := make(chan csvResult, 1)
			res <- csvResult{err: err}
			select {
			case c.results <- res:
			case <-c.stop:
			}
			return
		}
		if !submit(rc) {
			return
		}
	}
}

// parse turns a chunk of rows into a record batch and rejects.
func (c *CSVReader) parse(rc rawChunk) Chunk {
	ch := Chunk{Index: rc.index}
	est := bytes.Count(rc.data, []byte{'\n'}) + 1
	cols := make([]*column, len(c.header))
	for i, f := range c.schema.Fields() {
		cols[i] = newColumn(f, est, len(rc.data)/len(c.header)*2)
	}
	sc := rowScanner{data: rc.data, comma: c.comma, quote: -1}
	var fields [][]byte
	var scratch []byte
	line, n := rc.line, 0
	for {
		raw, lines, _, ok := sc.next()
		if !ok {
			break
		}
		at := line
		line += int64(lines)
		row := trimCR(raw)
		if len(row) == 0 {
			continue // a blank line
		}
		var err error
		fields, scratch, err = splitFields(row, c.comma, fields, scratch[:0])
		reason := ""
		switch {
		case err != nil:
			reason = err.Error()
		case len(fields) != len(c.header):
			reason = fmt.Sprintf("%d columns, want %d", len(fields), len(c.header))
		default:
			for j, f := range fields {
				f = trimSpace(f)
				if j == c.key && isNullBytes(f) {
					reason = fmt.Sprintf("null key %s", c.header[j])
				} else {
					reason = cols[j].add(n, f)
				}
				if reason != "" {
					for _, col := range cols[:j+1] {
						col.truncate(n)
					}
					break
				}
			}
		}
		if reason != "" {
			ch.Rejects = append(ch.Rejects, Reject{Line: at, Reason: reason, Raw: string(row)})
			continue
		}
		n++
	}
	if n > 0 {
		arrs := make([]arrow.Array, len(cols))
		for i, col := range cols {
			arrs[i] = col.array(n)
		}
		ch.Records = array.NewRecordBatch(c.schema, arrs, int64(n))
		for _, a := range arrs {
			a.Release()
		}
	}
	c.split.recycle(rc.data)
	return ch
}

// Schema implements Reader.
func (c *CSVReader) Schema() *arrow.Schema { return c.schema }

// Close implements Reader: it stops the parsers and closes the file.
func (c *CSVReader) Close() error {
	if c.closed {
		return nil
	}
	c.closed = true
	close(c.stop)
	c.done.Wait()
	for res := range c.results {
		go func() {
			if r := <-res; r.chunk.Records != nil {
				r.chunk.Records.Release()
			}
		}()
	}
	return c.f.Close()
}

// Next implements Reader.
func (c *CSVReader) Next(ctx context.Context) (Chunk, error) {
	if err := ctx.Err(); err != nil {
		return Chunk{}, err
	}
	select {
	case res, ok := <-c.results:
		if !ok {
			return Chunk{}, io.EOF
		}
		select {
		case r := <-res:
			return r.chunk, r.err
		case <-ctx.Done():
			return Chunk{}, ctx.Err()
		}
	case <-ctx.Done():
		return Chunk{}, ctx.Err()
	}
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
// Its reasons name the column, never the value (see column.bad).
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
				return fmt.Sprintf("column %s: not an integer", f.Name)
			}
			c.i = v
		case arrow.FLOAT64:
			if s == "NaN" || s == "nan" {
				out[j] = cell{null: true} // a missing number, as pandas writes it
				continue
			}
			v, err := strconv.ParseFloat(s, 64)
			if err != nil {
				return fmt.Sprintf("column %s: not a number", f.Name)
			}
			c.f = v
		case arrow.BOOL:
			v, err := strconv.ParseBool(strings.ToLower(s))
			if err != nil {
				return fmt.Sprintf("column %s: not true or false", f.Name)
			}
			c.b = v
		case arrow.TIMESTAMP:
			v, ok := parseTimestamp([]byte(s))
			if !ok {
				return fmt.Sprintf("column %s: not a timestamp", f.Name)
			}
			c.i = v
		case arrow.DATE32:
			v, ok := parseDate([]byte(s))
			if !ok {
				return fmt.Sprintf("column %s: not a date (YYYY-MM-DD)", f.Name)
			}
			c.i = int64(v)
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
	case *array.Date32Builder:
		x.Append(arrow.Date32(c.i))
	case *array.StringBuilder:
		x.Append(c.s)
	}
}
