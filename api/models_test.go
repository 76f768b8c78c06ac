package api_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sluice-ml/sluice/api"
	"github.com/sluice-ml/sluice/metastore"
	"github.com/sluice-ml/sluice/registry"
	"github.com/sluice-ml/sluice/testkit/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func TestRegistryEndpoints(t *testing.T) {
	ctx := testenv.Context(t)
	db, err := metastore.Open(ctx, testenv.PostgresURL(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	reg := &registry.Registry{DB: db}
	model := fmt.Sprintf("api_%d", time.Now().UnixNano())
	if _, err := reg.Register(ctx, registry.Version{Model: model, Metrics: map[string]float64{"auc": 0.8}, ArtifactKey: "k", RunID: "r"}); err != nil {
		t.Fatal(err)
	}
	if _, err := reg.SetAlias(ctx, model, "champion", 1, "test", "first"); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(api.New(api.Options{Token: "s3cret"}, nil).WithRegistry(reg).Handler())
	defer srv.Close()
	get := func(path string, into any) int { return call(t, srv.URL, "GET", path, "", into) }
	var v registry.Version
	if code := get("/api/v1/models/"+model+"/versions/v1", &v); code != 200 || v.Metrics["auc"] != 0.8 || len(v.Aliases) != 1 {
		t.Errorf("version: %d %+v", code, v)
	}
	var list struct{ Models []registry.Model }
	if code := get("/api/v1/models", &list); code != 200 || len(list.Models) == 0 {
		t.Errorf("models: %d %+v", code, list)
	}
	var hist struct{ Moves []registry.AliasMove }
	if code := get("/api/v1/models/"+model+"/aliases/champion/history", &hist); code != 200 || len(hist.Moves) != 1 {
		t.Errorf("history: %d %+v", code, hist)
	}
	var exps struct{ Experiments []registry.Experiment }
	if code := get("/api/v1/models/"+model+"/experiments", &exps); code != 200 || exps.Experiments == nil {
		t.Errorf("experiments: %d %+v", code, exps)
	}
	var drift struct{ Reports []any }
	if code := get("/api/v1/models/"+model+"/drift", &drift); code != 200 || drift.Reports == nil {
		t.Errorf("drift: %d %+v", code, drift)
	}
	var perf struct{ Performance []any }
	if code := get("/api/v1/models/"+model+"/performance", &perf); code != 200 || perf.Performance == nil {
		t.Errorf("performance: %d %+v", code, perf)
	}
	req, _ := http.NewRequest("GET", srv.URL+"/api/v1/models/"+model+"/report.html", nil)
	req.Header.Set("Authorization", "Bearer s3cret")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Errorf("report.html: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	var alerts struct{ Alerts []any }
	if code := get("/api/v1/alerts?model="+model, &alerts); code != 200 || alerts.Alerts == nil {
		t.Errorf("alerts: %d %+v", code, alerts)
	}
	if code := get("/api/v1/models/"+model+"/drift?limit=0", nil); code != 400 {
		t.Errorf("drift with limit 0: %d", code)
	}
	if code := get("/api/v1/models/"+model+"/versions/9", nil); code != 404 {
		t.Errorf("a missing version: %d, want 404", code)
	}
	if code := get("/api/v1/models/nope", nil); code != 404 {
		t.Errorf("a missing model: %d, want 404", code)
	}

	// Moving the alias: to v2, back, and the errors.
	if _, err := reg.Register(ctx, registry.Version{Model: model, ArtifactKey: "k2", RunID: "r2"}); err != nil {
		t.Fatal(err)
	}
	put := func(path, body string, into any) int { return call(t, srv.URL, "PUT", path, body, into) }
	post := func(path, body string, into any) int { return call(t, srv.URL, "POST", path, body, into) }
	var m registry.AliasMove
	if code := put("/api/v1/models/"+model+"/aliases/champion", `{"version": 2, "reason": "canary passed", "by": "ana"}`, &m); code != 200 || m.From != 1 || m.To != 2 || m.By != "ana" {
		t.Errorf("move: %d %+v", code, m)
	}
	if code := post("/api/v1/models/"+model+"/aliases/champion/rollback", "", &m); code != 200 || m.From != 2 || m.To != 1 || m.By != "api" {
		t.Errorf("rollback: %d %+v", code, m)
	}
	if code := get("/api/v1/models/"+model+"/aliases/champion/history", &hist); code != 200 || len(hist.Moves) != 3 || hist.Moves[1].Reason != "canary passed" {
		t.Errorf("history after the moves: %d %+v", code, hist)
	}
	var e struct {
		Error struct{ Code, Message string }
	}
	for _, c := range []struct {
		method, path, body string
		status             int
		code               string
	}{
		{"PUT", "/aliases/champion", `{"version": 9}`, 404, "not_found"},
		{"PUT", "/aliases/champion", `{"version": 0}`, 400, "bad_request"},
		{"PUT", "/aliases/champion", `{"version": "2"}`, 400, "bad_request"},
		{"PUT", "/aliases/champion", `{"version": 2, "colour": "red"}`, 400, "bad_request"},
		{"PUT", "/aliases/champion", `{"version": 2} {}`, 400, "bad_request"},
		{"PUT", "/aliases/champion", `{"reason": "` + strings.Repeat("x", 70<<10) + `"}`, 413, "too_large"},
		{"PUT", "/aliases/no%20spaces", `{"version": 2}`, 400, "bad_request"},
		{"POST", "/aliases/staging/rollback", "", 404, "not_found"},
	} {
		e.Error.Code = ""
		if code := call(t, srv.URL, c.method, "/api/v1/models/"+model+c.path, c.body, &e); code != c.status || e.Error.Code != c.code {
			t.Errorf("%s %s %.40s: %d %+v; want %d %s", c.method, c.path, c.body, code, e, c.status, c.code)
		}
	}
	if code := call(t, srv.URL, "PUT", "/api/v1/models/"+model+"/aliases/champion", `{"version": 2}`, nil); code != 200 {
		t.Errorf("move: %d", code)
	}
	req, _ = http.NewRequest("PUT", srv.URL+"/api/v1/models/"+model+"/aliases/champion", strings.NewReader(`{"version": 1}`))
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 401 {
		t.Errorf("a move without the token: %v %v", resp, err)
	}
	// A browser on another site can send a text/plain or form POST
	// without asking first; the API takes only JSON.
	for _, ct := range []string{"text/plain", "application/x-www-form-urlencoded", ""} {
		req, _ = http.NewRequest("PUT", srv.URL+"/api/v1/models/"+model+"/aliases/champion", strings.NewReader(`{"version": 1}`))
		req.Header.Set("Authorization", "Bearer s3cret")
		if ct != "" {
			req.Header.Set("Content-Type", ct)
		}
		if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusUnsupportedMediaType {
			t.Errorf("a move sent as %q: %v %v, want 415", ct, resp, err)
		}
	}
	// A NUL or invalid UTF-8 in a name is a 400, never PostgreSQL's 500.
	for _, path := range []string{"/api/v1/models/a%00b/versions", "/api/v1/models/a%FFb/versions", "/api/v1/models/" + model + "/aliases/a%00b/history"} {
		if code := call(t, srv.URL, "GET", path, "", nil); code != http.StatusBadRequest {
			t.Errorf("GET %s: %d, want 400", path, code)
		}
	}
	// The metrics name models and features: behind the token too.
	if resp, err := http.Get(srv.URL + "/metrics"); err != nil || resp.StatusCode != 401 {
		t.Errorf("/metrics without the token: %v %v", resp, err)
	}
}

// call sends a request with the test token and decodes the answer.
func call(t *testing.T, base, method, path, body string, into any) int {
	t.Helper()
	req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer s3cret")
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if into != nil {
		json.NewDecoder(resp.Body).Decode(into)
	}
	return resp.StatusCode
}

type recorder struct {
	code   int
	header http.Header
	body   strings.Builder
}

func newRecorder() *recorder             { return &recorder{header: http.Header{}} }
func (r *recorder) Header() http.Header  { return r.header }
func (r *recorder) WriteHeader(code int) { r.code = code }
func (r *recorder) Write(b []byte) (int, error) {
	if r.code == 0 {
		r.code = 200
	}
	return r.body.Write(b)
}

func mustRequest(t *testing.T, method, path string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

func decode(t *testing.T, resp *http.Response, into any) {
	t.Helper()
	if err := json.NewDecoder(resp.Body).Decode(into); err != nil {
		t.Fatalf("decoding %s: %v", resp.Request.URL, err)
	}
}
