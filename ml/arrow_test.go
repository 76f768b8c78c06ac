package ml

import (
	"math"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

func record(t *testing.T, plans []string, tenure []float64, valid []bool, labels []string) arrow.RecordBatch {
	t.Helper()
	mem := memory.DefaultAllocator
	sb := array.NewStringBuilder(mem)
	sb.AppendValues(plans, nil)
	fb := array.NewFloat64Builder(mem)
	fb.AppendValues(tenure, valid)
	ib := array.NewInt32Builder(mem)
	for i := range plans {
		ib.Append(int32(i))
	}
	lb := array.NewStringBuilder(mem)
	lb.AppendValues(labels, nil)
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "plan", Type: arrow.BinaryTypes.String},
		{Name: "tenure", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
		{Name: "visits", Type: arrow.PrimitiveTypes.Int32},
		{Name: "churned", Type: arrow.BinaryTypes.String},
	}, nil)
	return array.NewRecordBatch(schema, []arrow.Array{sb.NewArray(), fb.NewArray(), ib.NewArray(), lb.NewArray()}, int64(len(plans)))
}

// TestFromArrowReadsNumbersAndCategories is the regression test for numeric
// columns read as unknown categories (all missing).
func TestFromArrowReadsNumbersAndCategories(t *testing.T) {
	rec := record(t, []string{"pro", "basic", "pro"}, []float64{12, 0, 3.5}, []bool{true, false, true}, []string{"yes", "no", "yes"})
	d, err := FromArrow([]arrow.RecordBatch{rec}, ArrowOptions{Label: "churned", Task: Binary})
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Features) != 3 {
		t.Fatalf("%d features", len(d.Features))
	}
	plan, tenure, visits := d.Features[0], d.Features[1], d.Features[2]
	if plan.Kind != Categorical || strings.Join(plan.Categories, ",") != "basic,pro" || plan.Values[0] != 1 || plan.Values[1] != 0 {
		t.Errorf("plan: %+v", plan)
	}
	if tenure.Kind != Numeric || tenure.Values[0] != 12 || !math.IsNaN(float64(tenure.Values[1])) || tenure.Values[2] != 3.5 {
		t.Errorf("tenure: %v", tenure.Values)
	}
	if visits.Values[2] != 2 {
		t.Errorf("visits: %v", visits.Values)
	}
	if strings.Join(d.Classes, ",") != "no,yes" || d.Labels[0] != 1 || d.Labels[1] != 0 {
		t.Errorf("labels %v classes %v", d.Labels, d.Classes)
	}

	// A model's schema: unseen categories read as missing.
	later := record(t, []string{"max"}, []float64{1}, nil, []string{"yes"})
	cols := []Column{{Name: "plan", Kind: Categorical, Categories: plan.Categories}, {Name: "tenure", Kind: Numeric}}
	d2, err := FromArrow([]arrow.RecordBatch{later}, ArrowOptions{Columns: cols})
	if err != nil {
		t.Fatal(err)
	}
	if !math.IsNaN(float64(d2.Features[0].Values[0])) || d2.Features[1].Values[0] != 1 {
		t.Errorf("later row: %v %v", d2.Features[0].Values, d2.Features[1].Values)
	}

	// Kind mismatches and missing columns are errors.
	if _, err := FromArrow([]arrow.RecordBatch{later}, ArrowOptions{Columns: []Column{{Name: "plan", Kind: Numeric}}}); err == nil {
		t.Error("a string column read as numeric")
	}
	if _, err := FromArrow([]arrow.RecordBatch{later}, ArrowOptions{Columns: []Column{{Name: "nope"}}}); err == nil {
		t.Error("a missing column accepted")
	}
	if _, err := FromArrow([]arrow.RecordBatch{rec}, ArrowOptions{Label: "churned", Task: Regression}); err == nil {
		t.Error("a string label accepted for regression")
	}
}
