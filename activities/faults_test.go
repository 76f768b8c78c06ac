package activities_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"go.temporal.io/sdk/testsuite"

	"github.com/sluice-ml/sluice/activities"
	"github.com/sluice-ml/sluice/features"
	"github.com/sluice-ml/sluice/ingest"
	"github.com/sluice-ml/sluice/lakehouse"
	"github.com/sluice-ml/sluice/metastore"
	"github.com/sluice-ml/sluice/online"
	"github.com/sluice-ml/sluice/testkit/testenv"
)

// TestIngestSurvivesS3Outage stops the lake's S3 server for 20 s in the
// middle of an ingest (after a segment is written) and in the middle of
// its commit (before the catalog moves), then retries the activity as
// Temporal would until it succeeds, with and without the last heartbeat:
// every row lands once, the rejected ones once in quarantine.
func TestIngestSurvivesS3Outage(t *testing.T) {
	if testing.Short() {
		t.Skip("20 s outages")
	}
	for _, point := range []string{"segment-written", "before-commit"} {
		for _, keep := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/heartbeat=%v", point, keep), func(t *testing.T) {
				cat, err := lakehouse.OpenCatalog(context.Background(), lakehouse.CatalogOptions{
					DatabaseURL: testenv.PostgresURL(t),
					Lake:        testenv.S3(t),
					Name:        "outage_" + strings.NewReplacer("/", "_", "-", "_", "=", "_").Replace(t.Name()) + fmt.Sprint(time.Now().UnixNano()),
				})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { cat.Close() })
				loader := &ingest.Loader{Catalog: cat, SegmentChunks: 1}
				a := &activities.Ingest{Loader: loader}
				path := filepath.Join(t.TempDir(), "customers.csv")
				writeCustomers(t, path, 600, map[int]string{77: "C77,too,many,columns,x", 420: ",pro,1,2026-11-01T10:00:00Z"})
				in := activities.IngestInput{Source: "customers", Format: "csv", Path: path, Key: "customer_id", Timestamp: "updated_at",
					RunID: "outage", ChunkRows: 100, MaxRejectRatio: 0.5}
				var progress activities.IngestProgress
				var back <-chan error
				loader.Fault = func(at string, p activities.IngestProgress) error {
					progress = p
					if at == point && back == nil {
						back = testenv.StopS3For(t, 20*time.Second)
					}
					return nil
				}
				var res activities.IngestResult
				attempts := 0
				for deadline := time.Now().Add(2 * time.Minute); ; attempts++ {
					var hb any
					if keep && attempts > 0 {
						hb = progress
					}
					if res, err = run(t, a, in, hb); err == nil {
						break
					}
					if time.Now().After(deadline) {
						t.Fatalf("still failing after %d attempts: %v", attempts+1, err)
					}
					time.Sleep(2 * time.Second) // Temporal's backoff, shortened
				}
				if back == nil {
					t.Fatal("the outage never started")
				}
				if err := <-back; err != nil {
					t.Fatalf("restarting S3: %v", err)
				}
				if attempts == 0 {
					t.Error("the ingest never failed while S3 was down")
				}
				if res.Rows != 598 || res.Rejected != 2 {
					t.Errorf("result %+v, want 598 rows and 2 rejects", res)
				}
				if rows, distinct := distinctIDs(t, cat, "raw.customers"); rows != 598 || distinct != 598 {
					t.Errorf("raw.customers has %d rows, %d distinct, want 598", rows, distinct)
				}
				if got := countRows(t, cat, "quarantine.customers"); got != 2 {
					t.Errorf("quarantine has %d rows, want 2", got)
				}
				t.Logf("%d failed attempts while S3 was down", attempts)
			})
		}
	}
}

