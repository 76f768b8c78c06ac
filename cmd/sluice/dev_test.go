package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/array"
	"go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/sluice-ml/sluice/devstack/postgres"
	"github.com/sluice-ml/sluice/sources"
	"github.com/sluice-ml/sluice/testkit/testenv"
	"github.com/sluice-ml/sluice/workflows"
)

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestDevStack runs `sluice dev` with no SLUICE_DATABASE_URL, so it starts
// its private PostgreSQL, and checks each part answers, that a second stack
// on the same folder is refused, that SIGTERM leaves no PostgreSQL behind,
// and that workflow history survives a restart.
func TestDevStack(t *testing.T) {
	if _, err := postgres.FindBinDir(); err != nil {
		testenv.Unavailable(t, "sluice dev needs PostgreSQL's binaries: %v", err)
	}
	dir := filepath.Join(testenv.ServerDir(t), "state")
	ports := freePorts(t, 4)
	args := []string{"dev", "--dir", dir, "--features-api",
		"--temporal-port", strconv.Itoa(ports[0]), "--ui-port", strconv.Itoa(ports[1]),
		"--api-port", strconv.Itoa(ports[2]), "--serve-port", strconv.Itoa(ports[3])}
	frontend := fmt.Sprintf("127.0.0.1:%d", ports[0])
	uiURL := fmt.Sprintf("http://127.0.0.1:%d", ports[1])

	dev := startSluice(t, nil, args...)
	dev.waitFor(t, "Sluice dev stack is ready", 90*time.Second)
	if !strings.Contains(dev.out.String(), "private cluster in "+filepath.Join(dir, "postgres")) {
		t.Errorf("banner does not report the private cluster:\n%s", dev.out.String())
	}
	if pids := processesNaming(filepath.Join(dir, "postgres")); len(pids) == 0 {
		t.Fatal("no PostgreSQL process runs on the private cluster")
	}

	t.Run("every part answers", func(t *testing.T) {
		if code, body := httpGet(t, uiURL+"/"); code != http.StatusOK || !strings.Contains(strings.ToLower(body), "<html") {
			t.Errorf("UI page: status %d, body %.200q", code, body)
		}
		code, body := httpGet(t, uiURL+"/api/v1/namespaces")
		var nss struct {
			Namespaces []struct {
				NamespaceInfo struct{ Name string } `json:"namespaceInfo"`
			} `json:"namespaces"`
		}
		if err := json.Unmarshal([]byte(body), &nss); code != http.StatusOK || err != nil {
			t.Fatalf("UI namespaces API: status %d, %v, body %.200q", code, err, body)
		}
		found := false
		for _, ns := range nss.Namespaces {
			found = found || ns.NamespaceInfo.Name == "default"
		}
		if !found {
			t.Errorf("UI API does not list the default namespace: %.300s", body)
		}
		for _, port := range ports[2:] {
			if code, _ := httpGet(t, fmt.Sprintf("http://127.0.0.1:%d/healthz", port)); code != http.StatusOK {
				t.Errorf("healthz on :%d answered %d", port, code)
			}
		}
	})

	c, err := client.Dial(client.Options{HostPort: frontend})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const wfID = "it/selfcheck"
	var res workflows.SelfCheckResult
	wfRun, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: wfID, TaskQueue: workflows.QueueControl},
		workflows.SelfCheck, workflows.SelfCheckInput{Note: "dev stack test", Steps: 2})
	if err != nil {
		t.Fatal(err)
	}
	if err := wfRun.Get(ctx, &res); err != nil {
		t.Fatalf("self-check on the dev stack: %v", err)
	}
	if res.Probe.RowNote != "dev stack test" || res.Probe.StepsDone != 2 {
		t.Errorf("self-check result %+v", res.Probe)
	}
	c.Close()

	t.Run("sluice ingest lands a spec's source", func(t *testing.T) {
		proj := t.TempDir()
		specFile := filepath.Join(proj, "sluice.yaml")
		must(t, os.WriteFile(specFile, []byte("project: it\nsources:\n  customers:\n    csv: data/customers.csv\n    key: customer_id\n    timestamp: updated_at\n    checks:\n      - {column: plan, allowed: [pro], level: warn}\n"), 0o644))
		must(t, os.MkdirAll(filepath.Join(proj, "data"), 0o755))
		must(t, os.WriteFile(filepath.Join(proj, "data", "customers.csv"),
			[]byte("customer_id,plan,updated_at\nC1,pro,2026-11-01T00:00:00Z\nC2,basic,2026-11-02T00:00:00Z\n,pro,2026-11-03T00:00:00Z\n"), 0o644))
		out := run(t, "ingest", "customers", "-f", specFile, "--temporal-address", frontend, "--max-reject-ratio", "0.5")
		if !strings.Contains(out, "ingested 2 rows into it_raw.customers") || !strings.Contains(out, "1 rejected into it_quarantine.customers") ||
			!strings.Contains(out, "allowed(plan: pro)") {
			t.Errorf("sluice ingest said:\n%s", out)
		}
	})

	t.Run("sluice training-set joins labels with features as of their times", func(t *testing.T) {
		proj := t.TempDir()
		specFile := filepath.Join(proj, "sluice.yaml")
		must(t, os.WriteFile(specFile, []byte(`project: it
sources:
  txn: {csv: txn.csv, key: customer_id, timestamp: ts}
  labels: {csv: labels.csv, key: customer_id, timestamp: label_at}
entities:
  customer: {key: customer_id}
feature_views:
  customer_txn:
    entity: customer
    source: txn
    online: true
    aggregations:
      - {column: amount, function: sum, windows: [7d]}
models:
  churn:
    task: binary
    label: {source: labels, column: churned}
    features: [customer_txn]
`), 0o644))
		must(t, os.WriteFile(filepath.Join(proj, "txn.csv"), []byte("customer_id,ts,amount\nC1,2026-11-01T10:00:00Z,10\nC1,2026-11-05T10:00:00Z,20\nC1,2026-11-09T10:00:00Z,40\n"), 0o644))
		must(t, os.WriteFile(filepath.Join(proj, "labels.csv"), []byte("customer_id,label_at,churned\nC1,2026-11-05T10:00:00Z,false\nC1,2026-11-10T00:00:00Z,true\n"), 0o644))
		for _, src := range []string{"txn", "labels"} {
			if out := run(t, "ingest", src, "-f", specFile, "--temporal-address", frontend); !strings.Contains(out, "ingested") {
				t.Fatalf("sluice ingest %s said:\n%s", src, out)
			}
		}
		banner := dev.out.String()
		field := func(name string) string {
			m := regexp.MustCompile(`(?m)^\s*` + name + `\s+(\S+)`).FindStringSubmatch(banner)
			if m == nil {
				t.Fatalf("no %s in the banner:\n%s", name, banner)
			}
			return m[1]
		}
		outFile := filepath.Join(proj, "churn.parquet")
		out := run(t, "training-set", "churn", "-f", specFile, "--temporal-address", frontend,
			"--database-url", field("PostgreSQL"), "--lake", field("Lake"), "--out", outFile)
		if !strings.Contains(out, "wrote 2 rows in it_training.churn") || !strings.Contains(out, "it_raw.labels@") || !strings.Contains(out, "it_raw.txn@") {
			t.Fatalf("sluice training-set said:\n%s", out)
		}
		recs, err := sources.ReadFile(context.Background(), outFile, sources.Options{})
		if err != nil {
			t.Fatal(err)
		}
		sums := map[bool]float64{}
		for _, r := range recs {
			churned := r.Column(r.Schema().FieldIndices("churned")[0]).(*array.Boolean)
			sum := r.Column(r.Schema().FieldIndices("customer_txn__amount_sum_7d")[0]).(*array.Float64)
			for i := range sum.Len() {
				sums[churned.Value(i)] = sum.Value(i)
			}
			r.Release()
		}
		// As of the 5th at 10:00: 10 + 20; as of the 10th: 20 + 40.
		if sums[false] != 30 || sums[true] != 60 {
			t.Errorf("sums by label %v, want 30 (false) and 60 (true)", sums)
		}

		out = run(t, "materialize", "customer_txn", "-f", specFile, "--temporal-address", frontend, "--as-of", "2026-11-10")
		if !strings.Contains(out, "it_features.customer_txn: 1 entities (all entities)") || !strings.Contains(out, "1 online") {
			t.Fatalf("sluice materialize said:\n%s", out)
		}
		out = run(t, "features", "get", "it.customer_txn", "C1", "C9", "--database-url", field("PostgreSQL"))
		if !strings.Contains(out, `"customer_txn__amount_sum_7d":60`) || !strings.Contains(out, `{"found":false,"key":"C9"}`) {
			t.Errorf("sluice features get said:\n%s", out)
		}
		// Serving answers the same from its cache.
		resp, err := http.Post(fmt.Sprintf("http://127.0.0.1:%d/v1/features/it.customer_txn", ports[3]), "application/json", strings.NewReader(`{"keys":["C1","C9"]}`))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(body), `"customer_txn__amount_sum_7d":60`) || !strings.Contains(string(body), `null]`) {
			t.Errorf("serving /v1/features said %d: %s", resp.StatusCode, body)
		}
	})

	t.Run("sluice train sweeps, records and registers", func(t *testing.T) {
		proj := t.TempDir()
		specFile := filepath.Join(proj, "sluice.yaml")
		must(t, os.WriteFile(specFile, []byte(`project: it
sources:
  spend: {csv: spend.csv, key: customer_id, timestamp: ts}
  outcomes: {csv: outcomes.csv, key: customer_id, timestamp: label_at}
entities:
  customer: {key: customer_id}
feature_views:
  activity:
    entity: customer
    source: spend
    aggregations:
      - {column: amount, function: count, windows: [30d]}
models:
  retention:
    task: binary
    label: {source: outcomes, column: churned}
    features: [activity]
    params: {trees: 10}
    sweep: {max_depth: [1, 2]}
    scoring: {entities: outcomes, retention: 30d}
pipelines:
  nightly: {models: [retention], steps: [ingest, materialize, score], schedule: "0 3 * * *"}
`), 0o644))
		ev, lab := "customer_id,ts,amount\n", "customer_id,label_at,churned\n"
		for c := range 80 {
			for d := range c % 9 {
				ev += fmt.Sprintf("C%d,2026-10-%02dT10:00:00Z,%d\n", c, 1+d, 10+c%5)
			}
			lab += fmt.Sprintf("C%d,2026-10-%02dT12:00:00Z,%v\n", c, 10+c%20, c%9 < 4)
		}
		must(t, os.WriteFile(filepath.Join(proj, "spend.csv"), []byte(ev), 0o644))
		must(t, os.WriteFile(filepath.Join(proj, "outcomes.csv"), []byte(lab), 0o644))
		for _, src := range []string{"spend", "outcomes"} {
			if out := run(t, "ingest", src, "-f", specFile, "--temporal-address", frontend); !strings.Contains(out, "ingested") {
				t.Fatalf("sluice ingest %s said:\n%s", src, out)
			}
		}
		out := run(t, "train", "retention", "-f", specFile, "--temporal-address", frontend)
		if !strings.Contains(out, "registered it.retention v1 (models/it.retention/v1/model.sluice)") || !strings.Contains(out, "VALID AUC") {
			t.Fatalf("sluice train said:\n%s", out)
		}
		db := "--database-url=" + regexp.MustCompile(`(?m)^\s*PostgreSQL\s+(\S+)`).FindStringSubmatch(dev.out.String())[1]
		if out := run(t, "experiments", "list", "retention", db); strings.Count(out, "max_depth=") != 2 || !strings.Contains(out, " *") {
			t.Errorf("sluice experiments list said:\n%s", out)
		}
		if out := run(t, "models", "list", db); !strings.Contains(out, "retention") {
			t.Errorf("sluice models list said:\n%s", out)
		}
		if out := run(t, "models", "promote", "retention", "1", db); !strings.Contains(out, "champion") {
			t.Fatalf("sluice models promote said:\n%s", out)
		}
		// Serving loads the champion on the NOTIFY and answers with it.
		predictURL := fmt.Sprintf("http://127.0.0.1:%d/v1/models/retention:predict", ports[3])
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			resp, err := http.Post(predictURL, "application/json", strings.NewReader(`{"instances":[{"activity__amount_count_30d": 3}]}`))
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 && strings.Contains(string(body), `"version":1,"variant":"champion"`) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("serving never answered with retention v1: %d %s", resp.StatusCode, body)
			}
		}
		out = run(t, "score", "retention", "-f", specFile, "--temporal-address", frontend, "--as-of", "2026-11-01", "--parts", "3")
		if !strings.Contains(out, "scored 80 entities with it.retention v1 as of 2026-11-01T00:00:00Z") || !strings.Contains(out, "predict ") {
			t.Fatalf("sluice score said:\n%s", out)
		}
		if out := run(t, "monitor", "report", "retention", db); !strings.Contains(out, "batch run score/it.retention/2026-11-01T00:00:00Z") ||
			!strings.Contains(out, "activity__amount_count_30d  numeric") || !strings.Contains(out, "score ") {
			t.Errorf("sluice monitor report said:\n%s", out)
		}
		reportFile := filepath.Join(proj, "report.html")
		if out := run(t, "monitor", "report", "retention", db, "--html", reportFile); !strings.Contains(out, "wrote "+reportFile) {
			t.Errorf("sluice monitor report --html said:\n%s", out)
		} else if b, err := os.ReadFile(reportFile); err != nil || !strings.Contains(string(b), "activity__amount_count_30d") {
			t.Errorf("the HTML report: %v", err)
		}
		if out := run(t, "monitor", "alerts", "retention", db); !strings.Contains(out, "ID  MODEL") {
			t.Errorf("sluice monitor alerts said:\n%s", out)
		}
		out = run(t, "predictions", "retention", "--entity", "C7", db)
		if !strings.Contains(out, "CUSTOMER_ID") || strings.Count(out, "\n") != 2 || !strings.Contains(out, "score/it.retention/2026-11-01T00:00:00Z") {
			t.Errorf("sluice predictions said:\n%s", out)
		}

		// The spec applied, its schedule, and pipeline runs straight to
		// Temporal and through the control API.
		temporal := "--temporal-address=" + frontend
		if out := run(t, "apply", "-f", specFile, db, temporal); !strings.Contains(out, "it: spec version") || !strings.Contains(out, "schedule sluice/it/nightly: created 0 3 * * *") {
			t.Fatalf("sluice apply said:\n%s", out)
		}
		if out := run(t, "apply", "-f", specFile, db, temporal); !strings.Contains(out, "spec unchanged") || !strings.Contains(out, "nightly: unchanged") {
			t.Errorf("sluice apply again said:\n%s", out)
		}
		if out := run(t, "schedule", "list", temporal); !strings.Contains(out, "sluice/it/nightly") {
			t.Errorf("sluice schedule list said:\n%s", out)
		}
		if out := run(t, "schedule", "pause", "sluice/it/nightly", temporal); !strings.Contains(out, "sluice/it/nightly: pause") {
			t.Errorf("sluice schedule pause said:\n%s", out)
		}
		out = run(t, "run", "nightly", "-f", specFile, temporal, "--as-of", "2026-11-02", "--wait")
		if !strings.Contains(out, "started pipeline/it/nightly/2026-11-02T00:00:00Z") || !strings.Contains(out, "80 entities scored with v1") {
			t.Fatalf("sluice run said:\n%s", out)
		}
		token := regexp.MustCompile(`\(token (\S+), in`).FindStringSubmatch(dev.out.String())
		if token == nil {
			t.Fatalf("no API token in the banner:\n%s", dev.out.String())
		}
		out = run(t, "run", "nightly", "--api", fmt.Sprintf("http://127.0.0.1:%d", ports[2]), "--api-token", token[1], "--as-of", "2026-11-03", "--wait")
		if !strings.Contains(out, "pipeline/it/nightly/2026-11-03T00:00:00Z: Completed") {
			t.Errorf("sluice run --api said:\n%s", out)
		}
		if out := run(t, "schedule", "list", "--api", fmt.Sprintf("http://127.0.0.1:%d", ports[2]), "--api-token", token[1]); !strings.Contains(out, "sluice/it/nightly  0 3 * * *  true") {
			t.Errorf("sluice schedule list --api said:\n%s", out)
		}
		// The in-process worker's metrics and the drift gauges, on the
		// control API's /metrics, behind its token.
		if code, _ := httpGet(t, fmt.Sprintf("http://127.0.0.1:%d/metrics", ports[2])); code != http.StatusUnauthorized {
			t.Errorf("the control API's /metrics without the token: %d, want 401", code)
		}
		req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d/metrics", ports[2]), nil)
		req.Header.Set("Authorization", "Bearer "+token[1])
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if code, body := resp.StatusCode, string(b); code != 200 ||
			!strings.Contains(body, `sluice_workflow_seconds_count{outcome="ok",workflow="Pipeline"}`) ||
			!strings.Contains(body, `sluice_rows_processed_total{activity="ScorePart",queue="sluice-io"}`) ||
			!strings.Contains(body, `sluice_drift_level{model="it.retention",source="batch"}`) {
			t.Errorf("the dev stack's /metrics: %d\n%.3000s", code, body)
		}
	})

	t.Run("second stack on the same dir is refused", func(t *testing.T) {
		second := startSluice(t, nil, args...)
		if _, err := second.exit(t, 10*time.Second); err == nil {
			t.Fatal("second sluice dev exited 0")
		}
		if !strings.Contains(second.out.String(), "already running on "+dir) {
			t.Errorf("second sluice dev said:\n%s", second.out.String())
		}
	})

	_ = dev.cmd.Process.Signal(syscall.SIGTERM)
	took, err := dev.exit(t, 15*time.Second)
	if err != nil {
		t.Errorf("sluice dev exited with %v after SIGTERM", err)
	}
	if took > 10*time.Second {
		t.Errorf("sluice dev took %s to stop, want under 10 s", took)
	}
	if pids := processesNaming(filepath.Join(dir, "postgres")); len(pids) > 0 {
		t.Fatalf("PostgreSQL processes outlived sluice dev: %v", pids)
	}

	restarted := startSluice(t, nil, args...)
	restarted.waitFor(t, "Sluice dev stack is ready", 90*time.Second)
	c, err = client.Dial(client.Options{HostPort: frontend})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	desc, err := c.DescribeWorkflowExecution(ctx, wfID, "")
	if err != nil {
		t.Fatalf("workflow %s is gone after a restart: %v", wfID, err)
	}
	if st := desc.WorkflowExecutionInfo.Status; st != enums.WORKFLOW_EXECUTION_STATUS_COMPLETED {
		t.Errorf("after restart %s is %v, want completed", wfID, st)
	}
	_ = restarted.cmd.Process.Signal(syscall.SIGTERM)
	if _, err := restarted.exit(t, 15*time.Second); err != nil {
		t.Errorf("restarted sluice dev exited with %v", err)
	}
}

