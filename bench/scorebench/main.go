// Command scorebench times bulk scoring's path from the feature parts to
// committed predictions: it writes N entities' features as the parts
// ScoreFeatures would, trains a 100-tree depth-6 GBDT, and runs the
// ScorePart and ScorePublish activities on them, to PostgreSQL and the
// lake and then to the lake alone. In the same run it measures the
// machine's ceiling: a plain pgx CopyFrom of the same rows, generated in
// memory, into a table of the same shape. It prints JSON; bench/scoring.sh
// turns it into a table.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"math"
	"math/rand/v2"
	"os"
	"runtime/pprof"
	"strconv"
	"sync"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/jackc/pgx/v5"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/testsuite"

	"github.com/sluice-ml/sluice/activities"
	"github.com/sluice-ml/sluice/lakehouse"
	"github.com/sluice-ml/sluice/metastore"
	"github.com/sluice-ml/sluice/ml"
	"github.com/sluice-ml/sluice/ml/artifact"
	"github.com/sluice-ml/sluice/ml/trainer"
	"github.com/sluice-ml/sluice/scoring"
)

func main() {
	rows := flag.Int("rows", 10_000_000, "entities to score")
	nfeat := flag.Int("features", 10, "numeric features")
	parts := flag.Int("parts", 16, "parts")
	concurrency := flag.Int("concurrency", 2, "parts scored at once")
	dbURL := flag.String("database-url", os.Getenv("SLUICE_DATABASE_URL"), "PostgreSQL")
	dir := flag.String("dir", "", "working folder (default a temporary one)")
	profile := flag.String("cpuprofile", "", "write a CPU profile of the scoring runs here")
	flag.Parse()
	ctx := context.Background()
	if *dir == "" {
		d, err := os.MkdirTemp("", "scorebench-")
		check(err)
		defer os.RemoveAll(d)
		*dir = d
	}
	db, err := metastore.Open(ctx, *dbURL, nil)
	check(err)
	defer db.Close()
	lakeURL := "file://" + *dir + "/lake"
	cat, err := lakehouse.OpenCatalog(ctx, lakehouse.CatalogOptions{DatabaseURL: *dbURL, Lake: lakehouse.Options{URL: lakeURL},
		Name: fmt.Sprintf("scorebench_%d", time.Now().UnixNano())})
	check(err)
	defer cat.Close()
	lake, err := lakehouse.Open(ctx, lakehouse.Options{URL: lakeURL})
	check(err)
	model := fmt.Sprintf("scorebench_%d", time.Now().Unix())
	res := map[string]any{"rows": *rows, "features": *nfeat, "parts": *parts, "concurrency": *concurrency}

	// The model: 100 trees of depth 6 on 200k rows.
	art := train(ctx, *nfeat)
	artKey := "models/" + model + "/v1/model.sluice"
	pr, pw := pipe()
	go func() { pw.CloseWithError(artifact.Encode(pw, art)) }()
	check(lake.Put(ctx, artKey, pr))

	// The feature parts, as ScoreFeatures leaves them.
	log.Printf("writing %d entities' features in %d parts", *rows, *parts)
	var objects []string
	for p := range *parts {
		from, to := p**rows / *parts, (p+1)**rows / *parts
		key := fmt.Sprintf("scoring/%s/features/part-%05d.arrow", model, p)
		rec := featureRows(from, to, *nfeat)
		check(scoring.PutIPC(ctx, lake, key, rec))
		rec.Release()
		objects = append(objects, key)
	}

	sc := &activities.Scoring{Scorer: &scoring.Scorer{Catalog: cat, DB: db, Lake: lake, TempDir: *dir}}
	asOf := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)
	run := activities.ScoreRun{Model: model, ID: "score/" + model, Version: 1, ArtifactKey: artKey, Key: "entity_id", KeyType: "string",
		AsOf: asOf, ScoredAt: time.Now().UTC()}
	table := scoring.Table{Model: model, Key: "entity_id", KeyType: arrow.BinaryTypes.String}
	_, err = cat.EnsureTable(ctx, "predictions."+model, scoring.Schema("entity_id", arrow.BinaryTypes.String), scoring.ColAsOf)
	check(err)
	check(table.Ensure(ctx, db))

	// The ceiling: pgx CopyFrom of the same rows into the same table
	// (its partition for another as-of time, with the key index).
	ceilingAsOf := asOf.Add(-24 * time.Hour)
	_, err = db.Exec(ctx, fmt.Sprintf(`CREATE TABLE predictions.%s PARTITION OF predictions.%s FOR VALUES IN ('%s')`,
		table.PartitionName(ceilingAsOf), model, ceilingAsOf.Format(time.RFC3339)))
	check(err)
	scoredAt := time.Now().UTC()
	copyRows := func(into pgx.Identifier, at time.Time) float64 {
		log.Printf("ceiling: pgx CopyFrom of %d rows into %s", *rows, into.Sanitize())
		start := time.Now()
		n, err := db.CopyFrom(ctx, into, []string{"run_id", "model_version", "entity_id", "score", "label", "scored_at", "as_of"},
			pgx.CopyFromSlice(*rows, func(i int) ([]any, error) {
				s := float64(i%1000) / 1000
				label := "0"
				if s >= 0.5 {
					label = "1"
				}
				return []any{run.ID, int32(1), entityID(i), s, label, scoredAt, at}, nil
			}))
		check(err)
		if n != int64(*rows) {
			log.Fatalf("copied %d rows of %d", n, *rows)
		}
		return time.Since(start).Seconds()
	}
	res["ceiling_seconds"] = copyRows(pgx.Identifier{"predictions", model}, ceilingAsOf)
	_, err = db.Exec(ctx, `DROP TABLE predictions.`+table.PartitionName(ceilingAsOf))
	check(err)
	// And into a bare table of the same columns: no partitions, no index.
	_, err = db.Exec(ctx, fmt.Sprintf(`CREATE TABLE predictions.%s_bare (LIKE predictions.%[1]s)`, model))
	check(err)
	res["ceiling_bare_seconds"] = copyRows(pgx.Identifier{"predictions", model + "_bare"}, ceilingAsOf)
	_, err = db.Exec(ctx, fmt.Sprintf(`DROP TABLE predictions.%s_bare`, model))
	check(err)

	if *profile != "" {
		f, err := os.Create(*profile)
		check(err)
		check(pprof.StartCPUProfile(f))
		defer pprof.StopCPUProfile()
	}
	for _, lakeOnly := range []bool{false, true} {
		r := run
		r.LakeOnly = lakeOnly
		r.Stamp = fmt.Sprintf("%s#%v", r.ID, lakeOnly)
		if !lakeOnly {
			check(table.Stage(ctx, db, r.Stamp, asOf))
		}
		log.Printf("scoring (lake only: %v)", lakeOnly)
		start := time.Now()
		var wg sync.WaitGroup
		next := make(chan int)
		for range *concurrency {
			wg.Go(func() {
				env := activityEnv(sc)
				for p := range next {
					_, err := env.ExecuteActivity(sc.ScorePart, activities.ScorePartInput{Run: r, Part: p, Object: objects[p]})
					check(err)
				}
			})
		}
		for p := range objects {
			next <- p
		}
		close(next)
		wg.Wait()
		partsDone := time.Since(start).Seconds()
		env := activityEnv(sc)
		v, err := env.ExecuteActivity(sc.ScorePublish, activities.ScorePublishInput{Run: r, Parts: len(objects)})
		check(err)
		var pub activities.ScorePublishResult
		check(v.Get(&pub))
		total := time.Since(start).Seconds()
		name := "postgres"
		if lakeOnly {
			name = "lake_only"
		}
		res[name+"_seconds"], res[name+"_parts_seconds"], res[name+"_timings"], res[name+"_rows"] = total, partsDone, pub.Timings, pub.Rows
	}
	// The lake and PostgreSQL hold the same rows, one per entity.
	var pgRows, pgKeys int64
	var pgSum float64
	check(db.QueryRow(ctx, `SELECT count(*), count(DISTINCT entity_id), sum(score) FROM predictions.`+pgx.Identifier{model}.Sanitize()).
		Scan(&pgRows, &pgKeys, &pgSum))
	sr, err := cat.Read(ctx, "predictions."+model, lakehouse.ScanOptions{Columns: []string{"entity_id", "score", "as_of"}})
	check(err)
	keys := make(map[string]struct{}, *rows)
	var lakeRows int64
	var lakeSum float64
	for rec, err := range sr.Records {
		check(err)
		k, sc, at := rec.Column(0).(*array.String), rec.Column(1).(*array.Float64), rec.Column(2).(*array.Timestamp)
		for i := range k.Len() {
			if at.Value(i) == arrow.Timestamp(asOf.UnixMicro()) {
				keys[k.Value(i)] = struct{}{}
				lakeRows++
				lakeSum += sc.Value(i)
			}
		}
		rec.Release()
	}
	agree := pgRows == int64(*rows) && pgKeys == pgRows && lakeRows == pgRows && int64(len(keys)) == lakeRows &&
		math.Abs(pgSum-lakeSum) <= 1e-9*math.Abs(pgSum)
	res["postgres_table_rows"], res["lake_rows"], res["one_row_per_entity_everywhere"] = pgRows, lakeRows, agree
	if !agree {
		log.Fatalf("PostgreSQL %d rows of %d keys (score sum %v), lake %d rows of %d keys (sum %v); want %d once each",
			pgRows, pgKeys, pgSum, lakeRows, len(keys), lakeSum, *rows)
	}
	_, err = db.Exec(ctx, `DROP TABLE predictions.`+pgx.Identifier{model}.Sanitize()+` CASCADE`)
	check(err)
	check(json.NewEncoder(os.Stdout).Encode(res))
}

