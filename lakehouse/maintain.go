package lakehouse

import (
	"context"
	"fmt"
	"time"

	"github.com/apache/iceberg-go/table"
	"github.com/apache/iceberg-go/table/compaction"
)

// MaintainOptions tune table maintenance. Zero values take the defaults.
type MaintainOptions struct {
	// TargetFileSize is the data file size compaction aims for (128 MiB).
	TargetFileSize int64
	// MinInputFiles is the fewest small files of a partition worth
	// rewriting (5).
	MinInputFiles uint
	// ExpireOlderThan expires snapshots older than this (7 days) ...
	ExpireOlderThan time.Duration
	// ... keeping at least the newest RetainLast (10).
	RetainLast int
	// OrphansOlderThan removes unreferenced files older than this (3
	// days): younger ones may belong to a commit in flight.
	OrphansOlderThan time.Duration
}

func (o MaintainOptions) withDefaults() MaintainOptions {
	if o.TargetFileSize == 0 {
		o.TargetFileSize = 128 << 20
	}
	if o.MinInputFiles == 0 {
		o.MinInputFiles = 5
	}
	if o.ExpireOlderThan == 0 {
		o.ExpireOlderThan = 7 * 24 * time.Hour
	}
	if o.RetainLast == 0 {
		o.RetainLast = 10
	}
	if o.OrphansOlderThan == 0 {
		o.OrphansOlderThan = 3 * 24 * time.Hour
	}
	return o
}

// MaintainResult counts what maintenance did.
type MaintainResult struct {
	FilesCompacted   int
	SnapshotsExpired int
	OrphansDeleted   int
}

// Maintain compacts small data files, expires old snapshots and deletes
// orphan files (left by failed or vetoed commits) of one table.
func (c *Catalog) Maintain(ctx context.Context, name string, o MaintainOptions) (MaintainResult, error) {
	o = o.withDefaults()
	var res MaintainResult
	ident, err := Ident(name)
	if err != nil {
		return res, err
	}
	r := retrying{c.cat}
	t, err := r.LoadTable(ctx, ident)
	if err != nil {
		return res, fmt.Errorf("loading %s: %w", name, err)
	}
	if t.CurrentSnapshot() != nil {
		cfg := compaction.DefaultConfig()
		cfg.TargetFileSizeBytes = o.TargetFileSize
		cfg.MinFileSizeBytes = o.TargetFileSize * 3 / 4
		cfg.MaxFileSizeBytes = o.TargetFileSize * 9 / 5
		cfg.MinInputFiles = o.MinInputFiles
		plan, err := compaction.Analyze(ctx, t, cfg)
		if err != nil {
			return res, fmt.Errorf("planning compaction of %s: %w", name, err)
		}
		if len(plan.Groups) > 0 {
			groups := make([]table.CompactionTaskGroup, len(plan.Groups))
			for i, g := range plan.Groups {
				groups[i] = table.CompactionTaskGroup{PartitionKey: g.PartitionKey, Tasks: g.Tasks}
				res.FilesCompacted += len(g.Tasks)
			}
			if _, err := t.RewriteDataFiles(ctx, groups, table.RewriteDataFilesOptions{}); err != nil {
				return res, fmt.Errorf("compacting %s: %w", name, err)
			}
			if t, err = r.LoadTable(ctx, ident); err != nil {
				return res, err
			}
		}
	}
	before := len(t.Metadata().Snapshots())
	tx := t.NewTransaction()
	if err := tx.ExpireSnapshots(table.WithOlderThan(o.ExpireOlderThan), table.WithRetainLast(o.RetainLast)); err != nil {
		return res, fmt.Errorf("expiring snapshots of %s: %w", name, err)
	}
	if t, err = tx.Commit(ctx); err != nil {
		return res, fmt.Errorf("expiring snapshots of %s: %w", name, err)
	}
	res.SnapshotsExpired = before - len(t.Metadata().Snapshots())
	orphans, err := t.DeleteOrphanFiles(ctx, table.WithFilesOlderThan(o.OrphansOlderThan))
	if err != nil {
		return res, fmt.Errorf("deleting orphan files of %s: %w", name, err)
	}
	res.OrphansDeleted = len(orphans.DeletedFiles)
	return res, nil
}
