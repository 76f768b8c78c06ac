package scoring

import (
	"encoding/binary"
	"io"
	"math"
	"time"

	"github.com/apache/arrow-go/v18/arrow/array"
)

// pgEpoch is where PostgreSQL's binary timestamps count from.
var pgEpoch = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// CopyReader streams the batch in PostgreSQL's binary COPY format, in the
// column order of Schema, encoding a few tens of kilobytes of rows at a
// time straight from the batch's columns: no per-row allocation and no
// text round trip.
func CopyReader(b *Batch) io.Reader {
	r := &copyReader{b: b, buf: make([]byte, 0, 64<<10)}
	// The header: signature, flags, extension length.
	r.buf = append(r.buf, "PGCOPY\n\xff\r\n\x00"...)
	r.buf = binary.BigEndian.AppendUint32(r.buf, 0)
	r.buf = binary.BigEndian.AppendUint32(r.buf, 0)
	// Every row starts with its field count, the run id and the version,
	// and ends with the two times.
	r.prefix = binary.BigEndian.AppendUint16(r.prefix, 7)
	r.prefix = appendText(r.prefix, b.Run.ID)
	r.prefix = binary.BigEndian.AppendUint32(r.prefix, 4)
	r.prefix = binary.BigEndian.AppendUint32(r.prefix, uint32(int32(b.Run.Version)))
	for _, t := range []time.Time{b.Run.ScoredAt, b.Run.AsOf} {
		r.suffix = binary.BigEndian.AppendUint32(r.suffix, 8)
		r.suffix = binary.BigEndian.AppendUint64(r.suffix, uint64(t.Sub(pgEpoch).Microseconds()))
	}
	r.strKeys, _ = b.Keys.(*array.String)
	r.intKeys, _ = b.Keys.(*array.Int64)
	return r
}

type copyReader struct {
	b              *Batch
	buf            []byte
	off            int
	row            int
	done           bool
	prefix, suffix []byte
	strKeys        *array.String
	intKeys        *array.Int64
}

func (r *copyReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		if r.off < len(r.buf) {
			c := copy(p[n:], r.buf[r.off:])
			r.off += c
			n += c
			continue
		}
		if r.done {
			break
		}
		r.fill()
	}
	if n == 0 && r.done {
		return 0, io.EOF
	}
	return n, nil
}

// fill encodes the next rows into the buffer, and the trailer after the
// last.
func (r *copyReader) fill() {
	buf := r.buf[:0]
	r.off = 0
	for ; r.row < len(r.b.Score) && len(buf) < 48<<10; r.row++ {
		i := r.row
		buf = append(buf, r.prefix...)
		switch {
		case r.strKeys != nil:
			buf = appendText(buf, r.strKeys.Value(i))
		default:
			buf = binary.BigEndian.AppendUint32(buf, 8)
			buf = binary.BigEndian.AppendUint64(buf, uint64(r.intKeys.Value(i)))
		}
		buf = binary.BigEndian.AppendUint32(buf, 8)
		buf = binary.BigEndian.AppendUint64(buf, math.Float64bits(r.b.Score[i]))
		if r.b.Label == nil {
			buf = binary.BigEndian.AppendUint32(buf, 0xffffffff) // null
		} else {
			buf = appendText(buf, r.b.Classes[r.b.Label[i]])
		}
		buf = append(buf, r.suffix...)
	}
	if r.row == len(r.b.Score) {
		buf = binary.BigEndian.AppendUint16(buf, 0xffff)
		r.done = true
	}
	r.buf = buf
}

func appendText(buf []byte, s string) []byte {
	buf = binary.BigEndian.AppendUint32(buf, uint32(len(s)))
	return append(buf, s...)
}
