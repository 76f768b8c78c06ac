package scoring

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/apache/iceberg-go"
	"github.com/jackc/pgx/v5"

	"github.com/sluice-ml/sluice/lakehouse"
	"github.com/sluice-ml/sluice/monitor"
)

// rowsSummary is the lake snapshot's summary key holding the run's rows.
const rowsSummary = "sluice.rows"

// PublishRequest finishes a run.
type PublishRequest struct {
	Job   Job
	Parts int
	// Retention drops PostgreSQL partitions of as-of times older than the
	// run's by more than this; 0 keeps them all.
	Retention time.Duration
	// Drift thresholds the drift report; zero means the defaults.
	Drift monitor.Thresholds
	// Logger hears of feature parts left for the next run to remove; nil
	// discards.
	Logger Warner
}

// Warner hears of trouble that does not fail a run: *slog.Logger and
// Temporal's activity logger are both one.
type Warner interface {
	Warn(msg string, keyvals ...any)
}

// PublishResult says what the run left.
type PublishResult struct {
	Rows         int64
	LakeSnapshot int64
	// Timings sums the parts' seconds per step (read, predict,
	// lake_write, copy) and adds the publication's (commit).
	Timings map[string]float64
	Dropped []string
	// Drift is the run's drift level against the training reference
	// (ok, warn or alert; empty when the parts kept no tally), and
	// Drifted the features (or score) at warn or worse.
	Drift   string
	Drifted []string
}

// Publish commits the run's lake files in one snapshot that replaces the
// as-of time's earlier rows, then swaps its staging table in as the
// as-of time's PostgreSQL partition, applies the retention and removes
// the feature parts. A retry after either commit redoes nothing.
func (s *Scorer) Publish(ctx context.Context, req PublishRequest) (PublishResult, error) {
	job := req.Job
	begin := time.Now()
	res := PublishResult{Timings: map[string]float64{}}
	parts, err := Parts(ctx, s.DB, job.Stamp)
	if err != nil {
		return res, err
	}
	var files []string
	for _, p := range parts {
		res.Rows += p.Rows
		files = append(files, p.LakeFiles...)
		for k, v := range p.Timings {
			res.Timings[k] += v
		}
	}
	if len(parts) == req.Parts {
		if err := s.saveDrift(ctx, job, parts, req.Drift, &res); err != nil {
			return res, err
		}
	}
	if res.LakeSnapshot, err = s.commitLake(ctx, job, parts, files, req.Parts, &res.Rows); err != nil {
		return res, err
	}
	t := job.table()
	if job.LakeOnly {
		if err := t.Discard(ctx, s.DB, job.Stamp); err != nil {
			return res, err
		}
	} else if _, err := t.Publish(ctx, s.DB, job.Stamp, job.AsOf); err != nil {
		return res, err
	}
	if req.Retention > 0 && !job.LakeOnly {
		if res.Dropped, err = t.Retain(ctx, s.DB, job.AsOf.Add(-req.Retention)); err != nil {
			return res, err
		}
	}
	s.removeFeatureParts(ctx, job, req.Logger)
	res.Timings["commit"] = time.Since(begin).Seconds()
	return res, nil
}

// commitLake commits the parts' files to predictions.<model>, replacing
// the as-of time's rows, unless an earlier attempt did; rows is set from
// that attempt's commit when no part is left to count.
func (s *Scorer) commitLake(ctx context.Context, job Job, parts []Part, files []string, want int, rows *int64) (int64, error) {
	stage, err := s.Catalog.Stage(ctx, job.lakeTable(), job.schema(), job.Stamp)
	if err != nil {
		return 0, err
	}
	if stage.Done {
		if len(parts) == 0 {
			*rows, _ = strconv.ParseInt(stage.Summary()[rowsSummary], 10, 64)
		}
		return stage.SnapshotID(), nil
	}
	if len(parts) != want {
		return 0, fmt.Errorf("%d of %d parts of %s are loaded", len(parts), want, job.Stamp)
	}
	if err := stage.Adopt(ctx, files); err != nil {
		return 0, err
	}
	r, err := stage.Commit(ctx, lakehouse.CommitOptions{Replace: true,
		ReplaceFilter: iceberg.EqualTo(iceberg.Reference(ColAsOf), iceberg.Timestamp(job.AsOf.UnixMicro())),
		Summary:       map[string]string{rowsSummary: strconv.FormatInt(*rows, 10), "sluice.model-version": strconv.Itoa(job.Version)}})
	return r.SnapshotID, err
}

// saveDrift merges the parts' tallies into the run's drift report and
// stores it (again, on a retry: it replaces itself).
func (s *Scorer) saveDrift(ctx context.Context, job Job, parts []Part, th monitor.Thresholds, res *PublishResult) error {
	var tally monitor.Tally
	for _, p := range parts {
		if len(p.Drift) == 0 {
			return nil
		}
		var t monitor.Tally
		if err := json.Unmarshal(p.Drift, &t); err != nil {
			return fmt.Errorf("part %d's drift tally: %w", p.Part, err)
		}
		tally.Merge(t)
	}
	art, err := s.artifact(ctx, job.ArtifactKey)
	if err != nil {
		return err
	}
	if th == (monitor.Thresholds{}) {
		th = monitor.DefaultThresholds()
	}
	rep := tally.Report(art, th)
	if rep.Features == nil {
		return nil // an artifact without a reference
	}
	res.Drift, res.Drifted = rep.Level, rep.Drifted()
	return (&monitor.Store{DB: s.DB}).Save(ctx, monitor.Stored{Model: job.Model, Version: job.Version, Source: "batch", RunID: job.ID, AsOf: job.AsOf, Report: rep})
}

// removeFeatureParts removes the published run's intermediate feature
// parts, and those of earlier runs that could not be removed then: each
// prefix is listed in sluice.score_cleanup until its objects are gone. A
// failure is logged, not returned: the run's results are published, and
// the next publication tries again.
func (s *Scorer) removeFeatureParts(ctx context.Context, job Job, logger Warner) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if _, err := s.DB.Exec(ctx, `INSERT INTO sluice.score_cleanup (prefix, run) VALUES ($1, $2) ON CONFLICT DO NOTHING`, job.objectPrefix(), job.Stamp); err != nil {
		logger.Warn("scoring: listing the feature parts for removal", "run", job.Stamp, "error", err)
		return
	}
	rows, err := s.DB.Query(ctx, `SELECT prefix, run FROM sluice.score_cleanup ORDER BY added_at LIMIT 100`)
	if err != nil {
		logger.Warn("scoring: reading the feature parts to remove", "error", err)
		return
	}
	type pending struct{ prefix, run string }
	todo, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (pending, error) {
		var p pending
		return p, r.Scan(&p.prefix, &p.run)
	})
	if err != nil {
		logger.Warn("scoring: reading the feature parts to remove", "error", err)
		return
	}
	for _, p := range todo {
		keys, err := s.Lake.List(ctx, p.prefix)
		for _, k := range keys {
			if err == nil {
				err = s.Lake.Delete(ctx, k)
			}
		}
		if err == nil {
			_, err = s.DB.Exec(ctx, `DELETE FROM sluice.score_cleanup WHERE prefix = $1`, p.prefix)
		}
		if err != nil {
			logger.Warn("scoring: removing the feature parts; the next publication tries again", "run", p.run, "error", err)
			return
		}
	}
}
