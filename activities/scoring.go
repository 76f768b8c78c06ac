package activities

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"strconv"
	"sync"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/iceberg-go"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/sluice-ml/sluice/features"
	"github.com/sluice-ml/sluice/lakehouse"
	"github.com/sluice-ml/sluice/ml"
	"github.com/sluice-ml/sluice/ml/artifact"
	"github.com/sluice-ml/sluice/ml/trainer"
	"github.com/sluice-ml/sluice/monitor"
	"github.com/sluice-ml/sluice/scoring"
)

// Scoring runs bulk scoring's steps on the io queue: the population's
// features as of the scoring time, split by entity hash into parts in the
// lake; each part scored into the lake and PostgreSQL; the run published
// in both at once.
type Scoring struct {
	Catalog *lakehouse.Catalog
	DB      *pgxpool.Pool
	Lake    lakehouse.ObjectStore
	// TempDir holds spill files; empty means the system's.
	TempDir string

	mu     sync.Mutex
	models map[string]*artifact.Artifact
}

// ScoreRun is what every step of a scoring run shares.
type ScoreRun struct {
	Model string
	// ID is the run's name, stored in every prediction row; Stamp is
	// unique to one execution of it and keys its staging.
	ID, Stamp   string
	Version     int
	ArtifactKey string
	Key         string
	// KeyType is the entity key's type: string or int64.
	KeyType  string
	AsOf     time.Time
	ScoredAt time.Time
	// LakeOnly writes predictions.<model> in the lake and not in
	// PostgreSQL.
	LakeOnly bool
}

func (r ScoreRun) lakeTable() string { return "predictions." + r.Model }

func (r ScoreRun) keyType() arrow.DataType {
	if r.KeyType == "int64" {
		return arrow.PrimitiveTypes.Int64
	}
	return arrow.BinaryTypes.String
}

func (r ScoreRun) table() scoring.Table {
	return scoring.Table{Model: r.Model, Key: r.Key, KeyType: r.keyType()}
}

func (r ScoreRun) batchRun() scoring.Run {
	return scoring.Run{ID: r.ID, Version: r.Version, ScoredAt: r.ScoredAt, AsOf: r.AsOf}
}

// objectPrefix is where the run's feature parts live in the lake.
func (r ScoreRun) objectPrefix() string {
	sum := sha256.Sum256([]byte(r.Stamp))
	return fmt.Sprintf("scoring/%s/%s/", r.Model, hex.EncodeToString(sum[:8]))
}

// ScoreFeaturesInput asks for a scoring population's features.
type ScoreFeaturesInput struct {
	Run ScoreRun
	// Population is the table whose distinct Run.Key values are scored.
	Population string
	Views      []SourcedView
	// Parts is how many hash partitions the work splits into; 0 means 16.
	Parts int
}

// ScoreFeaturesResult lists the parts written.
type ScoreFeaturesResult struct {
	// Objects are the parts' keys in the lake, one per non-empty part.
	Objects  []string
	Entities int64
	KeyType  string
	Read     map[string]int64
	Seconds  float64
}