// TestDemoProvesEachPart runs `sluice demo --exit`, as `make demo` does
// without the wait for Ctrl-C.
func TestDemoProvesEachPart(t *testing.T) {
	if _, err := postgres.FindBinDir(); err != nil {
		testenv.Unavailable(t, "sluice demo needs PostgreSQL's binaries: %v", err)
	}
	ports := freePorts(t, 4)
	dir := filepath.Join(testenv.ServerDir(t), "state")
	args := []string{"demo", "--exit", "--dir", dir, "--customers", "1500",
		"--temporal-port", strconv.Itoa(ports[0]), "--ui-port", strconv.Itoa(ports[1]),
		"--api-port", strconv.Itoa(ports[2]), "--serve-port", strconv.Itoa(ports[3])}
	for pass := range 2 {
		demo := startSluice(t, nil, args...)
		if _, err := demo.exit(t, 4*time.Minute); err != nil {
			t.Fatalf("sluice demo (pass %d) failed: %v\n%s", pass+1, err, demo.out.String())
		}
		out := demo.out.String()
		auc := regexp.MustCompile(`1\. The model: churn v1, test AUC (0\.\d+) \(promoted: true`).FindStringSubmatch(out)
		if auc == nil || auc[1] < "0.75" {
			t.Errorf("pass %d: no promoted model with a test AUC ≥ 0.75:\n%s", pass+1, out)
		}
		for _, want := range []string{
			fmt.Sprintf("2. The run in the Temporal UI:\n   http://127.0.0.1:%d/namespaces/default/workflows/pipeline%%2Fchurn_demo%%2Fchurn_daily%%2F", ports[1]),
			"3. The 10 customers most at risk:", "churn_demo_predictions.churn_latest", "customer_id  score",
			"4. The online endpoint", `"variant":"champion","request_id":`, `"predictions":[{"score":`,
			"score        churn             1500 entities scored with v1", "press Ctrl-C", "stopping",
		} {
			if !strings.Contains(out, want) && !(want == "press Ctrl-C") {
				t.Errorf("pass %d: the demo's output lacks %q:\n%s", pass+1, want, out)
			}
		}
		token, err := os.ReadFile(filepath.Join(dir, "api-token"))
		if err != nil || len(strings.TrimSpace(string(token))) != 64 {
			t.Fatalf("api-token: %q %v", token, err)
		}
		// The token is shown to the user once, in the banner, and never
		// logged: not in the process's log lines, nor in the files under
		// --dir other than its own.
		for _, line := range strings.Split(out, "\n") {
			if strings.Contains(line, "level=") && strings.Contains(line, strings.TrimSpace(string(token))) {
				t.Errorf("a log line holds the API token: %s", line)
			}
		}
		filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() || filepath.Base(path) == "api-token" || !strings.HasSuffix(path, ".log") {
				return nil
			}
			if b, _ := os.ReadFile(path); strings.Contains(string(b), strings.TrimSpace(string(token))) {
				t.Errorf("%s holds the API token", path)
			}
			return nil
		})
	}
}
