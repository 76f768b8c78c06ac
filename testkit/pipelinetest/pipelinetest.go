// Package pipelinetest builds the smallest project a pipeline test needs:
// PostgreSQL, a local lake, one CSV source and a model over it, with the
// spec applied, and the workers that run its ingest-only pipeline.
package pipelinetest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/server/temporaltest"

	"github.com/sluice-ml/sluice/activities"
	"github.com/sluice-ml/sluice/ingest"
	"github.com/sluice-ml/sluice/lakehouse"
	"github.com/sluice-ml/sluice/metastore"
	"github.com/sluice-ml/sluice/pipelines"
	"github.com/sluice-ml/sluice/quality"
	"github.com/sluice-ml/sluice/specstore"
	"github.com/sluice-ml/sluice/testkit/testenv"
	sluiceworkers "github.com/sluice-ml/sluice/workers"
	"github.com/sluice-ml/sluice/workflows"
)

// Project is an applied spec: source s (s.csv), view v, model Model,
// and pipeline p (steps: ingest; Schedule when given).
type Project struct {
	Ctx      context.Context
	DB       *pgxpool.Pool
	Catalog  *lakehouse.Catalog
	Name     string
	Model    string
	Dir      string
	Spec     string
	Version  specstore.Version
	Schedule string
}

// New applies a fresh project; schedule, when not empty, is pipeline p's
// cron.
func New(t testing.TB, schedule string) *Project {
	t.Helper()
	ctx := testenv.Context(t)
	dbURL := testenv.PostgresURL(t)
	db, err := metastore.Open(ctx, dbURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	stamp := time.Now().UnixNano()
	cat, err := lakehouse.OpenCatalog(ctx, lakehouse.CatalogOptions{DatabaseURL: dbURL, Lake: lakehouse.Options{URL: "file://" + t.TempDir()},
		Name: fmt.Sprintf("pt_%d", stamp)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cat.Close() })
	p := &Project{Ctx: ctx, DB: db, Catalog: cat, Name: fmt.Sprintf("pt_%d", stamp), Dir: t.TempDir(), Schedule: schedule}
	p.Model = p.Name + "_m"
	if err := os.WriteFile(filepath.Join(p.Dir, "s.csv"), []byte("id,ts,amount,y\na,2026-11-01T00:00:00Z,1.5,true\nb,2026-11-02T00:00:00Z,2,false\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	sched := ""
	if schedule != "" {
		sched = fmt.Sprintf(", schedule: %q", schedule)
	}
	p.Spec = "project: " + p.Name + "\nsources:\n  s: {csv: s.csv, key: id, timestamp: ts}\nentities:\n  e: {key: id}\n" +
		"feature_views:\n  v: {entity: e, source: s, columns: [amount]}\nmodels:\n  " + p.Model + ": {task: binary, label: {source: s, column: y}, features: [v]}\n" +
		"pipelines:\n  p: {models: [" + p.Model + "], steps: [ingest]" + sched + "}\n"
	if p.Version, _, _, err = (&specstore.Store{DB: db}).Apply(ctx, p.Name, p.Spec, p.Dir, "test"); err != nil {
		t.Fatal(err)
	}
	return p
}

// Workers registers on the server what the pipeline runs: the Pipeline
// and Ingest workflows, and the planner and ingest activities; register
// adds more on the io queue.
func (p *Project) Workers(srv *temporaltest.TestServer, control, io func(worker.Registry)) {
	srv.NewWorker(workflows.QueueControl, func(r worker.Registry) {
		r.RegisterWorkflow(pipelines.Pipeline)
		r.RegisterWorkflow(workflows.Ingest)
		if control != nil {
			control(r)
		}
	})
	// Activities keep alive as the real workers' do.
	srv.NewWorkerWithOptions(workflows.QueueIO, func(r worker.Registry) {
		r.RegisterActivity(&pipelines.Planner{Specs: &specstore.Store{DB: p.DB}})
		r.RegisterActivity(&activities.Ingest{Loader: &ingest.Loader{Catalog: p.Catalog, Quality: &quality.Store{DB: p.DB}}})
		if io != nil {
			io(r)
		}
	}, worker.Options{Interceptors: []interceptor.WorkerInterceptor{sluiceworkers.KeepAlive()}})
}
