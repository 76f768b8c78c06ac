package monitor_test

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sluice-ml/sluice/metastore"
	"github.com/sluice-ml/sluice/monitor"
	"github.com/sluice-ml/sluice/serving"
	"github.com/sluice-ml/sluice/testkit/testenv"
)

// logPredictions writes n predictions of model at the times at(i), with
// width features each, through the server's prediction log.
func logPredictions(t *testing.T, db *pgxpool.Pool, model string, n, width int, at func(i int) time.Time) {
	t.Helper()
	ctx := testenv.Context(t)
	log := serving.NewPredictionLog(db, n, nil)
	for i := range n {
		x := make([]float32, width)
		for j := range x {
			x[j] = float32(i*j%97) / 97
		}
		log.Add(serving.LogEntry{RequestID: fmt.Sprint("r", i), Model: model, Entity: fmt.Sprint("C", i), Version: 1, Variant: "champion",
			Score: 0.5, At: at(i), Features: x})
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { log.Run(runCtx); close(done) }()
	for deadline := time.Now().Add(time.Minute); log.Written()+log.Dropped() < uint64(n); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("logged %d of %d", log.Written(), n)
		}
	}
	cancel()
	<-done
	if log.Dropped() > 0 {
		t.Fatalf("%d predictions dropped", log.Dropped())
	}
}

// TestLogRetentionDropsWholeDays: three days of log, a retention of one
// day, one maintenance run: the two old days' partitions are gone, the
// newest day keeps every row. (Before, nothing ever deleted from the log.)
func TestLogRetentionDropsWholeDays(t *testing.T) {
	ctx := testenv.Context(t)
	db, err := metastore.Open(ctx, testenv.PostgresURL(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	start := time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC)
	logPredictions(t, db, "retention.m", 300, 2, func(i int) time.Time { return start.Add(time.Duration(i) * 14 * time.Minute) }) // 3 days and a bit
	count := func() map[string]int {
		rows, _ := db.Query(ctx, `SELECT to_char(logged_at AT TIME ZONE 'UTC', 'YYYY-MM-DD'), count(*) FROM sluice.prediction_log WHERE model = 'retention.m' GROUP BY 1`)
		out := map[string]int{}
		for rows.Next() {
			var day string
			var n int
			rows.Scan(&day, &n)
			out[day] = n
		}
		return out
	}
	before := count()
	m := &monitor.Meter{DB: db}
	dropped, err := m.ExpireLog(ctx, 24*time.Hour, time.Date(2001, 1, 4, 6, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	after := count()
	if len(dropped) != 2 || !dropped[0].Equal(start) || after["2001-01-01"] != 0 || after["2001-01-02"] != 0 ||
		after["2001-01-03"] != before["2001-01-03"] || after["2001-01-03"] == 0 || after["2001-01-04"] != before["2001-01-04"] {
		t.Errorf("dropped %v; rows per day %v before, %v after", dropped, before, after)
	}
	var left int
	db.QueryRow(ctx, `SELECT count(*) FROM pg_class WHERE relname IN ('prediction_log_20010101', 'prediction_log_20010102')`).Scan(&left)
	if left != 0 {
		t.Errorf("%d old partitions left", left)
	}
}

// TestOnlineDriftReadsABoundedSample: online drift keeps a fixed-size
// sample of the window's logged rows, so its peak memory stays flat as
// the log grows 10x (before, it loaded the whole window).
func TestOnlineDriftReadsABoundedSample(t *testing.T) {
	ctx := testenv.Context(t)
	db, err := metastore.Open(ctx, testenv.PostgresURL(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	day := time.Date(2001, 2, 1, 0, 0, 0, 0, time.UTC)
	const width = 256 // 1 KiB of features a row
	m := &monitor.Meter{DB: db, DriftSample: 1000}
	peakOf := func() uint64 {
		peak := peakHeapDuring(func() {
			if _, err := m.OnlineDrift(ctx, monitor.OnlineDriftRequest{Model: "sample.m", Version: 1, Since: day, Until: day.Add(24 * time.Hour)}); err != nil {
				t.Fatal(err)
			}
		})
		return peak
	}
	at := func(i int) time.Time { return day.Add(time.Duration(i%86400) * time.Second) }
	logPredictions(t, db, "sample.m", 5_000, width, at)
	small := peakOf()
	logPredictions(t, db, "sample.m", 45_000, width, at) // 10x: 50 MB of features
	large := peakOf()
	t.Logf("peak heap: %d MiB over 5,000 rows, %d MiB over 50,000", small>>20, large>>20)
	if large > small+10<<20 {
		t.Errorf("peak heap grew from %d MiB to %d MiB as the log grew 10x", small>>20, large>>20)
	}
}

// peakHeapDuring samples the heap's objects while f runs, from a
// collected heap and with the collector kept close behind, so what the
// peak shows is what f holds rather than how far garbage got ahead.
func peakHeapDuring(f func()) uint64 {
	defer debug.SetGCPercent(debug.SetGCPercent(20))
	runtime.GC()
	var peak atomic.Uint64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		for {
			metrics.Read(s)
			if v := s[0].Value.Uint64(); v > peak.Load() {
				peak.Store(v)
			}
			select {
			case <-stop:
				return
			case <-time.After(200 * time.Microsecond):
			}
		}
	}()
	f()
	close(stop)
	<-done
	return peak.Load()
}
