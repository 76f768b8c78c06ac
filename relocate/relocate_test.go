package relocate_test

import (
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/sluice-ml/sluice/lakehouse"
	"github.com/sluice-ml/sluice/metastore"
	"github.com/sluice-ml/sluice/online"
	"github.com/sluice-ml/sluice/registry"
	"github.com/sluice-ml/sluice/relocate"
	"github.com/sluice-ml/sluice/scoring"
	"github.com/sluice-ml/sluice/specstore"
	"github.com/sluice-ml/sluice/testkit/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// TestMoveFirstReleaseInstallIntoItsProject makes an install the way the
// first release did (bare names: raw.labels, predictions.churn in the lake
// and PostgreSQL, sluice_online.profile, model churn), moves it, and reads
// everything back under the project's names.
func TestMoveFirstReleaseInstallIntoItsProject(t *testing.T) {
	ctx := testenv.Context(t)
	dbURL := testenv.NewDatabase(t)
	db, err := metastore.Open(ctx, dbURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	cat, err := lakehouse.OpenCatalog(ctx, lakehouse.CatalogOptions{DatabaseURL: dbURL, Lake: lakehouse.Options{URL: "file://" + t.TempDir()}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cat.Close() })

	schema := arrow.NewSchema([]arrow.Field{{Name: "customer_id", Type: arrow.BinaryTypes.String}, {Name: "x", Type: arrow.PrimitiveTypes.Float64}}, nil)
	b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	b.Field(0).(*array.StringBuilder).AppendValues([]string{"a", "b", "c"}, nil)
	b.Field(1).(*array.Float64Builder).AppendValues([]float64{1, 2, 3}, nil)
	rec := b.NewRecordBatch()
	defer rec.Release()
	for _, name := range []string{"raw.labels", "quarantine.labels", "features.profile", "training.churn", "predictions.churn"} {
		if _, err := cat.EnsureTable(ctx, name, schema, ""); err != nil {
			t.Fatal(err)
		}
		if _, err := cat.Append(ctx, name, []arrow.RecordBatch{rec}, "first"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := (&online.Store{DB: db}).Upsert(ctx, "profile", "customer_id", schema, func(yield func(arrow.RecordBatch, error) bool) {
		yield(rec, nil)
	}, time.Now()); err != nil {
		t.Fatal(err)
	}
	pred := scoring.Table{Model: "churn", Key: "customer_id", KeyType: arrow.BinaryTypes.String}
	if err := pred.Ensure(ctx, db); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(ctx, `CREATE TABLE predictions.churn_p1 PARTITION OF predictions.churn FOR VALUES IN ('2026-01-01T00:00:00Z');
		INSERT INTO predictions.churn VALUES ('r', 1, 'a', 0.5, '1', now(), '2026-01-01T00:00:00Z')`); err != nil {
		t.Fatal(err)
	}
	// The new release already wrote a table of its own into the project's
	// schema: the old schema's tables, partitions and views move in one by
	// one.
	if _, err := db.Exec(ctx, `CREATE SCHEMA legacy_predictions; CREATE TABLE legacy_predictions.other (x int)`); err != nil {
		t.Fatal(err)
	}
	reg := &registry.Registry{DB: db}
	if _, err := reg.Register(ctx, registry.Version{Model: "churn", ArtifactKey: "models/churn/v1/model.sluice", RunID: "train/churn/1",
		TrainingSnapshots: map[string]int64{"training.churn": 7, "raw.labels": 8}}); err != nil {
		t.Fatal(err)
	}
	if _, err := reg.SetAlias(ctx, "churn", "champion", 1, "test", "first"); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := (&specstore.Store{DB: db}).Apply(ctx, "legacy", "project: legacy\n", t.TempDir(), "test"); err != nil {
		t.Fatal(err)
	}

	m := &relocate.Mover{DB: db, Catalog: cat}
	project, err := m.Project(ctx, "")
	if err != nil || project != "legacy" {
		t.Fatalf("project %q, %v; want the one applied, legacy", project, err)
	}
	rep, err := m.Move(ctx, project)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Tables) != 5 || len(rep.Schemas) != 2 || rep.Rows["sluice.models"] != 1 {
		t.Errorf("report %+v", rep)
	}
	tables, err := cat.Tables(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"legacy_features.profile", "legacy_predictions.churn", "legacy_quarantine.labels", "legacy_raw.labels", "legacy_training.churn"}
	if len(tables) != len(want) {
		t.Fatalf("tables after the move %v, want %v", tables, want)
	}
	for i, name := range want {
		if tables[i] != name {
			t.Fatalf("tables after the move %v, want %v", tables, want)
		}
		res, err := cat.Scan(ctx, name, lakehouse.ScanOptions{})
		if err != nil {
			t.Fatal(err)
		}
		n := int64(0)
		for _, r := range res.Records {
			n += r.NumRows()
		}
		if n != 3 {
			t.Errorf("%s has %d rows after the move, want 3", name, n)
		}
	}
	rows, err := online.NewReader(db, online.CacheOptions{}).Get(ctx, "legacy.profile", []string{"b"})
	if err != nil || rows[0] == nil || rows[0]["x"] != 2.0 {
		t.Errorf("online row after the move: %v, %v", rows, err)
	}
	var score float64
	if err := db.QueryRow(ctx, `SELECT score FROM legacy_predictions.churn_latest WHERE customer_id = 'a'`).Scan(&score); err != nil || score != 0.5 {
		t.Errorf("legacy_predictions.churn_latest: %v, %v", score, err)
	}
	var oldSchema bool
	if err := db.QueryRow(ctx, `SELECT to_regnamespace('predictions') IS NOT NULL`).Scan(&oldSchema); err != nil || oldSchema {
		t.Errorf("the schema predictions is still there after the move (%v)", err)
	}
	v, err := reg.Resolve(ctx, "legacy.churn", "champion")
	if err != nil || v.Version != 1 || v.TrainingSnapshots["legacy_training.churn"] != 7 || v.TrainingSnapshots["legacy_raw.labels"] != 8 {
		t.Errorf("registry after the move: %+v, %v", v, err)
	}
	if h, err := reg.History(ctx, "legacy.churn", "champion"); err != nil || len(h) != 1 {
		t.Errorf("alias history after the move: %v, %v", h, err)
	}

	again, err := m.Move(ctx, project)
	if err != nil || again.Moved() {
		t.Errorf("a second move moved %+v, %v; want nothing", again, err)
	}
}

func TestSeveralProjectsNeedAName(t *testing.T) {
	ctx := testenv.Context(t)
	db, err := metastore.Open(ctx, testenv.NewDatabase(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	for _, p := range []string{"a", "b"} {
		if _, _, _, err := (&specstore.Store{DB: db}).Apply(ctx, p, "project: "+p+"\n", t.TempDir(), "test"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := (&relocate.Mover{DB: db}).Project(ctx, ""); err == nil {
		t.Error("two projects applied, and the move chose one by itself")
	}
}
