package sources

import (
	"bytes"
	"errors"
	"fmt"
	"io"
)

// This file finds rows and fields in CSV text (RFC 4180: quoted fields may
// hold the delimiter, doubled quotes and line breaks) without copying
// unquoted fields. Rows are found with bytes.IndexByte, which runs at
// memory speed; the careful quote-aware scan only runs for rows that hold
// a quote.

// rowScanner walks the rows of a buffer of CSV text.
type rowScanner struct {
	data  []byte
	comma byte
	pos   int
	// quote is the index of the next '"' at or after pos, len(data) when
	// there is none, or -1 when not yet searched.
	quote int
	// partial is the scan of a row that ran past the data: when more
	// data comes, the scan resumes where it stopped instead of starting
	// the row again (which made a stray quote cost quadratic time).
	partial partialRow
}

// partialRow is where the scan of an unfinished row stopped.
type partialRow struct {
	active               bool
	start, scan, lines   int
	inQuotes, fieldStart bool
}

// next returns the next row without its line break, the physical lines it
// spans, and whether a line break ended it (false for text that ends
// inside a row). ok is false when the data is used up.
func (s *rowScanner) next() (row []byte, lines int, ended, ok bool) {
	if s.pos >= len(s.data) {
		return nil, 0, false, false
	}
	if p := s.partial; p.active && p.start == s.pos && p.scan <= len(s.data) {
		return s.quoted(p)
	}
	s.partial.active = false
	if s.quote >= 0 && s.quote < s.pos {
		s.quote = -1
	}
	if s.quote < 0 {
		if q := bytes.IndexByte(s.data[s.pos:], '"'); q < 0 {
			s.quote = len(s.data)
		} else {
			s.quote = s.pos + q
		}
	}
	end := len(s.data)
	if nl := bytes.IndexByte(s.data[s.pos:], '\n'); nl >= 0 {
		end = s.pos + nl
	}
	if s.quote >= end { // no quote in this row
		if end == len(s.data) { // it may go on past the data
			s.partial = partialRow{active: true, start: s.pos, scan: end, lines: 1, fieldStart: end == s.pos || s.data[end-1] == s.comma}
		}
		// The last row of a file may have no line break: pos stops at
		// the end of the data, not past it.
		row, s.pos = s.data[s.pos:end], min(end+1, len(s.data))
		return row, 1, end < len(s.data), true
	}
	return s.quoted(partialRow{start: s.pos, scan: s.pos, lines: 1, fieldStart: true})
}

// quoted scans a row that holds a quote, from where p stopped: a quote
// that opens a field hides line breaks until it closes. A stray quote
// elsewhere is left for the field splitter to reject.
func (s *rowScanner) quoted(p partialRow) (row []byte, lines int, ended, ok bool) {
	start, lines := p.start, p.lines
	inQuotes, fieldStart := p.inQuotes, p.fieldStart
	for i := p.scan; i < len(s.data); i++ {
		c := s.data[i]
		if inQuotes {
			switch {
			case c == '"' && i+1 < len(s.data) && s.data[i+1] == '"':
				i++
			case c == '"' && i+1 == len(s.data):
				// A doubled quote may be cut here: the data that follows
				// decides, so the scan resumes at this quote, still quoted.
				s.partial = partialRow{active: true, start: start, scan: i, lines: lines, inQuotes: true}
				s.pos, s.quote = len(s.data), -1
				return s.data[start:], lines, false, true
			case c == '"':
				inQuotes = false
			case c == '\n':
				lines++
			}
			continue
		}
		switch c {
		case '\n':
			s.pos, s.quote, s.partial.active = i+1, -1, false
			return s.data[start:i], lines, true, true
		case '"':
			inQuotes = fieldStart
			fieldStart = false
		case s.comma:
			fieldStart = true
		default:
			fieldStart = false
		}
	}
	s.partial = partialRow{active: true, start: start, scan: len(s.data), lines: lines, inQuotes: inQuotes, fieldStart: fieldStart}
	s.pos, s.quote = len(s.data), -1
	return s.data[start:], lines, false, true
}

// errQuoting marks a row whose quotes do not follow RFC 4180.
var errQuoting = errors.New("malformed CSV (quoting)")

