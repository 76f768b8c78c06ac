package api_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/server/temporaltest"

	"github.com/sluice-ml/sluice/api"
	"github.com/sluice-ml/sluice/pipelines"
	"github.com/sluice-ml/sluice/spec"
	"github.com/sluice-ml/sluice/testkit/pipelinetest"
	"github.com/sluice-ml/sluice/workflows"
)

// TestRunsAndSchedulesThroughTheAPI: a pipeline run triggered through the
// API shows in /runs and completes; the same as-of time is refused; a
// schedule's trigger starts a run; pausing a schedule stops its runs; and
// every call needs the token.
func TestRunsAndSchedulesThroughTheAPI(t *testing.T) {
	pt := pipelinetest.New(t, "0 3 * * *")
	ctx, project, v := pt.Ctx, pt.Name, pt.Version
	s, err := spec.Parse("sluice.yaml", []byte(pt.Spec))
	if err != nil {
		t.Fatal(err)
	}
	srv := temporaltest.NewServer(temporaltest.WithT(t))
	pt.Workers(srv, nil, nil)
	c := srv.GetDefaultClient()
	changes, err := pipelines.SyncSchedules(ctx, c, project, s, v.Version, true, false)
	if err != nil || len(changes) != 1 || changes[0].Action != "created" {
		t.Fatalf("schedules: %+v %v", changes, err)
	}
	const token = "t0ken-that-is-long-enough"
	h := api.New(api.Options{Token: token}, nil).WithTemporal(api.Temporal{Client: c, Namespace: srv.GetDefaultNamespace(),
		UIURL: "http://ui", Project: func(context.Context, string, string) (string, error) { return project, nil }}).Handler()
	ts := httptest.NewServer(h)
	defer ts.Close()
	call := func(method, path, body string, into any) int {
		t.Helper()
		req, _ := http.NewRequest(method, ts.URL+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if into != nil {
			decode(t, resp, into)
		}
		return resp.StatusCode
	}
	var started api.Started
	if code := call("POST", "/api/v1/pipelines/p/runs", `{"as_of": "2026-11-05T00:00:00Z"}`, &started); code != 202 ||
		started.WorkflowID != "pipeline/"+project+"/p/2026-11-05T00:00:00Z" || !strings.HasPrefix(started.UIURL, "http://ui/namespaces/") {
		t.Fatalf("start: %d %+v", code, started)
	}
	// Visibility lags a start a little: look for the run for a while.
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		var listed struct{ Runs []api.Run }
		code := call("GET", "/api/v1/runs", "", &listed)
		if code == 200 && hasRun(listed.Runs, started.WorkflowID) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the run is not in /runs: %d %+v", code, listed)
		}
	}
	waitStatus(t, call, started.WorkflowID, "Completed")
	if code := call("POST", "/api/v1/pipelines/p/runs", `{"as_of": "2026-11-05T00:00:00Z"}`, nil); code != 409 {
		t.Errorf("the same as-of again: %d, want 409", code)
	}

	// The schedule: triggered through the API, it starts a run.
	var scheds struct{ Schedules []pipelines.Schedule }
	if code := call("GET", "/api/v1/schedules", "", &scheds); code != 200 || len(scheds.Schedules) == 0 {
		t.Fatalf("schedules: %d %+v", code, scheds)
	}
	id := pipelines.ScheduleID(project, "p")
	if code := call("POST", "/api/v1/schedules/"+url.PathEscape(id)+"/trigger", "", nil); code != 200 {
		t.Fatalf("trigger: %d", code)
	}
	var scheduled string
	for deadline := time.Now().Add(30 * time.Second); scheduled == ""; time.Sleep(200 * time.Millisecond) {
		for _, r := range pipelineRuns(t, ctx, c, srv.GetDefaultNamespace(), "pipeline/"+project+"/p-") {
			scheduled = r
		}
		if time.Now().After(deadline) {
			t.Fatal("the triggered schedule started no run")
		}
	}
	waitStatus(t, call, scheduled, "Completed")

	// A backfill of two past days runs the schedule's two 03:00 times.
	before := len(pipelineRuns(t, ctx, c, srv.GetDefaultNamespace(), "pipeline/"+project+"/p-"))
	if code := call("POST", "/api/v1/schedules/"+url.PathEscape(id)+"/backfill", `{"start": "2026-10-01T00:00:00Z", "end": "2026-10-03T00:00:00Z"}`, nil); code != 200 {
		t.Fatalf("backfill: %d", code)
	}
	if code := call("POST", "/api/v1/schedules/"+url.PathEscape(id)+"/backfill", `{"start": "2026-10-03T00:00:00Z"}`, nil); code != 400 {
		t.Errorf("a backfill without an end: %d, want 400", code)
	}
	for deadline := time.Now().Add(30 * time.Second); len(pipelineRuns(t, ctx, c, srv.GetDefaultNamespace(), "pipeline/"+project+"/p-")) < before+2; time.Sleep(200 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the backfill started %d runs, want 2", len(pipelineRuns(t, ctx, c, srv.GetDefaultNamespace(), "pipeline/"+project+"/p-"))-before)
		}
	}

	// A schedule every 2 s: paused through the API, it starts no more.
	fastID := "sluice/" + project + "/fast"
	if _, err := c.ScheduleClient().Create(ctx, client.ScheduleOptions{ID: fastID,
		Spec: client.ScheduleSpec{Intervals: []client.ScheduleIntervalSpec{{Every: 2 * time.Second}}},
		Action: &client.ScheduleWorkflowAction{ID: "pipeline/" + project + "/fast", Workflow: pipelines.Pipeline, TaskQueue: workflows.QueueControl,
			Args: []any{pipelines.Request{Project: project, Pipeline: "p", SpecVersion: v.Version}}}}); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); len(pipelineRuns(t, ctx, c, srv.GetDefaultNamespace(), "pipeline/"+project+"/fast-")) == 0; time.Sleep(200 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the 2 s schedule started nothing")
		}
	}
	if code := call("POST", "/api/v1/schedules/"+url.PathEscape(fastID)+"/pause", "", nil); code != 200 {
		t.Fatalf("pause: %d", code)
	}
	time.Sleep(3 * time.Second) // a run started just before the pause shows by then
	before = len(pipelineRuns(t, ctx, c, srv.GetDefaultNamespace(), "pipeline/"+project+"/fast-"))
	time.Sleep(5 * time.Second)
	if after := len(pipelineRuns(t, ctx, c, srv.GetDefaultNamespace(), "pipeline/"+project+"/fast-")); after != before {
		t.Errorf("the paused schedule went from %d runs to %d", before, after)
	}
	// Unpaused, it runs again.
	if code := call("POST", "/api/v1/schedules/"+url.PathEscape(fastID)+"/unpause", "", nil); code != 200 {
		t.Fatalf("unpause: %d", code)
	}
	for deadline := time.Now().Add(30 * time.Second); len(pipelineRuns(t, ctx, c, srv.GetDefaultNamespace(), "pipeline/"+project+"/fast-")) <= before; time.Sleep(200 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the unpaused schedule started nothing")
		}
	}

	// No token, a wrong one: 401.
	for _, auth := range []string{"", "Bearer nope", "Basic " + token, "Bearer " + token + "x"} {
		req, _ := http.NewRequest("GET", ts.URL+"/api/v1/runs", nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 401 {
			t.Errorf("Authorization %q: %d, want 401", auth, resp.StatusCode)
		}
	}
}

