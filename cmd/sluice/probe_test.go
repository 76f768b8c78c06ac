package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestProbe(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/ok" {
			http.Error(w, "no", http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	var out, errOut bytes.Buffer
	if err := runProbe(context.Background(), []string{srv.URL + "/ok"}, &out, &errOut); err != nil {
		t.Errorf("a 200: %v", err)
	}
	if err := runProbe(context.Background(), []string{srv.URL + "/down"}, &out, &errOut); err == nil {
		t.Error("a 503 passed")
	}
	if err := runProbe(context.Background(), []string{"http://127.0.0.1:1/"}, &out, &errOut); err == nil {
		t.Error("a closed port passed")
	}
}
