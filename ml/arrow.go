package ml

import (
	"fmt"

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
// It is a Builder fed the batches in order.
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
	b, err := NewBuilder(schema, o)
	if err != nil {
		return nil, err
	}
	rows := 0
	for _, r := range recs {
		rows += int(r.NumRows())
	}
	b.Grow(rows)
	for _, r := range recs {
		if err := b.Append(r); err != nil {
			return nil, err
		}
	}
	return b.Dataset()
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