// TestLakeCommitsSurviveS3OutageMidCommit stops the lake's S3 server for
// 20 s in the middle of a materialization's commit and of a compaction's:
// the new snapshot's files and metadata are written and the commit waits
// on the catalog row (held by the test) when S3 goes down; then the row is
// released and the catalog moves. The attempt fails on its next read;
// retries like Temporal's fail until S3 is back, then find the committed
// snapshot and finish. Every row is there once: the feature table holds
// each entity once per as-of time and the online store each entity once,
// with the new values; the compacted table every source row once.
func TestLakeCommitsSurviveS3OutageMidCommit(t *testing.T) {
	if testing.Short() {
		t.Skip("20 s outages")
	}
	const entities, days = 2000, 8
	for _, commit := range []string{"materialization", "compaction"} {
		t.Run(commit, func(t *testing.T) {
			ctx := context.Background()
			dbURL := testenv.PostgresURL(t)
			catalog := fmt.Sprintf("outage_%s_%d", commit, time.Now().UnixNano())
			cat, err := lakehouse.OpenCatalog(ctx, lakehouse.CatalogOptions{DatabaseURL: dbURL, Lake: testenv.S3(t), Name: catalog})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { cat.Close() })
			db, err := metastore.Open(ctx, dbURL, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			// Eight small files in one daily partition: what compaction
			// merges.
			txn := arrow.NewSchema([]arrow.Field{
				{Name: "customer_id", Type: arrow.BinaryTypes.String},
				{Name: "ts", Type: tsType},
				{Name: "amount", Type: arrow.PrimitiveTypes.Float64},
			}, nil)
			if _, err := cat.EnsureTable(ctx, "raw.spend_outage", txn, "ts"); err != nil {
				t.Fatal(err)
			}
			for d := 1; d <= days; d++ {
				b := array.NewRecordBuilder(memory.DefaultAllocator, txn)
				for i := range entities {
					b.Field(0).(*array.StringBuilder).Append(fmt.Sprintf("C%05d", i))
					b.Field(1).(*array.TimestampBuilder).Append(day(1, d))
					b.Field(2).(*array.Float64Builder).Append(float64(d))
				}
				if _, err := cat.Append(ctx, "raw.spend_outage", []arrow.RecordBatch{b.NewRecordBatch()}, fmt.Sprintf("load-%d", d)); err != nil {
					t.Fatal(err)
				}
			}
			view := "spend_outage"
			feats := &activities.Features{Store: &features.Store{Catalog: cat, Online: &online.Store{DB: db}, TempDir: t.TempDir()}}
			materialize := func(asOf time.Time) error {
				_, err := runActivityErr(feats, feats.Materialize, activities.MaterializeInput{AsOf: asOf, RunID: "m/" + asOf.Format("0102"), Online: true,
					View: activities.SourcedView{Table: "raw.spend_outage", View: activities.View{Name: view, Key: "customer_id", Timestamp: "ts",
						Aggregations: []activities.Aggregation{{Column: "amount", Function: "sum", Window: 48 * time.Hour}}}}})
				return err
			}
			t1, t2 := time.Date(2026, 11, 4, 0, 0, 0, 0, time.UTC), time.Date(2026, 11, 8, 0, 0, 0, 0, time.UTC)
			lake := &activities.Lake{Catalog: cat}
			compact := func() error {
				_, err := runActivityErr(lake, lake.MaintainTable, activities.MaintainTableInput{Table: "raw.spend_outage"})
				return err
			}
			var work func() error
			var ns, table string
			switch commit {
			case "materialization":
				db.Exec(ctx, "DROP TABLE IF EXISTS sluice_online."+view)
				// The first as-of time, uninterrupted, makes the table.
				if err := materialize(t1); err != nil {
					t.Fatal(err)
				}
				work, ns, table = func() error { return materialize(t2) }, "features", view
			case "compaction":
				work, ns, table = compact, "raw", "spend_outage"
			}

			hold := testenv.HoldCatalogRow(t, dbURL, catalog, ns, table)
			first := make(chan error, 1)
			go func() { first <- work() }()
			hold.WaitBlocked()
			back := testenv.StopS3For(t, 20*time.Second)
			hold.Release()
			attempts := 0
			err = <-first
			for deadline := time.Now().Add(2 * time.Minute); err != nil; attempts++ {
				if time.Now().After(deadline) {
					t.Fatalf("still failing after %d attempts: %v", attempts+1, err)
				}
				time.Sleep(2 * time.Second) // Temporal's backoff, shortened
				err = work()
			}
			if err := <-back; err != nil {
				t.Fatalf("restarting S3: %v", err)
			}
			if attempts == 0 {
				t.Fatalf("the %s never failed while S3 was down", commit)
			}
			t.Logf("%d failed attempts while S3 was down", attempts)

			// Each row once.
			onceEach := func(name, timeColumn string, want int) {
				t.Helper()
				sr, err := cat.Scan(ctx, name, lakehouse.ScanOptions{Columns: []string{"customer_id", timeColumn}})
				if err != nil {
					t.Fatal(err)
				}
				seen := map[string]int{}
				for _, r := range sr.Records {
					for i := range int(r.NumRows()) {
						seen[r.Column(0).ValueStr(i)+"@"+r.Column(1).ValueStr(i)]++
					}
					r.Release()
				}
				if len(seen) != want {
					t.Errorf("%s holds %d distinct rows, want %d", name, len(seen), want)
				}
				for k, n := range seen {
					if n != 1 {
						t.Fatalf("%s holds %s %d times", name, k, n)
					}
				}
			}
			switch commit {
			case "materialization":
				onceEach("features."+view, features.AsOfColumn, 2*entities)
				var rows, distinct, fresh int
				if err := db.QueryRow(ctx, `SELECT count(*), count(DISTINCT customer_id), count(*) FILTER (WHERE event_time = $1) FROM sluice_online.`+view, t2).Scan(&rows, &distinct, &fresh); err != nil {
					t.Fatal(err)
				}
				if rows != entities || distinct != entities || fresh != entities {
					t.Errorf("the online store holds %d rows, %d entities, %d as of the second run; want %d", rows, distinct, fresh, entities)
				}
			case "compaction":
				onceEach("raw.spend_outage", "ts", entities*days)
				sr, err := cat.Scan(ctx, "raw.spend_outage", lakehouse.ScanOptions{Columns: []string{"customer_id"}})
				if err != nil {
					t.Fatal(err)
				}
				for _, r := range sr.Records {
					r.Release()
				}
				if sr.FilesPlanned >= days {
					t.Errorf("raw.spend_outage still reads %d files: the compaction did not land", sr.FilesPlanned)
				}
			}
		})
	}
}

// runActivityErr runs one activity method in a test environment.
func runActivityErr[In, Out any](a any, method func(context.Context, In) (Out, error), in In) (Out, error) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	env.RegisterActivity(a)
	var res Out
	val, err := env.ExecuteActivity(method, in)
	if err == nil {
		err = val.Get(&res)
	}
	return res, err
}
