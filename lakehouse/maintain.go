package lakehouse

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
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

// Tag names a snapshot of a table, for good: a tagged snapshot and its
// files survive every expiry (a model version's training data, say).
// Tagging the snapshot a tag already names does nothing; moving a tag is
// refused.
func (c *Catalog) Tag(ctx context.Context, name, tag string, snapshotID int64) error {
	ident, err := Ident(name)
	if err != nil {
		return err
	}
	r := retrying{c.cat}
	t, err := r.LoadTable(ctx, ident)
	if err != nil {
		return fmt.Errorf("loading %s: %w", name, err)
	}
	for refName, ref := range t.Metadata().Refs() {
		if refName != tag {
			continue
		}
		if ref.SnapshotID == snapshotID {
			return nil
		}
		return fmt.Errorf("tagging %s: %s already names snapshot %d", name, tag, ref.SnapshotID)
	}
	if t.Metadata().SnapshotByID(snapshotID) == nil {
		return fmt.Errorf("tagging %s: %w: %d", name, ErrNoSnapshot, snapshotID)
	}
	_, _, err = r.CommitTable(ctx, ident,
		[]table.Requirement{table.AssertTableUUID(t.Metadata().TableUUID()), table.AssertRefSnapshotID(tag, nil)},
		[]table.Update{table.NewSetSnapshotRefUpdate(tag, snapshotID, table.TagRef, -1, -1, -1)})
	if err != nil {
		return fmt.Errorf("tagging %s: %w", name, err)
	}
	return nil
}

// ErrNoSnapshot reports a snapshot a table does not have (any more).
var ErrNoSnapshot = errors.New("lakehouse: no such snapshot")

// ExpireReplaced expires the snapshots of a table that every write
// replaces whole (a training set) once they were replaced more than keep
// ago, except tagged ones, and deletes the files only they held. The age
// counts from the replacement, not the creation: a set built long ago and
// replaced a minute ago stays readable for keep.
func (c *Catalog) ExpireReplaced(ctx context.Context, name string, keep time.Duration) (int, error) {
	ident, err := Ident(name)
	if err != nil {
		return 0, err
	}
	t, err := retrying{c.cat}.LoadTable(ctx, ident)
	if err != nil {
		return 0, fmt.Errorf("loading %s: %w", name, err)
	}
	snaps := t.Metadata().Snapshots()
	slices.SortFunc(snaps, func(a, b table.Snapshot) int { return cmp.Compare(a.TimestampMs, b.TimestampMs) })
	// The oldest snapshot to keep is the first one replaced within keep
	// (or the current one); every older one was replaced before the
	// window, and iceberg-go expires by creation time: older than it.
	cutoff := time.Now().Add(-keep).UnixMilli()
	keepFrom := len(snaps) - 1
	for i := 0; i+1 < len(snaps); i++ {
		if snaps[i+1].TimestampMs >= cutoff {
			keepFrom = i
			break
		}
	}
	if keepFrom <= 0 {
		return 0, nil
	}
	before := len(snaps)
	age := time.Since(time.UnixMilli(snaps[keepFrom].TimestampMs)) + time.Millisecond
	tx := t.NewTransaction()
	if err := tx.ExpireSnapshots(table.WithOlderThan(age), table.WithRetainLast(1)); err != nil {
		return 0, fmt.Errorf("expiring snapshots of %s: %w", name, err)
	}
	t, err = tx.Commit(ctx)
	if errors.Is(err, fs.ErrNotExist) {
		// The expiry committed; its cleanup then met a file an earlier
		// expiry removed (iceberg-go v0.7 also deletes the files an
		// overwrite's manifests list as deleted). The file is gone either
		// way.
		t, err = retrying{c.cat}.LoadTable(ctx, ident)
	}
	if err != nil {
		return 0, fmt.Errorf("expiring snapshots of %s: %w", name, err)
	}
	return before - len(t.Metadata().Snapshots()), nil
}
