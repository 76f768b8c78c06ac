// Package scoring holds what bulk scoring writes: a batch of predictions
// for a run, laid out as Arrow for the lake and as PostgreSQL's binary
// COPY format for the prediction tables, and those tables' life cycle
// (native partitions by as-of time, a run's atomic swap, retention).
package scoring

import (
	"fmt"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// Column names of a prediction table, around the entity key.
const (
	ColRunID    = "run_id"
	ColVersion  = "model_version"
	ColScore    = "score"
	ColLabel    = "label"
	ColScoredAt = "scored_at"
	ColAsOf     = "as_of"
)

// Run is what every row of one scoring run shares.
type Run struct {
	ID       string
	Version  int
	ScoredAt time.Time
	AsOf     time.Time
}

// Batch is a run's predictions for a set of entities: the key column as
// read (string or int64), a score per row and, for classifiers, the index
// of the predicted class in Classes.
type Batch struct {
	Run  Run
	Keys arrow.Array
	// Score is the positive class's probability (binary), the predicted
	// class's probability (multiclass) or the prediction (regression).
	Score []float64
	// Label holds class indexes; nil for regression.
	Label   []int32
	Classes []string
}

// KeyType checks that a key column can be a prediction table's key.
func KeyType(t arrow.DataType) error {
	switch t.ID() {
	case arrow.STRING, arrow.INT64:
		return nil
	}
	return fmt.Errorf("scoring: an entity key must be a string or an int64 column, not %s", t)
}

// Schema is the Arrow schema of a prediction table keyed by key.
func Schema(key string, keyType arrow.DataType) *arrow.Schema {
	ts := &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}
	return arrow.NewSchema([]arrow.Field{
		{Name: ColRunID, Type: arrow.BinaryTypes.String},
		{Name: ColVersion, Type: arrow.PrimitiveTypes.Int32},
		{Name: key, Type: keyType},
		{Name: ColScore, Type: arrow.PrimitiveTypes.Float64},
		{Name: ColLabel, Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: ColScoredAt, Type: ts},
		{Name: ColAsOf, Type: ts},
	}, nil)
}

// Record lays rows [from, to) of the batch out in the schema's columns.
func (b *Batch) Record(schema *arrow.Schema, from, to int) arrow.RecordBatch {
	mem := memory.DefaultAllocator
	n := to - from
	cols := make([]arrow.Array, 0, 7)
	defer func() {
		for _, c := range cols {
			c.Release()
		}
	}()
	cols = append(cols, repeatString(b.Run.ID, n))
	vb := array.NewInt32Builder(mem)
	vb.Reserve(n)
	for range n {
		vb.UnsafeAppend(int32(b.Run.Version))
	}
	cols = append(cols, vb.NewArray())
	vb.Release()
	cols = append(cols, array.NewSlice(b.Keys, int64(from), int64(to)))
	cols = append(cols, fromBuffers(arrow.PrimitiveTypes.Float64, n, nil, memory.NewBufferBytes(arrow.Float64Traits.CastToBytes(b.Score[from:to]))))
	lb := array.NewStringBuilder(mem)
	if b.Label == nil {
		lb.AppendNulls(n)
	} else {
		lb.Reserve(n)
		for _, c := range b.Label[from:to] {
			lb.Append(b.Classes[c])
		}
	}
	cols = append(cols, lb.NewArray())
	lb.Release()
	tt := schema.Field(5).Type
	cols = append(cols, repeatTime(tt, b.Run.ScoredAt, n), repeatTime(tt, b.Run.AsOf, n))
	return array.NewRecordBatch(schema, cols, int64(n))
}

// repeatString is an array of n copies of s: offsets and one buffer, no
// per-row work beyond the copy.
func repeatString(s string, n int) arrow.Array {
	offsets := make([]int32, n+1)
	data := make([]byte, 0, len(s)*n)
	for i := range n {
		data = append(data, s...)
		offsets[i+1] = int32((i + 1) * len(s))
	}
	return fromBuffers(arrow.BinaryTypes.String, n, nil, memory.NewBufferBytes(arrow.Int32Traits.CastToBytes(offsets)), memory.NewBufferBytes(data))
}

func repeatTime(t arrow.DataType, at time.Time, n int) arrow.Array {
	v := make([]arrow.Timestamp, n)
	us := arrow.Timestamp(at.UnixMicro())
	for i := range v {
		v[i] = us
	}
	return fromBuffers(t, n, nil, memory.NewBufferBytes(arrow.TimestampTraits.CastToBytes(v)))
}

// fromBuffers wraps Go memory as an array with no nulls.
func fromBuffers(t arrow.DataType, n int, bufs ...*memory.Buffer) arrow.Array {
	d := array.NewData(t, n, bufs, nil, 0, 0)
	defer d.Release()
	return array.MakeFromData(d)
}
