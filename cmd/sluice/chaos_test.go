package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/interceptor"

	"github.com/sluice-ml/sluice/activities"
	"github.com/sluice-ml/sluice/devstack/temporalserver"
	"github.com/sluice-ml/sluice/examples/churn"
	"github.com/sluice-ml/sluice/lakehouse"
	"github.com/sluice-ml/sluice/metastore"
	"github.com/sluice-ml/sluice/monitor"
	"github.com/sluice-ml/sluice/pipelines"
	"github.com/sluice-ml/sluice/testkit/testenv"
	"github.com/sluice-ml/sluice/workflows"
)

const (
	// runTemporalEnv makes the test binary run only the embedded Temporal
	// server, persisted to the SQLite file it names, on
	// SLUICE_TEST_TEMPORAL_PORT: a server the test can SIGKILL and restart.
	runTemporalEnv = "SLUICE_TEST_TEMPORAL_DB"
	// killAfterEnv makes a child `sluice worker` SIGKILL itself right
	// after the first successful attempt of each activity type, once per
	// type across all processes sharing the folder it names.
	killAfterEnv = "SLUICE_TEST_KILL_AFTER_EFFECTS"
)

func runTemporal(db string) int {
	port, err := strconv.Atoi(os.Getenv("SLUICE_TEST_TEMPORAL_PORT"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "SLUICE_TEST_TEMPORAL_PORT:", err)
		return 2
	}
	srv, err := temporalserver.StartTemporal(temporalserver.Options{DBFile: db, FrontendPort: port, LogFile: db + ".log"})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println("temporal ready")
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	<-stop
	_ = srv.Stop()
	return 0
}

// killAfterEffects kills its process with SIGKILL when an activity type
// first completes: its effects are done and Temporal never hears of it, the
// worst moment for a retry to write twice. A file per activity type in dir
// marks it killed, so each type dies once across restarted workers.
type killAfterEffects struct {
	interceptor.WorkerInterceptorBase
	dir string
}

func (k *killAfterEffects) InterceptActivity(ctx context.Context, next interceptor.ActivityInboundInterceptor) interceptor.ActivityInboundInterceptor {
	return &killingActivity{ActivityInboundInterceptorBase: interceptor.ActivityInboundInterceptorBase{Next: next}, dir: k.dir}
}

type killingActivity struct {
	interceptor.ActivityInboundInterceptorBase
	dir string
}

func (a *killingActivity) ExecuteActivity(ctx context.Context, in *interceptor.ExecuteActivityInput) (any, error) {
	res, err := a.Next.ExecuteActivity(ctx, in)
	if err != nil {
		return res, err
	}
	name := activity.GetInfo(ctx).ActivityType.Name
	if f, ferr := os.OpenFile(filepath.Join(a.dir, name), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644); ferr == nil {
		fmt.Fprintf(f, "pid %d, attempt %d\n", os.Getpid(), activity.GetInfo(ctx).Attempt)
		f.Close()
		_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {} // the signal is on its way
	}
	return res, err
}

// supervisor keeps n `sluice` child processes running, restarting each one
// that dies, as a Deployment would.
type supervisor struct {
	env, args []string
	out       *syncBuffer
	stopping  chan struct{}
	wg        sync.WaitGroup

	mu       sync.Mutex
	running  map[int]*exec.Cmd
	restarts int
}

func supervise(t *testing.T, env []string, n int, args ...string) *supervisor {
	s := &supervisor{env: env, args: args, out: &syncBuffer{}, stopping: make(chan struct{}), running: map[int]*exec.Cmd{}}
	for i := range n {
		s.wg.Add(1)
		go s.keep(i)
	}
	t.Cleanup(func() {
		s.stop()
		if t.Failed() {
			t.Logf("output of the supervised sluice %s:\n%s", strings.Join(args, " "), s.out.String())
		}
	})
	return s
}

