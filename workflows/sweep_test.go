package workflows_test

import (
	"context"
	"strconv"
	"sync"
	"testing"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/testsuite"

	"github.com/sluice-ml/sluice/activities"
	"github.com/sluice-ml/sluice/sweep"
	"github.com/sluice-ml/sluice/workflows"
)

// TestBigSweepsRunInChunks: a grid of 2,500 trials (under a raised cap)
// runs in three child workflows of at most 1,000 trials, each recording
// its own; every trial runs once, and the run's best is the best of all. A grid over the cap fails as bad
// input before anything runs. (Before, the whole grid was expanded in
// workflow code, trials ran in fixed batches of 4, and past about 15k
// trials the history passed Temporal's event limit.)
func TestBigSweepsRunInChunks(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflow(workflows.TrainTrials)
	env.OnWorkflow(workflows.TrainingSet, mock.Anything, mock.Anything).Return(activities.TrainingSetResult{Table: "p_training.m", SnapshotID: 7}, nil)
	var tr *activities.Training
	var models *activities.Models
	var mu sync.Mutex
	ran := map[int]int{}
	env.OnActivity(tr.Trial, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.TrialInput) (activities.TrialResult, error) {
		mu.Lock()
		ran[in.Trial]++
		mu.Unlock()
		a, _ := strconv.Atoi(in.Params["a"])
		b, _ := strconv.Atoi(in.Params["b"])
		c, _ := strconv.Atoi(in.Params["c"])
		auc := 0.5 + float64(a*100+b*10+c)/10000 // best at a=24, b=9, c=9
		if a == 24 && b == 9 && c == 9 {
			auc = 0.99
		}
		return activities.TrialResult{Trial: in.Trial, Metrics: map[string]float64{"auc": auc}, ArtifactKey: "k" + strconv.Itoa(in.Trial)}, nil
	})
	var recorded, marked int
	env.OnActivity(models.RecordTrials, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.RecordTrialsInput) error {
		mu.Lock()
		defer mu.Unlock()
		recorded += len(in.Results)
		if in.Best >= 0 {
			marked++
			if in.Results[in.Best].Metrics["auc"] != 0.99 {
				t.Errorf("marked best %+v", in.Results[in.Best])
			}
		}
		return nil
	})
	env.OnActivity(tr.Evaluate, mock.Anything, mock.Anything).Return(activities.EvaluateResult{Metrics: map[string]float64{"auc": 0.98}}, nil)
	env.OnActivity(models.Register, mock.Anything, mock.Anything).Return(activities.ModelVersion{Model: "p.m", Version: 1}, nil)

	as := make([]string, 25)
	for i := range as {
		as[i] = strconv.Itoa(i)
	}
	ten := []string{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"}
	env.ExecuteWorkflow(workflows.Train, workflows.TrainRequest{Model: "p.m", Task: "binary", Algorithm: "gbdt", Concurrency: 3,
		Sweep: map[string][]string{"a": as, "b": ten, "c": ten}, Search: sweep.Search{MaxTrials: 5000}})
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	var res workflows.TrainResult
	if err := env.GetWorkflowResult(&res); err != nil {
		t.Fatal(err)
	}
	if len(ran) != 2500 {
		t.Errorf("%d trials ran, want 2,500", len(ran))
	}
	for trial, n := range ran {
		if n != 1 {
			t.Errorf("trial %d ran %d times", trial, n)
		}
	}
	if len(res.Trials) != 3 || res.TrialsRun != 2500 || res.Trials[res.Best].Metrics["auc"] != 0.99 || res.Split.Params["a"] != "24" || recorded != 2501 || marked != 1 {
		t.Errorf("%d chunk bests, best %+v (params %v), %d trials recorded, %d marked best", len(res.Trials), res.Trials[res.Best], res.Split.Params, recorded, marked)
	}

	// Over the cap: refused before the training set is built.
	env = s.NewTestWorkflowEnvironment()
	env.ExecuteWorkflow(workflows.Train, workflows.TrainRequest{Model: "p.m", Task: "binary", Algorithm: "gbdt",
		Sweep: map[string][]string{"a": as, "b": ten, "c": ten}})
	if err := env.GetWorkflowError(); err == nil {
		t.Error("2,500 trials under the default cap ran")
	}
}
