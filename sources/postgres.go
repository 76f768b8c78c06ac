package sources

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
)

// PostgresReader streams a query's rows in chunks, in a read-only
// transaction. A query that mentions $1 gets the watermark as its
// parameter (the newest event time loaded so far), for incremental loads.
type PostgresReader struct {
	conn   *pgx.Conn
	rows   pgx.Rows
	o      Options
	schema *arrow.Schema
	key    int
	row    int64
	index  int
	done   bool
}

var _ Reader = (*PostgresReader)(nil)

// OpenPostgres runs the query.
func OpenPostgres(ctx context.Context, url, query string, watermark time.Time, o Options) (*PostgresReader, error) {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return nil, fmt.Errorf("connecting to the source database: %w", err)
	}
	var args []any
	if strings.Contains(query, "$1") {
		args = append(args, watermark)
	}
	// The query runs in a read-only transaction: a source reads, and a
	// query that would write (UPDATE, DELETE, a writing CTE) fails
	// instead, whatever the connecting role may do. The transaction ends
	// with the connection.
	tx, err := conn.BeginTx(ctx, pgx.TxOptions{AccessMode: pgx.ReadOnly})
	if err != nil {
		conn.Close(ctx)
		return nil, fmt.Errorf("starting the source's read-only transaction: %w", err)
	}
	rows, err := tx.Query(ctx, query, args...)
	if err == nil && len(rows.FieldDescriptions()) == 0 {
		// The server refused the query before describing its rows (a
		// write in the read-only transaction, say): its error shows once
		// the rows are closed.
		rows.Close()
		if err = rows.Err(); err == nil {
			err = errors.New("the query returns no columns")
		}
	}
	if err != nil {
		conn.Close(ctx)
		return nil, fmt.Errorf("running the source query: %w", err)
	}
	r := &PostgresReader{conn: conn, rows: rows, o: o, key: -1}
	var fields []arrow.Field
	for i, fd := range rows.FieldDescriptions() {
		t, ok := o.Types[fd.Name]
		if !ok {
			t = arrowTypeOf(fd.DataTypeOID)
		}
		if fd.Name == o.Key {
			r.key = i
		}
		fields = append(fields, arrow.Field{Name: fd.Name, Type: t, Nullable: fd.Name != o.Key})
	}
	if o.Key != "" && r.key < 0 {
		r.Close()
		return nil, fmt.Errorf("the source query returns no key column %q", o.Key)
	}
	r.schema = arrow.NewSchema(fields, nil)
	return r, nil
}

// arrowTypeOf maps PostgreSQL types to the lake's: integers, floats and
// numerics, booleans, timestamps and dates (as UTC timestamps), and text
// for the rest.
func arrowTypeOf(oid uint32) arrow.DataType {
	switch oid {
	case pgtype.Int2OID, pgtype.Int4OID, pgtype.Int8OID:
		return arrow.PrimitiveTypes.Int64
	case pgtype.Float4OID, pgtype.Float8OID, pgtype.NumericOID:
		return arrow.PrimitiveTypes.Float64
	case pgtype.BoolOID:
		return arrow.FixedWidthTypes.Boolean
	case pgtype.TimestampOID, pgtype.TimestamptzOID, pgtype.DateOID:
		return timestampType
	}
	return arrow.BinaryTypes.String
}

// Schema implements Reader.
func (r *PostgresReader) Schema() *arrow.Schema { return r.schema }

// Close implements Reader.
func (r *PostgresReader) Close() error {
	r.rows.Close()
	return r.conn.Close(context.Background())
}

// Next implements Reader.
func (r *PostgresReader) Next(ctx context.Context) (Chunk, error) {
	if r.done {
		return Chunk{}, io.EOF
	}
	ch := Chunk{Index: r.index}
	b := array.NewRecordBuilder(memory.DefaultAllocator, r.schema)
	defer b.Release()
	n := 0
	for n+len(ch.Rejects) < r.o.chunkRows() {
		if !r.rows.Next() {
			if err := r.rows.Err(); err != nil {
				return Chunk{}, fmt.Errorf("reading the source query: %w", err)
			}
			r.done = true
			break
		}
		r.row++
		vals, err := r.rows.Values()
		if err != nil {
			// (pgx's error may quote the value; the reason does not.)
			ch.Rejects = append(ch.Rejects, Reject{Line: r.row, Reason: "a value does not decode"})
			continue
		}
		if reason := r.check(vals); reason != "" {
			ch.Rejects = append(ch.Rejects, Reject{Line: r.row, Reason: reason, Raw: fmt.Sprint(vals...)})
			continue
		}
		for j, v := range vals {
			appendValue(b.Field(j), v)
		}
		n++
	}
	if n == 0 && len(ch.Rejects) == 0 {
		return Chunk{}, io.EOF
	}
	r.index++
	if n > 0 {
		ch.Records = b.NewRecordBatch()
	}
	return ch, nil
}

func (r *PostgresReader) check(vals []any) string {
	if r.key >= 0 && vals[r.key] == nil {
		return "null key " + r.schema.Field(r.key).Name
	}
	for j, v := range vals {
		if v == nil {
			continue
		}
		if _, ok := convert(r.schema.Field(j).Type, v); !ok {
			return fmt.Sprintf("column %s: a %T does not fit %s", r.schema.Field(j).Name, v, r.schema.Field(j).Type)
		}
	}
	return ""
}

// convert turns a pgx value into a cell of the column's type.
func convert(t arrow.DataType, v any) (cell, bool) {
	switch t.ID() {
	case arrow.INT64:
		switch x := v.(type) {
		case int16:
			return cell{i: int64(x)}, true
		case int32:
			return cell{i: int64(x)}, true
		case int64:
			return cell{i: x}, true
		}
	case arrow.FLOAT64:
		switch x := v.(type) {
		case float32:
			return cell{f: float64(x)}, true
		case float64:
			return cell{f: x}, true
		case pgtype.Numeric:
			f, err := x.Float64Value()
			return cell{f: f.Float64}, err == nil && f.Valid
		case int64:
			return cell{f: float64(x)}, true
		case int32:
			return cell{f: float64(x)}, true
		}
	case arrow.BOOL:
		x, ok := v.(bool)
		return cell{b: x}, ok
	case arrow.TIMESTAMP:
		x, ok := v.(time.Time)
		return cell{i: x.UTC().UnixMicro()}, ok
	default:
		return cell{s: fmt.Sprint(v)}, true
	}
	return cell{}, false
}

func appendValue(b array.Builder, v any) {
	if v == nil {
		b.AppendNull()
		return
	}
	c, _ := convert(b.Type(), v)
	appendCell(b, c)
}