func hasRun(runs []api.Run, id string) bool {
	for _, r := range runs {
		if r.WorkflowID == id {
			return true
		}
	}
	return false
}

func waitStatus(t *testing.T, call func(method, path, body string, into any) int, id, want string) {
	t.Helper()
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		var run struct {
			Status string
			Error  string
		}
		if code := call("GET", "/api/v1/runs/"+url.PathEscape(id), "", &run); code != 200 {
			t.Fatalf("GET run %s: %d", id, code)
		}
		if run.Status == want {
			return
		}
		if run.Status != "Running" || time.Now().After(deadline) {
			t.Fatalf("run %s is %s (%s), want %s", id, run.Status, run.Error, want)
		}
	}
}

// pipelineRuns lists the ids of Pipeline runs whose id starts with prefix.
func pipelineRuns(t *testing.T, ctx context.Context, c client.Client, ns, prefix string) []string {
	t.Helper()
	resp, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Namespace: ns, PageSize: 1000, Query: "WorkflowType = 'Pipeline'"})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range resp.Executions {
		if strings.HasPrefix(e.Execution.WorkflowId, prefix) && e.Status != enums.WORKFLOW_EXECUTION_STATUS_UNSPECIFIED {
			out = append(out, e.Execution.WorkflowId)
		}
	}
	return out
}
