package serving

// Request bodies are read as a stream of JSON tokens, so what a request
// costs is bounded by what the model reads, not by what a client sends:
// decoding stops at the instance limit, an instance may carry only so
// many fields, values are scalars, and fields the model does not read are
// counted and dropped instead of kept.

import (
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/sluice-ml/sluice/internal/httpx"
)

// extraFields is how many fields an instance may carry beyond the
// model's inputs and entity key (ids, labels, whatever a client keeps
// with its rows).
const extraFields = 64

// batch is a request's instances, by row (v1) or by column (v2).
type batch interface {
	Len() int
	// Value is instance i's field, and whether the instance has it.
	Value(i int, field string) (any, bool)
}

// rows are v1 instances.
type rows []Instance

func (b rows) Len() int { return len(b) }
func (b rows) Value(i int, field string) (any, bool) {
	v, ok := b[i][field]
	return v, ok
}

// columns are v2 input tensors, one value per row.
type columns struct {
	n    int
	cols map[string][]any
}

func (b columns) Len() int { return b.n }
func (b columns) Value(i int, field string) (any, bool) {
	c, ok := b.cols[field]
	if !ok {
		return nil, false
	}
	return c[i], true
}

// reads says which fields the model variants of a request read: their
// inputs by full and short name, and the entity key.
type reads map[string]bool

func readsOf(st *modelState) reads {
	r := reads{}
	for _, l := range st.byAlias {
		if l == nil {
			continue
		}
		if l.key != "" {
			r[l.key] = true
		}
		for _, in := range l.inputs {
			r[in.name], r[in.short] = true, true
		}
	}
	return r
}

// bodyDecoder reads one request body as tokens and counts its bytes.
type bodyDecoder struct {
	dec   *jsontext.Decoder
	body  *countingReader
	limit int64
	want  string
	// name is the last field name read, unquoted (valid until the next).
	name []byte
}

// maxTokenBytes bounds one JSON value the decoder holds at once (a
// string, a number, the parameters it skips) and the space before it:
// nothing a model reads is longer, and the decoder's buffer grows to the
// longest one.
const maxTokenBytes = 64 << 10

var errLongToken = fmt.Errorf("holds a value, or a run of space, over %d KiB", maxTokenBytes>>10)

// countingReader counts a body's bytes, and fails once the decoder has
// read more than maxTokenBytes past its last token. Reads are at most 4
// KiB, so the decoder never reads far ahead of its token.
type countingReader struct {
	r     io.Reader
	n     int64
	since int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	if c.since > maxTokenBytes+8<<10 {
		return 0, errLongToken
	}
	n, err := c.r.Read(p[:min(len(p), 4<<10)])
	c.n += int64(n)
	c.since += int64(n)
	return n, err
}

func newBodyDecoder(r *http.Request, limit int64, shape string) *bodyDecoder {
	if r.ContentLength > limit { // refused before a byte is read
		r.Body = io.NopCloser(failingReader{&http.MaxBytesError{Limit: limit}})
	}
	body := &countingReader{r: http.MaxBytesReader(nil, r.Body, limit)}
	// Duplicate names are not tracked (that costs a set per object): the
	// decoders below refuse the duplicates that matter.
	dec := jsontext.NewDecoder(body, jsontext.AllowDuplicateNames(true))
	return &bodyDecoder{dec: dec, body: body, limit: limit, want: shape}
}

// failingReader fails every read with its error.
type failingReader struct{ err error }

func (f failingReader) Read([]byte) (int, error) { return 0, f.err }

// fail is the request's 400 (or the 413 of a body over the limit).
func (d *bodyDecoder) fail(err error) error {
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return httpx.Errorf(http.StatusRequestEntityTooLarge, "too_large", "the body is over %d bytes", d.limit)
	}
	var he *httpx.Error
	if errors.As(err, &he) {
		return he
	}
	if errors.Is(err, errLongToken) {
		return httpx.Errorf(http.StatusBadRequest, "bad_request", "the body %v", errLongToken)
	}
	if errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return httpx.Errorf(http.StatusBadRequest, "bad_request", "the body must be %s: %v", d.want, err)
}

