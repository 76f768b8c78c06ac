package serving_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/sluice-ml/sluice/serving"
)

func TestHealthEndpoints(t *testing.T) {
	srv := httptest.NewServer(serving.New(serving.DefaultOptions(), nil).Handler())
	defer srv.Close()
	for _, path := range []string{"/healthz", "/v2/health/live", "/v2/health/ready"} {
		t.Run(path, func(t *testing.T) {
			resp, err := http.Get(srv.URL + path)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d, want 200", resp.StatusCode)
			}
		})
	}
}
