package ml

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// mixedRecord is n rows of every kind of column the builder reads, with
// nulls, NaN and categories in a random order of first sight.
func mixedRecord(t *testing.T, n int, seed uint64) arrow.RecordBatch {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 7))
	mem := memory.DefaultAllocator
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "plan", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "tenure", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
		{Name: "visits", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: "autopay", Type: arrow.FixedWidthTypes.Boolean, Nullable: true},
		{Name: "ratio", Type: arrow.PrimitiveTypes.Float32, Nullable: true},
		{Name: "region", Type: &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int32, ValueType: arrow.BinaryTypes.String}, Nullable: true},
		{Name: "churned", Type: arrow.BinaryTypes.String},
		{Name: "spend", Type: arrow.PrimitiveTypes.Float64},
	}, nil)
	b := array.NewRecordBuilder(mem, schema)
	defer b.Release()
	plans := []string{"pro", "basic", "max", "NaN", "", "zeta", "alpha", "Ünïcode"}
	for range n {
		null := func() bool { return rng.IntN(10) == 0 }
		if null() {
			b.Field(0).AppendNull()
		} else {
			b.Field(0).(*array.StringBuilder).Append(plans[rng.IntN(len(plans))])
		}
		switch {
		case null():
			b.Field(1).AppendNull()
		case rng.IntN(10) == 0:
			b.Field(1).(*array.Float64Builder).Append(math.NaN())
		default:
			b.Field(1).(*array.Float64Builder).Append(rng.NormFloat64() * 1e3)
		}
		switch {
		case b.Field(2).Len() == 0:
			// float32(float64(v)) rounds this down, float32(v) up.
			b.Field(2).(*array.Int64Builder).Append(1<<60 + 1<<36 + 1)
		case null():
			b.Field(2).AppendNull()
		default:
			b.Field(2).(*array.Int64Builder).Append(rng.Int64() >> rng.IntN(64)) // beyond 2^53 too
		}
		if null() {
			b.Field(3).AppendNull()
		} else {
			b.Field(3).(*array.BooleanBuilder).Append(rng.IntN(2) == 1)
		}
		if null() {
			b.Field(4).AppendNull()
		} else {
			b.Field(4).(*array.Float32Builder).Append(rng.Float32())
		}
		if null() {
			b.Field(5).AppendNull()
		} else if err := b.Field(5).(*array.BinaryDictionaryBuilder).AppendString(fmt.Sprint("r", rng.IntN(30))); err != nil {
			t.Fatal(err)
		}
		b.Field(6).(*array.StringBuilder).Append([]string{"stayed", "churned", "paused"}[rng.IntN(3)])
		b.Field(7).(*array.Float64Builder).Append(rng.Float64())
	}
	return b.NewRecordBatch()
}

// batches cuts rec into batches of the given sizes (the last takes the
// rest).
func batches(rec arrow.RecordBatch, sizes ...int) []arrow.RecordBatch {
	var out []arrow.RecordBatch
	at := int64(0)
	for i := 0; at < rec.NumRows(); i++ {
		n := rec.NumRows() - at
		if i < len(sizes) {
			n = min(n, int64(sizes[i]))
		}
		out = append(out, rec.NewSlice(at, at+n))
		at += n
	}
	return out
}

// sameDataset says how two datasets differ, value for value; NaN equals
// NaN.
func sameDataset(got, want *Dataset) error {
	if len(got.Features) != len(want.Features) {
		return fmt.Errorf("%d features, want %d", len(got.Features), len(want.Features))
	}
	for i, g := range got.Features {
		w := want.Features[i]
		if g.Name != w.Name || g.Kind != w.Kind || !slices.Equal(g.Categories, w.Categories) || (g.Categories == nil) != (w.Categories == nil) {
			return fmt.Errorf("feature %d: %s %v %q, want %s %v %q", i, g.Name, g.Kind, g.Categories, w.Name, w.Kind, w.Categories)
		}
		if err := sameValues(g.Values, w.Values); err != nil {
			return fmt.Errorf("feature %s: %w", g.Name, err)
		}
	}
	if !slices.Equal(got.Classes, want.Classes) || (got.Classes == nil) != (want.Classes == nil) {
		return fmt.Errorf("classes %q, want %q", got.Classes, want.Classes)
	}
	if err := sameValues(got.Labels, want.Labels); err != nil {
		return fmt.Errorf("labels: %w", err)
	}
	return nil
}