// ScoreFeatures computes every population entity's features as of the
// run's time with the training set's code (each entity is a label row at
// that time), keeps one row per entity, writes each hash partition to the
// lake as an Arrow IPC file, and creates the prediction tables and the
// run's staging table.
func (a *Scoring) ScoreFeatures(ctx context.Context, in ScoreFeaturesInput) (ScoreFeaturesResult, error) {
	begin := time.Now()
	res := ScoreFeaturesResult{Read: map[string]int64{}}
	run := in.Run
	if run.Model == "" || run.Stamp == "" || run.Key == "" || in.Population == "" || len(in.Views) == 0 {
		return res, temporal.NewNonRetryableApplicationError("scoring needs a model, a run, an entity key, a population table and views", ErrTypeBadInput, nil)
	}
	pop, err := a.Catalog.Read(ctx, in.Population, lakehouse.ScanOptions{Columns: []string{run.Key}})
	if err != nil {
		return res, badInputIfMissing(err)
	}
	res.Read[in.Population] = pop.SnapshotID
	keyField, ok := pop.Schema.FieldsByName(run.Key)
	if !ok {
		return res, temporal.NewNonRetryableApplicationError(fmt.Sprintf("%s has no column %s", in.Population, run.Key), ErrTypeBadInput, nil)
	}
	if err := scoring.KeyType(keyField[0].Type); err != nil {
		return res, temporal.NewNonRetryableApplicationError(fmt.Sprintf("%s.%s: %v", in.Population, run.Key, err), ErrTypeBadInput, nil)
	}
	res.KeyType = "string"
	if keyField[0].Type.ID() == arrow.INT64 {
		res.KeyType = "int64"
	}
	run.KeyType = res.KeyType
	views, err := readViews(ctx, a.Catalog, in.Views, res.Read)
	if err != nil {
		return res, err
	}
	if err := a.prepareTables(ctx, run); err != nil {
		return res, err
	}

	parts := in.Parts
	if parts <= 0 {
		parts = 16
	}
	prefix := fmt.Sprintf("%sa%d/", run.objectPrefix(), activity.GetInfo(ctx).Attempt)
	emit := func(rec arrow.RecordBatch) error {
		activity.RecordHeartbeat(ctx, nil)
		rec, err := distinctKeys(ctx, rec, run.Key)
		if err != nil {
			return err
		}
		defer rec.Release()
		key := fmt.Sprintf("%spart-%05d.arrow", prefix, len(res.Objects))
		if err := PutIPC(ctx, a.Lake, key, rec); err != nil {
			return err
		}
		res.Objects = append(res.Objects, key)
		res.Entities += rec.NumRows()
		return nil
	}
	err = features.TrainingSet(ctx, populationAt(pop.Records, run.Key, run.AsOf), views,
		features.TrainingSetOptions{Key: run.Key, Time: scoring.ColAsOf, Partitions: parts, Dir: a.TempDir}, emit)
	if err != nil {
		return res, fmt.Errorf("computing the features of %s: %w", in.Population, err)
	}
	if res.Entities == 0 {
		return res, temporal.NewNonRetryableApplicationError(fmt.Sprintf("the population %s has no rows", in.Population), ErrTypeBadInput, nil)
	}
	res.Seconds = time.Since(begin).Seconds()
	return res, nil
}

// prepareTables creates the lake and PostgreSQL prediction tables when
// missing, and the run's staging table.
func (a *Scoring) prepareTables(ctx context.Context, run ScoreRun) error {
	if _, err := a.Catalog.EnsureTable(ctx, run.lakeTable(), scoring.Schema(run.Key, run.keyType()), scoring.ColAsOf); err != nil {
		return err
	}
	if run.LakeOnly {
		return nil
	}
	t := run.table()
	if err := t.Ensure(ctx, a.DB); err != nil {
		return temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeBadInput, err)
	}
	return t.Stage(ctx, a.DB, run.Stamp, run.AsOf)
}

// populationAt turns the population's key column into label rows: each
// key at the as-of time.
func populationAt(recs iter.Seq2[arrow.RecordBatch, error], key string, at time.Time) iter.Seq2[arrow.RecordBatch, error] {
	return func(yield func(arrow.RecordBatch, error) bool) {
		for rec, err := range recs {
			if err != nil {
				yield(nil, err)
				return
			}
			keys := rec.Column(rec.Schema().FieldIndices(key)[0])
			n := int(rec.NumRows())
			ts := make([]arrow.Timestamp, n)
			for i := range ts {
				ts[i] = arrow.Timestamp(at.UnixMicro())
			}
			tb := array.NewTimestampBuilder(memory.DefaultAllocator, &arrow.TimestampType{Unit: arrow.Microsecond})
			tb.AppendValues(ts, nil)
			times := tb.NewArray()
			tb.Release()
			schema := arrow.NewSchema([]arrow.Field{{Name: key, Type: keys.DataType()}, {Name: scoring.ColAsOf, Type: times.DataType()}}, nil)
			out := array.NewRecordBatch(schema, []arrow.Array{keys, times}, int64(n))
			times.Release()
			rec.Release()
			if !yield(out, nil) {
				out.Release()
				return
			}
		}
	}
}

