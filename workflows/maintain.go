package workflows

import (
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/sluice-ml/sluice/activities"
)

// MaintainRequest says which tables to maintain (all when empty) and how,
// and how many days of the prediction log to keep (0 means 14).
type MaintainRequest struct {
	Tables           []string
	Options          activities.MaintainOptions
	LogRetentionDays int
}

// TableMaintenance is one table's outcome.
type TableMaintenance struct {
	Table  string
	Result activities.MaintainTableResult
}

// MaintainResult lists the tables' outcomes and the prediction log's days
// dropped.
type MaintainResult struct {
	Tables     []TableMaintenance
	LogDropped []time.Time
}

// Maintain compacts small files, expires old snapshots and deletes orphan
// files, table by table on the io queue, then drops the prediction log's
// days past retention. Schedule it (daily, say) like any workflow.
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
	// Runs recorded before the prediction log had retention end here.
	if workflow.GetVersion(ctx, "prediction-log-retention", workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		return res, nil
	}
	var m *activities.Monitoring
	var expired activities.ExpirePredictionLogResult
	if err := workflow.ExecuteActivity(ctx, m.ExpirePredictionLog, activities.ExpirePredictionLogInput{
		RetentionDays: req.LogRetentionDays, Now: workflow.Now(ctx)}).Get(ctx, &expired); err != nil {
		return res, err
	}
	res.LogDropped = expired.Dropped
	return res, nil
}
