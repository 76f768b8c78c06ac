package features

import (
	"context"
	"hash/maphash"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/array"
)

// TestSpillKeepsEachEntityInOnePartition spills events and queries with
// one seed: every row comes back once, and an entity's rows from both
// sides share a partition, whether the partitions stay in memory, go to
// files, or go to files part way when the budget runs out.
func TestSpillKeepsEachEntityInOnePartition(t *testing.T) {
	for _, tc := range []struct {
		name   string
		memory *Memory
		onDisk bool
	}{{"files", nil, true}, {"memory", NewMemory(1 << 30), false}, {"memory, then files", NewMemory(4 << 10), true}} {
		t.Run(tc.name, func(t *testing.T) {
			spillRoundTrip(t, tc.memory, tc.onDisk)
			if tc.memory != nil && tc.memory.used.Load() != 0 {
				t.Errorf("%d bytes of the budget still used after Release", tc.memory.used.Load())
			}
		})
	}
}

func spillRoundTrip(t *testing.T, memory *Memory, onDisk bool) {
	evs := []event{}
	for i := range 500 {
		evs = append(evs, event{key: string(rune('A' + i%37)), hasKey: i%50 != 0, at: int64(i), hasAt: true, amount: 1, hasAmt: true})
	}
	seed := maphash.MakeSeed()
	dir := t.TempDir()
	s := NewSpill(dir, "customer_id", 7, seed, memory)
	defer s.Release()
	for _, b := range batches(evs, 64) {
		if err := s.Add(context.Background(), b); err != nil {
			t.Fatal(err)
		}
		b.Release()
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if s.OnDisk() != onDisk {
		t.Fatalf("on disk %v, want %v", s.OnDisk(), onDisk)
	}
	where := map[string]int{}
	total := 0
	for p := range 7 {
		recs, err := s.Read(p)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			keys := r.Column(0).(*array.String)
			for i := range keys.Len() {
				total++
				if keys.IsNull(i) {
					continue
				}
				if q, ok := where[keys.Value(i)]; ok && q != p {
					t.Fatalf("key %s in partitions %d and %d", keys.Value(i), q, p)
				}
				where[keys.Value(i)] = p
			}
			r.Release()
		}
	}
	if total != len(evs) {
		t.Errorf("%d rows came back, want %d", total, len(evs))
	}
	// The other side, spilled with the same seed, agrees.
	q := NewSpill(t.TempDir(), "customer_id", 7, seed, nil)
	parts, err := q.partitionOf(batches([]event{{key: "B", hasKey: true, hasAt: true}}, 1)[0].Column(0))
	if err != nil {
		t.Fatal(err)
	}
	if parts[0] != where["B"] {
		t.Errorf("key B: partition %d for the queries, %d for the events", parts[0], where["B"])
	}
}