// distinctKeys keeps the first row of each key (rows of one key at one
// time have the same features) and drops rows with a null key.
func distinctKeys(ctx context.Context, rec arrow.RecordBatch, key string) (arrow.RecordBatch, error) {
	col := rec.Column(rec.Schema().FieldIndices(key)[0])
	n := col.Len()
	var take []int64
	keep := func(i int) {
		if take != nil {
			take = append(take, int64(i))
		}
	}
	drop := func(i int) {
		if take == nil {
			take = make([]int64, i, n)
			for j := range take {
				take[j] = int64(j)
			}
		}
	}
	switch c := col.(type) {
	case *array.String:
		firstOfEach(n, c.Value, c.IsNull, keep, drop)
	case *array.Int64:
		firstOfEach(n, c.Value, c.IsNull, keep, drop)
	}
	if take == nil {
		rec.Retain()
		return rec, nil
	}
	b := array.NewInt64Builder(memory.DefaultAllocator)
	b.AppendValues(take, nil)
	idx := b.NewInt64Array()
	b.Release()
	defer idx.Release()
	out, err := compute.Take(ctx, *compute.DefaultTakeOptions(), compute.NewDatumWithoutOwning(rec), compute.NewDatumWithoutOwning(idx))
	if err != nil {
		return nil, fmt.Errorf("keeping one row per key: %w", err)
	}
	return out.(*compute.RecordDatum).Value, nil
}

// firstOfEach calls keep for the first row of each non-null value and
// drop for the others.
func firstOfEach[K comparable](n int, value func(int) K, isNull func(int) bool, keep, drop func(int)) {
	seen := make(map[K]struct{}, n)
	for i := range n {
		k := value(i)
		if _, dup := seen[k]; dup || isNull(i) {
			drop(i)
			continue
		}
		seen[k] = struct{}{}
		keep(i)
	}
}

// PutIPC writes a record batch to the lake as an Arrow IPC file, as
// ScoreFeatures leaves a part.
func PutIPC(ctx context.Context, lake lakehouse.ObjectStore, key string, rec arrow.RecordBatch) error {
	var buf bytes.Buffer
	w, err := ipc.NewFileWriter(&buf, ipc.WithSchema(rec.Schema()))
	if err == nil {
		err = w.Write(rec)
	}
	if err = errors.Join(err, w.Close()); err != nil {
		return fmt.Errorf("encoding %s: %w", key, err)
	}
	return lake.Put(ctx, key, &buf)
}

// getIPC reads an Arrow IPC file from the lake.
func getIPC(ctx context.Context, lake lakehouse.ObjectStore, key string) ([]arrow.RecordBatch, error) {
	rc, err := lake.Get(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", key, err)
	}
	data, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", key, err)
	}
	r, err := ipc.NewFileReader(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("decoding %s: %w", key, err)
	}
	defer r.Close()
	recs := make([]arrow.RecordBatch, 0, r.NumRecords())
	for i := range r.NumRecords() {
		rec, err := r.RecordBatch(i)
		if err != nil {
			releaseAll(recs)
			return nil, fmt.Errorf("decoding %s: %w", key, err)
		}
		rec.Retain()
		recs = append(recs, rec)
	}
	return recs, nil
}

// artifact loads a model artifact once per worker.
func (a *Scoring) artifact(ctx context.Context, key string) (*artifact.Artifact, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if art, ok := a.models[key]; ok {
		return art, nil
	}
	art, err := readArtifact(ctx, a.Lake, key)
	if err != nil {
		return nil, err
	}
	if a.models == nil || len(a.models) >= 8 {
		a.models = map[string]*artifact.Artifact{}
	}
	a.models[key] = art
	return art, nil
}

// ScorePartInput is one part of a run to score.
type ScorePartInput struct {
	Run    ScoreRun
	Part   int
	Object string
}

