package activities_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluice-ml/sluice/activities"
	"github.com/sluice-ml/sluice/internal/testenv"
	"github.com/sluice-ml/sluice/lakehouse"
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
				a := &activities.Ingest{Catalog: cat, SegmentChunks: 1}
				path := filepath.Join(t.TempDir(), "customers.csv")
				writeCustomers(t, path, 600, map[int]string{77: "C77,too,many,columns,x", 420: ",pro,1,2026-11-01T10:00:00Z"})
				in := activities.IngestInput{Source: "customers", Format: "csv", Path: path, Key: "customer_id", Timestamp: "updated_at",
					RunID: "outage", ChunkRows: 100, MaxRejectRatio: 0.5}
				var progress activities.IngestProgress
				var back <-chan error
				a.Fault = func(at string, p activities.IngestProgress) error {
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