// read ends every read of a token or value: the next may be as long.
func (d *bodyDecoder) read(err error) error {
	if err != nil {
		return d.fail(err)
	}
	d.body.since = 0
	return nil
}

// more says whether the object or array goes on (a read error shows at
// the next read).
func (d *bodyDecoder) more() bool {
	k := d.dec.PeekKind()
	return k != '}' && k != ']' && k != 0
}

// delim reads the delimiter want ('{', '[', '}' or ']').
func (d *bodyDecoder) delim(want jsontext.Kind, what string) error {
	t, err := d.dec.ReadToken()
	if err := d.read(err); err != nil {
		return err
	}
	if t.Kind() != want {
		return d.fail(fmt.Errorf("%s is not %s but %s", what, describe(want), describe(t.Kind())))
	}
	return nil
}

// key reads an object's next field name into d.name.
func (d *bodyDecoder) key() ([]byte, error) {
	v, err := d.dec.ReadValue()
	if err := d.read(err); err != nil {
		return nil, err
	}
	if d.name, err = jsontext.AppendUnquote(d.name[:0], v); err != nil {
		return nil, d.fail(err)
	}
	return d.name, nil
}

// scalar reads a number, string, boolean or null, as a Go value when
// keep is set.
// (what names the value in an error.)
func (d *bodyDecoder) scalar(keep bool, what func() string) (any, error) {
	switch k := d.dec.PeekKind(); k {
	case '{', '[', '}', ']':
		return nil, httpx.Errorf(http.StatusBadRequest, "bad_request", "%s is %s; a value is a number, a string, a boolean or null", what(), describe(k))
	}
	t, err := d.dec.ReadToken()
	if err := d.read(err); err != nil || !keep {
		return nil, err
	}
	switch t.Kind() {
	case 'n':
		return nil, nil
	case 't', 'f':
		return t.Bool(), nil
	case '"':
		return t.String(), nil
	}
	f, err := t.Float()
	if err != nil {
		return nil, httpx.Errorf(http.StatusBadRequest, "bad_request", "%s is outside the range of a float64", what())
	}
	return f, nil
}

// skip reads a value of any shape (of at most maxTokenBytes) without
// keeping it.
func (d *bodyDecoder) skip() error {
	return d.read(d.dec.SkipValue())
}

// end checks that nothing follows the body's value.
func (d *bodyDecoder) end() error {
	if _, err := d.dec.ReadToken(); !errors.Is(err, io.EOF) {
		if err != nil {
			return d.fail(err)
		}
		return d.fail(errors.New("data after the JSON value"))
	}
	return nil
}

func describe(k jsontext.Kind) string {
	switch k {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case '}':
		return "the end of an object"
	case ']':
		return "the end of an array"
	case 'n':
		return "null"
	case '"':
		return "a string"
	case '0':
		return "a number"
	case 't', 'f':
		return "a boolean"
	}
	return "nothing"
}

// decodePredict reads {"instances": [{...}, ...]}: at most maxInstances
// instances of at most len(reads)+extraFields scalar fields each, keeping
// only the fields the model reads. It returns the instances and the
// body's size.
func decodePredict(r *http.Request, limit int64, maxInstances int, want reads) (rows, int64, error) {
	d := newBodyDecoder(r, limit, `{"instances": [{"customer_id": "C1", ...}]}`)
	if err := d.delim('{', "the body"); err != nil {
		return nil, 0, err
	}
	var out rows
	seen := false
	for d.more() {
		k, err := d.key()
		if err != nil {
			return nil, 0, err
		}
		if string(k) != "instances" || seen {
			return nil, 0, d.fail(fmt.Errorf("unexpected field %q", k))
		}
		seen = true
		if err := d.delim('[', `"instances"`); err != nil {
			return nil, 0, err
		}
		for d.more() {
			if len(out) == maxInstances {
				return nil, 0, httpx.Errorf(http.StatusBadRequest, "bad_request", "give between 1 and %d instances, not more", maxInstances)
			}
			inst, err := d.instance(len(out), want)
			if err != nil {
				return nil, 0, err
			}
			out = append(out, inst)
		}
		if err := d.delim(']', `"instances"`); err != nil {
			return nil, 0, err
		}
	}
	if err := d.delim('}', "the body"); err != nil {
		return nil, 0, err
	}
	if err := d.end(); err != nil {
		return nil, 0, err
	}
	return out, d.body.n, nil
}