// ScorePart scores one part: reads its features, predicts on every core,
// writes the predictions to lake data files (staged, not committed) and
// COPYs them into the run's staging table, recording the part in the same
// transaction. A part already recorded is not scored again.
func (a *Scoring) ScorePart(ctx context.Context, in ScorePartInput) (scoring.Part, error) {
	run := in.Run
	t := run.table()
	if parts, err := scoring.Parts(ctx, a.DB, run.Stamp); err != nil {
		return scoring.Part{}, err
	} else {
		for _, p := range parts {
			if p.Part == in.Part {
				return p, nil
			}
		}
	}
	timings := map[string]float64{}
	lap := time.Now()
	clock := func(name string) {
		now := time.Now()
		timings[name] += now.Sub(lap).Seconds()
		lap = now
	}
	art, err := a.artifact(ctx, run.ArtifactKey)
	if err != nil {
		return scoring.Part{}, err
	}
	recs, err := getIPC(ctx, a.Lake, in.Object)
	if err != nil {
		return scoring.Part{}, err
	}
	defer releaseAll(recs)
	d, err := ml.FromArrow(recs, ml.ArrowOptions{Columns: trainer.ArtifactColumns(art)})
	if err != nil {
		return scoring.Part{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf("the features do not fit model %s v%d: %v", run.Model, run.Version, err), ErrTypeBadInput, err)
	}
	keyParts := make([]arrow.Array, len(recs))
	for i, r := range recs {
		keyParts[i] = r.Column(r.Schema().FieldIndices(run.Key)[0])
	}
	keys, err := array.Concatenate(keyParts, memory.DefaultAllocator)
	if err != nil {
		return scoring.Part{}, err
	}
	defer keys.Release()
	clock("read")
	preds, err := art.Predict(trainer.Columns2D(d), 0)
	if err != nil {
		return scoring.Part{}, err
	}
	b := &scoring.Batch{Run: run.batchRun(), Keys: keys}
	b.Score, b.Label, b.Classes = scoring.Decide(art, preds, d.Rows())
	clock("predict")
	// The part's drift tally: its features and scores on the training
	// reference's bins, about 2,000 values sampled; the run merges them.
	tally, err := json.Marshal(monitor.Count(art, d, preds, art.Outputs(), d.Rows()/2000))
	if err != nil {
		return scoring.Part{}, err
	}
	clock("drift")
	activity.RecordHeartbeat(ctx, nil)

	// The lake files are written while the COPY runs; the part's record
	// commits with the COPY once both are done.
	stage, err := a.Catalog.Stage(ctx, run.lakeTable(), scoring.Schema(run.Key, run.keyType()), run.Stamp)
	if err != nil {
		return scoring.Part{}, err
	}
	type written struct {
		files   []string
		seconds float64
		err     error
	}
	lakeDone := make(chan written, 1)
	go func() {
		start := time.Now()
		schema := scoring.Schema(run.Key, run.keyType())
		const chunk = 128 << 10
		files, err := stage.Write(ctx, func(yield func(arrow.RecordBatch, error) bool) {
			for from := 0; from < len(b.Score); from += chunk {
				if !yield(b.Record(schema, from, min(from+chunk, len(b.Score))), nil) {
					return
				}
			}
		})
		lakeDone <- written{files, time.Since(start).Seconds(), err}
	}()
	lakeWritten := sync.OnceValue(func() written { return <-lakeDone })
	part := scoring.Part{Part: in.Part, Rows: int64(len(b.Score)), Timings: timings, Drift: tally}
	copied := b
	if run.LakeOnly {
		copied = nil
	}
	rec, loaded, err := t.Load(ctx, a.DB, run.Stamp, part, copied, func(p *scoring.Part) error {
		if !run.LakeOnly {
			clock("copy")
		}
		w := lakeWritten()
		p.LakeFiles, p.Timings["lake_write"] = w.files, w.seconds
		return w.err
	})
	if w := lakeWritten(); err == nil && loaded {
		return rec, nil
	} else if err == nil {
		err = w.err
	}
	// Another attempt's record stands, or none: these files are not part
	// of the run.
	_ = stage.Abort(context.WithoutCancel(ctx))
	return rec, err
}

// saveDrift merges the parts' tallies into the run's drift report and
// stores it (again, on a retry: it replaces itself).
func (a *Scoring) saveDrift(ctx context.Context, run ScoreRun, parts []scoring.Part, th monitor.Thresholds, res *ScorePublishResult) error {
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
	art, err := a.artifact(ctx, run.ArtifactKey)
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
	res.Drift = rep.Level
	for _, f := range append(rep.Features, ptrSlice(rep.Score)...) {
		if f.Level != monitor.LevelOK {
			res.Drifted = append(res.Drifted, f.Name)
		}
	}
	return (&monitor.Store{DB: a.DB}).Save(ctx, monitor.Stored{Model: run.Model, Version: run.Version, Source: "batch", RunID: run.ID, AsOf: run.AsOf, Report: rep})
}

func ptrSlice[T any](p *T) []T {
	if p == nil {
		return nil
	}
	return []T{*p}
}

