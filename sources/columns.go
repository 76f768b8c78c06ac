package sources

import (
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// column accumulates one column's parsed values in plain Go slices that
// become the Arrow buffers without a copy. A row that fails part way is
// taken back by truncating to the row count.
type column struct {
	field arrow.Field
	id    arrow.Type
	valid []byte // validity bitmap
	ints  []int64
	dates []int32
	nums  []float64
	bits  []byte // boolean values, a bitmap
	offs  []int32
	data  []byte
}

func newColumn(f arrow.Field, rows, bytes int) *column {
	c := &column{field: f, id: f.Type.ID(), valid: make([]byte, 0, rows/8+1)}
	switch c.id {
	case arrow.INT64, arrow.TIMESTAMP:
		c.ints = make([]int64, 0, rows)
	case arrow.DATE32:
		c.dates = make([]int32, 0, rows)
	case arrow.FLOAT64:
		c.nums = make([]float64, 0, rows)
	case arrow.BOOL:
		c.bits = make([]byte, 0, rows/8+1)
	default:
		c.offs = make([]int32, 1, rows+1)
		c.data = make([]byte, 0, bytes)
	}
	return c
}

// setBit sets bit n of a bitmap that holds exactly n bits' worth of bytes
// or one fewer byte, growing it.
func setBit(bm []byte, n int, v bool) []byte {
	if n>>3 >= len(bm) {
		bm = append(bm, 0)
	}
	bitutil.SetBitTo(bm, n, v)
	return bm
}

// add parses one trimmed text value as row n (the column holds n rows),
// or says why it cannot.
func (c *column) add(n int, v []byte) string {
	null := isNullBytes(v)
	if !null && c.id == arrow.FLOAT64 && (len(v) == 3 && (unsafeString(v) == "NaN" || unsafeString(v) == "nan")) {
		null = true // NaN is how pandas and R write a missing number
	}
	c.valid = setBit(c.valid, n, !null)
	switch c.id {
	case arrow.INT64:
		x, ok := parseUnlessNull(null, v, parseInt64)
		if !ok {
			return c.bad(v, "an integer")
		}
		c.ints = append(c.ints, x)
	case arrow.FLOAT64:
		x, ok := parseUnlessNull(null, v, parseFloat64)
		if !ok {
			return c.bad(v, "a number")
		}
		c.nums = append(c.nums, x)
	case arrow.BOOL:
		x, ok := parseUnlessNull(null, v, parseBool)
		if !ok {
			return c.bad(v, "true or false")
		}
		c.bits = setBit(c.bits, n, x)
	case arrow.TIMESTAMP:
		x, ok := parseUnlessNull(null, v, parseTimestamp)
		if !ok {
			return c.bad(v, "a timestamp")
		}
		c.ints = append(c.ints, x)
	case arrow.DATE32:
		x, ok := parseUnlessNull(null, v, parseDate)
		if !ok {
			return c.bad(v, "a date (YYYY-MM-DD)")
		}
		c.dates = append(c.dates, x)
	default:
		if !null {
			c.data = append(c.data, v...)
		}
		c.offs = append(c.offs, int32(len(c.data)))
	}
	return ""
}

// parseUnlessNull parses v, or gives the zero value for a null.
func parseUnlessNull[T any](null bool, v []byte, parse func([]byte) (T, bool)) (T, bool) {
	if null {
		var zero T
		return zero, true
	}
	return parse(v)
}

// bad is the reason a value does not parse. It names the column, never
// the value: reasons reach run errors, Temporal histories and the API,
// and the raw row is in quarantine.
func (c *column) bad(_ []byte, want string) string {
	return fmt.Sprintf("column %s: not %s", c.field.Name, want)
}

// truncate takes the column back to n rows.
func (c *column) truncate(n int) {
	switch c.id {
	case arrow.INT64, arrow.TIMESTAMP:
		c.ints = c.ints[:n]
	case arrow.DATE32:
		c.dates = c.dates[:n]
	case arrow.FLOAT64:
		c.nums = c.nums[:n]
	case arrow.BOOL:
	default:
		c.offs = c.offs[:n+1]
		c.data = c.data[:c.offs[n]]
	}
}

// array hands the first n rows over as an Arrow array; the column must not
// be used after.
func (c *column) array(n int) arrow.Array {
	nulls := n - bitutil.CountSetBits(c.valid, 0, n)
	var valid *memory.Buffer
	if nulls > 0 {
		valid = memory.NewBufferBytes(c.valid[:bitutil.BytesForBits(int64(n))])
	}
	var bufs []*memory.Buffer
	switch c.id {
	case arrow.INT64, arrow.TIMESTAMP:
		bufs = []*memory.Buffer{valid, memory.NewBufferBytes(arrow.Int64Traits.CastToBytes(c.ints[:n]))}
	case arrow.DATE32:
		bufs = []*memory.Buffer{valid, memory.NewBufferBytes(arrow.Int32Traits.CastToBytes(c.dates[:n]))}
	case arrow.FLOAT64:
		bufs = []*memory.Buffer{valid, memory.NewBufferBytes(arrow.Float64Traits.CastToBytes(c.nums[:n]))}
	case arrow.BOOL:
		bits := c.bits
		for len(bits) < int(bitutil.BytesForBits(int64(n))) {
			bits = append(bits, 0)
		}
		bufs = []*memory.Buffer{valid, memory.NewBufferBytes(bits)}
	default:
		bufs = []*memory.Buffer{valid, memory.NewBufferBytes(arrow.Int32Traits.CastToBytes(c.offs[:n+1])), memory.NewBufferBytes(c.data)}
	}
	d := array.NewData(c.field.Type, n, bufs, nil, nulls, 0)
	defer d.Release()
	return array.MakeFromData(d)
}