func (s *supervisor) keep(i int) {
	defer s.wg.Done()
	for first := true; ; first = false {
		cmd := exec.Command(os.Args[0], s.args...)
		cmd.Env = append(os.Environ(), runMainEnv+"=1")
		cmd.Env = append(cmd.Env, s.env...)
		cmd.Stdout, cmd.Stderr = s.out, s.out
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		s.mu.Lock()
		select {
		case <-s.stopping:
			s.mu.Unlock()
			return
		default:
		}
		err := cmd.Start()
		if err == nil {
			s.running[i] = cmd
			if !first {
				s.restarts++
			}
		}
		s.mu.Unlock()
		if err == nil {
			err = cmd.Wait()
		}
		fmt.Fprintf(s.out, "== supervisor: process %d ended: %v\n", i, err)
		select {
		case <-s.stopping:
			return
		case <-time.After(300 * time.Millisecond):
		}
	}
}

func (s *supervisor) stop() {
	s.mu.Lock()
	select {
	case <-s.stopping:
	default:
		close(s.stopping)
	}
	for _, c := range s.running {
		_ = c.Process.Kill()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

func (s *supervisor) restarted() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.restarts
}

// TestPipelineSurvivesKilledWorkersAndAKilledServer runs the churn
// example's whole pipeline (ingest, materialize, train a sweep, promote,
// score, monitor), lake maintenance, a monitoring run (realized
// performance, online drift, a drift alert and its webhook) and the
// self-check probe on two supervised `sluice worker` processes, each of
// which SIGKILLs itself right after the first completion of every activity
// type, its effects done and unreported; and, while the sweep's trials
// run, the Temporal server itself (SQLite persistence, as in `sluice dev`)
// is SIGKILLed and restarted. Everything completes, and every table holds
// each row once: the raw tables every source row, the feature tables, the
// online store and the predictions one row per entity, the registry one
// version, one alias move and one record per trial; one alert is stored,
// and the webhook gets that alert (at least once).
func TestPipelineSurvivesKilledWorkersAndAKilledServer(t *testing.T) {
	if testing.Short() {
		t.Skip("kills every activity type once")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 12*time.Minute)
	defer cancel()
	const customers = 1500
	dbURL := testenv.NewDatabase(t)
	lakeURL := "file://" + t.TempDir() + "/lake"
	kills := t.TempDir()
	temporalDB := filepath.Join(t.TempDir(), "temporal.db")
	port := freePorts(t, 1)[0]
	address := fmt.Sprintf("127.0.0.1:%d", port)
	startServer := func() *process {
		p := startSluice(t, []string{runTemporalEnv + "=" + temporalDB, "SLUICE_TEST_TEMPORAL_PORT=" + strconv.Itoa(port)})
		p.waitFor(t, "temporal ready", 2*time.Minute)
		return p
	}
	server := startServer()

	env := []string{"SLUICE_TEMPORAL_ADDRESS=" + address, "SLUICE_DATABASE_URL=" + dbURL, "SLUICE_LAKE=" + lakeURL,
		"SLUICE_HEARTBEAT_TIMEOUT=5s", killAfterEnv + "=" + kills}
	workers := supervise(t, env, 2, "worker", "--queues", "control,io,cpu")

	dir := t.TempDir()
	if err := churn.Generate(dir, customers, 1); err != nil {
		t.Fatal(err)
	}
	cfg := defaultConfig()
	cfg.DatabaseURL, cfg.Temporal.Address = dbURL, address
	applied, err := applySpec(ctx, &cfg, filepath.Join(dir, "sluice.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	tc, err := cfg.dialTemporal(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	run, err := startPipeline(ctx, tc, "default", applied.project, "churn_daily", churn.End)
	if err != nil {
		t.Fatal(err)
	}

	// The server dies while the sweep's trials run, and comes back on the
	// same port and file.
	for deadline, polls := time.Now().Add(8*time.Minute), 0; !killed(kills, "Trial"); polls++ {
		if time.Now().After(deadline) {
			t.Fatal("no trial completed")
		}
		if polls%50 == 0 { // about once a second: a run that failed early fails the test now
			if desc, err := tc.DescribeWorkflowExecution(ctx, run.GetID(), run.GetRunID()); err == nil &&
				desc.WorkflowExecutionInfo.Status != enums.WORKFLOW_EXECUTION_STATUS_RUNNING {
				var res pipelines.Result
				t.Fatalf("the pipeline ended (%v) before a trial completed: %v", desc.WorkflowExecutionInfo.Status, run.Get(ctx, &res))
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := server.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	server.exit(t, 10*time.Second)
	time.Sleep(2 * time.Second)
	startServer() // stopped by the test's cleanup
	t.Log("the Temporal server was killed and restarted while the trials ran")

	var res pipelines.Result
	if err := run.Get(ctx, &res); err != nil {
		t.Fatalf("the pipeline: %v", err)
	}
	if len(res.Models) != 1 || !res.Models[0].Promoted || res.Models[0].Version != 1 {
		t.Fatalf("the pipeline's models: %+v, want churn v1 promoted", res.Models)
	}

	db, err := metastore.Open(ctx, dbURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	cat, err := lakehouse.OpenCatalog(ctx, lakehouse.CatalogOptions{DatabaseURL: dbURL, Lake: lakehouse.Options{URL: lakeURL}})
	if err != nil {
		t.Fatal(err)
	}
	defer cat.Close()
	count := func(table, key string) (rows, distinct int) {
		t.Helper()
		sr, err := cat.Scan(ctx, table, lakehouse.ScanOptions{Columns: []string{key}})
		if err != nil {
			t.Fatalf("%s: %v", table, err)
		}
		seen := map[string]bool{}
		for _, r := range sr.Records {
			for i := range int(r.NumRows()) {
				seen[r.Column(0).ValueStr(i)] = true
			}
			rows += int(r.NumRows())
			r.Release()
		}
		return rows, len(seen)
	}
	sql := func(q string) (a, b int) {
		t.Helper()
		if err := db.QueryRow(ctx, q).Scan(&a, &b); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return a, b
	}
	check := func(what string, got, want int) {
		t.Helper()
		if got != want {
			t.Errorf("%s: %d, want %d", what, got, want)
		}
	}
	lakeCounts := map[string]int{}
	for _, src := range []string{"customers", "transactions", "labels"} {
		rows, _ := count("churn_demo_raw."+src, "customer_id")
		check("churn_demo_raw."+src+" rows", rows, csvRows(t, filepath.Join(dir, "data", src+".csv")))
		lakeCounts["churn_demo_raw."+src] = rows
	}
	for _, view := range []string{"customer_txn", "customer_profile"} {
		rows, distinct := count("churn_demo_features."+view, "customer_id")
		check("churn_demo_features."+view+" rows, one per entity", rows, distinct)
		online, onlineDistinct := sql(`SELECT count(*)::int, count(DISTINCT customer_id)::int FROM churn_demo_online.` + view)
		check("churn_demo_online."+view+" rows", online, onlineDistinct)
		check("churn_demo_online."+view+" entities", online, distinct)
		lakeCounts["churn_demo_features."+view] = rows
	}
	check("features.customer_profile entities", lakeCounts["churn_demo_features.customer_profile"], customers)
	rows, _ := count("churn_demo_training.churn", "customer_id")
	check("training.churn rows, one per label", rows, lakeCounts["churn_demo_raw.labels"])
	pg, pgDistinct := sql(`SELECT count(*)::int, count(DISTINCT customer_id)::int FROM churn_demo_predictions.churn`)
	check("predictions.churn rows", pg, customers)
	check("predictions.churn entities", pgDistinct, customers)
	lakePreds, lakeDistinct := count("churn_demo_predictions.churn", "customer_id")
	check("the lake's predictions.churn rows", lakePreds, customers)
	check("the lake's predictions.churn entities", lakeDistinct, customers)
	versions, champion := sql(`SELECT count(*)::int, coalesce((SELECT version FROM sluice.model_aliases WHERE model = 'churn_demo.churn' AND alias = 'champion'), 0) FROM sluice.model_versions WHERE model = 'churn_demo.churn'`)
	check("registered versions", versions, 1)
	check("the champion", champion, 1)
	moves, _ := sql(`SELECT count(*)::int, 0 FROM sluice.model_alias_history WHERE model = 'churn_demo.churn'`)
	check("alias moves", moves, 1)
	trials, best := sql(`SELECT count(*)::int, count(*) FILTER (WHERE best)::int FROM sluice.experiments WHERE model = 'churn_demo.churn'`)
	check("trial records (a 2×2 sweep)", trials, 4)
	check("best trials", best, 1)

	// Maintenance under the same kills: compaction keeps every row.
	mrun, err := tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "maintain/chaos", TaskQueue: workflows.QueueControl},
		workflows.Maintain, workflows.MaintainRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var mres workflows.MaintainResult
	if err := mrun.Get(ctx, &mres); err != nil {
		t.Fatalf("maintenance: %v", err)
	}
	for table, want := range lakeCounts {
		rows, _ := count(table, "customer_id")
		check(table+" rows after maintenance", rows, want)
	}

	// Monitoring under the same kills: realized performance, online drift,
	// and a drift alert raised once and delivered at least once.
	var hookMu sync.Mutex
	var delivered []int64
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var a monitor.Alert
		if err := json.NewDecoder(r.Body).Decode(&a); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		hookMu.Lock()
		delivered = append(delivered, a.ID)
		hookMu.Unlock()
	}))
	defer hook.Close()
	monRun, err := tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "monitor/chaos", TaskQueue: workflows.QueueControl}, pipelines.Monitor,
		pipelines.MonitorRequest{Project: applied.project, Pipeline: "churn_daily", Model: "churn_demo.churn", Version: 1, RunID: "chaos-score-run", AsOf: churn.End,
			Drift: monitor.LevelAlert, Drifted: []string{"customer_txn__amount_sum_7d"}, Webhook: hook.URL, Format: "json",
			Performance:  &activities.PerformanceInput{Model: "churn_demo.churn", Task: "binary", LabelTable: "churn_demo_raw.labels", Key: "customer_id", LabelTime: "label_at", LabelColumn: "churned"},
			OnlineWindow: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	var mon pipelines.MonitorResult
	if err := monRun.Get(ctx, &mon); err != nil {
		t.Fatalf("monitoring: %v", err)
	}
	if !mon.Alerted || !mon.Delivered {
		t.Errorf("monitoring: %+v, want the alert raised and delivered", mon)
	}
	alerts, sent := sql(`SELECT count(*)::int, count(sent_at)::int FROM sluice.alerts WHERE model = 'churn_demo.churn'`)
	check("alerts", alerts, 1)
	check("alerts sent", sent, 1)
	hookMu.Lock()
	if len(delivered) == 0 || slices.ContainsFunc(delivered, func(id int64) bool { return id != mon.Alert.ID }) {
		t.Errorf("the webhook got alerts %v, want alert %d at least once", delivered, mon.Alert.ID)
	}
	hookMu.Unlock()

	// The self-check probe under the same kills.
	prun, err := tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "selfcheck/chaos", TaskQueue: workflows.QueueControl},
		workflows.SelfCheck, workflows.SelfCheckInput{Note: "chaos", Steps: 3})
	if err != nil {
		t.Fatal(err)
	}
	if err := prun.Get(ctx, nil); err != nil {
		t.Fatalf("the self-check: %v", err)
	}
	probes, _ := sql(`SELECT count(*)::int, 0 FROM sluice.selfcheck WHERE run_id = 'selfcheck/chaos'`)
	check("self-check rows", probes, 1)

	entries, _ := os.ReadDir(kills)
	var types []string
	for _, e := range entries {
		types = append(types, e.Name())
	}
	for _, want := range []string{"Plan", "IngestFile", "Materialize", "TrainingSet", "Trial", "RecordTrials", "Evaluate", "Register",
		"Resolve", "SetGateReport", "SetAlias", "ScoreFeatures", "ScorePart", "ScorePublish", "ListTables", "MaintainTable", "Performance", "OnlineDrift", "Raise", "Deliver", "Probe"} {
		if !slices.Contains(types, want) {
			t.Errorf("no worker was killed after %s", want)
		}
	}
	t.Logf("killed after each of %d activity types (%s); %d worker restarts", len(types), strings.Join(types, ", "), workers.restarted())
}

func killed(dir, activityType string) bool {
	_, err := os.Stat(filepath.Join(dir, activityType))
	return err == nil
}

// csvRows counts a CSV file's data rows.
func csvRows(t *testing.T, path string) int {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	n := -1
	for sc := bufio.NewScanner(f); sc.Scan(); {
		n++
	}
	return n
}