// instance reads one v1 instance.
func (d *bodyDecoder) instance(i int, want reads) (Instance, error) {
	if k := d.dec.PeekKind(); k != '{' && k != 0 {
		return nil, httpx.Errorf(http.StatusBadRequest, "bad_request", "instance %d is %s, not an object", i, describe(k))
	}
	if err := d.delim('{', fmt.Sprintf("instance %d", i)); err != nil {
		return nil, err
	}
	inst := Instance{}
	fields := 0
	for d.more() {
		if fields++; fields > len(want)+extraFields {
			return nil, httpx.Errorf(http.StatusBadRequest, "bad_request", "instance %d has more than %d fields; the model reads %d", i, len(want)+extraFields, len(want))
		}
		k, err := d.key()
		if err != nil {
			return nil, err
		}
		keep := want[string(k)]
		if pk := d.dec.PeekKind(); pk == '{' || pk == '[' {
			return nil, httpx.Errorf(http.StatusBadRequest, "bad_request", "instance %d's field %.64q is %s; a value is a number, a string, a boolean or null", i, k, describe(pk))
		}
		var field string // (a copy only of the names kept)
		if keep {
			field = string(k)
			if _, dup := inst[field]; dup {
				return nil, httpx.Errorf(http.StatusBadRequest, "bad_request", "instance %d gives %q twice", i, field)
			}
		}
		v, err := d.scalar(keep, func() string { return fmt.Sprintf("instance %d's field %q", i, field) })
		if err != nil {
			return nil, err
		}
		if keep {
			inst[field] = v
		}
	}
	return inst, d.delim('}', fmt.Sprintf("instance %d", i))
}

// inferBody is a decoded Open Inference Protocol v2 request.
type inferBody struct {
	id   string
	rows columns
	size int64
}

// decodeInfer reads {"id": ..., "inputs": [{"name", "shape", "datatype",
// "data"}, ...], "parameters": {...}}: at most len(reads)+extraFields
// inputs of one dimension, each of the same n ≤ maxInstances scalar
// values, keeping only the inputs the model reads.
func decodeInfer(r *http.Request, limit int64, maxInstances int, want reads) (inferBody, error) {
	d := newBodyDecoder(r, limit, `{"inputs": [{"name": "...", "shape": [n], "datatype": "FP64", "data": [...]}]}`)
	res := inferBody{rows: columns{n: -1, cols: map[string][]any{}}}
	if err := d.delim('{', "the body"); err != nil {
		return res, err
	}
	seen := map[string]bool{}
	for d.more() {
		k, err := d.key()
		if err != nil {
			return res, err
		}
		if seen[string(k)] {
			return res, d.fail(fmt.Errorf("field %q given twice", k))
		}
		seen[string(k)] = true
		switch string(k) {
		case "id":
			v, err := d.scalar(true, func() string { return `"id"` })
			if err != nil {
				return res, err
			}
			id, ok := v.(string)
			if !ok || len(id) > 256 {
				return res, httpx.Errorf(http.StatusBadRequest, "bad_request", `"id" is a string of at most 256 bytes`)
			}
			res.id = id
		case "parameters":
			if err := d.skip(); err != nil {
				return res, err
			}
		case "inputs":
			if err := d.inputs(&res.rows, maxInstances, want); err != nil {
				return res, err
			}
		default:
			return res, d.fail(fmt.Errorf("unexpected field %q", k))
		}
	}
	if err := d.delim('}', "the body"); err != nil {
		return res, err
	}
	if err := d.end(); err != nil {
		return res, err
	}
	if res.rows.n <= 0 {
		return res, httpx.Errorf(http.StatusBadRequest, "bad_request", "give at least one input with at least one row")
	}
	res.size = d.body.n
	return res, nil
}

