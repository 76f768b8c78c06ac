package activities_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/jackc/pgx/v5"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/sluice-ml/sluice/activities"
	"github.com/sluice-ml/sluice/ingest"
	"github.com/sluice-ml/sluice/internal/permanent"
	"github.com/sluice-ml/sluice/lakehouse"
	"github.com/sluice-ml/sluice/metastore"
	"github.com/sluice-ml/sluice/quality"
	"github.com/sluice-ml/sluice/sources"
	"github.com/sluice-ml/sluice/testkit/testenv"
)

// writeCustomers writes n rows, with the rows whose index is in bad
// broken.
func writeCustomers(t *testing.T, path string, n int, bad map[int]string) {
	t.Helper()
	var b strings.Builder
	b.WriteString("customer_id,plan,tenure,updated_at\n")
	for i := range n {
		if bad[i] != "" {
			b.WriteString(bad[i] + "\n")
			continue
		}
		fmt.Fprintf(&b, "C%d,plan-%d,%d,2026-11-%02dT10:00:00Z\n", i, i%3, i%70, 1+i%20)
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

func newIngest(t *testing.T) *activities.Ingest {
	t.Helper()
	cat, err := lakehouse.OpenCatalog(context.Background(), lakehouse.CatalogOptions{
		DatabaseURL: testenv.PostgresURL(t),
		Lake:        lakehouse.Options{URL: "file://" + t.TempDir() + "/lake"},
		Name:        "ingest_" + strings.ReplaceAll(t.Name(), "/", "_") + fmt.Sprint(time.Now().UnixNano()),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cat.Close() })
	return &activities.Ingest{Loader: &ingest.Loader{Catalog: cat}}
}

func countRows(t *testing.T, cat *lakehouse.Catalog, table string) int64 {
	t.Helper()
	res, err := cat.Scan(context.Background(), table, lakehouse.ScanOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, r := range res.Records {
		n += r.NumRows()
		r.Release()
	}
	return n
}

func run(t *testing.T, a *activities.Ingest, in activities.IngestInput, heartbeat any) (activities.IngestResult, error) {
	t.Helper()
	return runActivity(a, in, heartbeat)
}

func runBench(b *testing.B, a *activities.Ingest, in activities.IngestInput) (activities.IngestResult, error) {
	b.Helper()
	return runActivity(a, in, nil)
}

func runActivity(a *activities.Ingest, in activities.IngestInput, heartbeat any) (activities.IngestResult, error) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	env.RegisterActivity(a)
	if heartbeat != nil {
		env.SetHeartbeatDetails(heartbeat)
	}
	val, err := env.ExecuteActivity(a.IngestFile, in)
	var res activities.IngestResult
	if err == nil {
		err = val.Get(&res)
	}
	return res, err
}

func TestIngestQuarantinesBadRowsAndRetriesWriteNothingTwice(t *testing.T) {
	a := newIngest(t)
	path := filepath.Join(t.TempDir(), "customers.csv")
	writeCustomers(t, path, 400, map[int]string{
		// Types are inferred from the first chunk, so a bad number is
		// caught in a later one.
		250: "C250,pro,notanumber,2026-11-01T10:00:00Z",
		300: ",basic,1,2026-11-02T10:00:00Z",
	})
	in := activities.IngestInput{Source: "customers", Format: "csv", Path: path, Key: "customer_id", Timestamp: "updated_at", RunID: "ingest/customers/1", ChunkRows: 100}
	res, err := run(t, a, in, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Rows != 398 || res.Rejected != 2 || res.Chunks != 4 {
		t.Errorf("result %+v", res)
	}
	if got := countRows(t, a.Loader.Catalog, "raw.customers"); got != 398 {
		t.Errorf("raw.customers has %d rows, want 398", got)
	}
	q, err := a.Loader.Catalog.Scan(context.Background(), "quarantine.customers", lakehouse.ScanOptions{Columns: []string{"line", "reason"}})
	if err != nil {
		t.Fatal(err)
	}
	var reasons []string
	for _, r := range q.Records {
		lines, rs := r.Column(0).(*array.Int64), r.Column(1).(*array.String)
		for i := range int(r.NumRows()) {
			reasons = append(reasons, fmt.Sprintf("%d %s", lines.Value(i), rs.Value(i)))
		}
		r.Release()
	}
	if len(reasons) != 2 || !strings.Contains(strings.Join(reasons, "|"), `252 column tenure: not an integer`) ||
		!strings.Contains(strings.Join(reasons, "|"), "302 null key customer_id") {
		t.Errorf("quarantine: %q", reasons)
	}

	// The activity retried after it committed: nothing is written again.
	if _, err := run(t, a, in, nil); err != nil {
		t.Fatal(err)
	}
	if got := countRows(t, a.Loader.Catalog, "raw.customers"); got != 398 {
		t.Errorf("after a retry raw.customers has %d rows, want 398", got)
	}
	if got := countRows(t, a.Loader.Catalog, "quarantine.customers"); got != 2 {
		t.Errorf("after a retry the quarantine has %d rows, want 2", got)
	}
}

// distinctIDs counts a table's rows and its distinct customer ids.
func distinctIDs(t *testing.T, cat *lakehouse.Catalog, table string) (rows, distinct int) {
	t.Helper()
	res, err := cat.Scan(context.Background(), table, lakehouse.ScanOptions{Columns: []string{"customer_id"}})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, r := range res.Records {
		ids := r.Column(0).(*array.String)
		for i := range ids.Len() {
			seen[ids.Value(i)] = true
			rows++
		}
		r.Release()
	}
	return rows, len(seen)
}

var errCrash = errors.New("injected crash")

// crashAt fails the attempt at the nth time a point is reached, keeping
// the progress heartbeated there for the next attempt.
func crashAt(point string, nth int, saved *activities.IngestProgress) func(string, activities.IngestProgress) error {
	n := 0
	return func(at string, p activities.IngestProgress) error {
		if at != point {
			return nil
		}
		if n++; n == nth {
			*saved = p
			return errCrash
		}
		return nil
	}
}

func TestIngestResumesAfterTheLastWrittenSegment(t *testing.T) {
	a := newIngest(t)
	a.Loader.SegmentChunks = 1
	path := filepath.Join(t.TempDir(), "customers.csv")
	writeCustomers(t, path, 500, map[int]string{150: ",pro,1,2026-11-01T10:00:00Z", 420: ",pro,1,2026-11-01T10:00:00Z"})
	in := activities.IngestInput{Source: "customers", Format: "csv", Path: path, Key: "customer_id", Timestamp: "updated_at", RunID: "resume", ChunkRows: 100, MaxRejectRatio: 0.5}
	var saved activities.IngestProgress
	a.Loader.Fault = crashAt("segment-written", 2, &saved)
	if _, err := run(t, a, in, nil); !errors.Is(err, errCrash) && !strings.Contains(fmt.Sprint(err), errCrash.Error()) {
		t.Fatalf("first attempt: %v, want the injected crash", err)
	}
	if saved.Chunks != 2 || saved.Rows != 199 || saved.Rejected != 1 || len(saved.Files) == 0 {
		t.Fatalf("progress at the crash %+v", saved)
	}
	// Nothing is visible before the commit.
	if got := countRows(t, a.Loader.Catalog, "raw.customers"); got != 0 {
		t.Fatalf("raw.customers shows %d rows before the commit", got)
	}
	a.Loader.Fault = nil
	res, err := run(t, a, in, saved)
	if err != nil {
		t.Fatal(err)
	}
	if res.ResumedAt != 2 || res.Rows != 498 || res.Rejected != 2 {
		t.Errorf("result %+v, want resumed at chunk 2 with 498 rows and 2 rejects", res)
	}
	if rows, distinct := distinctIDs(t, a.Loader.Catalog, "raw.customers"); rows != 498 || distinct != 498 {
		t.Errorf("raw.customers has %d rows, %d distinct, want 498", rows, distinct)
	}
	if got := countRows(t, a.Loader.Catalog, "quarantine.customers"); got != 2 {
		t.Errorf("quarantine has %d rows, want 2", got)
	}
}

func TestIngestCrashBeforeOrAfterCommitNeitherLosesNorDoubles(t *testing.T) {
	for _, point := range []string{"before-commit", "after-commit"} {
		for _, keep := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/heartbeat=%v", point, keep), func(t *testing.T) {
				a := newIngest(t)
				a.Loader.SegmentChunks = 2
				path := filepath.Join(t.TempDir(), "customers.csv")
				writeCustomers(t, path, 700, map[int]string{10: "C10,too,many,columns,x", 650: ",pro,1,2026-11-01T10:00:00Z"})
				in := activities.IngestInput{Source: "customers", Format: "csv", Path: path, Key: "customer_id", Timestamp: "updated_at", RunID: "crash", ChunkRows: 100}
				var saved activities.IngestProgress
				a.Loader.Fault = crashAt(point, 1, &saved)
				if _, err := run(t, a, in, nil); err == nil || !strings.Contains(err.Error(), errCrash.Error()) {
					t.Fatalf("first attempt: %v, want the injected crash", err)
				}
				a.Loader.Fault = nil
				var hb any
				if keep {
					hb = saved
				}
				res, err := run(t, a, in, hb)
				if err != nil {
					t.Fatal(err)
				}
				if res.Rows != 698 || res.Rejected != 2 {
					t.Errorf("result %+v, want 698 rows and 2 rejects", res)
				}
				if rows, distinct := distinctIDs(t, a.Loader.Catalog, "raw.customers"); rows != 698 || distinct != 698 {
					t.Errorf("raw.customers has %d rows, %d distinct, want 698", rows, distinct)
				}
				if got := countRows(t, a.Loader.Catalog, "quarantine.customers"); got != 2 {
					t.Errorf("quarantine has %d rows, want 2", got)
				}
			})
		}
	}
}