func sameValues(got, want []float32) error {
	if len(got) != len(want) || (got == nil) != (want == nil) {
		return fmt.Errorf("%d values (nil %v), want %d (nil %v)", len(got), got == nil, len(want), want == nil)
	}
	for i, g := range got {
		w := want[i]
		if g != w && !(g != g && w != w) || math.Float32bits(g) != math.Float32bits(w) && g == g {
			return fmt.Errorf("row %d: %v, want %v", i, g, w)
		}
	}
	return nil
}

// TestBuilderMatchesFromArrow streams the same rows through a Builder in
// batches of every shape and checks the dataset against FromArrow's as it
// was before the Builder: same values, same category codes.
func TestBuilderMatchesFromArrow(t *testing.T) {
	rec := mixedRecord(t, 500, 1)
	defer rec.Release()
	other := mixedRecord(t, 300, 2)
	defer other.Release()
	learnt, err := fromArrowBefore([]arrow.RecordBatch{rec}, ArrowOptions{Label: "churned", Task: Multiclass})
	if err != nil {
		t.Fatal(err)
	}
	model := make([]Column, len(learnt.Features))
	for i, f := range learnt.Features {
		model[i] = Column{Name: f.Name, Kind: f.Kind, Categories: f.Categories}
	}
	// A model's schema: fewer columns, in another order, and categories
	// the new rows may not have seen.
	partial := []Column{model[5], {Name: "plan", Kind: Categorical, Categories: []string{"pro", "max", "gone"}}, model[1]}
	options := []struct {
		name string
		recs arrow.RecordBatch
		o    ArrowOptions
	}{
		{"learnt categories and classes", rec, ArrowOptions{Label: "churned", Task: Multiclass}},
		{"numeric label", rec, ArrowOptions{Label: "spend", Task: Regression}},
		{"no label", rec, ArrowOptions{}},
		{"a model's columns and classes", other, ArrowOptions{Label: "churned", Task: Multiclass, Columns: model, Classes: learnt.Classes}},
		{"a model's columns, some", other, ArrowOptions{Columns: partial}},
	}
	shapes := [][]int{nil, {1}, {1, 2, 3, 5, 8, 13, 21}, {7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7}, {0, 250}}
	for _, tt := range options {
		want, err := fromArrowBefore([]arrow.RecordBatch{tt.recs}, tt.o)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		for _, shape := range shapes {
			for _, grow := range []int{0, 10, int(tt.recs.NumRows())} {
				t.Run(fmt.Sprintf("%s/%v/grow %d", tt.name, shape, grow), func(t *testing.T) {
					parts := batches(tt.recs, shape...)
					b, err := NewBuilder(tt.recs.Schema(), tt.o)
					if err != nil {
						t.Fatal(err)
					}
					b.Grow(grow)
					for _, p := range parts {
						if err := b.Append(p); err != nil {
							t.Fatal(err)
						}
						p.Release() // the builder keeps nothing of a batch
					}
					got, err := b.Dataset()
					if err != nil {
						t.Fatal(err)
					}
					if err := sameDataset(got, want); err != nil {
						t.Error(err)
					}
					if err := b.Append(tt.recs); err == nil {
						t.Error("Append after Dataset accepted")
					}
				})
			}
		}
		got, err := FromArrow(batches(tt.recs, 100, 1, 33), tt.o)
		if err != nil {
			t.Fatal(err)
		}
		if err := sameDataset(got, want); err != nil {
			t.Errorf("%s: FromArrow: %v", tt.name, err)
		}
	}
}

