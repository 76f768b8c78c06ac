// Package api is the control API: it starts and inspects pipeline runs,
// models and schedules over JSON, behind a bearer token compared in
// constant time. Its OpenAPI document is served at /api/v1/openapi.json.
package api

import (
	_ "embed"
	"log/slog"
	"mime"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/sluice-ml/sluice/internal/httpx"
	"github.com/sluice-ml/sluice/monitor"
	"github.com/sluice-ml/sluice/registry"
)

// Options configures the API.
type Options struct {
	// Addr is the listen address.
	Addr string
	// Token is the bearer token that /api/v1 requires; empty disables the
	// check (the dev stack on loopback).
	Token string
}

// DefaultOptions listens on :8081 of the loopback interface.
func DefaultOptions() Options { return Options{Addr: "127.0.0.1:8081"} }

// Server is the control API.
type Server struct {
	opts     Options
	logger   *slog.Logger
	registry *registry.Registry
	temporal *Temporal
	gatherer prometheus.Gatherer
}

// WithMetrics adds metrics (an in-process worker's) to /metrics.
func (s *Server) WithMetrics(g prometheus.Gatherer) *Server {
	s.gatherer = g
	return s
}

// New returns a server. A nil logger discards.
func New(o Options, logger *slog.Logger) *Server {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Server{opts: o, logger: logger}
}

// Handler routes the API.
func (s *Server) Handler() http.Handler {
	r := chi.NewRouter()
	r.Get("/healthz", httpx.Wrap(s.logger, s.health))
	if s.registry != nil || s.gatherer != nil {
		// Drift as Prometheus gauges (the newest report per model and
		// source), and what WithMetrics added.
		var gs prometheus.Gatherers
		if s.registry != nil {
			reg := prometheus.NewRegistry()
			reg.MustRegister(&monitor.Collector{DB: s.registry.DB})
			gs = append(gs, reg)
		}
		if s.gatherer != nil {
			gs = append(gs, s.gatherer)
		}
		// Behind the token: drift gauges name models and features.
		r.With(s.requireToken).Method(http.MethodGet, "/metrics", promhttp.HandlerFor(gs, promhttp.HandlerOpts{}))
	}
	r.Route("/api/v1", func(r chi.Router) {
		r.Use(s.requireToken, cleanPath, requireJSON)
		r.Get("/health", httpx.Wrap(s.logger, s.health))
		s.registryRoutes(r)
		s.runRoutes(r)
		r.Get("/openapi.json", openAPI)
	})
	r.NotFound(httpx.Wrap(s.logger, func(r *http.Request) (any, error) {
		return nil, httpx.Errorf(http.StatusNotFound, "not_found", "no route for %s %s", r.Method, r.URL.Path)
	}))
	return r
}

// cleanPath refuses a path holding a NUL or invalid UTF-8 with a 400:
// names go to PostgreSQL, whose text refuses both (a 500 otherwise).
func cleanPath(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p := r.URL.Path; strings.IndexByte(p, 0) >= 0 || !utf8.ValidString(p) {
			httpx.WriteError(w, r, nil, httpx.Errorf(http.StatusBadRequest, "bad_path", "the path holds a NUL or is not UTF-8"))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// requireJSON refuses a POST, PUT, PATCH or DELETE whose Content-Type is
// not application/json with a 415: a page on another site can send a
// form or text/plain POST without asking, but not a JSON one, so a
// browser cannot be made to start runs or move aliases (which matters
// most when no token is set).
func requireJSON(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
			mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
			if err != nil || mt != "application/json" {
				httpx.WriteError(w, r, nil, httpx.Errorf(http.StatusUnsupportedMediaType, "unsupported_media_type", "send the request with Content-Type: application/json"))
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

func (s *Server) requireToken(next http.Handler) http.Handler {
	return httpx.RequireBearer(s.opts.Token, s.logger)(next)
}

type healthResponse struct {
	Status string `json:"status"`
}

func (s *Server) health(*http.Request) (any, error) {
	return healthResponse{Status: "ok"}, nil
}

//go:embed openapi.json
var openAPIDoc []byte

// openAPI serves the API's OpenAPI 3 document.
func openAPI(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(openAPIDoc)
}
