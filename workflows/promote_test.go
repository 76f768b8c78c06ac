package workflows_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/sluice-ml/sluice/activities"
	"github.com/sluice-ml/sluice/gates"
	"github.com/sluice-ml/sluice/registry"
	"github.com/sluice-ml/sluice/workflows"
)

func ptr(v float64) *float64 { return &v }

// promoteRequest asks to promote a trained version behind gates.
func promoteRequest(req workflows.TrainRequest, res workflows.TrainResult, gs []gates.Gate) workflows.PromoteRequest {
	best := res.Trials[res.Best]
	return workflows.PromoteRequest{Model: req.Model, Version: res.Version.Version, Gates: gs, Metrics: res.Test,
		Split: workflowsTrialInput(req, res, best.Trial)}
}

// workflowsTrialInput rebuilds the split a trial used.
func workflowsTrialInput(req workflows.TrainRequest, res workflows.TrainResult, trial int) activities.TrialInput {
	return activities.TrialInput{Model: req.Model, RunID: res.Version.WorkflowID, Trial: trial, Table: res.TrainingSet.Table, Snapshot: res.TrainingSet.SnapshotID,
		Key: req.TrainingSet.Key, Time: req.TrainingSet.LabelTime, Label: req.TrainingSet.LabelColumn, Task: req.Task, Algorithm: req.Algorithm}
}

func (w *world) promote(t *testing.T, id string, req workflows.PromoteRequest, signal *workflows.Approval) workflows.PromoteResult {
	t.Helper()
	c := w.srv.GetDefaultClient()
	run, err := c.ExecuteWorkflow(w.ctx, client.StartWorkflowOptions{ID: id, TaskQueue: workflows.QueueControl}, workflows.Promote, req)
	if err != nil {
		t.Fatal(err)
	}
	if signal != nil {
		// The version waits for the signal.
		time.Sleep(300 * time.Millisecond)
		if err := c.SignalWorkflow(w.ctx, id, "", workflows.ApproveSignal, *signal); err != nil {
			t.Fatal(err)
		}
	}
	var res workflows.PromoteResult
	if err := run.Get(w.ctx, &res); err != nil {
		t.Fatal(err)
	}
	return res
}

// TestPromoteGatesAndApproval: a first version becomes champion; a worse
// one is registered but not promoted; a good one behind manual approval
// waits and is promoted on the signal; another is rejected on the
// timeout. Every alias move reaches a LISTEN client.
func TestPromoteGatesAndApproval(t *testing.T) {
	w := newWorld(t)
	reg := &registry.Registry{DB: w.db}
	var mu sync.Mutex
	var moves []registry.AliasMove
	lctx, stop := context.WithCancel(w.ctx)
	done, err := reg.Watch(lctx, func(m registry.AliasMove) {
		mu.Lock()
		moves = append(moves, m)
		mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	model := fmt.Sprintf("promo_%d", time.Now().UnixNano())
	gs := []gates.Gate{{Metric: "auc", Min: ptr(0.6)}, {Metric: "auc", VsChampion: ptr(-0.005)}}
	good := trainRequest(model, map[string]string{"trees": "30", "max_depth": "3", "threads": "1"}, nil)
	bad := trainRequest(model, map[string]string{"trees": "1", "max_depth": "1", "learning_rate": "0.01", "threads": "1"}, nil)

	v1 := w.train(t, "train/"+model+"/1", good)
	if r := w.promote(t, "promote/1", promoteRequest(good, v1, gs), nil); !r.Promoted {
		t.Fatalf("the first version was not promoted: %s", r.Reason)
	}
	v2 := w.train(t, "train/"+model+"/2", bad)
	r2 := w.promote(t, "promote/2", promoteRequest(bad, v2, gs), nil)
	if r2.Promoted || !strings.Contains(r2.Reason, "against champion v1") || r2.Report.Champion != 1 {
		t.Fatalf("the worse version: %+v", r2)
	}
	if champ, err := reg.Resolve(w.ctx, model, "champion"); err != nil || champ.Version != 1 {
		t.Fatalf("champion after the worse version: %+v, %v", champ, err)
	}
	if v, _ := reg.Get(w.ctx, model, 2); !strings.Contains(string(v.GateReport), `"passed": false`) {
		t.Errorf("v2's stored gate report: %s", v.GateReport)
	}
	v3 := w.train(t, "train/"+model+"/3", good)
	req3 := promoteRequest(good, v3, gs)
	req3.Manual = true
	r3 := w.promote(t, workflows.PromoteID(model, 3), req3, &workflows.Approval{Approve: true, By: "alice", Reason: "looks right"})
	if !r3.Promoted || r3.Move.From != 1 || r3.Move.To != 3 || r3.Move.By != "alice" {
		t.Fatalf("the approved version: %+v", r3)
	}
	v4 := w.train(t, "train/"+model+"/4", good)
	req4 := promoteRequest(good, v4, gs)
	req4.Manual, req4.ApprovalTimeout = true, time.Second
	if r4 := w.promote(t, "promote/4", req4, nil); r4.Promoted || !strings.Contains(r4.Reason, "no approval within") {
		t.Fatalf("the unapproved version: %+v", r4)
	}
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		mu.Lock()
		n := len(moves)
		mu.Unlock()
		if n >= 2 {
			break
		}
	}
	stop()
	if err := <-done; err != nil {
		t.Error(err)
	}
	if len(moves) != 2 || moves[0].To != 1 || moves[1].From != 1 || moves[1].To != 3 {
		t.Errorf("notifications %+v, want champion → v1, then v1 → v3", moves)
	}
}