// TestBuilderErrorsMatchFromArrow checks that the builder refuses what
// FromArrow refused, with the same words.
func TestBuilderErrorsMatchFromArrow(t *testing.T) {
	rec := mixedRecord(t, 50, 3)
	defer rec.Release()
	mem := memory.DefaultAllocator
	lb := array.NewStringBuilder(mem)
	lb.AppendValues([]string{"yes", "no"}, []bool{true, false})
	xb := array.NewFloat64Builder(mem)
	xb.AppendValues([]float64{1, 2}, nil)
	nullLabel := array.NewRecordBatch(arrow.NewSchema([]arrow.Field{
		{Name: "x", Type: arrow.PrimitiveTypes.Float64}, {Name: "y", Type: arrow.BinaryTypes.String, Nullable: true},
	}, nil), []arrow.Array{xb.NewArray(), lb.NewArray()}, 2)
	db := array.NewDate32Builder(mem)
	db.Append(20000)
	date := array.NewRecordBatch(arrow.NewSchema([]arrow.Field{{Name: "d", Type: arrow.FixedWidthTypes.Date32}}, nil),
		[]arrow.Array{db.NewArray()}, 1)
	tests := []struct {
		name string
		rec  arrow.RecordBatch
		o    ArrowOptions
	}{
		{"no such label", rec, ArrowOptions{Label: "nope"}},
		{"no such column", rec, ArrowOptions{Columns: []Column{{Name: "nope"}}}},
		{"strings read as numbers", rec, ArrowOptions{Columns: []Column{{Name: "plan", Kind: Numeric}}}},
		{"a string label for regression", rec, ArrowOptions{Label: "churned", Task: Regression}},
		{"an unknown class", rec, ArrowOptions{Label: "churned", Task: Binary, Classes: []string{"stayed", "churned"}}},
		{"a missing label", nullLabel, ArrowOptions{Label: "y", Task: Binary}},
		{"a date column", date, ArrowOptions{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, want := fromArrowBefore([]arrow.RecordBatch{tt.rec}, tt.o)
			_, got := FromArrow(batches(tt.rec, 1), tt.o)
			if want == nil || got == nil || got.Error() != want.Error() {
				t.Errorf("got %v, want %v", got, want)
			}
		})
	}
	if _, err := FromArrow([]arrow.RecordBatch{rec, nullLabel}, ArrowOptions{}); err == nil || !strings.Contains(err.Error(), "batch 1 has another schema") {
		t.Errorf("mixed schemas: %v", err)
	}
	b, err := NewBuilder(rec.Schema(), ArrowOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Append(nullLabel); err == nil || !strings.Contains(err.Error(), "batch 0 has another schema") {
		t.Errorf("Append of another schema: %v", err)
	}
}

// fromArrowBefore is FromArrow as it was before the Builder, kept as the
// oracle the Builder must match.
func fromArrowBefore(recs []arrow.RecordBatch, o ArrowOptions) (*Dataset, error) {
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
				cols[i].Categories = distinctStringsBefore(recs, schema.FieldIndices(cols[i].Name)[0])
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
			f.Values = appendColumnBefore(f.Values, r.Column(idx[0]), codes)
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
			classes = distinctStringsBefore(recs, idx[0])
		}
		d.Classes = classes
		codes := map[string]int{}
		for i, s := range classes {
			codes[s] = i
		}
		for _, r := range recs {
			d.Labels = appendColumnBefore(d.Labels, r.Column(idx[0]), codes)
		}
	} else {
		for _, r := range recs {
			d.Labels = appendColumnBefore(d.Labels, r.Column(idx[0]), nil)
		}
	}
	for i, l := range d.Labels {
		if math.IsNaN(float64(l)) {
			return nil, fmt.Errorf("ml: label %q is missing (or an unknown class) in row %d", o.Label, i)
		}
	}
	return d, nil
}

func distinctStringsBefore(recs []arrow.RecordBatch, col int) []string {
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

// appendColumnBefore appends an Arrow column as float32: numbers as they are,
// booleans as 0/1, strings as their code in codes (unknown ones missing).
func appendColumnBefore(dst []float32, a arrow.Array, codes map[string]int) []float32 {
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