func TestIngestRejectRatioCommitsNothing(t *testing.T) {
	a := newIngest(t)
	path := filepath.Join(t.TempDir(), "customers.csv")
	bad := map[int]string{}
	for i := 0; i < 100; i += 10 {
		bad[i] = "C,too,many,columns,here"
	}
	writeCustomers(t, path, 100, bad)
	_, err := run(t, a, activities.IngestInput{Source: "customers", Format: "csv", Path: path, Key: "customer_id", RunID: "r3"}, nil)
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) || !appErr.NonRetryable() || appErr.Type() != permanent.RejectRatio {
		t.Fatalf("got %v, want a non-retryable %s", err, permanent.RejectRatio)
	}
	if !strings.Contains(err.Error(), "10 of 100 rows") || !strings.Contains(err.Error(), "5 columns, want 4") {
		t.Errorf("message: %v", err)
	}
	if tables, _ := a.Loader.Catalog.Tables(context.Background()); strings.Contains(strings.Join(tables, ","), "raw.customers") {
		t.Errorf("raw.customers was created: %v", tables)
	}
	if got := countRows(t, a.Loader.Catalog, "quarantine.customers"); got != 10 {
		t.Errorf("quarantine has %d rows, want 10", got)
	}
}

func TestIngestEvolvesAddedColumnsAndRefusesDrift(t *testing.T) {
	a := newIngest(t)
	dir := t.TempDir()
	v1 := filepath.Join(dir, "v1.csv")
	os.WriteFile(v1, []byte("id,amount\nA,1.5\nB,2.5\n"), 0o644)
	if _, err := run(t, a, activities.IngestInput{Source: "tx", Format: "csv", Path: v1, Key: "id", RunID: "v1"}, nil); err != nil {
		t.Fatal(err)
	}
	v2 := filepath.Join(dir, "v2.csv")
	os.WriteFile(v2, []byte("id,amount,channel\nC,3.5,web\n"), 0o644)
	res, err := run(t, a, activities.IngestInput{Source: "tx", Format: "csv", Path: v2, Key: "id", RunID: "v2"}, nil)
	if err != nil || len(res.AddedColumns) != 1 || res.AddedColumns[0] != "channel" {
		t.Fatalf("added %v, %v", res.AddedColumns, err)
	}
	if got := countRows(t, a.Loader.Catalog, "raw.tx"); got != 3 {
		t.Errorf("raw.tx has %d rows", got)
	}
	v3 := filepath.Join(dir, "v3.csv")
	os.WriteFile(v3, []byte("id,channel\nD,web\n"), 0o644)
	_, err = run(t, a, activities.IngestInput{Source: "tx", Format: "csv", Path: v3, Key: "id", RunID: "v3"}, nil)
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) || appErr.Type() != permanent.SchemaMismatch || !strings.Contains(err.Error(), "column amount was removed") {
		t.Fatalf("got %v, want schema drift naming amount", err)
	}
}