// ScorePublishInput finishes a run.
type ScorePublishInput struct {
	Run   ScoreRun
	Parts int
	// Retention drops PostgreSQL partitions of as-of times older than the
	// run's by more than this; 0 keeps them all.
	Retention time.Duration
	// Drift thresholds the drift report; zero means the defaults.
	Drift monitor.Thresholds
}

// ScorePublishResult says what the run left.
type ScorePublishResult struct {
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

// removeFeatureParts removes the published run's intermediate feature
// parts, and those of earlier runs that could not be removed then: each
// prefix is listed in sluice.score_cleanup until its objects are gone. A
// failure is logged, not returned: the run's results are published, and
// the next publication tries again.
func (a *Scoring) removeFeatureParts(ctx context.Context, run ScoreRun) {
	logger := activity.GetLogger(ctx)
	if _, err := a.DB.Exec(ctx, `INSERT INTO sluice.score_cleanup (prefix, run) VALUES ($1, $2) ON CONFLICT DO NOTHING`, run.objectPrefix(), run.Stamp); err != nil {
		logger.Warn("scoring: listing the feature parts for removal", "run", run.Stamp, "error", err)
		return
	}
	rows, err := a.DB.Query(ctx, `SELECT prefix, run FROM sluice.score_cleanup ORDER BY added_at LIMIT 100`)
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
		keys, err := a.Lake.List(ctx, p.prefix)
		for _, k := range keys {
			if err == nil {
				err = a.Lake.Delete(ctx, k)
			}
		}
		if err == nil {
			_, err = a.DB.Exec(ctx, `DELETE FROM sluice.score_cleanup WHERE prefix = $1`, p.prefix)
		}
		if err != nil {
			logger.Warn("scoring: removing the feature parts; the next publication tries again", "run", p.run, "error", err)
			return
		}
	}
}

// ScorePublish commits the run's lake files in one snapshot that
// replaces the as-of time's earlier rows, then swaps its staging table in
// as the as-of time's PostgreSQL partition, applies the retention and
// removes the feature parts. A retry after either commit redoes nothing.
func (a *Scoring) ScorePublish(ctx context.Context, in ScorePublishInput) (ScorePublishResult, error) {
	run := in.Run
	begin := time.Now()
	res := ScorePublishResult{Timings: map[string]float64{}}
	parts, err := scoring.Parts(ctx, a.DB, run.Stamp)
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
	if len(parts) == in.Parts {
		if err := a.saveDrift(ctx, run, parts, in.Drift, &res); err != nil {
			return res, err
		}
	}
	stage, err := a.Catalog.Stage(ctx, run.lakeTable(), scoring.Schema(run.Key, run.keyType()), run.Stamp)
	if err != nil {
		return res, err
	}
	if !stage.Done {
		if len(parts) != in.Parts {
			return res, fmt.Errorf("%d of %d parts of %s are loaded", len(parts), in.Parts, run.Stamp)
		}
		if err := stage.Adopt(ctx, files); err != nil {
			return res, err
		}
		_, err := stage.Commit(ctx, lakehouse.CommitOptions{Replace: true,
			ReplaceFilter: iceberg.EqualTo(iceberg.Reference(scoring.ColAsOf), iceberg.Timestamp(run.AsOf.UnixMicro())),
			Summary:       map[string]string{rowsSummary: strconv.FormatInt(res.Rows, 10), "sluice.model-version": strconv.Itoa(run.Version)}})
		if err != nil {
			return res, err
		}
	} else if len(parts) == 0 {
		res.Rows, _ = strconv.ParseInt(stage.Summary()[rowsSummary], 10, 64)
	}
	res.LakeSnapshot = stage.SnapshotID()
	t := run.table()
	if run.LakeOnly {
		if err := t.Discard(ctx, a.DB, run.Stamp); err != nil {
			return res, err
		}
	} else if _, err := t.Publish(ctx, a.DB, run.Stamp, run.AsOf); err != nil {
		return res, err
	}
	if in.Retention > 0 && !run.LakeOnly {
		if res.Dropped, err = t.Retain(ctx, a.DB, run.AsOf.Add(-in.Retention)); err != nil {
			return res, err
		}
	}
	a.removeFeatureParts(ctx, run)
	res.Timings["commit"] = time.Since(begin).Seconds()
	return res, nil
}

// RowsProcessed is the entities whose features were computed (workers'
// metrics).
func (r ScoreFeaturesResult) RowsProcessed() int64 { return r.Entities }
