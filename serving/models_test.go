package serving_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.temporal.io/sdk/testsuite"

	"github.com/sluice-ml/sluice/activities"
	"github.com/sluice-ml/sluice/api"
	"github.com/sluice-ml/sluice/lakehouse"
	"github.com/sluice-ml/sluice/metastore"
	"github.com/sluice-ml/sluice/ml"
	"github.com/sluice-ml/sluice/ml/artifact"
	"github.com/sluice-ml/sluice/ml/trainer"
	"github.com/sluice-ml/sluice/monitor"
	"github.com/sluice-ml/sluice/online"
	"github.com/sluice-ml/sluice/registry"
	"github.com/sluice-ml/sluice/serving"
	"github.com/sluice-ml/sluice/testkit/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// world is a registry with two versions of a model over an online view
// (spend: amount_sum_7d, numeric; plan, categorical) and a running
// server.
type world struct {
	ctx      context.Context
	db       *pgxpool.Pool
	reg      *registry.Registry
	model    string
	view     string
	arts     map[int]*artifact.Artifact
	features *online.Reader
	lake     lakehouse.ObjectStore
	srv      *httptest.Server
	server   *serving.Server
}

// trainModel fits a small GBDT on the view's two features; seed varies
// it so versions score differently.
func trainModel(t testing.TB, view string, seed uint64) *artifact.Artifact {
	t.Helper()
	const n = 2000
	r := rand.New(rand.NewPCG(seed, 1))
	d := &ml.Dataset{Labels: make([]float32, n), Features: []ml.Feature{
		{Name: view + "__amount_sum_7d", Kind: ml.Numeric, Values: make([]float32, n)},
		{Name: view + "__plan", Kind: ml.Categorical, Categories: []string{"basic", "pro"}, Values: make([]float32, n)},
	}}
	for i := range n {
		amount, plan := float32(r.Float64()*100), float32(r.IntN(2))
		if i%17 == 0 {
			amount = float32(math.NaN())
		}
		d.Features[0].Values[i], d.Features[1].Values[i] = amount, plan
		if amount < 30+20*plan || r.Float64() < 0.1 {
			d.Labels[i] = 1
		}
	}
	art, err := trainer.Train(context.Background(), d, nil, trainer.Spec{Task: ml.Binary, Algorithm: artifact.GBDT, Label: "churned",
		Params: map[string]string{"trees": fmt.Sprint(10 + seed*5), "max_depth": "3", "seed": fmt.Sprint(seed)}})
	if err != nil {
		t.Fatal(err)
	}
	return art
}

func newWorld(t testing.TB, routes map[string]serving.Routing, predLog bool) *world {
	t.Helper()
	return newWorldAllowing(t, routes, predLog, false)
}

