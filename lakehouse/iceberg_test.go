package lakehouse_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/iceberg-go"

	"github.com/sluice-ml/sluice/lakehouse"
	"github.com/sluice-ml/sluice/testkit/testenv"
)

var eventSchema = arrow.NewSchema([]arrow.Field{
	{Name: "id", Type: arrow.PrimitiveTypes.Int64},
	{Name: "amount", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
	{Name: "active", Type: arrow.FixedWidthTypes.Boolean, Nullable: true},
	{Name: "plan", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "day", Type: arrow.FixedWidthTypes.Date32, Nullable: true},
	{Name: "ts", Type: &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}},
}, nil)

var base = time.Date(2026, 11, 20, 23, 30, 0, 0, time.UTC)

// events makes n rows starting at id from, one per hour from base; every
// fifth row has nulls.
func events(from, n int) arrow.RecordBatch {
	b := array.NewRecordBuilder(memory.DefaultAllocator, eventSchema)
	defer b.Release()
	for i := from; i < from+n; i++ {
		b.Field(0).(*array.Int64Builder).Append(int64(i))
		ts := base.Add(time.Duration(i) * time.Hour)
		if i%5 == 4 {
			b.Field(1).AppendNull()
			b.Field(2).AppendNull()
			b.Field(3).AppendNull()
			b.Field(4).AppendNull()
		} else {
			b.Field(1).(*array.Float64Builder).Append(float64(i) * 1.5)
			b.Field(2).(*array.BooleanBuilder).Append(i%2 == 0)
			b.Field(3).(*array.StringBuilder).Append(fmt.Sprintf("plan-%d", i%3))
			b.Field(4).(*array.Date32Builder).Append(arrow.Date32FromTime(ts))
		}
		b.Field(5).(*array.TimestampBuilder).Append(arrow.Timestamp(ts.UnixMicro()))
	}
	return b.NewRecordBatch()
}

func backends(t *testing.T) map[string]lakehouse.CatalogOptions {
	t.Helper()
	db := testenv.PostgresURL(t)
	return map[string]lakehouse.CatalogOptions{
		"file": {DatabaseURL: db, Lake: lakehouse.Options{URL: "file://" + t.TempDir() + "/lake"}, Name: "t_file_" + fmt.Sprint(time.Now().UnixNano())},
		"s3":   {DatabaseURL: db, Lake: testenv.S3(t), Name: "t_s3_" + fmt.Sprint(time.Now().UnixNano())},
	}
}

func rowCount(recs []arrow.RecordBatch) int64 {
	var n int64
	for _, r := range recs {
		n += r.NumRows()
	}
	return n
}