// inputs reads the v2 input tensors into b.
func (d *bodyDecoder) inputs(b *columns, maxInstances int, want reads) error {
	if err := d.delim('[', `"inputs"`); err != nil {
		return err
	}
	count := 0
	for d.more() {
		if count++; count > len(want)+extraFields {
			return httpx.Errorf(http.StatusBadRequest, "bad_request", "more than %d inputs; the model reads %d", len(want)+extraFields, len(want))
		}
		if err := d.delim('{', "an input"); err != nil {
			return err
		}
		var name string
		var data []any
		shape, n := -1, -1
		for d.more() {
			k, err := d.key()
			if err != nil {
				return err
			}
			switch string(k) {
			case "name", "datatype":
				field := string(k)
				v, err := d.scalar(true, func() string { return fmt.Sprintf("input %d's %s", count-1, field) })
				if err != nil {
					return err
				}
				s, ok := v.(string)
				if !ok || len(s) > 256 {
					return httpx.Errorf(http.StatusBadRequest, "bad_request", "input %d's %s is a string of at most 256 bytes", count-1, field)
				}
				if field == "name" {
					name = s
				}
			case "shape":
				if shape, err = d.shape(count - 1); err != nil {
					return err
				}
			case "data":
				if n, data, err = d.data(count-1, maxInstances); err != nil {
					return err
				}
			case "parameters":
				if err := d.skip(); err != nil {
					return err
				}
			default:
				return d.fail(fmt.Errorf("input %d: unexpected field %q", count-1, k))
			}
		}
		if err := d.delim('}', "an input"); err != nil {
			return err
		}
		if shape < 0 || shape != n {
			return httpx.Errorf(http.StatusBadRequest, "bad_request", "input %q: want shape [n] with n values, got shape [%d] and %d values", name, shape, max(n, 0))
		}
		if b.n >= 0 && n != b.n {
			return httpx.Errorf(http.StatusBadRequest, "bad_request", "input %q has %d rows; the others %d", name, n, b.n)
		}
		b.n = n
		if want[name] {
			if _, dup := b.cols[name]; dup {
				return httpx.Errorf(http.StatusBadRequest, "bad_request", "input %q is given twice", name)
			}
			b.cols[name] = data
		}
	}
	return d.delim(']', `"inputs"`)
}

// shape reads a one-dimensional shape [n].
func (d *bodyDecoder) shape(input int) (int, error) {
	bad := httpx.Errorf(http.StatusBadRequest, "bad_request", "input %d: a shape is [n], n rows of one value", input)
	if err := d.delim('[', fmt.Sprintf("input %d's shape", input)); err != nil {
		return 0, err
	}
	v, err := d.scalar(true, func() string { return fmt.Sprintf("input %d's shape", input) })
	if err != nil {
		return 0, err
	}
	n, ok := v.(float64)
	if !ok || n < 0 || n > 1<<30 || n != float64(int(n)) || d.more() {
		return 0, bad
	}
	return int(n), d.delim(']', fmt.Sprintf("input %d's shape", input))
}

// data reads an input's values: at most maxInstances scalars.
func (d *bodyDecoder) data(input, maxInstances int) (int, []any, error) {
	if err := d.delim('[', fmt.Sprintf("input %d's data", input)); err != nil {
		return 0, nil, err
	}
	var data []any
	for d.more() {
		if len(data) == maxInstances {
			return 0, nil, httpx.Errorf(http.StatusBadRequest, "bad_request", "give between 1 and %d rows, not more", maxInstances)
		}
		v, err := d.scalar(true, func() string { return fmt.Sprintf("input %d's row %d", input, len(data)) })
		if err != nil {
			return 0, nil, err
		}
		data = append(data, v)
	}
	return len(data), data, d.delim(']', fmt.Sprintf("input %d's data", input))
}
