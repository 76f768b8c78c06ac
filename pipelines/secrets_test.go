package pipelines_test

import (
	"encoding/base64"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/server/temporaltest"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/sluice-ml/sluice/activities"
	"github.com/sluice-ml/sluice/api"
	"github.com/sluice-ml/sluice/monitor"
	"github.com/sluice-ml/sluice/pipelines"
	"github.com/sluice-ml/sluice/registry"
	"github.com/sluice-ml/sluice/testkit/pipelinetest"
	"github.com/sluice-ml/sluice/workflows"
)

// payloadData finds a payload's data in a history event as protojson
// writes it.
var payloadData = regexp.MustCompile(`"data":\s*"([A-Za-z0-9+/=]*)"`)

// TestNoSecretOrCellValueInHistoriesOrTheAPI: a webhook written as
// ${SLUICE_SECRET_…}, whose first delivery fails with an error that quotes
// its URL, and a source row whose bad cell fails an ingest: neither the
// webhook's token nor the cell's value is in either run's Temporal
// history, in GET /api/v1/alerts or in GET /api/v1/runs/{id}. (Before,
// the URL travelled verbatim in workflow inputs and delivery errors, and
// reject reasons quoted the cell into the run's failure.)
func TestNoSecretOrCellValueInHistoriesOrTheAPI(t *testing.T) {
	const token, cell = "PLANTED-WEBHOOK-TOKEN", "PLANTED-CELL-VALUE"
	pt := pipelinetest.New(t, "")
	ctx, db, model := pt.Ctx, pt.DB, pt.Model

	var mu sync.Mutex
	calls := 0
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		calls++
		first := calls == 1
		mu.Unlock()
		if first { // a broken connection: the client's error quotes the URL
			conn, _, _ := w.(http.Hijacker).Hijack()
			conn.Close()
			return
		}
		io.Copy(io.Discard, r.Body)
	}))
	defer hook.Close()
	t.Setenv("SLUICE_SECRET_PT_HOOK", hook.URL+"/services/T0/"+token)

	srv := temporaltest.NewServer(temporaltest.WithT(t))
	pt.Workers(srv, func(r worker.Registry) { r.RegisterWorkflow(pipelines.Monitor) }, func(r worker.Registry) { r.RegisterActivity(&activities.Alerting{Alerts: &monitor.Alerts{DB: db}}) })
	c := srv.GetDefaultClient()

	monitorID := "score/" + model + "/secret"
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: monitorID, TaskQueue: workflows.QueueControl}, pipelines.Monitor,
		pipelines.MonitorRequest{Project: pt.Name, Pipeline: "p", Model: model, Version: 1, RunID: monitorID, AsOf: time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC),
			Drift: monitor.LevelAlert, Drifted: []string{"v__amount"}, Webhook: "${SLUICE_SECRET_PT_HOOK}", Format: "slack", Cooldown: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	var res pipelines.MonitorResult
	if err := run.Get(ctx, &res); err != nil || !res.Delivered {
		t.Fatalf("the monitor run: %+v %v", res, err)
	}
	mu.Lock()
	if calls != 2 {
		t.Errorf("the webhook got %d calls, want 2 (the first broken)", calls)
	}
	mu.Unlock()
	// The failed first delivery, as the alert records it.
	if _, err := db.Exec(ctx, `UPDATE sluice.alerts SET sent_at = NULL WHERE id = $1`, res.Alert.ID); err != nil {
		t.Fatal(err)
	}
	hook.Close() // now every delivery fails, quoting the URL
	if err := (&monitor.Alerts{DB: db}).Deliver(ctx, monitor.DeliverInput{ID: res.Alert.ID, Webhook: "${SLUICE_SECRET_PT_HOOK}", Format: "slack"}); err == nil ||
		strings.Contains(err.Error(), token) || !strings.Contains(err.Error(), "/****") {
		t.Errorf("a failed delivery: %v; want an error with the URL's path hidden", err)
	}

	csv := filepath.Join(t.TempDir(), "bad.csv")
	if err := os.WriteFile(csv, []byte("id,amount\nA,1\nB,2\nC,"+cell+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ingestID := "ingest/" + pt.Name + "/bad"
	irun, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: ingestID, TaskQueue: workflows.QueueControl}, workflows.Ingest,
		workflows.IngestRequest{Source: pt.Name + ".bad", Format: "csv", Path: csv, Key: "id", Schema: map[string]string{"amount": "int64"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := irun.Get(ctx, nil); err == nil || !strings.Contains(err.Error(), "column amount") {
		t.Fatalf("the ingest run: %v; want it to fail naming the column", err)
	}

	var seen strings.Builder
	for _, r := range []struct{ id, runID string }{{monitorID, run.GetRunID()}, {ingestID, irun.GetRunID()}} {
		it := c.GetWorkflowHistory(ctx, r.id, r.runID, false, enums.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
		for it.HasNext() {
			ev, err := it.Next()
			if err != nil {
				t.Fatal(err)
			}
			text := protojson.Format(ev)
			seen.WriteString(text)
			// Payloads are JSON in base64: read them as well.
			for _, m := range payloadData.FindAllStringSubmatch(text, -1) {
				b, err := base64.StdEncoding.DecodeString(m[1])
				if err != nil {
					t.Fatal(err)
				}
				seen.Write(b)
			}
		}
	}
	h := api.New(api.Options{}, nil).WithRegistry(&registry.Registry{DB: db}).WithTemporal(api.Temporal{Client: c, Namespace: srv.GetDefaultNamespace()}).Handler()
	for _, path := range []string{"/api/v1/alerts?model=" + url.QueryEscape(model), "/api/v1/runs/" + url.PathEscape(ingestID), "/api/v1/runs/" + url.PathEscape(monitorID)} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		if rec.Code != http.StatusOK {
			t.Fatalf("GET %s: %d %s", path, rec.Code, rec.Body)
		}
		seen.WriteString(rec.Body.String())
	}
	all := seen.String()
	for _, planted := range []string{token, cell} {
		if i := strings.Index(all, planted); i >= 0 {
			t.Errorf("%s is in a history or the API's answer: …%s…", planted, all[max(0, i-200):min(len(all), i+50)])
		}
	}
	if !strings.Contains(all, "SLUICE_SECRET_PT_HOOK") || !strings.Contains(all, "/****") {
		t.Errorf("the history should hold the webhook's reference and the redacted error")
	}
}
