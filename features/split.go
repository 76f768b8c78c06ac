package features

import (
	"context"
	"slices"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/sluice-ml/sluice/internal/permanent"
	"github.com/sluice-ml/sluice/lakehouse"
)

// Split names a training set at a snapshot and how to split it by label
// time.
type Split struct {
	Table    string
	Snapshot int64
	// Key and Time are the entity and label-time columns: they are not
	// features, and the split leaves them out.
	Key, Time string
	// ValidFraction and TestFraction split by label time: the newest
	// TestFraction of the rows is the test set, the ValidFraction before
	// it validation. 0 means 0.2 each.
	ValidFraction, TestFraction float64
}

// Split sets.
const (
	Train = iota
	Valid
	Test
)

// ReleaseSets releases the record batches of split sets.
func ReleaseSets(sets [3][]arrow.RecordBatch) {
	for _, s := range sets {
		releaseAll(s)
	}
}

// SplitByTime reads a training set and splits its rows by label time into
// train, validation and test, without the key and time columns. The cut
// points are label times, so rows of one time stay together.
func (s *Store) SplitByTime(ctx context.Context, sp Split) ([3][]arrow.RecordBatch, error) {
	var sets [3][]arrow.RecordBatch
	res, err := s.Catalog.Scan(ctx, sp.Table, lakehouse.ScanOptions{SnapshotID: sp.Snapshot})
	if err != nil {
		return sets, permanent.WrapIf(permanent.BadInput, err, lakehouse.ErrNoSuchTable)
	}
	defer releaseAll(res.Records)
	if len(res.Records) == 0 {
		return sets, nil
	}
	times, err := labelTimes(sp, res.Records)
	if err != nil {
		return sets, err
	}
	testFrom, validFrom := cutPoints(times, sp.ValidFraction, sp.TestFraction)
	schema := res.Records[0].Schema()
	var keep []int
	for i, f := range schema.Fields() {
		if f.Name != sp.Key && f.Name != sp.Time {
			keep = append(keep, i)
		}
	}
	fields := make([]arrow.Field, len(keep))
	for j, i := range keep {
		fields[j] = schema.Field(i)
	}
	out := arrow.NewSchema(fields, nil)
	row := 0
	for _, r := range res.Records {
		cols := make([]arrow.Array, len(keep))
		for j, i := range keep {
			cols[j] = r.Column(i)
		}
		proj := array.NewRecordBatch(out, cols, r.NumRows())
		err := splitRecord(ctx, proj, times[row:row+int(r.NumRows())], testFrom, validFrom, &sets)
		proj.Release()
		if err != nil {
			ReleaseSets(sets)
			return [3][]arrow.RecordBatch{}, err
		}
		row += int(r.NumRows())
	}
	return sets, nil
}

// labelTimes reads the label time of every row.
func labelTimes(sp Split, recs []arrow.RecordBatch) ([]int64, error) {
	ti := recs[0].Schema().FieldIndices(sp.Time)
	if len(ti) == 0 {
		return nil, permanent.Errorf(permanent.BadInput, "%s has no label time column %s", sp.Table, sp.Time)
	}
	var times []int64
	for _, r := range recs {
		ts, ok := r.Column(ti[0]).(*array.Timestamp)
		if !ok {
			return nil, permanent.Errorf(permanent.BadInput, "%s.%s is not a timestamp", sp.Table, sp.Time)
		}
		for i := range ts.Len() {
			times = append(times, int64(ts.Value(i)))
		}
	}
	return times, nil
}

// cutPoints are the first label times of the test and validation sets.
func cutPoints(times []int64, vf, tf float64) (testFrom, validFrom int64) {
	sorted := slices.Clone(times)
	slices.Sort(sorted)
	if vf <= 0 {
		vf = 0.2
	}
	if tf <= 0 {
		tf = 0.2
	}
	testFrom = sorted[min(len(sorted)-1, int(float64(len(sorted))*(1-tf)))]
	validFrom = sorted[min(len(sorted)-1, int(float64(len(sorted))*(1-tf-vf)))]
	return testFrom, validFrom
}

// splitRecord appends each set's rows of rec to it.
func splitRecord(ctx context.Context, rec arrow.RecordBatch, times []int64, testFrom, validFrom int64, sets *[3][]arrow.RecordBatch) error {
	for set := range 3 {
		mb := array.NewBooleanBuilder(memory.DefaultAllocator)
		for _, t := range times {
			which := Train
			switch {
			case t >= testFrom:
				which = Test
			case t >= validFrom:
				which = Valid
			}
			mb.Append(which == set)
		}
		mask := mb.NewBooleanArray()
		mb.Release()
		part, err := compute.FilterRecordBatch(ctx, rec, mask, compute.DefaultFilterOptions())
		mask.Release()
		if err != nil {
			return err
		}
		if part.NumRows() > 0 {
			sets[set] = append(sets[set], part)
		} else {
			part.Release()
		}
	}
	return nil
}