// newWorldAllowing is newWorld with the model's allow_missing set.
func newWorldAllowing(t testing.TB, routes map[string]serving.Routing, predLog, allowMissing bool) *world {
	t.Helper()
	ctx := testenv.Context(t)
	stamp := time.Now().UnixNano()
	// The pool's connections carry the model's name, so a test can find
	// its own among the server's.
	dbURL := testenv.PostgresURL(t)
	sep := "?"
	if strings.Contains(dbURL, "?") {
		sep = "&"
	}
	db, err := metastore.Open(ctx, fmt.Sprintf("%s%sapplication_name=srv_%d", dbURL, sep, stamp), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	lake, err := lakehouse.Open(ctx, lakehouse.Options{URL: "file://" + t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	w := &world{ctx: ctx, db: db, reg: &registry.Registry{DB: db}, arts: map[int]*artifact.Artifact{}, lake: lake}
	w.model, w.view = fmt.Sprintf("srv_%d", stamp), fmt.Sprintf("spend_%d", stamp)

	// The online view: C0..C99, C0 with a null amount.
	schema := arrow.NewSchema([]arrow.Field{{Name: "customer_id", Type: arrow.BinaryTypes.String},
		{Name: w.view + "__amount_sum_7d", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
		{Name: w.view + "__plan", Type: arrow.BinaryTypes.String, Nullable: true}}, nil)
	b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	for c := range 100 {
		b.Field(0).(*array.StringBuilder).Append(fmt.Sprintf("C%d", c))
		if c == 0 {
			b.Field(1).AppendNull()
		} else {
			b.Field(1).(*array.Float64Builder).Append(float64(c))
		}
		b.Field(2).(*array.StringBuilder).Append([]string{"basic", "pro"}[c%2])
	}
	rec := b.NewRecordBatch()
	b.Release()
	if _, err := (&online.Store{DB: db}).Upsert(ctx, w.view, "customer_id", schema, func(yield func(arrow.RecordBatch, error) bool) { yield(rec, nil) }, time.Now()); err != nil {
		t.Fatal(err)
	}
	for version := 1; version <= 2; version++ {
		art := trainModel(t, w.view, uint64(version))
		w.arts[version] = art
		key := fmt.Sprintf("models/%s/v%d/model.sluice", w.model, version)
		var buf bytes.Buffer
		if err := artifact.Encode(&buf, art); err != nil {
			t.Fatal(err)
		}
		if err := lake.Put(ctx, key, &buf); err != nil {
			t.Fatal(err)
		}
		if _, err := w.reg.Register(ctx, registry.Version{Model: w.model, Algorithm: "gbdt", ArtifactKey: key, RunID: fmt.Sprint("r", version)}); err != nil {
			t.Fatal(err)
		}
	}
	for alias, v := range map[string]int{"champion": 1, "challenger": 2} {
		if _, err := w.reg.SetAlias(ctx, w.model, alias, v, "test", ""); err != nil {
			t.Fatal(err)
		}
	}
	w.features = online.NewReader(db, online.CacheOptions{})
	rt := map[string]serving.Routing{}
	for _, r := range routes {
		rt[w.model] = r
	}
	models := &serving.Models{Registry: w.reg, Lake: lake, Features: w.features, Routing: rt, Poll: time.Hour,
		AllowMissing: func(context.Context, string) bool { return allowMissing }}
	w.server = serving.New(serving.Options{}, nil).WithOnline(w.features).WithModels(models)
	if predLog {
		pl := serving.NewPredictionLog(db, 10_000, nil)
		w.server.WithPredictionLog(pl)
		runCtx, cancel := context.WithCancel(ctx)
		var done sync.WaitGroup
		done.Go(func() { pl.Run(runCtx) })
		t.Cleanup(func() { cancel(); done.Wait() })
	}
	runCtx, cancel := context.WithCancel(ctx)
	t.Cleanup(cancel)
	go models.Run(runCtx)
	for deadline := time.Now().Add(10 * time.Second); !models.Ready(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the models never loaded")
		}
	}
	w.srv = httptest.NewServer(w.server.Handler())
	t.Cleanup(w.srv.Close)
	return w
}

func (w *world) post(t testing.TB, path, body string) (int, []byte) {
	t.Helper()
	resp, err := http.Post(w.srv.URL+path, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// want scores features with a version's artifact directly.
func (w *world) want(version int, amount float32, plan string) float64 {
	art := w.arts[version]
	code := float32(math.NaN())
	for i, c := range art.Features[1].Categories {
		if c == plan {
			code = float32(i)
		}
	}
	out := make([]float64, 1)
	art.PredictRow([]float32{amount, code}, out)
	return out[0]
}

func TestPredictFillsMissingFeaturesFromTheOnlineStore(t *testing.T) {
	w := newWorldAllowing(t, nil, true, true)
	status, body := w.post(t, "/v1/models/"+w.model+":predict", `{"instances":[
		{"customer_id": "C7"},
		{"customer_id": "C8", "plan": "basic"},
		{"customer_id": "C0"},
		{"customer_id": "nobody"},
		{"customer_id": "C9", "`+w.view+`__amount_sum_7d": 55.5, "plan": "enterprise"}]}`)
	if status != 200 {
		t.Fatalf("%d %s", status, body)
	}
	var res serving.PredictResponse
	if err := json.Unmarshal(body, &res); err != nil {
		t.Fatal(err)
	}
	nan := float32(math.NaN())
	want := []float64{w.want(1, 7, "pro"), w.want(1, 8, "basic"), w.want(1, nan, "basic"), w.want(1, nan, ""), w.want(1, 55.5, "enterprise")}
	if res.Model != w.model || res.Version != 1 || res.Variant != "champion" || len(res.Predictions) != 5 || res.RequestID == "" {
		t.Fatalf("response %+v", res)
	}
	for i, p := range res.Predictions {
		if math.Abs(p.Score-want[i]) > 1e-12 || p.Label == nil || *p.Label != map[bool]int{true: 1, false: 0}[p.Score >= 0.5] {
			t.Errorf("prediction %d: %+v, want score %v", i, p, want[i])
		}
		if p.UnknownEntity != (i == 3) {
			t.Errorf("prediction %d: unknown_entity %v", i, p.UnknownEntity)
		}
	}

	// Open Inference Protocol v2: the same instance as a tensor.
	status, body = w.post(t, "/v2/models/"+w.model+"/infer", `{"id": "x1", "inputs": [
		{"name": "customer_id", "shape": [2], "datatype": "BYTES", "data": ["C7", "C8"]},
		{"name": "plan", "shape": [2], "datatype": "BYTES", "data": [null, "basic"]}]}`)
	var inf struct {
		ModelName    string `json:"model_name"`
		ModelVersion string `json:"model_version"`
		ID           string `json:"id"`
		Outputs      []struct {
			Name string
			Data []any
		}
	}
	if err := json.Unmarshal(body, &inf); status != 200 || err != nil || inf.ID != "x1" || inf.ModelVersion != "1" || inf.Outputs[0].Name != "score" {
		t.Fatalf("infer: %d %s", status, body)
	}
	if s := inf.Outputs[0].Data[1].(float64); math.Abs(s-want[1]) > 1e-12 {
		t.Errorf("infer score %v, want %v", s, want[1])
	}
	// A null plan given in the instance is missing, not looked up.
	if s := inf.Outputs[0].Data[0].(float64); math.Abs(s-w.want(1, 7, "")) > 1e-12 {
		t.Errorf("infer score with a null plan %v, want %v", s, w.want(1, 7, ""))
	}
	for _, path := range []string{"/v2/models/" + w.model, "/v2/models/" + w.model + "/ready", "/readyz"} {
		resp, err := http.Get(w.srv.URL + path)
		if err != nil || resp.StatusCode != 200 {
			t.Errorf("GET %s: %v %v", path, resp, err)
		}
		resp.Body.Close()
	}

	// The log gets every prediction.
	deadline := time.Now().Add(5 * time.Second)
	for n := 0; n < 7; time.Sleep(50 * time.Millisecond) {
		w.db.QueryRow(w.ctx, `SELECT count(*) FROM sluice.prediction_log WHERE model = $1`, w.model).Scan(&n)
		if time.Now().After(deadline) {
			t.Fatalf("the prediction log holds %d rows, want 7", n)
		}
	}
	// The drift of that online traffic, from the logged input rows.
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestActivityEnvironment()
	mon := &activities.Monitoring{Meter: &monitor.Meter{DB: w.db, Lake: w.lake}}
	env.RegisterActivity(mon)
	v, err := env.ExecuteActivity(mon.OnlineDrift, activities.OnlineDriftInput{Model: w.model, Version: 1,
		Since: time.Now().Add(-time.Hour), Until: time.Now().Add(time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	var od activities.OnlineDriftResult
	v.Get(&od)
	reports, err := (&monitor.Store{DB: w.db}).Latest(w.ctx, w.model, 5)
	if od.Rows != 7 || od.Level == "" || err != nil || len(reports) != 1 || reports[0].Source != "online" || reports[0].Report.Rows != 7 {
		t.Errorf("online drift %+v; reports %+v %v", od, reports, err)
	}
	// The control API exposes the newest report as gauges.
	apiSrv := httptest.NewServer(api.New(api.Options{}, nil).WithRegistry(w.reg).Handler())
	defer apiSrv.Close()
	if resp, err := http.Get(apiSrv.URL + "/metrics"); err != nil {
		t.Fatal(err)
	} else {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(b), `sluice_drift_psi{feature="`+w.view+`__amount_sum_7d",model="`+w.model+`",source="online"}`) ||
			!strings.Contains(string(b), `sluice_drift_level{model="`+w.model+`",source="online"}`) {
			t.Errorf("the API's /metrics lacks the drift gauges:\n%.2000s", b)
		}
	}
	resp, err := http.Get(w.srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, m := range []string{`sluice_serving_requests_total{model="` + w.model + `",status="200",variant="champion",version="1"} 2`,
		"sluice_online_cache_hits_total", "sluice_serving_model_swaps_total", "sluice_serving_request_seconds_bucket"} {
		if !strings.Contains(string(metrics), m) {
			t.Errorf("/metrics lacks %s", m)
		}
	}
}

func TestBadRequestsAre4xxWithAnErrorBody(t *testing.T) {
	w := newWorld(t, nil, false)
	path := "/v1/models/" + w.model + ":predict"
	deep := strings.Repeat(`{"a":`, 10000) + "1" + strings.Repeat("}", 10000)
	for _, c := range []struct {
		name, path, body string
		status           int
	}{
		{"bad json", path, `{"instances": [`, 400},
		{"unknown model", "/v1/models/nope:predict", `{"instances": [{"customer_id": "C1"}]}`, 404},
		{"no instances", path, `{"instances": []}`, 400},
		{"too many", path, `{"instances": [` + strings.Repeat(`{"customer_id":"C1"},`, 1000) + `{"customer_id":"C1"}]}`, 400},
		{"oversized", path, `{"instances": [{"customer_id": "` + strings.Repeat("x", 2<<20) + `"}]}`, 413},
		{"wrong type", path, `{"instances": [{"customer_id": "C1", "amount_sum_7d": "12"}]}`, 400},
		{"NaN string", path, `{"instances": [{"customer_id": "C1", "amount_sum_7d": "NaN"}]}`, 400},
		{"number for a category", path, `{"instances": [{"customer_id": "C1", "plan": 3}]}`, 400},
		{"huge number", path, `{"instances": [{"customer_id": "C1", "amount_sum_7d": 1e400}]}`, 400},
		{"object key", path, `{"instances": [{"customer_id": {"id": 1}}]}`, 400},
		{"null instance", path, `{"instances": [null]}`, 400},
		{"deep nesting", path, `{"instances": [{"customer_id": "C1", "x": ` + deep + `}]}`, 400},
		{"unknown field", path, `{"instances": [{"customer_id": "C1"}], "colour": 1}`, 400},
		{"infer bad shape", "/v2/models/" + w.model + "/infer", `{"inputs": [{"name": "customer_id", "shape": [2], "datatype": "BYTES", "data": ["C1"]}]}`, 400},
	} {
		status, body := w.post(t, c.path, c.body)
		var e struct {
			Error struct{ Code, Message string }
		}
		if status != c.status || json.Unmarshal(body, &e) != nil || e.Error.Code == "" {
			t.Errorf("%s: %d %.200s; want %d with an error body", c.name, status, body, c.status)
		}
	}
}

// TestABSplitIsStickyAndWeighted: 100k entities split 70/30 within 2%,
// and an entity gets the same variant every time.
func TestABSplitIsStickyAndWeighted(t *testing.T) {
	w := newWorld(t, map[string]serving.Routing{"": {Variants: []serving.Variant{{Alias: "champion", Weight: 70}, {Alias: "challenger", Weight: 30}}}}, false)
	variants := map[string]string{}
	counts := map[string]int{}
	for pass := range 2 {
		for batch := range 100 {
			var sb strings.Builder
			sb.WriteString(`{"instances": [`)
			for i := range 1000 {
				if i > 0 {
					sb.WriteByte(',')
				}
				fmt.Fprintf(&sb, `{"customer_id": "E%d", "amount_sum_7d": 10, "plan": "pro"}`, batch*1000+i)
			}
			sb.WriteString("]}")
			status, body := w.post(t, "/v1/models/"+w.model+":predict", sb.String())
			var res serving.PredictResponse
			if status != 200 || json.Unmarshal(body, &res) != nil {
				t.Fatalf("%d %.300s", status, body)
			}
			for i, p := range res.Predictions {
				key := fmt.Sprintf("E%d", batch*1000+i)
				if want := map[string]int{"champion": 1, "challenger": 2}[p.Variant]; p.Version != want {
					t.Fatalf("%s: variant %s answered by version %d", key, p.Variant, p.Version)
				}
				if pass == 0 {
					variants[key] = p.Variant
					counts[p.Variant]++
				} else if variants[key] != p.Variant {
					t.Fatalf("%s went to %s, then to %s", key, variants[key], p.Variant)
				}
			}
		}
	}
	if share := float64(counts["champion"]) / 100_000; math.Abs(share-0.7) > 0.02 {
		t.Errorf("champion got %.3f of the traffic, want 0.70 ± 0.02 (%v)", share, counts)
	}
}

// TestShadowScoresOffThePath: the challenger scores every request in
// the shadow and is logged, while the champion answers.
func TestShadowScoresOffThePath(t *testing.T) {
	w := newWorld(t, map[string]serving.Routing{"": {Variants: []serving.Variant{{Alias: "champion", Weight: 100}}, Shadow: "challenger"}}, true)
	for i := range 20 {
		status, body := w.post(t, "/v1/models/"+w.model+":predict", fmt.Sprintf(`{"instances": [{"customer_id": "C%d"}]}`, i))
		if status != 200 || !strings.Contains(string(body), `"variant":"champion"`) {
			t.Fatalf("%d %s", status, body)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for n := 0; n < 20; time.Sleep(50 * time.Millisecond) {
		w.db.QueryRow(w.ctx, `SELECT count(*) FROM sluice.prediction_log WHERE model = $1 AND variant = 'shadow:challenger' AND version = 2`, w.model).Scan(&n)
		if time.Now().After(deadline) {
			t.Fatalf("%d shadow predictions logged, want 20", n)
		}
	}
}

// TestPromotionUnderLoad: 30 s of constant load while the champion moves
// from v1 to v2: no request fails, and every response to a request sent
// a second after the NOTIFY names v2.
func TestPromotionUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("30 s of load")
	}
	w := newWorld(t, nil, false)
	var failed, sent atomic.Int64
	var notified atomic.Int64 // unix nanos of the alias move
	var mu sync.Mutex
	var stale []string
	stop := time.Now().Add(30 * time.Second)
	var wg sync.WaitGroup
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 8}}
	for g := range 4 {
		wg.Go(func() {
			for i := 0; time.Now().Before(stop); i++ {
				start := time.Now()
				body := fmt.Sprintf(`{"instances": [{"customer_id": "C%d"}]}`, (g*7919+i)%100)
				resp, err := client.Post(w.srv.URL+"/v1/models/"+w.model+":predict", "application/json", strings.NewReader(body))
				sent.Add(1)
				if err != nil {
					failed.Add(1)
					continue
				}
				var res serving.PredictResponse
				err = json.NewDecoder(resp.Body).Decode(&res)
				resp.Body.Close()
				if err != nil || resp.StatusCode != 200 {
					failed.Add(1)
					continue
				}
				if n := notified.Load(); n > 0 && start.After(time.Unix(0, n).Add(time.Second)) && res.Version != 2 {
					mu.Lock()
					stale = append(stale, fmt.Sprintf("%s: v%d", start.Format(time.StampMicro), res.Version))
					mu.Unlock()
				}
			}
		})
	}
	time.Sleep(10 * time.Second)
	notified.Store(time.Now().UnixNano())
	if _, err := w.reg.SetAlias(w.ctx, w.model, "champion", 2, "test", "promotion under load"); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if failed.Load() > 0 {
		t.Errorf("%d of %d requests failed", failed.Load(), sent.Load())
	}
	if len(stale) > 0 {
		t.Errorf("%d responses named the old version more than 1 s after the move, first %v", len(stale), stale[0])
	}
	t.Logf("%d requests over 30 s", sent.Load())
}

// version asks the server which version answers for C1.
func (w *world) version(t *testing.T) int {
	t.Helper()
	status, body := w.post(t, "/v1/models/"+w.model+":predict", `{"instances": [{"customer_id": "C1"}]}`)
	var res serving.PredictResponse
	if status != 200 || json.Unmarshal(body, &res) != nil {
		t.Fatalf("%d %s", status, body)
	}
	return res.Version
}

// TestAFailedLoadKeepsTheOldVersion: an alias moved to a version whose
// artifact is missing leaves the old version answering, and says that the
// load failed without the reason (lake keys, database errors), which only
// the log gets.
func TestAFailedLoadKeepsTheOldVersion(t *testing.T) {
	w := newWorld(t, nil, false)
	if _, err := w.reg.Register(w.ctx, registry.Version{Model: w.model, ArtifactKey: "models/nowhere/model.sluice", RunID: "r3"}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.reg.SetAlias(w.ctx, w.model, "champion", 3, "test", "broken"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, err := http.Get(w.srv.URL + "/v2/models/" + w.model)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if strings.Contains(string(b), `"failures":{"champion":"v3 failed to load`) {
			if strings.Contains(string(b), "nowhere") {
				t.Errorf("the status shows the load error's detail: %s", b)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no failure reported: %s", b)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if v := w.version(t); v != 1 {
		t.Errorf("answered by v%d after a failed load, want v1", v)
	}
}

// TestSwapsAfterTheListenConnectionDrops: with the poll an hour away, a
// move made after PostgreSQL kills the LISTEN connection still swaps once
// the server has reconnected.
func TestSwapsAfterTheListenConnectionDrops(t *testing.T) {
	w := newWorld(t, nil, false)
	var killed int
	if err := w.db.QueryRow(w.ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE query = 'LISTEN "sluice_models"' AND application_name = $1`, w.model).Scan(&killed); err != nil || killed != 1 {
		t.Fatalf("terminated %d LISTEN connections (%v)", killed, err)
	}
	time.Sleep(200 * time.Millisecond)
	if _, err := w.reg.SetAlias(w.ctx, w.model, "champion", 2, "test", "after the drop"); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); w.version(t) != 2; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("still v1 10 s after the move")
		}
	}
}

// TestMissingFeaturesAreA400UnlessAllowed: an instance whose features
// neither it nor the online store supply (no key, or an entity the store
// lacks) is a 400 naming them, not a score made of missing values; a value
// past float32 is a 400 too.
func TestMissingFeaturesAreA400UnlessAllowed(t *testing.T) {
	w := newWorld(t, nil, false)
	for _, c := range []struct{ body, want string }{
		{`{"instances":[{}]}`, "or the entity key customer_id"},
		{`{"instances":[{"customer_id": "C7"}, {"customer_id": "nobody"}]}`, "instance 1 lacks"},
		{`{"instances":[{"customer_id": "C7", "` + w.view + `__amount_sum_7d": 1e39}]}`, "outside the float32 range"},
	} {
		status, body := w.post(t, "/v1/models/"+w.model+":predict", c.body)
		if status != http.StatusBadRequest || !strings.Contains(string(body), c.want) {
			t.Errorf("%s: %d %s; want a 400 saying %q", c.body, status, body, c.want)
		}
	}
	if status, body := w.post(t, "/v1/models/"+w.model+":predict", `{"instances":[{"customer_id": "C7"}]}`); status != http.StatusOK {
		t.Errorf("an entity the online store holds: %d %s", status, body)
	}
}
