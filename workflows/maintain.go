package workflows

import (
	"go.temporal.io/sdk/workflow"

	"github.com/sluice-ml/sluice/activities"
)

// MaintainRequest says which tables to maintain (all when empty) and how.
type MaintainRequest struct {
	Tables  []string
	Options activities.MaintainOptions
}

// TableMaintenance is one table's outcome.
type TableMaintenance struct {
	Table  string
	Result activities.MaintainTableResult
}

// MaintainResult lists the tables' outcomes.
type MaintainResult struct {
	Tables []TableMaintenance
}

// Maintain compacts small files, expires old snapshots and deletes orphan
// files, table by table on the io queue. Schedule it (daily, say) like any
// workflow.
func Maintain(ctx workflow.Context, req MaintainRequest) (MaintainResult, error) {
	ctx = workflow.WithActivityOptions(ctx, MaintenanceOptions())
	var a *activities.Lake
	tables := req.Tables
	if len(tables) == 0 {
		var list activities.ListTablesResult
		if err := workflow.ExecuteActivity(ctx, a.ListTables).Get(ctx, &list); err != nil {
			return MaintainResult{}, err
		}
		tables = list.Tables
	}
	var res MaintainResult
	for _, t := range tables {
		var r activities.MaintainTableResult
		if err := workflow.ExecuteActivity(ctx, a.MaintainTable, activities.MaintainTableInput{Table: t, Options: req.Options}).Get(ctx, &r); err != nil {
			return res, err
		}
		res.Tables = append(res.Tables, TableMaintenance{Table: t, Result: r})
	}
	return res, nil
}
