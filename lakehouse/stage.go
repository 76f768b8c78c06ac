package lakehouse

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"sync"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/table"
)

// Stage is one run's write to a table in progress: data files written to
// the table's location and not yet part of it. Commit adds them all in one
// snapshot stamped with the run id, so readers see all of the run or none
// of it, and a retried run finds its snapshot and writes nothing. Files of
// a run that never commits are removed by Abort, or by maintenance's
// orphan-file cleanup when the process died.
//
// Columns the data adds to the table are staged with it and commit in the
// same snapshot; columns it drops or retypes are ErrSchemaDrift.
type Stage struct {
	name   string
	runID  string
	schema *arrow.Schema
	tx     *table.Transaction
	// target is the table as the commit will leave its schema: the files
	// are written against it.
	target *table.Table
	mu     sync.Mutex // guards files: writes may run in parallel
	files  []iceberg.DataFile
	// Added are the columns the data adds to the table.
	Added []string
	// Done is set when the run had already committed: the stage writes
	// nothing.
	Done    bool
	done    AppendResult
	summary map[string]string
}

// Stage begins a run's write of data with the given schema to a table
// that exists. When the run already committed, the stage is Done.
func (c *Catalog) Stage(ctx context.Context, name string, schema *arrow.Schema, runID string) (*Stage, error) {
	t, done, ok, err := c.forRun(ctx, name, runID)
	if err != nil {
		return nil, err
	}
	s := &Stage{name: name, runID: runID, schema: schema}
	if ok {
		s.Done, s.done = true, done
		if snap := t.Metadata().SnapshotByID(done.SnapshotID); snap != nil && snap.Summary != nil {
			s.summary = snap.Summary.Properties
		}
		return s, nil
	}
	s.tx = t.NewTransaction()
	if s.Added, err = evolveIn(s.tx, t, name, schema); err != nil {
		return nil, err
	}
	staged, err := s.tx.StagedTable()
	if err != nil {
		return nil, fmt.Errorf("staging %s: %w", name, err)
	}
	s.target = staged.Table
	return s, nil
}

// SnapshotID is the run's snapshot once committed.
func (s *Stage) SnapshotID() int64 { return s.done.SnapshotID }

// Summary is the committed run's snapshot summary (Done stages only).
func (s *Stage) Summary() map[string]string { return s.summary }

// Files are the paths of the data files staged so far.
func (s *Stage) Files() []string {
	paths := make([]string, len(s.files))
	for i, f := range s.files {
		paths[i] = f.FilePath()
	}
	return paths
}

// Write writes the records to new data files (releasing each record) and
// stages them; it returns their paths, which a resumed run hands to Adopt.
// Writes may run in parallel, each to its own files.
func (s *Stage) Write(ctx context.Context, recs iter.Seq2[arrow.RecordBatch, error]) ([]string, error) {
	if s.Done {
		return nil, errors.New("lakehouse: the run already committed")
	}
	var paths []string
	for df, err := range table.WriteRecords(ctx, s.target, s.schema, recs, table.WithRecordBatchBufferSize(4)) {
		if err != nil {
			return paths, fmt.Errorf("writing to %s: %w", s.name, err)
		}
		s.mu.Lock()
		s.files = append(s.files, df)
		s.mu.Unlock()
		paths = append(paths, df.FilePath())
	}
	return paths, nil
}

// Adopt stages data files an earlier attempt of the run wrote, reading
// their statistics from the files' footers.
func (s *Stage) Adopt(ctx context.Context, paths []string) error {
	if len(paths) == 0 {
		return nil
	}
	fs, err := s.target.FS(ctx)
	if err != nil {
		return fmt.Errorf("adopting files into %s: %w", s.name, err)
	}
	meta := s.target.Metadata()
	for _, p := range paths {
		df, err := table.FileToDataFile(ctx, fs, p, s.target.Schema(), s.target.Spec(), 0, meta.Properties())
		if err != nil {
			return fmt.Errorf("adopting %s into %s: %w", p, s.name, err)
		}
		s.files = append(s.files, df)
	}
	return nil
}

// CommitOptions shape a stage's commit.
type CommitOptions struct {
	// Replace drops the table's current rows in the same snapshot (a
	// full refresh): readers see the old rows or the new, never a mix.
	Replace bool
	// ReplaceFilter narrows Replace to the files that may hold rows
	// matching it (by partition and column statistics), such as one
	// as-of time's rows; nil replaces every file.
	ReplaceFilter iceberg.BooleanExpression
	// TableProperties are set in the same commit, such as a watermark
	// that describes the data.
	TableProperties map[string]string
	// Summary is added to the snapshot's summary.
	Summary map[string]string
}

// Commit adds the staged files (and columns) to the table in one snapshot
// stamped with the run id. A stage with nothing to commit commits nothing.
func (s *Stage) Commit(ctx context.Context, o CommitOptions) (AppendResult, error) {
	if s.Done {
		return s.done, nil
	}
	if len(s.files) == 0 && !o.Replace && len(o.TableProperties) == 0 && len(s.Added) == 0 {
		return AppendResult{}, nil
	}
	props := iceberg.Properties{RunIDProperty: s.runID}
	for k, v := range o.Summary {
		props[k] = v
	}
	var err error
	if o.Replace {
		var old []iceberg.DataFile
		if old, err = s.currentFiles(ctx, o.ReplaceFilter); err == nil {
			err = s.tx.ReplaceDataFilesWithDataFiles(ctx, old, s.files, props, table.WithoutDuplicateCheck())
		}
	} else {
		err = s.tx.AddDataFiles(ctx, s.files, props, table.WithoutDuplicateCheck())
	}
	if err != nil {
		return AppendResult{}, fmt.Errorf("committing to %s: %w", s.name, err)
	}
	if len(o.TableProperties) > 0 {
		if err := s.tx.SetProperties(o.TableProperties); err != nil {
			return AppendResult{}, fmt.Errorf("setting properties of %s: %w", s.name, err)
		}
	}
	r, err := commitRun(ctx, s.tx, s.name, s.runID)
	// When another attempt of the run committed first, this stage's files
	// stay where they are: some may be files both attempts adopted, now
	// part of the winner's snapshot. Those that are not are orphans, which
	// maintenance removes.
	if err == nil {
		s.Done, s.done = true, r
	}
	return r, err
}

// currentFiles lists the data files of the table's current snapshot that
// may hold rows matching filter (nil: all).
func (s *Stage) currentFiles(ctx context.Context, filter iceberg.BooleanExpression) ([]iceberg.DataFile, error) {
	if s.target.CurrentSnapshot() == nil {
		return nil, nil
	}
	var opts []table.ScanOption
	if filter != nil {
		opts = append(opts, table.WithRowFilter(filter))
	}
	tasks, err := s.target.Scan(opts...).PlanFiles(ctx)
	if err != nil {
		return nil, fmt.Errorf("listing the files of %s: %w", s.name, err)
	}
	files := make([]iceberg.DataFile, len(tasks))
	for i, t := range tasks {
		files[i] = t.File
	}
	return files, nil
}

// Abort removes the files the stage wrote; they were never committed.
func (s *Stage) Abort(ctx context.Context) error {
	if s.Done || len(s.files) == 0 {
		return nil
	}
	fs, err := s.target.FS(ctx)
	if err != nil {
		return err
	}
	var errs []error
	for _, f := range s.files {
		if err := fs.Remove(f.FilePath()); err != nil {
			errs = append(errs, err)
		}
	}
	s.files = nil
	return errors.Join(errs...)
}
