package features

import (
	"iter"
	"sync"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
)

// The phases a training set or a materialization spends its time in, as
// Timings names them.
const (
	// PhasePlan opens the tables read and plans their scans.
	PhasePlan = "plan"
	// PhaseRead scans the lake's files and decodes them into batches.
	PhaseRead = "read"
	// PhaseSpill partitions rows by entity into spill files.
	PhaseSpill = "spill"
	// PhaseUnspill reads a partition's rows back.
	PhaseUnspill = "unspill"
	// PhaseCompute computes the features (the as-of join).
	PhaseCompute = "compute"
	// PhaseWrite encodes the output and writes its files.
	PhaseWrite = "write"
	// PhaseCommit commits the snapshot.
	PhaseCommit = "commit"
	// PhaseOnline upserts the online store.
	PhaseOnline = "online"
)

// Timings adds up how long a run spends in each phase. Phases that run on
// several goroutines at once add up each one's time, so their sum can pass
// the wall time. A nil *Timings records nothing.
type Timings struct {
	mu sync.Mutex
	d  map[string]time.Duration
}

// Add counts d against phase.
func (t *Timings) Add(phase string, d time.Duration) {
	if t == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.d == nil {
		t.d = map[string]time.Duration{}
	}
	t.d[phase] += d
}

// Since counts the time since start against phase.
func (t *Timings) Since(phase string, start time.Time) {
	if t != nil {
		t.Add(phase, time.Since(start))
	}
}

// Seconds is each phase's time in seconds (nil when nothing was counted).
func (t *Timings) Seconds() map[string]float64 {
	if t == nil {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.d) == 0 {
		return nil
	}
	out := make(map[string]float64, len(t.d))
	for p, d := range t.d {
		out[p] = d.Seconds()
	}
	return out
}

// timed counts the time seq spends producing each batch against phase.
func (t *Timings) timed(phase string, seq iter.Seq2[arrow.RecordBatch, error]) iter.Seq2[arrow.RecordBatch, error] {
	if t == nil {
		return seq
	}
	return func(yield func(arrow.RecordBatch, error) bool) {
		start := time.Now()
		for rec, err := range seq {
			t.Since(phase, start)
			if !yield(rec, err) {
				return
			}
			start = time.Now()
		}
		t.Since(phase, start)
	}
}
