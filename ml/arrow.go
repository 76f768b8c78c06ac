package ml

import (
	"fmt"
	"math"
	"slices"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// Column describes how one Arrow column becomes a feature: its kind and,
// for a categorical one, the categories in code order. A training set's
// columns are the schema that later data must follow.
type Column struct {
	Name       string
	Kind       Kind
	Categories []string
}

// ArrowOptions says how to read Arrow record batches.
type ArrowOptions struct {
	// Label is the label column; empty reads features only.
	Label string
	// Task decides how the label is read: class names become codes for
	// binary and multiclass.
	Task Task
	// Columns fixes the features and their encodings (a model's schema):
	// other columns are ignored, and categories not in the list read as
	// missing. Nil takes every column but the label and learns the
	// categories, sorted, from the data.
	Columns []Column
	// Classes fixes the class names of a string label, in code order; nil
	// learns them, sorted.
	Classes []string
}

// FromArrow builds a dataset from record batches that share a schema.
// Numeric and boolean columns become float32 features (nulls and NaN are
// missing); string and dictionary-of-string columns become categorical.
func FromArrow(recs []arrow.RecordBatch, o ArrowOptions) (*Dataset, error) {
	if len(recs) == 0 {
		return nil, fmt.Errorf("ml: no record batches")
	}
	schema := recs[0].Schema()
	for i, r := range recs[1:] {
		if !r.Schema().Equal(schema) {
			return nil, fmt.Errorf("ml: record batch %d has another schema than the first", i+1)
		}
	}
	cols := o.Columns
	if cols == nil {
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
		for i := range cols {
			if cols[i].Kind == Categorical {
				cols[i].Categories = distinctStrings(recs, schema.FieldIndices(cols[i].Name)[0])
			}
		}
	}
	d := &Dataset{}
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
		f := Feature{Name: c.Name, Kind: c.Kind, Categories: c.Categories}
		var codes map[string]int // nil reads numbers
		if c.Kind == Categorical {
			codes = make(map[string]int, len(c.Categories))
			for i, s := range c.Categories {
				codes[s] = i
			}
		}
		for _, r := range recs {
			f.Values = appendColumn(f.Values, r.Column(idx[0]), codes)
		}
		d.Features = append(d.Features, f)
	}
	if o.Label == "" {
		return d, nil
	}
	idx := schema.FieldIndices(o.Label)
	if len(idx) == 0 {
		return nil, fmt.Errorf("ml: the data has no label column %q", o.Label)
	}
	lf := schema.Field(idx[0])
	kind, err := kindOf(lf)
	if err != nil {
		return nil, err
	}
	if kind == Categorical {
		if o.Task == Regression {
			return nil, fmt.Errorf("ml: label %q holds strings; a regression label must be numeric", o.Label)
		}
		classes := o.Classes
		if classes == nil {
			classes = distinctStrings(recs, idx[0])
		}
		d.Classes = classes
		codes := map[string]int{}
		for i, s := range classes {
			codes[s] = i
		}
		for _, r := range recs {
			d.Labels = appendColumn(d.Labels, r.Column(idx[0]), codes)
		}
	} else {
		for _, r := range recs {
			d.Labels = appendColumn(d.Labels, r.Column(idx[0]), nil)
		}
	}
	for i, l := range d.Labels {
		if math.IsNaN(float64(l)) {
			return nil, fmt.Errorf("ml: label %q is missing (or an unknown class) in row %d", o.Label, i)
		}
	}
	return d, nil
}

func kindName(k Kind) string {
	if k == Categorical {
		return "categorical"
	}
	return "numeric"
}

func kindOf(f arrow.Field) (Kind, error) {
	switch t := f.Type.(type) {
	case *arrow.StringType, *arrow.LargeStringType, *arrow.StringViewType:
		return Categorical, nil
	case *arrow.DictionaryType:
		switch t.ValueType.(type) {
		case *arrow.StringType, *arrow.LargeStringType:
			return Categorical, nil
		}
	case *arrow.BooleanType, *arrow.Float16Type, *arrow.Float32Type, *arrow.Float64Type,
		*arrow.Int8Type, *arrow.Int16Type, *arrow.Int32Type, *arrow.Int64Type,
		*arrow.Uint8Type, *arrow.Uint16Type, *arrow.Uint32Type, *arrow.Uint64Type:
		return Numeric, nil
	}
	return 0, fmt.Errorf("ml: column %q has type %s; features must be numeric, boolean or strings", f.Name, f.Type)
}

// stringAt reads a string column's value, whatever its string encoding.
func stringAt(a arrow.Array, i int) string {
	switch c := a.(type) {
	case *array.String:
		return c.Value(i)
	case *array.LargeString:
		return c.Value(i)
	case *array.StringView:
		return c.Value(i)
	case *array.Dictionary:
		return stringAt(c.Dictionary(), c.GetValueIndex(i))
	}
	return ""
}

func distinctStrings(recs []arrow.RecordBatch, col int) []string {
	seen := map[string]bool{}
	for _, r := range recs {
		a := r.Column(col)
		for i := range a.Len() {
			if a.IsValid(i) {
				seen[stringAt(a, i)] = true
			}
		}
	}
	out := make([]string, 0, len(seen))
	for s := range seen {
		out = append(out, s)
	}
	slices.Sort(out)
	return out
}

var nan32 = float32(math.NaN())

// appendColumn appends an Arrow column as float32: numbers as they are,
// booleans as 0/1, strings as their code in codes (unknown ones missing).
func appendColumn(dst []float32, a arrow.Array, codes map[string]int) []float32 {
	n := a.Len()
	if codes != nil {
		for i := range n {
			v := nan32
			if a.IsValid(i) {
				if c, ok := codes[stringAt(a, i)]; ok {
					v = float32(c)
				}
			}
			dst = append(dst, v)
		}
		return dst
	}
	get := func(i int) float64 { return 0 }
	switch c := a.(type) {
	case *array.Float64:
		get = func(i int) float64 { return c.Value(i) }
	case *array.Float32:
		get = func(i int) float64 { return float64(c.Value(i)) }
	case *array.Float16:
		get = func(i int) float64 { return float64(c.Value(i).Float32()) }
	case *array.Int64:
		get = func(i int) float64 { return float64(c.Value(i)) }
	case *array.Int32:
		get = func(i int) float64 { return float64(c.Value(i)) }
	case *array.Int16:
		get = func(i int) float64 { return float64(c.Value(i)) }
	case *array.Int8:
		get = func(i int) float64 { return float64(c.Value(i)) }
	case *array.Uint64:
		get = func(i int) float64 { return float64(c.Value(i)) }
	case *array.Uint32:
		get = func(i int) float64 { return float64(c.Value(i)) }
	case *array.Uint16:
		get = func(i int) float64 { return float64(c.Value(i)) }
	case *array.Uint8:
		get = func(i int) float64 { return float64(c.Value(i)) }
	case *array.Boolean:
		get = func(i int) float64 {
			if c.Value(i) {
				return 1
			}
			return 0
		}
	}
	for i := range n {
		v := nan32
		if a.IsValid(i) {
			v = float32(get(i))
		}
		dst = append(dst, v)
	}
	return dst
}
