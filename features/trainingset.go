package features

import (
	"context"
	"fmt"
	"hash/maphash"
	"iter"
	"os"
	"runtime"
	"sync"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// Labeled is a view with its source rows.
type Labeled struct {
	View   View
	Events iter.Seq2[arrow.RecordBatch, error]
}

// TrainingSetOptions shape a point-in-time training set.
type TrainingSetOptions struct {
	// Key and Time name the label rows' entity key and label time
	// (timestamp[us]) columns.
	Key, Time string
	// Partitions bounds memory: the labels and every view's rows are
	// spilled by entity hash and joined a partition at a time. 0 means 16.
	Partitions int
	// Dir holds the spill files; empty means a temporary folder.
	Dir string
	// Memory bounds the rows kept in memory rather than in spill files,
	// shared by every input; nil spills everything to files.
	Memory *Memory
	// Timings, when set, counts where the time goes.
	Timings *Timings
}

// TrainingSet joins every label row with each view's features as of the
// row's label time, and hands the result to emit a partition at a time:
// the label columns, then each view's feature columns. Rows come out
// grouped by partition, not in label order.
func TrainingSet(ctx context.Context, labels iter.Seq2[arrow.RecordBatch, error], views []Labeled, o TrainingSetOptions, emit func(arrow.RecordBatch) error) error {
	parts := o.Partitions
	if parts <= 0 {
		parts = 16
	}
	dir := o.Dir
	if dir == "" {
		d, err := os.MkdirTemp("", "sluice-training-set-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	seed := maphash.MakeSeed()
	spill := func(name, key string, rows iter.Seq2[arrow.RecordBatch, error]) (*Spill, error) {
		sub, err := os.MkdirTemp(dir, name+"-")
		if err != nil {
			return nil, err
		}
		s := NewSpill(sub, key, parts, seed, o.Memory)
		for rec, err := range o.Timings.timed(PhaseRead, rows) {
			if err == nil {
				start := time.Now()
				err = s.Add(ctx, rec)
				o.Timings.Since(PhaseSpill, start)
			}
			if err != nil {
				s.Close()
				s.Release()
				return nil, fmt.Errorf("features: spilling %s: %w", name, err)
			}
		}
		if err := s.Close(); err != nil {
			s.Release()
			return nil, err
		}
		return s, nil
	}
	lab, err := spill("labels", o.Key, labels)
	if err != nil {
		return err
	}
	defer lab.Release()
	evs := make([]*Spill, len(views))
	defer func() {
		for _, s := range evs {
			if s != nil {
				s.Release()
			}
		}
	}()
	for i, lv := range views {
		if evs[i], err = spill(lv.View.Name, lv.View.Key, lv.Events); err != nil {
			return err
		}
	}
	emit = serialized(emit)
	return eachPartition(ctx, parts, func(p int) error {
		defer func() {
			lab.Drop(p)
			for _, s := range evs {
				s.Drop(p)
			}
		}()
		if lab.Rows(p) == 0 {
			return nil
		}
		return trainingPartition(ctx, p, lab, evs, views, o, emit)
	})
}

// eachPartition runs f for every partition, one per core at a time, and
// returns the first error.
func eachPartition(ctx context.Context, parts int, f func(p int) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	next := make(chan int)
	errs := make(chan error, runtime.GOMAXPROCS(0))
	var wg sync.WaitGroup
	for range cap(errs) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for p := range next {
				if err := f(p); err != nil {
					errs <- err
					cancel()
					return
				}
			}
		}()
	}
feed:
	for p := range parts {
		select {
		case next <- p:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	return context.Cause(ctx) // nil unless the caller's ctx ended
}

// serialized makes emit safe to call from several partitions at once.
func serialized(emit func(arrow.RecordBatch) error) func(arrow.RecordBatch) error {
	var mu sync.Mutex
	return func(rec arrow.RecordBatch) error {
		mu.Lock()
		defer mu.Unlock()
		return emit(rec)
	}
}

func trainingPartition(ctx context.Context, p int, lab *Spill, evs []*Spill, views []Labeled, o TrainingSetOptions, emit func(arrow.RecordBatch) error) error {
	start := time.Now()
	lrecs, err := lab.Read(p)
	o.Timings.Since(PhaseUnspill, start)
	if err != nil {
		return err
	}
	defer releaseAll(lrecs)
	schema := lrecs[0].Schema()
	cols := make([]arrow.Array, schema.NumFields())
	for c := range cols {
		parts := make([]arrow.Array, len(lrecs))
		for i, r := range lrecs {
			parts[i] = r.Column(c)
		}
		if cols[c], err = array.Concatenate(parts, memory.DefaultAllocator); err != nil {
			return err
		}
	}
	defer releaseAll(cols)
	keyIdx, timeIdx := schema.FieldIndices(o.Key), schema.FieldIndices(o.Time)
	if len(keyIdx) == 0 || len(timeIdx) == 0 {
		return fmt.Errorf("features: the label rows lack the key %q or the time %q", o.Key, o.Time)
	}
	ts, ok := cols[timeIdx[0]].(*array.Timestamp)
	if !ok || ts.DataType().(*arrow.TimestampType).Unit != arrow.Microsecond {
		return fmt.Errorf("features: the label time %s is %s, want timestamp[us]", o.Time, cols[timeIdx[0]].DataType())
	}
	times := make([]int64, ts.Len())
	for i := range times {
		times[i] = int64(ts.Value(i)) // a null label time reads as the epoch; labels are checked at ingest
	}
	q := Queries{Keys: cols[keyIdx[0]], Times: times}
	fields := append([]arrow.Field(nil), schema.Fields()...)
	out := append([]arrow.Array(nil), cols...)
	var feats []arrow.RecordBatch
	defer func() { releaseAll(feats) }()
	for i, lv := range views {
		start := time.Now()
		erecs, err := evs[i].Read(p)
		o.Timings.Since(PhaseUnspill, start)
		if err != nil {
			return err
		}
		if len(erecs) == 0 {
			// No rows of this view in the partition: its features are
			// null (counts 0).
			if evs[i].Schema() == nil {
				return fmt.Errorf("features: view %s: its source has no rows", lv.View.Name)
			}
			b := array.NewRecordBuilder(memory.DefaultAllocator, evs[i].Schema())
			erecs = []arrow.RecordBatch{b.NewRecordBatch()}
			b.Release()
		}
		start = time.Now()
		f, err := lv.View.AsOf(ctx, erecs, q)
		o.Timings.Since(PhaseCompute, start)
		releaseAll(erecs)
		if err != nil {
			return err
		}
		feats = append(feats, f)
		fields = append(fields, f.Schema().Fields()...)
		out = append(out, f.Columns()...)
	}
	rec := array.NewRecordBatch(arrow.NewSchema(fields, nil), out, int64(len(times)))
	defer rec.Release()
	return emit(rec)
}

func releaseAll[T interface{ Release() }](xs []T) {
	for _, x := range xs {
		x.Release()
	}
}
