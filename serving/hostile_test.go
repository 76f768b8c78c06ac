package serving_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sluice-ml/sluice/metastore"
	"github.com/sluice-ml/sluice/registry"
	"github.com/sluice-ml/sluice/serving"
	"github.com/sluice-ml/sluice/testkit/testenv"
)

// TestHostileModelNamesNeitherCrashNorGrowMetrics: names no model can
// have are refused with a 400 before anything else, and requests for
// models the server does not serve are counted under one label, so
// clients cannot grow /metrics. (Before: each name became a label, 20
// requests with 50 KB names added 1 MB to /metrics for good, and %FF
// panicked the handler on the label's invalid UTF-8.)
func TestHostileModelNamesNeitherCrashNorGrowMetrics(t *testing.T) {
	reg := &fakeRegistry{versions: map[int]registry.Version{}, aliases: map[string]int{}, moved: make(chan registry.AliasMove)}
	models := &serving.Models{Registry: reg, Lake: fakeLake{}, Poll: time.Hour}
	srv := serving.New(serving.Options{}, nil).WithModels(models)
	if err := models.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	metricsSize := func() int {
		resp, err := http.Get(ts.URL + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return len(b)
	}
	post := func(path string) (int, string) {
		resp, err := http.Post(ts.URL+path, "application/json", strings.NewReader(`{"instances":[{"x":1}]}`))
		if err != nil {
			t.Fatalf("POST %.40s…: %v", path, err)
		}
		defer resp.Body.Close()
		var body struct {
			Error struct{ Code string } `json:"error"`
		}
		json.NewDecoder(resp.Body).Decode(&body)
		return resp.StatusCode, body.Error.Code
	}
	post("/v1/models/warmup:predict") // the first request creates the series
	before := metricsSize()
	for i := range 20 {
		name := fmt.Sprintf("m%d%s", i, strings.Repeat("x", 50<<10))
		if status, code := post("/v1/models/" + name + ":predict"); status != http.StatusBadRequest || code != "bad_model_name" {
			t.Errorf("a 50 KB name: %d %s, want 400 bad_model_name", status, code)
		}
		if status, _ := post(fmt.Sprintf("/v1/models/valid_but_unknown_%d:predict", i)); status != http.StatusNotFound {
			t.Errorf("an unknown model: %d, want 404", status)
		}
		if status, _ := post(fmt.Sprintf("/v2/models/unknown_%d/infer", i)); status != http.StatusNotFound {
			t.Errorf("an unknown model (v2): %d, want 404", status)
		}
	}
	for _, path := range []string{"/v1/models/%FF:predict", "/v2/models/%FF/infer", "/v1/models/a%00b:predict"} {
		if status, code := post(path); status != http.StatusBadRequest || code != "bad_model_name" {
			t.Errorf("%s: %d %s, want 400 bad_model_name", path, status, code)
		}
	}
	if grown := metricsSize() - before; grown > 2<<10 {
		t.Errorf("/metrics grew by %d bytes after hostile names", grown)
	}
}

// TestBadKeysAndRequestIDsAreRefusedOrReplaced: a key with a NUL, or
// over 256 bytes, is a 400 (such a key made the prediction log's COPY
// fail and drop everyone's batch); an X-Request-Id that is not a plain id
// is replaced by a generated one.
func TestBadKeysAndRequestIDsAreRefusedOrReplaced(t *testing.T) {
	f := newFakeServed(t)
	post := func(body, reqID string) (int, serving.PredictResponse) {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, f.url+"/v1/models/churn:predict", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if reqID != "" {
			req.Header.Set("X-Request-Id", reqID)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var res serving.PredictResponse
		json.NewDecoder(resp.Body).Decode(&res)
		return resp.StatusCode, res
	}
	for _, key := range []string{`"C\u00001"`, `"` + strings.Repeat("k", 257) + `"`} {
		if status, _ := post(`{"instances":[{"customer_id":`+key+`}]}`, ""); status != http.StatusBadRequest {
			t.Errorf("key %.20s…: %d, want 400", key, status)
		}
	}
	// (Its features are given: the online store holds no such entity.)
	if status, _ := post(`{"instances":[{"customer_id":"`+strings.Repeat("k", 256)+`","amount_sum_7d":1,"plan":"pro"}]}`, ""); status != http.StatusOK {
		t.Errorf("a 256-byte key: %d, want 200", status)
	}
	for id, kept := range map[string]bool{"req-1.a_B": true, "bad id": false, "x\u00ff": false, strings.Repeat("r", 129): false} {
		status, res := post(`{"instances":[{"customer_id":"C1"}]}`, id)
		if status != http.StatusOK || (res.RequestID == id) != kept || res.RequestID == "" {
			t.Errorf("X-Request-Id %.20q: %d, request id %.20q (kept %v, want %v)", id, status, res.RequestID, res.RequestID == id, kept)
		}
	}
}

// TestPredictionLogKeepsTheBatchWhenOneRowIsBad: a row PostgreSQL
// refuses (a NUL in a text column) costs only itself; the other rows of
// its batch are written. (Before, the whole batch of up to 5,000 other
// clients' rows was dropped, and online drift saw no traffic.)
func TestPredictionLogKeepsTheBatchWhenOneRowIsBad(t *testing.T) {
	ctx := testenv.Context(t)
	db, err := metastore.Open(ctx, testenv.PostgresURL(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	model := fmt.Sprintf("badrow_%d", time.Now().UnixNano())
	log := serving.NewPredictionLog(db, 1000, nil)
	for i := range 100 {
		entity := fmt.Sprintf("C%d", i)
		if i == 50 {
			entity = "C\x0050" // past the server's own key check
		}
		log.Add(serving.LogEntry{RequestID: fmt.Sprintf("r%d", i), Model: model, Entity: entity, Version: 1, Variant: "champion", At: time.Now()})
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		log.Run(runCtx)
		close(done)
	}()
	for deadline := time.Now().Add(10 * time.Second); log.Written()+log.Dropped() < 100; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("written %d, dropped %d of 100", log.Written(), log.Dropped())
		}
	}
	cancel()
	<-done
	var n int
	if err := db.QueryRow(ctx, `SELECT count(*) FROM sluice.prediction_log WHERE model = $1`, model).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 99 || log.Written() != 99 || log.Dropped() != 1 {
		t.Errorf("the log holds %d rows (written %d, dropped %d), want 99 and the bad row dropped", n, log.Written(), log.Dropped())
	}
}

// TestPredictionLogRemakesADroppedDay: when a day's partition the log
// made is dropped behind its back, the next batch makes it again instead
// of failing (and splitting) until the server restarts.
func TestPredictionLogRemakesADroppedDay(t *testing.T) {
	ctx := testenv.Context(t)
	db, err := metastore.Open(ctx, testenv.PostgresURL(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	model := fmt.Sprintf("remade_%d", time.Now().UnixNano())
	at := time.Date(2002, 3, 4, 5, 0, 0, 0, time.UTC)
	log := serving.NewPredictionLog(db, 100, nil)
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { log.Run(runCtx); close(done) }()
	add := func(n int) {
		for i := range n {
			log.Add(serving.LogEntry{RequestID: fmt.Sprint("r", i), Model: model, Version: 1, Variant: "champion", At: at})
		}
	}
	wait := func(total uint64) {
		for deadline := time.Now().Add(10 * time.Second); log.Written()+log.Dropped() < total; time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("written %d, dropped %d of %d", log.Written(), log.Dropped(), total)
			}
		}
	}
	add(10)
	wait(10)
	if _, err := db.Exec(ctx, `DROP TABLE sluice.prediction_log_20020304`); err != nil {
		t.Fatal(err)
	}
	add(10)
	wait(20)
	cancel()
	<-done
	if log.Written() != 20 || log.Dropped() != 0 {
		t.Errorf("written %d, dropped %d; want the second batch written into the day made again", log.Written(), log.Dropped())
	}
}