// splitFields splits one row into fields. Unquoted fields alias the row;
// quoted ones are unescaped into scratch, which is returned grown.
func splitFields(row []byte, comma byte, fields [][]byte, scratch []byte) ([][]byte, []byte, error) {
	fields = fields[:0]
	if bytes.IndexByte(row, '"') < 0 {
		for {
			i := bytes.IndexByte(row, comma)
			if i < 0 {
				return append(fields, row), scratch, nil
			}
			fields = append(fields, row[:i])
			row = row[i+1:]
		}
	}
	for {
		if len(row) > 0 && row[0] == '"' {
			start, i := len(scratch), 1
			for {
				j := bytes.IndexByte(row[i:], '"')
				if j < 0 {
					return fields, scratch, fmt.Errorf("%w: a quoted field is not closed", errQuoting)
				}
				scratch = append(scratch, row[i:i+j]...)
				i += j + 1
				if i < len(row) && row[i] == '"' {
					scratch = append(scratch, '"')
					i++
					continue
				}
				break
			}
			fields = append(fields, scratch[start:len(scratch):len(scratch)])
			if i == len(row) {
				return fields, scratch, nil
			}
			if row[i] != comma {
				return fields, scratch, fmt.Errorf("%w: text after a closing quote", errQuoting)
			}
			row = row[i+1:]
			continue
		}
		f := row
		i := bytes.IndexByte(row, comma)
		if i >= 0 {
			f = row[:i]
		}
		if bytes.IndexByte(f, '"') >= 0 {
			return fields, scratch, fmt.Errorf("%w: a quote inside an unquoted field", errQuoting)
		}
		fields = append(fields, f)
		if i < 0 {
			return fields, scratch, nil
		}
		row = row[i+1:]
	}
}

// trimCR drops the carriage return of a CRLF line end.
func trimCR(row []byte) []byte {
	if n := len(row); n > 0 && row[n-1] == '\r' {
		return row[:n-1]
	}
	return row
}

// rawChunk is a run of whole rows of a CSV file, as read.
type rawChunk struct {
	index int
	data  []byte
	// line is the physical line the chunk's first row starts on.
	line int64
	// rows counts the rows, blank ones included.
	rows int
}

// chunkBytes caps a chunk's text, so a string column's offsets (int32)
// cannot overflow whatever the rows per chunk.
const chunkBytes = 256 << 20

// MaxRowBytes bounds one row of a CSV file, as bufio's limit bounds a
// JSON line: a longer row (in practice, a quote that never closes) fails
// the read as bad input, naming its line, instead of growing the buffer
// to the rest of the file.
const MaxRowBytes = 16 << 20

// rowTooLong is a row over MaxRowBytes: bad input.
type rowTooLong struct {
	line int64
	hint string
}

func (e rowTooLong) Error() string {
	return fmt.Sprintf("the row on line %d is over %d MiB%s", e.line, MaxRowBytes>>20, e.hint)
}

func (rowTooLong) Is(target error) bool { return target == ErrBadValue }

// readSize is what the splitter reads at once: what it reads past a chunk
// is copied to the next.
const readSize = 1 << 20

// splitter cuts a CSV stream into chunks of whole rows. Its cuts depend
// only on the text and the rows per chunk, so a retried run sees the same
// chunks.
type splitter struct {
	r     io.Reader
	comma byte
	rows  int
	// carry holds the bytes read past the last chunk.
	carry []byte
	eof   bool
	line  int64
	index int
	// want is the buffer size to start a chunk with (the last chunk's).
	want int
	// free holds chunk buffers handed back after parsing, for reuse.
	free chan []byte
}

// recycle hands a parsed chunk's buffer back for a later chunk.
func (s *splitter) recycle(b []byte) {
	select {
	case s.free <- b[:0]:
	default:
	}
}

// buffer returns an empty buffer of at least n bytes.
func (s *splitter) buffer(n int) []byte {
	for {
		select {
		case b := <-s.free:
			if cap(b) >= n {
				return b
			}
			continue // too small: let it go
		default:
		}
		return make([]byte, 0, n)
	}
}

// next returns the next chunk, or io.EOF after the last.
func (s *splitter) next() (rawChunk, error) {
	data := append(s.buffer(max(s.want, len(s.carry)+readSize)), s.carry...)
	sc := rowScanner{data: data, comma: s.comma, quote: -1}
	rows, lines := 0, 0
	for rows < s.rows && sc.pos < chunkBytes {
		start, quote := sc.pos, sc.quote
		_, n, ended, ok := sc.next()
		if ok && (ended || s.eof) {
			rows++
			lines += n
			continue
		}
		if s.eof {
			break // nothing left
		}
		// The row runs past the bytes read: read more, and go on scanning
		// it where the scan stopped.
		if len(data)-start > MaxRowBytes {
			return rawChunk{}, rowTooLong{line: s.line + int64(lines), hint: " (a quote that never closes?)"}
		}
		sc.pos, sc.quote = start, quote
		if sc.quote == len(data) {
			sc.quote = -1
		}
		if cap(data)-len(data) < readSize {
			data = append(s.buffer(2*cap(data)+readSize), data...)
		}
		n, err := io.ReadAtLeast(s.r, data[len(data):len(data)+readSize], 1)
		data = data[:len(data)+n]
		sc.data = data
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			s.eof = true
		} else if err != nil {
			return rawChunk{}, fmt.Errorf("reading: %w", err)
		}
	}
	if sc.pos == 0 {
		return rawChunk{}, io.EOF
	}
	s.carry = append(s.carry[:0], data[sc.pos:]...)
	s.want = max(s.want, sc.pos+2*readSize)
	c := rawChunk{index: s.index, data: data[:sc.pos:sc.pos], line: s.line, rows: rows}
	s.index++
	s.line += int64(lines)
	return c, nil
}