// activityEnv runs activities in process, quietly.
func activityEnv(sc *activities.Scoring) *testsuite.TestActivityEnvironment {
	var s testsuite.WorkflowTestSuite
	s.SetLogger(tlog.NewStructuredLogger(slog.New(slog.DiscardHandler)))
	env := s.NewTestActivityEnvironment()
	env.RegisterActivity(sc)
	return env
}

func entityID(i int) string { return "E" + strconv.Itoa(100_000_000+i) }

// featureRows builds entities [from, to) with deterministic features.
func featureRows(from, to, nfeat int) arrow.RecordBatch {
	mem := memory.DefaultAllocator
	kb := array.NewStringBuilder(mem)
	defer kb.Release()
	fields := []arrow.Field{{Name: "entity_id", Type: arrow.BinaryTypes.String}}
	cols := make([][]float64, nfeat)
	for f := range nfeat {
		fields = append(fields, arrow.Field{Name: fmt.Sprintf("f%d", f), Type: arrow.PrimitiveTypes.Float64, Nullable: true})
		cols[f] = make([]float64, to-from)
	}
	r := rand.New(rand.NewPCG(uint64(from), 7))
	for i := from; i < to; i++ {
		kb.Append(entityID(i))
		for f := range nfeat {
			cols[f][i-from] = r.NormFloat64()
		}
	}
	arrs := []arrow.Array{kb.NewArray()}
	for f := range nfeat {
		b := array.NewFloat64Builder(mem)
		b.AppendValues(cols[f], nil)
		arrs = append(arrs, b.NewArray())
		b.Release()
	}
	rec := array.NewRecordBatch(arrow.NewSchema(fields, nil), arrs, int64(to-from))
	for _, a := range arrs {
		a.Release()
	}
	return rec
}