func TestIngestFullRefreshReplacesAtomicallyOnce(t *testing.T) {
	a := newIngest(t)
	dir := t.TempDir()
	v1 := filepath.Join(dir, "v1.csv")
	writeCustomers(t, v1, 30, nil)
	if _, err := run(t, a, activities.IngestInput{Source: "customers", Format: "csv", Path: v1, Key: "customer_id", RunID: "r1", ChunkRows: 10}, nil); err != nil {
		t.Fatal(err)
	}
	v2 := filepath.Join(dir, "v2.csv")
	writeCustomers(t, v2, 12, map[int]string{5: ",basic,1,2026-11-02T10:00:00Z"})
	in := activities.IngestInput{Source: "customers", Format: "csv", Path: v2, Key: "customer_id", RunID: "r2", FullRefresh: true, MaxRejectRatio: 0.5}
	res, err := run(t, a, in, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := countRows(t, a.Loader.Catalog, "raw.customers"); got != 11 || res.Rows != 11 {
		t.Errorf("after a full refresh raw.customers has %d rows (result %d), want 11", got, res.Rows)
	}
	// Retried after committing: the same content, the same quarantine.
	if _, err := run(t, a, in, nil); err != nil {
		t.Fatal(err)
	}
	if got := countRows(t, a.Loader.Catalog, "raw.customers"); got != 11 {
		t.Errorf("after a retried full refresh raw.customers has %d rows, want 11", got)
	}
	if got := countRows(t, a.Loader.Catalog, "quarantine.customers"); got != 1 {
		t.Errorf("quarantine has %d rows, want 1", got)
	}
}

// newQueryIngest is an ingest whose postgres sources default to the test
// database, and a connection to it with ddl run.
func newQueryIngest(t *testing.T, ddl string) (*activities.Ingest, *pgx.Conn) {
	t.Helper()
	a := newIngest(t)
	a.Loader.DatabaseURL = testenv.PostgresURL(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, a.Loader.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(ctx) })
	if _, err := conn.Exec(ctx, ddl); err != nil {
		t.Fatal(err)
	}
	return a, conn
}

