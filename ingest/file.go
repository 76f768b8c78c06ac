package ingest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"strconv"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/sluice-ml/sluice/internal/permanent"
	"github.com/sluice-ml/sluice/lakehouse"
	"github.com/sluice-ml/sluice/naming"
	"github.com/sluice-ml/sluice/quality"
	"github.com/sluice-ml/sluice/sources"
)

// fileLoad is one attempt at landing a file source.
type fileLoad struct {
	l            *Loader
	req          Request
	src          sources.Reader
	raw, quar    *lakehouse.Stage
	eval         *quality.Evaluator
	p            Progress
	firstRejects []sources.Reject
	// fingerprint is the source files' SHA-256, recorded in the commit.
	fingerprint string
}

// loadFile lands a file source in raw.<source> in one pass: chunks are
// parsed on all cores and written to data files as they come, a segment
// of chunks at a time, each segment reported so a retried attempt
// resumes after the last one written. Nothing is visible until the end,
// when the rejects (with their line and reason) commit to
// quarantine.<source> and the rows to raw.<source>, each in one snapshot
// stamped with the run id: a retry that finds them writes nothing. Above
// the reject ratio, or when a fail-level quality check fails, the rows
// never commit and their files are removed.
func (l *Loader) loadFile(ctx context.Context, req Request, res Result, resume Resume) (_ Result, err error) {
	path, cleanup, err := l.localCopy(ctx, req.Path)
	if err != nil {
		return res, err
	}
	defer cleanup()
	// A downloaded copy's path is new every time: its files are named by
	// the source's own path.
	fp, err := fingerprint(path, req.Path, path != req.Path, req.Format, req.Options)
	if err != nil {
		return res, permanent.Errorf(permanent.BadInput, "reading source %s: %w", req.Source, err)
	}
	if id, sum, ok, err := l.Catalog.Current(ctx, res.Table); err != nil {
		return res, err
	} else if ok && !req.FullRefresh && sum[FingerprintSummary] == fp && sum[lakehouse.RunIDProperty] != req.RunID {
		// The files are the ones the current snapshot landed.
		res.SnapshotID, res.Unchanged = id, true
		return res, nil
	}
	src, err := sources.Open(ctx, req.Format, path, req.Options)
	if err != nil {
		return res, permanent.Errorf(permanent.BadInput, "reading source %s: %w", req.Source, err)
	}
	defer src.Close()
	created, err := l.ensureTables(ctx, res, src.Schema(), req.Options.Timestamp)
	if err != nil {
		return res, err
	}
	if created {
		// A first ingest that fails for good leaves no table behind: a
		// table made with the wrong schema would refuse the corrected
		// source. (A retryable failure keeps it for the retry's resume.)
		defer func() {
			if _, ok := permanent.As(err); ok {
				bg := context.WithoutCancel(ctx)
				l.Catalog.DropIfEmpty(bg, res.Table)
				l.Catalog.DropIfEmpty(bg, res.Quarantine)
			}
		}()
	}
	raw, err := l.Catalog.Stage(ctx, res.Table, src.Schema(), req.RunID)
	if err != nil {
		return res, permanent.WrapIf(permanent.SchemaMismatch, err, lakehouse.ErrSchemaDrift)
	}
	if raw.Done {
		// An earlier attempt committed (its quarantine first): report it.
		return committed(res, raw), nil
	}
	quar, err := l.Catalog.Stage(ctx, res.Quarantine, quarantineSchema, req.RunID)
	if err != nil {
		return res, err
	}
	res.AddedColumns = raw.Added
	f := &fileLoad{l: l, req: req, src: src, raw: raw, quar: quar, eval: quality.NewEvaluator(req.Checks), p: resume.From, fingerprint: fp}
	if err := raw.Adopt(ctx, f.p.Files); err != nil {
		return res, err
	}
	if err := quar.Adopt(ctx, f.p.QuarantineFiles); err != nil {
		return res, err
	}
	res.ResumedAt = f.p.Chunks
	if err := f.writeSegments(ctx, resume.Report); err != nil {
		return res, err
	}
	res.Rows, res.Rejected, res.Chunks = f.p.Rows, f.p.Rejected, f.p.Chunks
	// Nothing is committed yet: the rejects and the checks may still veto
	// the rows.
	veto := overRatio(req, res.Table, f.p.Rejected, f.p.Rows+f.p.Rejected, f.firstRejects)
	if veto == nil {
		// A failure to store the results is not a veto: the attempt
		// fails with the stages intact, and a retry picks them up.
		if veto, err = l.checkQuality(ctx, req, &res, f.eval); err != nil {
			return res, err
		}
	}
	if veto != nil {
		return res, f.veto(ctx, veto, created)
	}
	return f.commit(ctx, res)
}

