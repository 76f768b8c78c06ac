package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.temporal.io/server/temporaltest"

	"github.com/sluice-ml/sluice/api"
	"github.com/sluice-ml/sluice/metastore"
	"github.com/sluice-ml/sluice/registry"
	"github.com/sluice-ml/sluice/testkit/testenv"
)

// FuzzAPIBodies sends arbitrary bodies to every endpoint that reads one,
// on a real registry and Temporal server: the answer is never a 5xx and
// always a JSON body; bodies are capped at 64 KiB (413 beyond).
func FuzzAPIBodies(f *testing.F) {
	ctx := testenv.Context(f)
	db, err := metastore.Open(ctx, testenv.PostgresURL(f), nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(db.Close)
	reg := &registry.Registry{DB: db}
	model := fmt.Sprintf("fuzz_%d", time.Now().UnixNano())
	for i := range 2 {
		if _, err := reg.Register(ctx, registry.Version{Model: model, Metrics: map[string]float64{"auc": 0.8}, ArtifactKey: "k", RunID: fmt.Sprint("r", i)}); err != nil {
			f.Fatal(err)
		}
	}
	srv := temporaltest.NewServer()
	f.Cleanup(srv.Stop)
	h := api.New(api.Options{Token: "fuzz-token"}, nil).WithRegistry(reg).WithTemporal(api.Temporal{
		Client: srv.GetDefaultClient(), Namespace: srv.GetDefaultNamespace(),
		Project: func(context.Context, string, string) (string, error) { return "fuzz", nil }}).Handler()
	endpoints := []struct{ method, path string }{
		{"PUT", "/api/v1/models/" + model + "/aliases/champion"},
		{"POST", "/api/v1/models/" + model + "/aliases/champion/rollback"},
		{"POST", "/api/v1/pipelines/daily/runs"},
		{"POST", "/api/v1/schedules/sluice%2Ffuzz%2Fdaily/backfill"},
		{"POST", "/api/v1/schedules/sluice%2Ffuzz%2Fdaily/trigger"},
	}
	for i, body := range []string{
		`{"version": 2, "reason": "better", "by": "fuzz"}`,
		`{"reason": "back"}`,
		`{"as_of": "2026-11-01T00:00:00Z"}`,
		`{"start": "2026-11-01T00:00:00Z", "end": "2026-11-02T00:00:00Z"}`,
		`{}`,
		`{"version": -1}`,
		`{"version": 99999999999999999999}`,
		`{"as_of": "yesterday"}`,
		`{"unknown": 1}`,
		`{"version": 2}{"version": 3}`,
		`[`,
		"\x00",
		`{"version": 2, "reason": "a\u0000b"}`,
		`{"version": 2, "by": "x\u0000"}`,
		`{"reason": "\u0000"}`,
		`{"version": 2, "reason": "` + strings.Repeat("why ", 2500) + `"}`,
	} {
		f.Add(uint8(i), []byte(body))
	}
	f.Fuzz(func(t *testing.T, which uint8, body []byte) {
		if len(body) > 256<<10 {
			t.Skip()
		}
		e := endpoints[int(which)%len(endpoints)]
		req := httptest.NewRequest(e.method, e.path, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer fuzz-token")
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%s %s with %q: %d %s", e.method, e.path, body, rec.Code, rec.Body)
		}
		if !json.Valid(rec.Body.Bytes()) {
			t.Fatalf("%s %s with %q: %d and a body that is not JSON: %q", e.method, e.path, body, rec.Code, rec.Body)
		}
		if len(body) > 64<<10 && rec.Code != http.StatusRequestEntityTooLarge && rec.Code != http.StatusNotFound {
			t.Fatalf("%s %s: a %d-byte body answered %d", e.method, e.path, len(body), rec.Code)
		}
	})
}