func TestIcebergRoundTripAndIdempotentAppend(t *testing.T) {
	for name, o := range backends(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			cat, err := lakehouse.OpenCatalog(ctx, o)
			if err != nil {
				t.Fatal(err)
			}
			defer cat.Close()
			if _, err := cat.EnsureTable(ctx, "raw.events", eventSchema, "ts"); err != nil {
				t.Fatal(err)
			}
			rec := events(0, 50)
			defer rec.Release()
			first, err := cat.Append(ctx, "raw.events", []arrow.RecordBatch{rec}, "run-1")
			if err != nil {
				t.Fatal(err)
			}
			// A retry of the same run writes nothing.
			again, err := cat.Append(ctx, "raw.events", []arrow.RecordBatch{rec}, "run-1")
			if err != nil {
				t.Fatal(err)
			}
			if !again.AlreadyCommitted || again.SnapshotID != first.SnapshotID {
				t.Errorf("retried append: %+v, first %+v", again, first)
			}

			// A fresh connection reads what this one wrote.
			other, err := lakehouse.OpenCatalog(ctx, o)
			if err != nil {
				t.Fatal(err)
			}
			defer other.Close()
			res, err := other.Scan(ctx, "raw.events", lakehouse.ScanOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if got := rowCount(res.Records); got != 50 || res.SnapshotID != first.SnapshotID {
				t.Fatalf("read %d rows at snapshot %d, want 50 at %d", got, res.SnapshotID, first.SnapshotID)
			}
			tbl := array.NewTableFromRecords(res.Records[0].Schema(), res.Records)
			defer tbl.Release()
			want := array.NewTableFromRecords(eventSchema, []arrow.RecordBatch{rec})
			defer want.Release()
			if !sameRows(t, want, tbl) {
				t.Error("rows read back differ from those written")
			}
			for _, r := range res.Records {
				r.Release()
			}

			// Partition pruning: one day's filter plans fewer files.
			day := base.Add(30 * time.Hour).Truncate(24 * time.Hour)
			filter := iceberg.NewAnd(
				iceberg.GreaterThanEqual(iceberg.Reference("ts"), day.UnixMicro()),
				iceberg.LessThan(iceberg.Reference("ts"), day.Add(24*time.Hour).UnixMicro()))
			all, err := cat.Scan(ctx, "raw.events", lakehouse.ScanOptions{Columns: []string{"id", "ts"}})
			if err != nil {
				t.Fatal(err)
			}
			pruned, err := cat.Scan(ctx, "raw.events", lakehouse.ScanOptions{Columns: []string{"id", "ts"}, Filter: filter})
			if err != nil {
				t.Fatal(err)
			}
			if pruned.FilesPlanned >= all.FilesPlanned || rowCount(pruned.Records) != 24 {
				t.Errorf("filtered scan planned %d of %d files and read %d rows, want fewer files and 24 rows",
					pruned.FilesPlanned, all.FilesPlanned, rowCount(pruned.Records))
			}
		})
	}
}

// sameRows compares two tables' rows, matched by the id column (files
// come back in partition order, not write order).
func sameRows(t *testing.T, want, got arrow.Table) bool {
	t.Helper()
	if want.NumRows() != got.NumRows() || want.NumCols() != got.NumCols() {
		t.Logf("shape %dx%d, want %dx%d", got.NumRows(), got.NumCols(), want.NumRows(), want.NumCols())
		return false
	}
	rows := func(tbl arrow.Table) map[string]string {
		out := map[string]string{}
		tr := array.NewTableReader(tbl, 1024)
		defer tr.Release()
		for tr.Next() {
			rec := tr.RecordBatch()
			for i := range int(rec.NumRows()) {
				var cells []string
				for c := range int(rec.NumCols()) {
					cells = append(cells, rec.Column(c).ValueStr(i))
				}
				out[cells[0]] = fmt.Sprint(cells)
			}
		}
		return out
	}
	w, g := rows(want), rows(got)
	ok := true
	for id, row := range w {
		if g[id] != row {
			t.Logf("id %s: read %s, wrote %s", id, g[id], row)
			ok = false
		}
	}
	return ok
}

func TestIcebergConcurrentWritersLoseNothing(t *testing.T) {
	for name, o := range backends(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			cat, err := lakehouse.OpenCatalog(ctx, o)
			if err != nil {
				t.Fatal(err)
			}
			defer cat.Close()
			if _, err := cat.EnsureTable(ctx, "raw.concurrent", eventSchema, ""); err != nil {
				t.Fatal(err)
			}
			const writers, appends, rows = 4, 5, 10
			var wg sync.WaitGroup
			errs := make(chan error, writers*appends)
			for w := range writers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					// Each writer its own connection, as separate workers.
					c, err := lakehouse.OpenCatalog(ctx, o)
					if err != nil {
						errs <- err
						return
					}
					defer c.Close()
					for a := range appends {
						rec := events((w*appends+a)*rows, rows)
						_, err := c.Append(ctx, "raw.concurrent", []arrow.RecordBatch{rec}, fmt.Sprintf("w%d-a%d", w, a))
						rec.Release()
						if err != nil {
							errs <- err
						}
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			res, err := cat.Scan(ctx, "raw.concurrent", lakehouse.ScanOptions{Columns: []string{"id"}})
			if err != nil {
				t.Fatal(err)
			}
			seen := map[int64]int{}
			for _, r := range res.Records {
				ids := r.Column(0).(*array.Int64)
				for i := range ids.Len() {
					seen[ids.Value(i)]++
				}
				r.Release()
			}
			if len(seen) != writers*appends*rows {
				t.Errorf("read %d distinct ids, want %d", len(seen), writers*appends*rows)
			}
			for id, n := range seen {
				if n != 1 {
					t.Errorf("id %d read %d times", id, n)
				}
			}
		})
	}
}