func TestIngestPostgresQueryIsIncremental(t *testing.T) {
	ctx := context.Background()
	a, conn := newQueryIngest(t, `
		DROP TABLE IF EXISTS crm_labels;
		CREATE TABLE crm_labels (customer_id text, churned boolean, score numeric, label_at timestamptz);
		INSERT INTO crm_labels VALUES
			('C1', true, 0.5, '2026-11-01 10:00+00'), ('C2', false, 1, '2026-11-02 10:00+00'), (NULL, true, 2, '2026-11-02 11:00+00');`)
	in := activities.IngestInput{Source: "labels", Format: "postgres", Query: "SELECT * FROM crm_labels WHERE label_at > $1 ORDER BY label_at",
		Key: "customer_id", Timestamp: "label_at", RunID: "labels/1", MaxRejectRatio: 0.5}
	res, err := run(t, a, in, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Rows != 2 || res.Rejected != 1 {
		t.Fatalf("first load %+v", res)
	}
	// A retry of the same run writes nothing more.
	if _, err := run(t, a, in, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `INSERT INTO crm_labels VALUES ('C3', true, 3, '2026-11-03 10:00+00'), ('C0', false, 0, '2026-10-01 00:00+00')`); err != nil {
		t.Fatal(err)
	}
	// The second run's url names a worker variable: the spec holds the
	// name, the worker's environment the secret.
	t.Setenv("SLUICE_SOURCE_LABELS_URL", a.Loader.DatabaseURL)
	in.RunID, in.SourceURL = "labels/2", "${SLUICE_SOURCE_LABELS_URL}"
	a.Loader.DatabaseURL = "postgres://nobody@127.0.0.1:1/unused"
	res, err = run(t, a, in, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Only the row newer than the watermark (C3); C0 is older.
	if res.Rows != 1 || countRows(t, a.Loader.Catalog, "raw.labels") != 3 {
		t.Errorf("second load %+v, raw.labels has %d rows, want 1 new and 3 in all", res, countRows(t, a.Loader.Catalog, "raw.labels"))
	}
	// The null-key row is newer than the watermark (which covers loaded
	// rows only), so each run reads it again until it is fixed at the
	// source, and quarantines it under that run.
	if got := countRows(t, a.Loader.Catalog, "quarantine.labels"); got != 2 {
		t.Errorf("quarantine has %d rows, want 2 (one per run)", got)
	}
	in.RunID, in.SourceURL = "labels/3", "${SLUICE_SOURCE_LABELS_UNSET}"
	if _, err := run(t, a, in, nil); err == nil || !strings.Contains(err.Error(), "SLUICE_SOURCE_LABELS_UNSET") || !strings.Contains(err.Error(), permanent.BadInput) {
		t.Errorf("an unset url variable: %v, want a bad-input error naming it", err)
	}
	// Another source's secret is not this source's to send anywhere.
	t.Setenv("SLUICE_SOURCE_BILLING_URL", "postgres://billing:s3cret@127.0.0.1:1/billing")
	in.RunID, in.SourceURL = "labels/4", "${SLUICE_SOURCE_BILLING_URL}"
	if _, err := run(t, a, in, nil); err == nil || !strings.Contains(err.Error(), "reads only") || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("another source's variable: %v, want a bad-input error without its value", err)
	}
}

func TestIngestQualityChecksGateTheCommit(t *testing.T) {
	a := newIngest(t)
	pool, err := metastore.Open(context.Background(), testenv.PostgresURL(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	a.Loader.Quality = &quality.Store{DB: pool}
	path := filepath.Join(t.TempDir(), "customers.csv")
	writeCustomers(t, path, 50, nil)
	zero, ten := 0.0, 10.0
	in := activities.IngestInput{Source: "customers", Format: "csv", Path: path, Key: "customer_id", RunID: "q1",
		Checks: []quality.Check{
			{Column: "customer_id", Unique: true},
			{Column: "tenure", Min: &zero, Max: &ten, Level: "warn"},
		}}
	res, err := run(t, a, in, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Quality) != 2 || !res.Quality[0].Passed || res.Quality[1].Passed || res.Quality[1].Violations == 0 {
		t.Errorf("quality %+v", res.Quality)
	}

	// A failing fail-level check commits nothing.
	in.RunID, in.Source = "q2", "customers2"
	in.Checks = []quality.Check{{Column: "plan", Allowed: []string{"plan-0"}}}
	_, err = run(t, a, in, nil)
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) || appErr.Type() != permanent.Quality || !appErr.NonRetryable() {
		t.Fatalf("got %v, want a non-retryable %s", err, permanent.Quality)
	}
	if tables, _ := a.Loader.Catalog.Tables(context.Background()); strings.Contains(strings.Join(tables, ","), "raw.customers2") {
		t.Errorf("raw.customers2 was created: %v", tables)
	}
	var stored int
	if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM sluice.quality_results WHERE run_id IN ('q1', 'q2')`).Scan(&stored); err != nil || stored != 3 {
		t.Errorf("stored %d results (%v), want 3", stored, err)
	}
}

// TestIngestParquetFolderLocalAndS3 lands a folder of Parquet files, from
// disk and from an S3 prefix (versitygw), as one source each.
func TestIngestParquetFolderLocalAndS3(t *testing.T) {
	a := newIngest(t)
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "tx")
	os.MkdirAll(filepath.Join(dir, "day=2"), 0o755)
	os.WriteFile(filepath.Join(dir, "_SUCCESS"), nil, 0o644)
	files := map[string][]string{
		"day=1.parquet":        {"A", "B", "C"},
		"day=2/part-0.parquet": {"D", "E", "F", "G"},
	}
	for name, ids := range files {
		amounts := make([]float64, len(ids))
		for i := range amounts {
			amounts[i] = float64(i) + 0.5
		}
		if err := sources.WriteFile(filepath.Join(dir, name), []sources.Column{{Name: "id", Strings: ids}, {Name: "amount", Values: amounts}}); err != nil {
			t.Fatal(err)
		}
	}
	in := activities.IngestInput{Source: "tx_local", Format: "parquet", Path: dir, Key: "id", RunID: "folder", MaxRejectRatio: 0.5}
	res, err := run(t, a, in, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Rows != 7 || res.Rejected != 0 || countRows(t, a.Loader.Catalog, "raw.tx_local") != 7 {
		t.Fatalf("local folder: %+v, table %d rows", res, countRows(t, a.Loader.Catalog, "raw.tx_local"))
	}

	s3 := testenv.S3(t)
	store, err := lakehouse.Open(ctx, s3)
	if err != nil {
		t.Fatal(err)
	}
	for name := range files {
		f, err := os.Open(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		err = store.Put(ctx, "drop/tx/"+filepath.ToSlash(name), f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
	}
	// An object that only shares the prefix is not part of the source.
	if err := store.Put(ctx, "drop/tx-old.parquet", strings.NewReader("not parquet")); err != nil {
		t.Fatal(err)
	}
	a.Loader.S3 = s3
	bucket := strings.TrimPrefix(strings.Split(s3.URL, "/lake")[0], "s3://")
	in = activities.IngestInput{Source: "tx_s3", Format: "parquet", Path: "s3://" + bucket + "/lake/drop/tx", Key: "id", RunID: "s3", MaxRejectRatio: 0.5}
	res2, err := run(t, a, in, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res2.Rows != 7 || countRows(t, a.Loader.Catalog, "raw.tx_s3") != 7 {
		t.Errorf("from S3 %+v, table %d rows", res2, countRows(t, a.Loader.Catalog, "raw.tx_s3"))
	}
	in.Path, in.Source, in.RunID = "s3://"+bucket+"/lake/drop/missing", "tx_missing", "missing"
	if _, err := run(t, a, in, nil); err == nil || !strings.Contains(err.Error(), "no such object or prefix") {
		t.Errorf("a missing prefix: %v", err)
	}
}

// TestIngestStoringQualityResultsFailsRetryably: when the quality results
// cannot be stored (the database is gone), the attempt fails retryably
// and leaves its staged files, and the retry from its last heartbeat
// lands every row once. (The move into package ingest briefly treated
// the storage error as a veto: it removed the staged files and every
// retry failed.)
func TestIngestStoringQualityResultsFailsRetryably(t *testing.T) {
	a := newIngest(t)
	a.Loader.SegmentChunks = 1
	closed, err := metastore.Open(context.Background(), testenv.PostgresURL(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	closed.Close()
	a.Loader.Quality = &quality.Store{DB: closed}
	var saved activities.IngestProgress
	a.Loader.Fault = func(at string, p activities.IngestProgress) error {
		saved = p
		return nil
	}
	path := filepath.Join(t.TempDir(), "customers.csv")
	writeCustomers(t, path, 500, nil)
	in := activities.IngestInput{Source: "customers", Format: "csv", Path: path, Key: "customer_id", RunID: "store-fails", ChunkRows: 100,
		Checks: []quality.Check{{Column: "customer_id", NotNull: true}}}
	_, err = run(t, a, in, nil)
	var appErr *temporal.ApplicationError
	if err == nil || (errors.As(err, &appErr) && appErr.NonRetryable()) {
		t.Fatalf("got %v, want a retryable error", err)
	}
	if len(saved.Files) == 0 {
		t.Fatal("no segment was written before the failure")
	}
	pool, err := metastore.Open(context.Background(), testenv.PostgresURL(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	a.Loader.Quality = &quality.Store{DB: pool}
	res, err := run(t, a, in, saved)
	if err != nil {
		t.Fatalf("the retry: %v", err)
	}
	if res.ResumedAt != saved.Chunks {
		t.Errorf("the retry resumed at chunk %d, want %d", res.ResumedAt, saved.Chunks)
	}
	if rows, distinct := distinctIDs(t, a.Loader.Catalog, "raw.customers"); rows != 500 || distinct != 500 {
		t.Errorf("raw.customers holds %d rows (%d distinct), want 500 once each", rows, distinct)
	}
}

// TestIngestPostgresSourceQueriesCannotWrite: a source query runs in a
// read-only transaction, so one that would change the platform's own
// tables (the platform's database is the default source, and its owner
// may write anything) fails as bad input and changes nothing. (Before, it
// ran read-write as the database's owner.)
func TestIngestPostgresSourceQueriesCannotWrite(t *testing.T) {
	ctx := context.Background()
	a, conn := newQueryIngest(t, `
		DROP TABLE IF EXISTS ro_canary;
		CREATE TABLE ro_canary (id text, at timestamptz);
		INSERT INTO ro_canary VALUES ('kept', '2026-11-01 10:00+00');`)
	for i, query := range []string{
		"WITH gone AS (DELETE FROM ro_canary RETURNING id, at) SELECT id, at FROM gone",
		"UPDATE ro_canary SET id = 'changed' RETURNING id, at",
	} {
		in := activities.IngestInput{Source: "ro_probe", Format: "postgres", Query: query, Key: "id", Timestamp: "at", RunID: fmt.Sprintf("ro/%d", i)}
		_, err := run(t, a, in, nil)
		var appErr *temporal.ApplicationError
		if !errors.As(err, &appErr) || appErr.Type() != permanent.BadInput || !strings.Contains(err.Error(), "read-only") {
			t.Errorf("%s: %v, want a bad-input error about the read-only transaction", query, err)
		}
	}
	var id string
	var n int
	if err := conn.QueryRow(ctx, `SELECT min(id), count(*) FROM ro_canary`).Scan(&id, &n); err != nil || id != "kept" || n != 1 {
		t.Errorf("ro_canary holds %d rows, first %q (%v): a source query wrote", n, id, err)
	}
}

// TestParquetInt8LandsAndAFailedFirstIngestLeavesNoTable: a Parquet
// int8 label (Iceberg has no int8) lands as int; a first ingest that fails
// for good (a uint64 past int64) leaves no table behind, so the corrected
// file lands in a fresh one.
func TestParquetInt8LandsAndAFailedFirstIngestLeavesNoTable(t *testing.T) {
	a := newIngest(t)
	dir := t.TempDir()
	write := func(name string, field arrow.Field, fill func(array.Builder)) string {
		schema := arrow.NewSchema([]arrow.Field{{Name: "id", Type: arrow.BinaryTypes.String}, field}, nil)
		b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
		defer b.Release()
		b.Field(0).(*array.StringBuilder).AppendValues([]string{"A", "B"}, nil)
		fill(b.Field(1))
		rec := b.NewRecordBatch()
		defer rec.Release()
		path := filepath.Join(dir, name)
		if err := sources.WriteParquet(path, schema, func(yield func(arrow.RecordBatch, error) bool) { yield(rec, nil) }); err != nil {
			t.Fatal(err)
		}
		return path
	}
	big := write("big.parquet", arrow.Field{Name: "label", Type: arrow.PrimitiveTypes.Uint64}, func(b array.Builder) {
		b.(*array.Uint64Builder).AppendValues([]uint64{1, math.MaxUint64}, nil)
	})
	_, err := run(t, a, activities.IngestInput{Source: "labels8", Format: "parquet", Path: big, Key: "id", RunID: "big"}, nil)
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) || !appErr.NonRetryable() || !strings.Contains(err.Error(), "label") {
		t.Fatalf("a uint64 past int64: %v, want a non-retryable error naming the column", err)
	}
	if ok, _ := a.Loader.Catalog.Exists(context.Background(), "raw.labels8"); ok {
		t.Error("the failed first ingest left raw.labels8 behind")
	}
	small := write("small.parquet", arrow.Field{Name: "label", Type: arrow.PrimitiveTypes.Int8}, func(b array.Builder) {
		b.(*array.Int8Builder).AppendValues([]int8{0, 1}, nil)
	})
	if _, err := run(t, a, activities.IngestInput{Source: "labels8", Format: "parquet", Path: small, Key: "id", RunID: "small"}, nil); err != nil {
		t.Fatalf("an int8 label: %v", err)
	}
	if got := countRows(t, a.Loader.Catalog, "raw.labels8"); got != 2 {
		t.Errorf("raw.labels8 has %d rows, want 2", got)
	}
}

// TestIngestOfUnchangedFilesLandsNothing: a pipeline that ingests the
// file a manual ingest already landed appends nothing; a changed file
// lands.
func TestIngestOfUnchangedFilesLandsNothing(t *testing.T) {
	a := newIngest(t)
	path := filepath.Join(t.TempDir(), "customers.csv")
	writeCustomers(t, path, 50, nil)
	first, err := run(t, a, activities.IngestInput{Source: "same", Format: "csv", Path: path, Key: "customer_id", RunID: "first"}, nil)
	if err != nil || first.Rows != 50 || first.Unchanged {
		t.Fatalf("first ingest %+v, %v", first, err)
	}
	again, err := run(t, a, activities.IngestInput{Source: "same", Format: "csv", Path: path, Key: "customer_id", RunID: "again"}, nil)
	if err != nil || !again.Unchanged || again.Rows != 0 || again.SnapshotID != first.SnapshotID {
		t.Fatalf("ingest of the same file %+v, %v; want unchanged at snapshot %d", again, err, first.SnapshotID)
	}
	if got := countRows(t, a.Loader.Catalog, "raw.same"); got != 50 {
		t.Errorf("raw.same has %d rows, want 50", got)
	}
	retried, err := run(t, a, activities.IngestInput{Source: "same", Format: "csv", Path: path, Key: "customer_id", RunID: "first"}, nil)
	if err != nil || retried.Unchanged || retried.Rows != 50 {
		t.Errorf("a retry of the committed run %+v, %v; want its own result", retried, err)
	}
	// A full refresh, or the same file read another way, always lands.
	full, err := run(t, a, activities.IngestInput{Source: "same", Format: "csv", Path: path, Key: "customer_id", RunID: "full", FullRefresh: true}, nil)
	if err != nil || full.Unchanged || full.Rows != 50 || countRows(t, a.Loader.Catalog, "raw.same") != 50 {
		t.Errorf("a full refresh of the same file %+v, %v", full, err)
	}
	typed, err := run(t, a, activities.IngestInput{Source: "same", Format: "csv", Path: path, Key: "customer_id", RunID: "typed", FullRefresh: true,
		Schema: map[string]string{"customer_id": "string"}}, nil)
	if err != nil || typed.Unchanged {
		t.Errorf("the same file with a declared schema %+v, %v", typed, err)
	}
	writeCustomers(t, path, 60, nil)
	changed, err := run(t, a, activities.IngestInput{Source: "same", Format: "csv", Path: path, Key: "customer_id", RunID: "changed"}, nil)
	if err != nil || changed.Unchanged || changed.Rows != 60 {
		t.Errorf("ingest of a changed file %+v, %v", changed, err)
	}
}
