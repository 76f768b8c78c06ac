package activities_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"go.temporal.io/sdk/testsuite"

	"github.com/sluice-ml/sluice/activities"
	"github.com/sluice-ml/sluice/features"
	"github.com/sluice-ml/sluice/gpu"
	"github.com/sluice-ml/sluice/lakehouse"
	"github.com/sluice-ml/sluice/testkit/mockcuda"
	"github.com/sluice-ml/sluice/training"
)

func runTrial(a *activities.Training, in activities.TrialInput) (activities.TrialResult, error) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	env.RegisterActivity(a)
	val, err := env.ExecuteActivity(a.Trial, in)
	var res activities.TrialResult
	if err == nil {
		err = val.Get(&res)
	}
	return res, err
}

// TestTrialResumesFromItsCheckpoint fails a trial after its checkpoint
// at round 20; the retry resumes there and ends with the model an
// uninterrupted trial trains.
func TestTrialResumesFromItsCheckpoint(t *testing.T) {
	cat := newIngest(t).Loader.Catalog
	ctx := context.Background()
	churnTable(t, cat, "training.churn", true)
	churnTable(t, cat, "training.churn_numeric", false)
	lake, err := lakehouse.Open(ctx, lakehouse.Options{URL: "file://" + t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	a := &activities.Training{Trainer: &training.Trainer{Features: &features.Store{Catalog: cat}, Lake: lake, Worker: "test", Device: "cpu"}}
	in := activities.TrialInput{Model: "churn", RunID: "whole", Trial: 1, Table: "training.churn", Key: "customer_id", Time: "label_at",
		Label: "churned", Task: "binary", Params: map[string]string{"trees": "40", "max_depth": "3", "threads": "1"}, CheckpointEvery: 10}
	whole, err := runTrial(a, in)
	if err != nil {
		t.Fatal(err)
	}
	if whole.Metrics["auc"] < 0.8 || whole.ResumedFrom != 0 || whole.Rounds != 40 {
		t.Fatalf("uninterrupted trial %+v", whole)
	}
	in.RunID = "crashed"
	errCrash := errors.New("worker died")
	a.Trainer.Fault = func(round int) error {
		if round == 20 {
			return errCrash
		}
		return nil
	}
	if _, err := runTrial(a, in); err == nil || !strings.Contains(err.Error(), "worker died") {
		t.Fatalf("first attempt: %v, want the injected crash", err)
	}
	a.Trainer.Fault = nil
	resumed, err := runTrial(a, in)
	if err != nil {
		t.Fatal(err)
	}
	if resumed.ResumedFrom != 20 || resumed.Rounds != 40 {
		t.Errorf("retry %+v, want it resumed at round 20", resumed)
	}
	for k, v := range whole.Metrics {
		if resumed.Metrics[k] != v {
			t.Errorf("metric %s: resumed %v, uninterrupted %v", k, resumed.Metrics[k], v)
		}
	}

	// The GPU grows exact-gradient trees on numeric features: the CPU's
	// model of the same, to compare with.
	numeric := in
	numeric.RunID, numeric.Table = "numeric", "training.churn_numeric"
	numeric.Params = map[string]string{"trees": "40", "max_depth": "3", "threads": "1", "quantized_gradients": "false"}
	cpuNumeric, err := runTrial(a, numeric)
	if err != nil {
		t.Fatal(err)
	}

	// On a gpu worker each trial holds a device, trains on it and says
	// which: here the mock driver, whose kernels are the Go references.
	mock := mockcuda.Load(t)
	a.Trainer.GPUs = training.NewDevices(1)
	a.Trainer.GPU = gpu.OpenPool(1, nil)
	defer a.Trainer.GPU.Close()
	// A trial with a categorical feature keeps to the CPU, and says why.
	in.RunID = "gpu-categorical"
	c, err := runTrial(a, in)
	if err != nil || c.Device != `cpu (gpu:0 held; categorical splits (feature "f__plan") train on the CPU)` || c.Metrics["auc"] != whole.Metrics["auc"] {
		t.Errorf("a categorical trial on the gpu queue: %+v, %v (CPU AUC %v)", c, err, whole.Metrics["auc"])
	}
	in = numeric
	in.RunID = "gpu"
	g, err := runTrial(a, in)
	if err != nil || g.Device != "gpu:0 (Mock GPU 0)" || math.Abs(g.Metrics["auc"]-cpuNumeric.Metrics["auc"]) > 1e-9 {
		t.Errorf("a trial on the gpu queue: %+v, %v (CPU AUC %v)", g, err, cpuNumeric.Metrics["auc"])
	}
	// A CUDA error part-way: the trial goes on on the CPU, from its last
	// checkpoint, to the CPU's model.
	mock.Reset()
	t.Setenv("MOCKCUDA_FAIL", "cuLaunchKernel@200")
	in.RunID = "gpu-fails"
	g, err = runTrial(a, in)
	if err != nil || !strings.HasPrefix(g.Device, "cpu (gpu:0 (Mock GPU 0) failed: cuLaunchKernel(") ||
		math.Abs(g.Metrics["auc"]-cpuNumeric.Metrics["auc"]) > 1e-9 {
		t.Errorf("a trial whose GPU fails: %+v, %v", g, err)
	}
}

// churnTable writes a training table of spend (and, with plan, a
// categorical plan) against churn.
func churnTable(t *testing.T, cat *lakehouse.Catalog, name string, plan bool) {
	t.Helper()
	fields := []arrow.Field{
		{Name: "customer_id", Type: arrow.BinaryTypes.String},
		{Name: "label_at", Type: tsType},
		{Name: "churned", Type: arrow.FixedWidthTypes.Boolean},
		{Name: "f__spend", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
	}
	if plan {
		fields = append(fields, arrow.Field{Name: "f__plan", Type: arrow.BinaryTypes.String, Nullable: true})
	}
	lakeTable(t, cat, name, arrow.NewSchema(fields, nil), "label_at", func(b *array.RecordBuilder) {
		r := rand.New(rand.NewPCG(1, 2))
		for i := range 3000 {
			spend := r.Float64() * 100
			p := []string{"basic", "pro", "max"}[r.IntN(3)]
			churn := spend < 30 || (p == "basic" && r.IntN(3) == 0)
			b.Field(0).(*array.StringBuilder).Append(fmt.Sprintf("C%d", i))
			b.Field(1).(*array.TimestampBuilder).Append(arrow.Timestamp(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Hour).UnixMicro()))
			b.Field(2).(*array.BooleanBuilder).Append(churn)
			b.Field(3).(*array.Float64Builder).Append(spend)
			if plan {
				b.Field(4).(*array.StringBuilder).Append(p)
			}
		}
	})
}