// writeSegments writes the chunks after those already written, a segment
// at a time, reporting progress after each.
func (f *fileLoad) writeSegments(ctx context.Context, report func(Progress)) error {
	segment := f.l.SegmentChunks
	if segment <= 0 {
		segment = defaultSegmentChunks
	}
	for {
		var rejects []sources.Reject
		last, eof := -1, false
		w := f.raw.NewWriter(ctx, lakehouse.WriterOptions{})
		var readErr error
		for rec, err := range f.segment(ctx, segment, &rejects, &last, &eof) {
			if err != nil {
				readErr = err
				break
			}
			if w.Add(rec) != nil {
				break
			}
		}
		files, err := w.Close()
		if readErr != nil {
			return readErr
		}
		if err != nil {
			return err
		}
		if last < 0 {
			return nil
		}
		if len(f.firstRejects) < 5 {
			f.firstRejects = append(f.firstRejects, rejects[:min(len(rejects), 5-len(f.firstRejects))]...)
		}
		qfiles, err := f.writeRejects(ctx, rejects)
		if err != nil {
			return err
		}
		f.p.Chunks = last + 1
		f.p.Files = append(f.p.Files, files...)
		f.p.QuarantineFiles = append(f.p.QuarantineFiles, qfiles...)
		if report != nil {
			report(f.p)
		}
		if err := f.l.fault("segment-written", f.p); err != nil {
			return err
		}
		if eof {
			return nil
		}
	}
}

// segment yields the records of the next segment: the chunks after
// those written, up to n of them. Every chunk, skipped or not, is
// observed by the quality checks, which run over the whole source.
func (f *fileLoad) segment(ctx context.Context, n int, rejects *[]sources.Reject, last *int, eof *bool) iter.Seq2[arrow.RecordBatch, error] {
	return func(yield func(arrow.RecordBatch, error) bool) {
		for {
			ch, err := f.src.Next(ctx)
			if errors.Is(err, io.EOF) {
				*eof = true
				return
			}
			if err != nil {
				yield(nil, permanent.WrapIf(permanent.BadInput, fmt.Errorf("reading %s: %w", f.req.Path, err), sources.ErrBadValue))
				return
			}
			if ch.Records != nil {
				f.eval.Observe(ch.Records)
			}
			if ch.Index < f.p.Chunks {
				if ch.Records != nil {
					ch.Records.Release()
				}
				continue
			}
			*last = ch.Index
			*rejects = append(*rejects, ch.Rejects...)
			f.p.Rejected += int64(len(ch.Rejects))
			if ch.Records != nil {
				f.p.Rows += ch.Records.NumRows()
				if !yield(ch.Records, nil) {
					return
				}
			}
			if ch.Index+1-f.p.Chunks >= n {
				return
			}
		}
	}
}

// writeRejects stages a segment's rejects as quarantine rows.
func (f *fileLoad) writeRejects(ctx context.Context, rejects []sources.Reject) ([]string, error) {
	if len(rejects) == 0 {
		return nil, nil
	}
	rec := rejectRecord(f.req.RunID, rejects, f.l.now())
	return f.quar.Write(ctx, func(yield func(arrow.RecordBatch, error) bool) { yield(rec, nil) })
}

// veto commits the evidence (the quarantine) and not the rows, whose
// files are removed; a vetoed first run leaves no empty table behind.
// When the quarantine does not commit, the attempt fails retryably, so
// a retry commits it.
func (f *fileLoad) veto(ctx context.Context, err error, created bool) error {
	if _, qerr := f.quar.Commit(ctx, lakehouse.CommitOptions{}); qerr != nil {
		err = fmt.Errorf("committing the quarantine of a vetoed run (%v): %w", err, qerr)
	}
	f.raw.Abort(context.WithoutCancel(ctx))
	if created {
		f.l.Catalog.DropIfEmpty(context.WithoutCancel(ctx), naming.Table(naming.Raw, f.req.Source))
	}
	return err
}

// commit commits the quarantine, then the rows: once the rows are
// committed, a retry stops at the run's snapshot, so the rejects must
// already be in.
func (f *fileLoad) commit(ctx context.Context, res Result) (Result, error) {
	if err := f.l.fault("before-commit", f.p); err != nil {
		return res, err
	}
	if _, err := f.quar.Commit(ctx, lakehouse.CommitOptions{}); err != nil {
		return res, err
	}
	r, err := f.raw.Commit(ctx, lakehouse.CommitOptions{Replace: f.req.FullRefresh, Summary: map[string]string{
		RowsSummary: strconv.FormatInt(f.p.Rows, 10), rejectedSummary: strconv.FormatInt(f.p.Rejected, 10), FingerprintSummary: f.fingerprint}})
	if err != nil {
		return res, err
	}
	res.SnapshotID = r.SnapshotID
	if err := f.l.fault("after-commit", f.p); err != nil {
		return res, err
	}
	return res, nil
}
