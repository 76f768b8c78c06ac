package workflows_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/testsuite"

	"github.com/sluice-ml/sluice/activities"
	"github.com/sluice-ml/sluice/workflows"
)

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
	env.ExecuteWorkflow(workflows.Maintain, workflows.MaintainRequest{})
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	var res workflows.MaintainResult
	if err := env.GetWorkflowResult(&res); err != nil {
		t.Fatal(err)
	}
	if len(visited) != 2 || visited[0] != "raw.a" || len(res.Tables) != 2 || res.Tables[1].Result.FilesCompacted != 3 {
		t.Errorf("visited %v, result %+v", visited, res)
	}
}
