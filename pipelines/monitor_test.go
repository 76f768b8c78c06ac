package pipelines_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/server/temporaltest"

	"github.com/sluice-ml/sluice/activities"
	"github.com/sluice-ml/sluice/monitor"
	"github.com/sluice-ml/sluice/pipelines"
	"github.com/sluice-ml/sluice/testkit/pipelinetest"
	"github.com/sluice-ml/sluice/workflows"
)

// TestDriftAlertsOnceAndRetrainsOnce: a drift alert is raised, delivered
// to the webhook (after the webhook fails once) and starts the retrain
// run; a second alert-level drift within the cooldown raises nothing,
// sends nothing and retrains nothing; a drift that only warns is ignored.
func TestDriftAlertsOnceAndRetrainsOnce(t *testing.T) {
	pt := pipelinetest.New(t, "")
	ctx, db, project, model := pt.Ctx, pt.DB, pt.Name, pt.Model

	var mu sync.Mutex
	var bodies []string
	calls := 0
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		calls++
		if calls == 1 {
			http.Error(w, "down for a moment", http.StatusServiceUnavailable)
			return
		}
		bodies = append(bodies, string(b))
	}))
	defer hook.Close()

	srv := temporaltest.NewServer(temporaltest.WithT(t))
	pt.Workers(srv, func(r worker.Registry) { r.RegisterWorkflow(pipelines.Monitor) },
		func(r worker.Registry) { r.RegisterActivity(&activities.Alerting{Alerts: &monitor.Alerts{DB: db}}) })
	c := srv.GetDefaultClient()
	monitorRun := func(id, drift string) pipelines.MonitorResult {
		t.Helper()
		run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: workflows.QueueControl}, pipelines.Monitor,
			pipelines.MonitorRequest{Project: project, Pipeline: "p", Model: model, Version: 3, RunID: id, AsOf: time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC),
				Drift: drift, Drifted: []string{"v__amount", "score"}, Webhook: hook.URL, Format: "json", Retrain: true, Cooldown: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		var res pipelines.MonitorResult
		if err := run.Get(ctx, &res); err != nil {
			t.Fatal(err)
		}
		return res
	}
	first := monitorRun("score/"+model+"/1", monitor.LevelAlert)
	if !first.Alerted || !first.Delivered || first.Retrain != fmt.Sprintf("retrain/%s/p/alert-%d", project, first.Alert.ID) {
		t.Fatalf("first drift: %+v", first)
	}
	second := monitorRun("score/"+model+"/2", monitor.LevelAlert)
	if second.Alerted || !second.Deduplicated || second.Alert.ID != first.Alert.ID || second.Retrain != "" {
		t.Errorf("second drift within the cooldown: %+v", second)
	}
	// The first run again (a retried Raise whose answer was lost looks
	// the same): its own alert, not delivered again, the same retrain.
	again := monitorRun("score/"+model+"/1", monitor.LevelAlert)
	if !again.Alerted || again.Deduplicated || again.Alert.ID != first.Alert.ID || again.Retrain != first.Retrain {
		t.Errorf("the first run repeated: %+v", again)
	}
	if warn := monitorRun("score/"+model+"/3", monitor.LevelWarn); warn.Alerted || warn.Alert.ID != 0 {
		t.Errorf("a warning raised an alert: %+v", warn)
	}

	mu.Lock()
	if calls != 2 || len(bodies) != 1 {
		t.Errorf("the webhook got %d calls, %d delivered; want 2 (one failed) and 1", calls, len(bodies))
	} else {
		var got monitor.Alert
		if err := json.Unmarshal([]byte(bodies[0]), &got); err != nil || got.Model != model || got.Level != "alert" || !strings.Contains(got.Message, "v__amount, score") {
			t.Errorf("the webhook's body: %s (%v)", bodies[0], err)
		}
	}
	mu.Unlock()
	alerts, err := (&monitor.Alerts{DB: db}).List(ctx, model, 10)
	if err != nil || len(alerts) != 1 || alerts[0].SentAt == nil || alerts[0].Attempts != 2 {
		t.Fatalf("stored alerts: %+v %v", alerts, err)
	}

	// Exactly one retrain run, and it finishes.
	resp, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Namespace: srv.GetDefaultNamespace(), Query: "WorkflowType = 'Pipeline'"})
	if err != nil {
		t.Fatal(err)
	}
	retrains := 0
	for _, e := range resp.Executions {
		if strings.HasPrefix(e.Execution.WorkflowId, "retrain/"+project+"/") {
			retrains++
		}
	}
	if retrains != 1 {
		t.Errorf("%d retrain runs, want 1", retrains)
	}
	var out pipelines.Result
	if err := c.GetWorkflow(ctx, first.Retrain, "").Get(ctx, &out); err != nil || len(out.Steps) != 1 || out.Steps[0].Step != "ingest" {
		t.Errorf("the retrain run: %+v %v", out, err)
	}
}
