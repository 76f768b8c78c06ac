package api_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/sluice-ml/sluice/api"
)

func TestAuthAndErrors(t *testing.T) {
	srv := httptest.NewServer(api.New(api.Options{Token: "s3cret"}, nil).Handler())
	defer srv.Close()
	tests := []struct {
		name, path, token string
		wantStatus        int
		wantCode          string
	}{
		{"healthz needs no token", "/healthz", "", http.StatusOK, ""},
		{"api without token", "/api/v1/health", "", http.StatusUnauthorized, "unauthorized"},
		{"api with wrong token", "/api/v1/health", "nope", http.StatusUnauthorized, "unauthorized"},
		{"api with token", "/api/v1/health", "s3cret", http.StatusOK, ""},
		{"unknown route", "/nope", "", http.StatusNotFound, "not_found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, srv.URL+tt.path, nil)
			if tt.token != "" {
				req.Header.Set("Authorization", "Bearer "+tt.token)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.wantStatus)
			}
			if tt.wantCode == "" {
				return
			}
			var body struct {
				Error struct{ Code, Message string } `json:"error"`
			}
			if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
				t.Fatal(err)
			}
			if body.Error.Code != tt.wantCode || body.Error.Message == "" {
				t.Errorf("error body %+v, want code %q and a message", body.Error, tt.wantCode)
			}
		})
	}
}
