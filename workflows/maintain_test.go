package workflows_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/testsuite"

	"github.com/sluice-ml/sluice/activities"
	"github.com/sluice-ml/sluice/workflows"
)

// TestMaintainVisitsEveryTableInOrder: every table, in order, then the
// prediction log's retention.
func TestMaintainVisitsEveryTableInOrder(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	var a *activities.Lake
	env.OnActivity(a.ListTables, mock.Anything).Return(activities.ListTablesResult{Tables: []string{"raw.a", "raw.b"}}, nil)
	var visited []string
	env.OnActivity(a.MaintainTable, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.MaintainTableInput) (activities.MaintainTableResult, error) {
			visited = append(visited, in.Table)
			return activities.MaintainTableResult{FilesCompacted: 3}, nil
		})
	var m *activities.Monitoring
	var retention int
	env.OnActivity(m.ExpirePredictionLog, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.ExpirePredictionLogInput) (activities.ExpirePredictionLogResult, error) {
			retention = in.RetentionDays
			return activities.ExpirePredictionLogResult{Dropped: make([]time.Time, 2)}, nil
		})
	env.ExecuteWorkflow(workflows.Maintain, workflows.MaintainRequest{LogRetentionDays: 3})
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	var res workflows.MaintainResult
	if err := env.GetWorkflowResult(&res); err != nil {
		t.Fatal(err)
	}
	if len(visited) != 2 || visited[0] != "raw.a" || len(res.Tables) != 2 || res.Tables[1].Result.FilesCompacted != 3 ||
		retention != 3 || len(res.LogDropped) != 2 {
		t.Errorf("visited %v, result %+v", visited, res)
	}
}
