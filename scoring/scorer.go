package scoring

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"iter"
	"sync"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sluice-ml/sluice/features"
	"github.com/sluice-ml/sluice/internal/permanent"
	"github.com/sluice-ml/sluice/lakehouse"
	"github.com/sluice-ml/sluice/ml/artifact"
	"github.com/sluice-ml/sluice/naming"
	"github.com/sluice-ml/sluice/registry"
)

// Scorer runs bulk scoring's steps: the population's features as of the
// scoring time, split by entity hash into parts in the lake; each part
// scored into the lake and PostgreSQL; the run published in both at once.
type Scorer struct {
	Catalog *lakehouse.Catalog
	DB      *pgxpool.Pool
	Lake    lakehouse.ObjectStore
	// Features computes the population's features with the training
	// set's code.
	FeatureStore *features.Store
	// TempDir holds spill files; empty means the system's.
	TempDir string

	mu     sync.Mutex
	models map[string]*artifact.Artifact
}

// Job is what every step of a scoring run shares.
type Job struct {
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

func (j Job) lakeTable() string { return naming.Table(naming.Predictions, j.Model) }

func (j Job) keyType() arrow.DataType {
	if j.KeyType == "int64" {
		return arrow.PrimitiveTypes.Int64
	}
	return arrow.BinaryTypes.String
}

func (j Job) schema() *arrow.Schema { return Schema(j.Key, j.keyType()) }

func (j Job) table() Table { return Table{Model: j.Model, Key: j.Key, KeyType: j.keyType()} }

func (j Job) run() Run { return Run{ID: j.ID, Version: j.Version, ScoredAt: j.ScoredAt, AsOf: j.AsOf} }

// objectPrefix is where the run's feature parts live in the lake.
func (j Job) objectPrefix() string {
	sum := sha256.Sum256([]byte(j.Stamp))
	return fmt.Sprintf("scoring/%s/%s/", j.Model, hex.EncodeToString(sum[:8]))
}

// FeaturesRequest asks for a scoring population's features.
type FeaturesRequest struct {
	Job Job
	// Population is the table whose distinct Job.Key values are scored.
	Population string
	Views      []features.SourcedView
	// Parts is how many hash partitions the work splits into; 0 means 16.
	Parts int
	// Attempt numbers the attempt: each writes its parts apart.
	Attempt int32
}

// FeaturesResult lists the parts written.
type FeaturesResult struct {
	// Objects are the parts' keys in the lake, one per non-empty part.
	Objects  []string
	Entities int64
	KeyType  string
	Read     map[string]int64
	Seconds  float64
}

// Features computes every population entity's features as of the run's
// time with the training set's code (each entity is a label row at that
// time), keeps one row per entity, writes each hash partition to the
// lake as an Arrow IPC file, and creates the prediction tables and the
// run's staging table. progress is called for each part.
func (s *Scorer) Features(ctx context.Context, req FeaturesRequest, progress func()) (FeaturesResult, error) {
	begin := time.Now()
	res := FeaturesResult{Read: map[string]int64{}}
	job := req.Job
	if job.Model == "" || job.Stamp == "" || job.Key == "" || req.Population == "" || len(req.Views) == 0 {
		return res, permanent.Errorf(permanent.BadInput, "scoring needs a model, a run, an entity key, a population table and views")
	}
	pop, err := s.Catalog.Read(ctx, req.Population, lakehouse.ScanOptions{Columns: []string{job.Key}})
	if err != nil {
		return res, permanent.WrapIf(permanent.BadInput, err, lakehouse.ErrNoSuchTable)
	}
	res.Read[req.Population] = pop.SnapshotID
	if res.KeyType, err = keyTypeOf(pop.Schema, req.Population, job.Key); err != nil {
		return res, err
	}
	job.KeyType = res.KeyType
	views, err := s.FeatureStore.ReadViews(ctx, req.Views, res.Read)
	if err != nil {
		return res, err
	}
	if err := s.prepareTables(ctx, job); err != nil {
		return res, err
	}
	parts := req.Parts
	if parts <= 0 {
		parts = 16
	}
	prefix := fmt.Sprintf("%sa%d/", job.objectPrefix(), req.Attempt)
	emit := func(rec arrow.RecordBatch) error {
		progress()
		rec, err := distinctKeys(ctx, rec, job.Key)
		if err != nil {
			return err
		}
		defer rec.Release()
		key := fmt.Sprintf("%spart-%05d.arrow", prefix, len(res.Objects))
		if err := PutIPC(ctx, s.Lake, key, rec); err != nil {
			return err
		}
		res.Objects = append(res.Objects, key)
		res.Entities += rec.NumRows()
		return nil
	}
	err = features.TrainingSet(ctx, populationAt(pop.Records, job.Key, job.AsOf), views,
		features.TrainingSetOptions{Key: job.Key, Time: ColAsOf, Partitions: parts, Dir: s.TempDir}, emit)
	if err != nil {
		return res, fmt.Errorf("computing the features of %s: %w", req.Population, err)
	}
	if res.Entities == 0 {
		return res, permanent.Errorf(permanent.BadInput, "the population %s has no rows", req.Population)
	}
	res.Seconds = time.Since(begin).Seconds()
	return res, nil
}

// keyTypeOf is the key column's type as a Job names it.
func keyTypeOf(schema *arrow.Schema, table, key string) (string, error) {
	f, ok := schema.FieldsByName(key)
	if !ok {
		return "", permanent.Errorf(permanent.BadInput, "%s has no column %s", table, key)
	}
	if err := KeyType(f[0].Type); err != nil {
		return "", permanent.Errorf(permanent.BadInput, "%s.%s: %w", table, key, err)
	}
	if f[0].Type.ID() == arrow.INT64 {
		return "int64", nil
	}
	return "string", nil
}

// prepareTables creates the lake and PostgreSQL prediction tables when
// missing, and the run's staging table.
func (s *Scorer) prepareTables(ctx context.Context, job Job) error {
	if _, err := s.Catalog.EnsureTable(ctx, job.lakeTable(), job.schema(), ColAsOf); err != nil {
		return err
	}
	if job.LakeOnly {
		return nil
	}
	t := job.table()
	if err := t.Ensure(ctx, s.DB); err != nil {
		return permanent.Wrap(permanent.BadInput, err)
	}
	return t.Stage(ctx, s.DB, job.Stamp, job.AsOf)
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
			times := repeatTime(&arrow.TimestampType{Unit: arrow.Microsecond}, at, n)
			schema := arrow.NewSchema([]arrow.Field{{Name: key, Type: keys.DataType()}, {Name: ColAsOf, Type: times.DataType()}}, nil)
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

// artifact loads a model artifact once per process.
func (s *Scorer) artifact(ctx context.Context, key string) (*artifact.Artifact, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if art, ok := s.models[key]; ok {
		return art, nil
	}
	art, err := registry.ReadArtifact(ctx, s.Lake, key)
	if err != nil {
		return nil, err
	}
	if s.models == nil || len(s.models) >= 8 {
		s.models = map[string]*artifact.Artifact{}
	}
	s.models[key] = art
	return art, nil
}
