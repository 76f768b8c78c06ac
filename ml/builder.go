package ml

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// maxCategories caps a column's learned categories: float32 holds every
// code up to 2^24 exactly.
const maxCategories = 1 << 24

// Builder builds a Dataset from record batches of one schema appended one
// at a time, so that data read in chunks is never held whole: each batch
// is converted into the dataset's float32 columns as it comes, and may be
// released as soon as Append returns. For the same rows it gives what
// FromArrow gives, however the rows are split into batches: categories
// learned from the data are sorted at the end, whatever order they came
// in.
type Builder struct {
	schema *arrow.Schema
	label  string
	// features are the feature columns; label is the label's, if any.
	features []builderColumn
	labels   *builderColumn
	batches  int
	done     bool
}

// builderColumn turns one Arrow column into float32 values.
type builderColumn struct {
	name  string
	field int // the column's index in the schema
	kind  Kind
	// codes maps a categorical column's strings to their codes; nil
	// reads numbers.
	codes map[string]int
	// categories are the codes' strings, in code order. While learn is
	// set the codes are provisional, in order of first sight, and
	// finish sorts them.
	categories []string
	learn      bool
	values     []float32
}

// NewBuilder starts a dataset of batches with the given schema, read as o
// says. It checks the columns and their kinds against the schema before
// any data is read.
func NewBuilder(schema *arrow.Schema, o ArrowOptions) (*Builder, error) {
	cols, learn := o.Columns, o.Columns == nil
	if learn {
		for _, f := range schema.Fields() {
			if f.Name == o.Label {
				continue
			}
			kind, err := kindOf(f)
			if err != nil {
				return nil, err
			}
			cols = append(cols, Column{Name: f.Name, Kind: kind})
		}
	}
	b := &Builder{schema: schema, label: o.Label}
	for _, c := range cols {
		idx := schema.FieldIndices(c.Name)
		if len(idx) == 0 {
			return nil, fmt.Errorf("ml: the data has no column %q", c.Name)
		}
		kind, err := kindOf(schema.Field(idx[0]))
		if err != nil {
			return nil, err
		}
		if kind != c.Kind {
			return nil, fmt.Errorf("ml: column %q is %s in the data, but the model reads it as %s",
				c.Name, schema.Field(idx[0]).Type, kindName(c.Kind))
		}
		col := builderColumn{name: c.Name, field: idx[0], kind: c.Kind}
		if c.Kind == Categorical {
			col.setCategories(c.Categories, learn)
		}
		b.features = append(b.features, col)
	}
	if o.Label == "" {
		return b, nil
	}
	idx := schema.FieldIndices(o.Label)
	if len(idx) == 0 {
		return nil, fmt.Errorf("ml: the data has no label column %q", o.Label)
	}
	kind, err := kindOf(schema.Field(idx[0]))
	if err != nil {
		return nil, err
	}
	b.labels = &builderColumn{name: o.Label, field: idx[0], kind: kind}
	if kind == Categorical {
		if o.Task == Regression {
			return nil, fmt.Errorf("ml: label %q holds strings; a regression label must be numeric", o.Label)
		}
		b.labels.setCategories(o.Classes, o.Classes == nil)
	}
	return b, nil
}

// setCategories fixes a categorical column's categories, or starts
// learning them.
func (c *builderColumn) setCategories(cats []string, learn bool) {
	c.codes = make(map[string]int, len(cats))
	c.learn = learn
	if learn {
		return
	}
	c.categories = cats
	for i, s := range cats {
		c.codes[s] = i
	}
}

// Grow makes room for n more rows, so a caller that knows (or can
// estimate) the rows to come has the columns allocated once instead of
// grown as batches arrive.
func (b *Builder) Grow(n int) {
	if n <= 0 {
		return
	}
	for i := range b.features {
		b.features[i].values = slices.Grow(b.features[i].values, n)
	}
	if b.labels != nil {
		b.labels.values = slices.Grow(b.labels.values, n)
	}
}

// Append converts a record batch's rows. The builder keeps nothing of
// rec: the caller may release it as soon as Append returns.
func (b *Builder) Append(rec arrow.RecordBatch) error {
	if b.done {
		return errors.New("ml: Append after Dataset")
	}
	if s := rec.Schema(); s != b.schema && !s.Equal(b.schema) {
		return fmt.Errorf("ml: record batch %d has another schema than the first", b.batches)
	}
	b.batches++
	for i := range b.features {
		if err := b.features[i].append(rec.Column(b.features[i].field)); err != nil {
			return err
		}
	}
	if b.labels != nil {
		return b.labels.append(rec.Column(b.labels.field))
	}
	return nil
}

