package pipelines_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/server/temporaltest"

	"github.com/sluice-ml/sluice/activities"
	"github.com/sluice-ml/sluice/features"
	"github.com/sluice-ml/sluice/lakehouse"
	"github.com/sluice-ml/sluice/metastore"
	"github.com/sluice-ml/sluice/monitor"
	"github.com/sluice-ml/sluice/pipelines"
	"github.com/sluice-ml/sluice/registry"
	"github.com/sluice-ml/sluice/scoring"
	"github.com/sluice-ml/sluice/spec"
	"github.com/sluice-ml/sluice/specstore"
	"github.com/sluice-ml/sluice/testkit/benchdata"
	"github.com/sluice-ml/sluice/testkit/testenv"
	"github.com/sluice-ml/sluice/training"
	"github.com/sluice-ml/sluice/workflows"
)

// TestShiftedPopulationAlertsOnceAndRetrainsOnce: a champion trained on
// the churn world scores a population whose spending jumped tenfold; the
// pipeline's monitor step raises one alert, the webhook receives it, and
// one retrain run starts; a second run within the cooldown alerts and
// retrains nothing more.
func TestShiftedPopulationAlertsOnceAndRetrainsOnce(t *testing.T) {
	ctx := testenv.Context(t)
	dbURL := testenv.PostgresURL(t)
	db, err := metastore.Open(ctx, dbURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	stamp := time.Now().UnixNano()
	cat, err := lakehouse.OpenCatalog(ctx, lakehouse.CatalogOptions{DatabaseURL: dbURL, Lake: lakehouse.Options{URL: "file://" + t.TempDir() + "/lake"},
		Name: fmt.Sprintf("shift_%d", stamp)})
	if err != nil {
		t.Fatal(err)
	}
	defer cat.Close()
	lake := testenv.Lake(t)
	project, model := fmt.Sprintf("shift_%d", stamp), fmt.Sprintf("shift_%d_m", stamp)
	if err := benchdata.ChurnTables(ctx, cat, project+"_raw.", 300, 4); err != nil {
		t.Fatal(err)
	}

	var mu sync.Mutex
	var received []string
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		received = append(received, string(b))
		mu.Unlock()
	}))
	defer hook.Close()

	text := `project: ` + project + `
sources:
  txn: {parquet: unused/, key: customer_id, timestamp: ts}
  labels: {parquet: unused/, key: customer_id, timestamp: label_at}
entities:
  customer: {key: customer_id}
feature_views:
  spend:
    entity: customer
    source: txn
    aggregations:
      - {column: amount, function: sum, windows: [7d]}
      - {column: amount, function: count, windows: [30d]}
models:
  ` + model + `:
    task: binary
    label: {source: labels, column: churned}
    features: [spend]
    params: {trees: 20, max_depth: 3}
    scoring: {entities: labels}
    monitoring: {webhook: "` + hook.URL + `", on_drift: retrain, cooldown: 1h}
pipelines:
  p: {models: [` + model + `], steps: [score, monitor]}
`
	s, err := spec.Parse("sluice.yaml", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := (&specstore.Store{DB: db}).Apply(ctx, project, text, t.TempDir(), "test"); err != nil {
		t.Fatal(err)
	}

	srv := temporaltest.NewServer(temporaltest.WithT(t))
	srv.NewWorker(workflows.QueueControl, func(r worker.Registry) {
		r.RegisterWorkflow(pipelines.Pipeline)
		r.RegisterWorkflow(pipelines.Monitor)
		r.RegisterWorkflow(workflows.Train)
		r.RegisterWorkflow(workflows.TrainTrials)
		r.RegisterWorkflow(workflows.TrainingSet)
		r.RegisterWorkflow(workflows.BatchScore)
	})
	srv.NewWorker(workflows.QueueIO, func(r worker.Registry) {
		r.RegisterActivity(&pipelines.Planner{Specs: &specstore.Store{DB: db}})
		r.RegisterActivity(&activities.Features{Store: &features.Store{Catalog: cat, TempDir: t.TempDir()}})
		r.RegisterActivity(&activities.Models{Registry: &registry.Registry{DB: db}, Experiments: &training.Experiments{DB: db}, Lake: lake})
		r.RegisterActivity(&activities.Scoring{Scorer: &scoring.Scorer{Catalog: cat, DB: db, Lake: lake, TempDir: t.TempDir(), FeatureStore: &features.Store{Catalog: cat, TempDir: t.TempDir()}}})
		r.RegisterActivity(&activities.Monitoring{Meter: &monitor.Meter{Catalog: cat, DB: db, Lake: lake}})
		r.RegisterActivity(&activities.Alerting{Alerts: &monitor.Alerts{DB: db}})
	})
	srv.NewWorker(workflows.QueueCPU, func(r worker.Registry) {
		r.RegisterActivity(&activities.Training{Trainer: &training.Trainer{Features: &features.Store{Catalog: cat}, Lake: lake, Worker: "test", Device: "cpu"}})
	})
	c := srv.GetDefaultClient()

	// The champion, trained on the world as it was.
	treq, err := pipelines.Train(s, model, "1", "test")
	if err != nil {
		t.Fatal(err)
	}
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "train/" + model, TaskQueue: workflows.QueueControl}, workflows.Train, treq)
	if err != nil {
		t.Fatal(err)
	}
	var trained workflows.TrainResult
	if err := run.Get(ctx, &trained); err != nil {
		t.Fatal(err)
	}
	if _, err := (&registry.Registry{DB: db}).SetAlias(ctx, treq.Model, "champion", trained.Version.Version, "test", ""); err != nil {
		t.Fatal(err)
	}

	// The shift: every customer spends ten times more, many times, the
	// week before the scoring time.
	asOf := time.Date(2026, 8, 10, 0, 0, 0, 0, time.UTC)
	schema := arrow.NewSchema([]arrow.Field{{Name: "customer_id", Type: arrow.BinaryTypes.String},
		{Name: "ts", Type: &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}}, {Name: "amount", Type: arrow.PrimitiveTypes.Float64}}, nil)
	b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	for c := range 300 {
		for d := range 6 {
			b.Field(0).(*array.StringBuilder).Append(fmt.Sprintf("C%d", c))
			b.Field(1).(*array.TimestampBuilder).Append(arrow.Timestamp(asOf.Add(-time.Duration(d+1) * 20 * time.Hour).UnixMicro()))
			b.Field(2).(*array.Float64Builder).Append(150)
		}
	}
	rec := b.NewRecordBatch()
	b.Release()
	if _, err := cat.Append(ctx, project+"_raw.txn", []arrow.RecordBatch{rec}, "shift"); err != nil {
		t.Fatal(err)
	}
	rec.Release()

	runPipeline := func(at time.Time) pipelines.Result {
		t.Helper()
		run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: pipelines.RunID(project, "p", at), TaskQueue: workflows.QueueControl},
			pipelines.Pipeline, pipelines.Request{Project: project, Pipeline: "p", AsOf: at})
		if err != nil {
			t.Fatal(err)
		}
		var res pipelines.Result
		if err := run.Get(ctx, &res); err != nil {
			t.Fatal(err)
		}
		return res
	}
	first := runPipeline(asOf)
	if first.Models[0].Drift != monitor.LevelAlert {
		t.Fatalf("the shifted population did not alert: %+v", first)
	}
	last := first.Steps[len(first.Steps)-1]
	if last.Step != "monitor" || !strings.Contains(last.Summary, "raised, retraining in retrain/"+project+"/p/alert-") {
		t.Fatalf("monitor step: %+v", last)
	}
	second := runPipeline(asOf.Add(time.Hour / 2))
	if s := second.Steps[len(second.Steps)-1].Summary; !strings.Contains(s, "already raised within the cooldown") {
		t.Errorf("second run's monitor step: %s", s)
	}

	// One alert, received once; one retrain run, which finishes (its own
	// drift deduplicated).
	alerts, err := (&monitor.Alerts{DB: db}).List(ctx, treq.Model, 10)
	if err != nil || len(alerts) != 1 || alerts[0].SentAt == nil {
		t.Fatalf("alerts %+v %v", alerts, err)
	}
	var retrains []string
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(200 * time.Millisecond) {
		resp, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Namespace: srv.GetDefaultNamespace(), Query: "WorkflowType = 'Pipeline'"})
		if err != nil {
			t.Fatal(err)
		}
		retrains = retrains[:0]
		for _, e := range resp.Executions {
			if strings.HasPrefix(e.Execution.WorkflowId, "retrain/") && strings.Contains(e.Execution.WorkflowId, project) {
				retrains = append(retrains, e.Execution.WorkflowId)
			}
		}
		if len(retrains) > 0 || time.Now().After(deadline) {
			break
		}
	}
	if len(retrains) != 1 {
		t.Fatalf("retrain runs %v, want one", retrains)
	}
	var again pipelines.Result
	if err := c.GetWorkflow(ctx, retrains[0], "").Get(ctx, &again); err != nil {
		t.Fatalf("the retrain run: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(received) != 1 || !strings.Contains(received[0], model) {
		t.Errorf("the webhook received %d alerts: %v", len(received), received)
	}
}
