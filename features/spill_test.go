package features

import (
	"context"
	"hash/maphash"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/array"
)

// TestSpillKeepsEachEntityInOnePartition spills events and queries with
// one seed: every row comes back once, and an entity's rows from both
// sides share a partition.
func TestSpillKeepsEachEntityInOnePartition(t *testing.T) {
	evs := []event{}
	for i := range 500 {
		evs = append(evs, event{key: string(rune('A' + i%37)), hasKey: i%50 != 0, at: int64(i), hasAt: true, amount: 1, hasAmt: true})
	}
	seed := maphash.MakeSeed()
	dir := t.TempDir()
	s := NewSpill(dir, "customer_id", 7, seed)
	for _, b := range batches(evs, 64) {
		if err := s.Add(context.Background(), b); err != nil {
			t.Fatal(err)
		}
		b.Release()
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
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
	q := NewSpill(t.TempDir(), "customer_id", 7, seed)
	parts, err := q.partitionOf(batches([]event{{key: "B", hasKey: true, hasAt: true}}, 1)[0].Column(0))
	if err != nil {
		t.Fatal(err)
	}
	if parts[0] != where["B"] {
		t.Errorf("key B: partition %d for the queries, %d for the events", parts[0], where["B"])
	}
}
