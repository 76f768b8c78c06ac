package activities

import (
	"context"
	"time"

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

// MaintainOptions say how to maintain a table; zero fields take
// lakehouse.MaintainOptions' defaults.
type MaintainOptions struct {
	TargetFileSize   int64
	MinInputFiles    uint
	ExpireOlderThan  time.Duration
	RetainLast       int
	OrphansOlderThan time.Duration
}

// MaintainTableInput names a table and how to maintain it.
type MaintainTableInput struct {
	Table   string
	Options MaintainOptions
}

// MaintainTableResult counts what maintenance did to a table.
type MaintainTableResult struct {
	FilesCompacted   int
	SnapshotsExpired int
	OrphansDeleted   int
}

// MaintainTable compacts, expires snapshots and deletes orphans of one table.
func (a *Lake) MaintainTable(ctx context.Context, in MaintainTableInput) (MaintainTableResult, error) {
	r, err := a.Catalog.Maintain(ctx, in.Table, lakehouse.MaintainOptions(in.Options))
	return MaintainTableResult(r), err
}
