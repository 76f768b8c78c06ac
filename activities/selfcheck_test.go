package activities_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/sluice-ml/sluice/activities"
	"github.com/sluice-ml/sluice/metastore"
	"github.com/sluice-ml/sluice/selfcheck"
	"github.com/sluice-ml/sluice/testkit/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func newProbe(t *testing.T) *activities.SelfCheck {
	t.Helper()
	pool, err := metastore.Open(testenv.Context(t), testenv.PostgresURL(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	fixed := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	return &activities.SelfCheck{Prober: &selfcheck.Prober{DB: pool, Lake: testenv.Lake(t), Now: func() time.Time { return fixed }}}
}

func TestProbeWritesAndReadsBack(t *testing.T) {
	probe := newProbe(t)
	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	env.RegisterActivity(probe)
	val, err := env.ExecuteActivity(probe.Probe, activities.ProbeInput{RunID: "wf/1", Note: "hello", Steps: 3})
	if err != nil {
		t.Fatal(err)
	}
	var res activities.ProbeResult
	if err := val.Get(&res); err != nil {
		t.Fatal(err)
	}
	if res.RowNote != "hello" || res.StepsDone != 3 || res.ResumedFrom != 0 {
		t.Errorf("got %+v", res)
	}
	if !strings.HasPrefix(res.LakeKey, "selfcheck/wf_1/") {
		t.Errorf("lake key %q is not under the run's prefix", res.LakeKey)
	}
	var writtenAt time.Time
	if err := probe.Prober.DB.QueryRow(testenv.Context(t), `SELECT written_at FROM sluice.selfcheck WHERE run_id = 'wf/1'`).Scan(&writtenAt); err != nil {
		t.Fatal(err)
	}
	if !writtenAt.Equal(probe.Prober.Now()) {
		t.Errorf("written_at %v, want the injected clock's %v", writtenAt, probe.Prober.Now())
	}
	// A retry of the same run rewrites its row instead of failing.
	if _, err := env.ExecuteActivity(probe.Probe, activities.ProbeInput{RunID: "wf/1", Note: "again", Steps: 3}); err != nil {
		t.Fatalf("retried probe: %v", err)
	}
}

func TestProbeResumesFromHeartbeat(t *testing.T) {
	probe := newProbe(t)
	// An earlier attempt wrote steps 0 and 1, then its worker died.
	for _, k := range []string{"step-0000", "step-0001"} {
		if err := probe.Prober.Lake.Put(testenv.Context(t), "selfcheck/wf_2/"+k, strings.NewReader("earlier attempt")); err != nil {
			t.Fatal(err)
		}
	}
	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	env.RegisterActivity(probe)
	env.SetHeartbeatDetails(2)
	val, err := env.ExecuteActivity(probe.Probe, activities.ProbeInput{RunID: "wf/2", Note: "resumed", Steps: 4})
	if err != nil {
		t.Fatal(err)
	}
	var res activities.ProbeResult
	if err := val.Get(&res); err != nil {
		t.Fatal(err)
	}
	if res.ResumedFrom != 2 || res.StepsDone != 4 {
		t.Errorf("resumed from %d with %d steps, want 2 and 4", res.ResumedFrom, res.StepsDone)
	}
}

func TestProbeRejectsBadInputWithoutRetry(t *testing.T) {
	probe := &activities.SelfCheck{Prober: &selfcheck.Prober{Lake: testenv.Lake(t)}}
	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	env.RegisterActivity(probe)
	_, err := env.ExecuteActivity(probe.Probe, activities.ProbeInput{RunID: "", Steps: 1})
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) || !appErr.NonRetryable() {
		t.Fatalf("got %v, want a non-retryable error", err)
	}
}
