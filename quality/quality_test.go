package quality

import (
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

func TestChecks(t *testing.T) {
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "amount", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
		{Name: "plan", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "ts", Type: &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}},
	}, nil)
	b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	defer b.Release()
	b.Field(0).(*array.StringBuilder).AppendValues([]string{"a", "b", "a", ""}, []bool{true, true, true, false})
	b.Field(1).(*array.Float64Builder).AppendValues([]float64{1, -5, 20, 3}, nil)
	b.Field(2).(*array.StringBuilder).AppendValues([]string{"pro", "basic", "gold", "pro"}, nil)
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	for _, ts := range []time.Time{now.Add(-72 * time.Hour), now.Add(-30 * time.Hour), now.Add(-50 * time.Hour), now.Add(-100 * time.Hour)} {
		b.Field(3).(*array.TimestampBuilder).Append(arrow.Timestamp(ts.UnixMicro()))
	}
	rec := b.NewRecordBatch()
	defer rec.Release()
	zero, ten := 0.0, 10.0
	checks := []Check{
		{Column: "id", NotNull: true},
		{Column: "id", Unique: true, Level: "warn"},
		{Column: "amount", Min: &zero, Max: &ten},
		{Column: "plan", Allowed: []string{"basic", "pro"}},
		{Column: "ts", Freshness: 24 * time.Hour},
		{Column: "ts", Freshness: 48 * time.Hour},
		{Column: "nope", NotNull: true},
	}
	e := NewEvaluator(checks)
	e.Observe(rec)
	rs := e.Results(now)
	want := []struct {
		passed     bool
		violations int64
	}{{false, 1}, {false, 1}, {false, 2}, {false, 1}, {false, 1}, {true, 0}, {false, 0}}
	for i, w := range want {
		if rs[i].Passed != w.passed || rs[i].Violations != w.violations {
			t.Errorf("%s: passed %v with %d violations (%s), want %v and %d", rs[i].Check, rs[i].Passed, rs[i].Violations, rs[i].Detail, w.passed, w.violations)
		}
	}
	if rs[1].Level != "warn" || rs[0].Level != "fail" || !Failed(rs) {
		t.Errorf("levels: %+v", rs)
	}
	if Failed([]Result{{Level: "warn", Passed: false}, {Level: "fail", Passed: true}}) {
		t.Error("a warning failed the run")
	}
}
