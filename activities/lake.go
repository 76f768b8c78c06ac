package activities

import (
	"context"

	"github.com/sluice-ml/sluice/lakehouse"
)

// Lake runs lake housekeeping.
type Lake struct {
	Catalog *lakehouse.Catalog
}

// ListTablesResult lists the lake's tables.
type ListTablesResult struct {
	Tables []string
}

// ListTables lists every table as namespace.table.
func (a *Lake) ListTables(ctx context.Context) (ListTablesResult, error) {
	ts, err := a.Catalog.Tables(ctx)
	return ListTablesResult{Tables: ts}, err
}

// MaintainTableInput names a table and how to maintain it.
type MaintainTableInput struct {
	Table   string
	Options lakehouse.MaintainOptions
}

// MaintainTable compacts, expires snapshots and deletes orphans of one table.
func (a *Lake) MaintainTable(ctx context.Context, in MaintainTableInput) (lakehouse.MaintainResult, error) {
	return a.Catalog.Maintain(ctx, in.Table, in.Options)
}
