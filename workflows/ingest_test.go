package workflows_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/sluice-ml/sluice/activities"
	"github.com/sluice-ml/sluice/internal/permanent"
	"github.com/sluice-ml/sluice/workflows"
)

func TestIngestStampsRunWithWorkflowID(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: "ingest/customers/2026-11-27"})
	var a *activities.Ingest
	var got activities.IngestInput
	env.OnActivity(a.IngestFile, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.IngestInput) (activities.IngestResult, error) {
			got = in
			return activities.IngestResult{Table: "raw." + in.Source, Rows: 10}, nil
		})
	env.ExecuteWorkflow(workflows.Ingest, workflows.IngestRequest{Source: "customers", Format: "csv", Path: "c.csv", Key: "customer_id", ChunkRows: 5})
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	var res workflows.IngestResult
	if err := env.GetWorkflowResult(&res); err != nil {
		t.Fatal(err)
	}
	if got.RunID != "ingest/customers/2026-11-27" || got.ChunkRows != 5 || res.Ingest.Rows != 10 {
		t.Errorf("activity got %+v, workflow returned %+v", got, res)
	}
}

func TestIngestDoesNotRetryBadInput(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	var a *activities.Ingest
	calls := 0
	env.OnActivity(a.IngestFile, mock.Anything, mock.Anything).Return(
		func(context.Context, activities.IngestInput) (activities.IngestResult, error) {
			calls++
			return activities.IngestResult{}, temporal.NewApplicationError("too many rejects", permanent.RejectRatio)
		})
	env.ExecuteWorkflow(workflows.Ingest, workflows.IngestRequest{Source: "s", Format: "csv", Path: "p"})
	var appErr *temporal.ApplicationError
	if err := env.GetWorkflowError(); !errors.As(err, &appErr) || appErr.Type() != permanent.RejectRatio {
		t.Fatalf("got %v", err)
	}
	if calls != 1 {
		t.Errorf("activity ran %d times; a reject-ratio failure must not be retried", calls)
	}
}