// train fits the benchmark's model: a nonlinear function of the
// features, 100 trees of depth 6.
func train(ctx context.Context, nfeat int) *artifact.Artifact {
	const n = 200_000
	d := &ml.Dataset{Labels: make([]float32, n)}
	r := rand.New(rand.NewPCG(1, 2))
	for f := range nfeat {
		d.Features = append(d.Features, ml.Feature{Name: fmt.Sprintf("f%d", f), Kind: ml.Numeric, Values: make([]float32, n)})
	}
	for i := range n {
		z := 0.0
		for f := range nfeat {
			v := r.NormFloat64()
			d.Features[f].Values[i] = float32(v)
			z += v * float64(f%3-1)
		}
		z += float64(d.Features[0].Values[i]*d.Features[1].Values[i]) + r.NormFloat64()
		if z > 0 {
			d.Labels[i] = 1
		}
	}
	art, err := trainer.Train(ctx, d, nil, trainer.Spec{Task: ml.Binary, Algorithm: artifact.GBDT, Label: "y",
		Params: map[string]string{"trees": "100", "max_depth": "6"}})
	check(err)
	return art
}

func check(err error) {
	if err != nil {
		log.Fatal(err)
	}
}

func pipe() (*io.PipeReader, *io.PipeWriter) { return io.Pipe() }