// Dataset finishes the build and returns the dataset; the builder is done
// with. A missing label, or a string label that is not a known class, is
// an error.
func (b *Builder) Dataset() (*Dataset, error) {
	if b.done {
		return nil, errors.New("ml: Dataset called twice")
	}
	b.done = true
	d := &Dataset{}
	for i := range b.features {
		c := &b.features[i]
		c.finish()
		d.Features = append(d.Features, Feature{Name: c.name, Kind: c.kind, Categories: c.categories, Values: c.values})
	}
	if b.labels == nil {
		return d, nil
	}
	b.labels.finish()
	d.Labels = b.labels.values
	if b.labels.kind == Categorical {
		d.Classes = b.labels.categories
	}
	for i, l := range d.Labels {
		if l != l {
			return nil, fmt.Errorf("ml: label %q is missing (or an unknown class) in row %d", b.label, i)
		}
	}
	return d, nil
}

var nan32 = float32(math.NaN())

// append converts one batch's column: numbers as they are, booleans as
// 0/1, strings as their code (unknown ones missing); nulls are NaN.
func (c *builderColumn) append(a arrow.Array) error {
	n, at := a.Len(), len(c.values)
	c.values = slices.Grow(c.values, n)[:at+n]
	out := c.values[at:]
	if c.codes != nil {
		return c.appendStrings(out, a)
	}
	// Integers go through float64, as they always have, so that an int64
	// beyond 2^53 rounds the same way.
	switch x := a.(type) {
	case *array.Float64:
		for i, v := range x.Float64Values() {
			out[i] = float32(v)
		}
	case *array.Float32:
		copy(out, x.Float32Values())
	case *array.Float16:
		for i, v := range x.Values() {
			out[i] = v.Float32()
		}
	case *array.Int64:
		convert(out, x.Int64Values())
	case *array.Int32:
		convert(out, x.Int32Values())
	case *array.Int16:
		convert(out, x.Int16Values())
	case *array.Int8:
		convert(out, x.Int8Values())
	case *array.Uint64:
		convert(out, x.Uint64Values())
	case *array.Uint32:
		convert(out, x.Uint32Values())
	case *array.Uint16:
		convert(out, x.Uint16Values())
	case *array.Uint8:
		convert(out, x.Uint8Values())
	case *array.Boolean:
		for i := range out {
			out[i] = 0
			if x.Value(i) {
				out[i] = 1
			}
		}
	default:
		clear(out)
	}
	if a.NullN() > 0 {
		for i := range out {
			if a.IsNull(i) {
				out[i] = nan32
			}
		}
	}
	return nil
}

func convert[T int64 | int32 | int16 | int8 | uint64 | uint32 | uint16 | uint8](out []float32, in []T) {
	for i, v := range in {
		out[i] = float32(float64(v))
	}
}

// appendStrings codes a string column. A string seen for the first time
// while learning gets the next provisional code; its key is copied, so
// the map holds nothing of the batch's buffers.
func (c *builderColumn) appendStrings(out []float32, a arrow.Array) error {
	for i := range out {
		out[i] = nan32
		if a.IsNull(i) {
			continue
		}
		s := stringAt(a, i)
		code, ok := c.codes[s]
		if !ok {
			if !c.learn {
				continue
			}
			if len(c.categories) == maxCategories {
				return fmt.Errorf("ml: column %q has over %d distinct strings; a categorical column holds at most that many", c.name, maxCategories)
			}
			s = strings.Clone(s)
			code = len(c.categories)
			c.codes[s] = code
			c.categories = append(c.categories, s)
		}
		out[i] = float32(code)
	}
	return nil
}

// finish sorts learned categories and recodes the values to match, and
// leaves a column of no rows nil.
func (c *builderColumn) finish() {
	if len(c.values) == 0 {
		c.values = nil
	}
	if !c.learn {
		return
	}
	sorted := make([]string, len(c.categories))
	copy(sorted, c.categories)
	slices.Sort(sorted)
	recode := make([]float32, len(sorted))
	for code, s := range sorted {
		recode[c.codes[s]] = float32(code)
	}
	for i, v := range c.values {
		if v == v { // not missing
			c.values[i] = recode[int(v)]
		}
	}
	c.categories, c.codes, c.learn = sorted, nil, false
}