func TestMaintainCompactsExpiresAndCleansOrphans(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	o := lakehouse.CatalogOptions{DatabaseURL: testenv.PostgresURL(t), Lake: lakehouse.Options{URL: "file://" + dir + "/lake"}, Name: "t_maint_" + fmt.Sprint(time.Now().UnixNano())}
	cat, err := lakehouse.OpenCatalog(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	defer cat.Close()
	if _, err := cat.EnsureTable(ctx, "raw.small", eventSchema, ""); err != nil {
		t.Fatal(err)
	}
	for i := range 6 {
		rec := events(i*10, 10)
		if _, err := cat.Append(ctx, "raw.small", []arrow.RecordBatch{rec}, fmt.Sprintf("run-%d", i)); err != nil {
			t.Fatal(err)
		}
		rec.Release()
	}
	before, err := cat.Scan(ctx, "raw.small", lakehouse.ScanOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// A stray file, as a failed commit leaves, old enough to remove.
	info, err := cat.Describe(ctx, "raw.small")
	if err != nil {
		t.Fatal(err)
	}
	stray := strings.TrimPrefix(info.Location, "file://") + "/data/orphan-00000.parquet"
	if err := os.WriteFile(stray, []byte("not referenced"), 0o644); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-96 * time.Hour)
	if err := os.Chtimes(stray, old, old); err != nil {
		t.Fatal(err)
	}

	res, err := cat.Maintain(ctx, "raw.small", lakehouse.MaintainOptions{MinInputFiles: 2, ExpireOlderThan: time.Nanosecond, RetainLast: 1})
	if err != nil {
		t.Fatal(err)
	}
	after, err := cat.Scan(ctx, "raw.small", lakehouse.ScanOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rowCount(after.Records) != rowCount(before.Records) || after.FilesPlanned >= before.FilesPlanned {
		t.Errorf("compaction: %d rows in %d files, before %d rows in %d files", rowCount(after.Records), after.FilesPlanned, rowCount(before.Records), before.FilesPlanned)
	}
	if res.FilesCompacted != 6 || res.SnapshotsExpired == 0 || res.OrphansDeleted == 0 {
		t.Errorf("result %+v", res)
	}
	if _, err := os.Stat(stray); !os.IsNotExist(err) {
		t.Errorf("orphan file still there: %v", err)
	}
}

// TestTwoAttemptsOfOneRunCommitOnce: two attempts of one run (a worker
// cut off from Temporal but not from the stores, and its retry) stage the
// same rows and commit at once, each through its own catalog connection:
// the table holds one copy and both attempts report the same snapshot. (Before, the run's snapshot was looked
// for once, before the first attempt, and Iceberg's replay of a lost race
// appended a second copy.)
func TestTwoAttemptsOfOneRunCommitOnce(t *testing.T) {
	o := backends(t)["file"]
	ctx := context.Background()
	cat, err := lakehouse.OpenCatalog(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	defer cat.Close()
	if _, err := cat.EnsureTable(ctx, "raw.once", eventSchema, ""); err != nil {
		t.Fatal(err)
	}
	for round := range 5 {
		runID := fmt.Sprintf("run-%d", round)
		stages := make([]*lakehouse.Stage, 2)
		for i := range stages {
			c, err := lakehouse.OpenCatalog(ctx, o)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if stages[i], err = c.Stage(ctx, "raw.once", eventSchema, runID); err != nil {
				t.Fatal(err)
			}
			rec := events(round*10, 10)
			if _, err := stages[i].Write(ctx, func(yield func(arrow.RecordBatch, error) bool) { yield(rec, nil) }); err != nil {
				t.Fatal(err)
			}
		}
		results := make([]lakehouse.AppendResult, 2)
		errs := make([]error, 2)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i, s := range stages {
			wg.Go(func() {
				<-start
				results[i], errs[i] = s.Commit(ctx, lakehouse.CommitOptions{})
			})
		}
		close(start)
		wg.Wait()
		if errs[0] != nil || errs[1] != nil || results[0].SnapshotID != results[1].SnapshotID || results[0].AlreadyCommitted == results[1].AlreadyCommitted {
			t.Fatalf("round %d: %+v %+v, errors %v %v; want one snapshot, committed once", round, results[0], results[1], errs[0], errs[1])
		}
	}
	res, err := cat.Scan(ctx, "raw.once", lakehouse.ScanOptions{Columns: []string{"id"}})
	if err != nil {
		t.Fatal(err)
	}
	if n := rowCount(res.Records); n != 50 {
		t.Errorf("the table holds %d rows, want 50: one copy of each run", n)
	}
	for _, r := range res.Records {
		r.Release()
	}
}

// TestScanAppendedAfter reads the rows the snapshots after one appended,
// up to another; a range holding an overwrite is refused.
func TestScanAppendedAfter(t *testing.T) {
	ctx := context.Background()
	o := backends(t)["file"]
	cat, err := lakehouse.OpenCatalog(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	defer cat.Close()
	if _, err := cat.EnsureTable(ctx, "raw.late", eventSchema, "ts"); err != nil {
		t.Fatal(err)
	}
	var snaps []int64
	for i, run := range []string{"a", "b", "c"} {
		rec := events(i*100, 10+i) // 10, 11 and 12 rows
		res, err := cat.Append(ctx, "raw.late", []arrow.RecordBatch{rec}, run)
		rec.Release()
		if err != nil {
			t.Fatal(err)
		}
		snaps = append(snaps, res.SnapshotID)
	}
	ids := func(o lakehouse.ScanOptions) []int64 {
		t.Helper()
		res, err := cat.Scan(ctx, "raw.late", o)
		if err != nil {
			t.Fatal(err)
		}
		var out []int64
		for _, r := range res.Records {
			out = append(out, r.Column(0).(*array.Int64).Int64Values()...)
			r.Release()
		}
		slices.Sort(out)
		return out
	}
	if got := ids(lakehouse.ScanOptions{AppendedAfter: snaps[0]}); len(got) != 23 || got[0] != 100 || got[22] != 211 {
		t.Errorf("after the first append: %v", got)
	}
	if got := ids(lakehouse.ScanOptions{AppendedAfter: snaps[0], SnapshotID: snaps[1]}); len(got) != 11 || got[0] != 100 {
		t.Errorf("the second append alone: %v", got)
	}
	filter := iceberg.GreaterThanEqual(iceberg.Reference("id"), int64(205))
	if got := ids(lakehouse.ScanOptions{AppendedAfter: snaps[1], Filter: filter}); len(got) != 7 || got[0] != 205 {
		t.Errorf("filtered: %v", got)
	}
	if got := ids(lakehouse.ScanOptions{AppendedAfter: snaps[2]}); len(got) != 0 {
		t.Errorf("nothing after the current snapshot: %v", got)
	}
	if _, err := cat.Scan(ctx, "raw.late", lakehouse.ScanOptions{AppendedAfter: 12345}); !errors.Is(err, lakehouse.ErrNoSnapshot) {
		t.Errorf("an unknown snapshot: %v", err)
	}
	rec := events(500, 3)
	rdr, err := array.NewRecordReader(eventSchema, []arrow.RecordBatch{rec})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cat.Replace(ctx, "raw.late", rdr, "overwrite"); err != nil {
		t.Fatal(err)
	}
	rdr.Release()
	rec.Release()
	if _, err := cat.Scan(ctx, "raw.late", lakehouse.ScanOptions{AppendedAfter: snaps[2]}); !errors.Is(err, lakehouse.ErrNotAppendOnly) {
		t.Errorf("across an overwrite: %v", err)
	}
}
