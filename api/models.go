package api

import (
	"bytes"
	"errors"
	"net/http"
	"strconv"

	"github.com/go-chi/chi/v5"

	"github.com/sluice-ml/sluice/internal/httpx"
	"github.com/sluice-ml/sluice/monitor"
	"github.com/sluice-ml/sluice/registry"
)

// WithRegistry serves the model registry and the experiments under
// /api/v1/models.
func (s *Server) WithRegistry(r *registry.Registry) *Server {
	s.registry = r
	return s
}

func (s *Server) registryRoutes(r chi.Router) {
	r.Get("/models", httpx.Wrap(s.logger, s.listModels))
	r.Get("/models/{model}", httpx.Wrap(s.logger, s.modelVersions))
	r.Get("/models/{model}/versions/{version}", httpx.Wrap(s.logger, s.modelVersion))
	r.Get("/models/{model}/experiments", httpx.Wrap(s.logger, s.experiments))
	r.Get("/models/{model}/aliases/{alias}/history", httpx.Wrap(s.logger, s.aliasHistory))
	r.Put("/models/{model}/aliases/{alias}", httpx.Wrap(s.logger, s.moveAlias))
	r.Get("/models/{model}/drift", httpx.Wrap(s.logger, s.drift))
	r.Get("/alerts", httpx.Wrap(s.logger, s.alerts))
	r.Get("/models/{model}/performance", httpx.Wrap(s.logger, s.performance))
	r.Get("/models/{model}/report.html", s.reportHTML)
	r.Post("/models/{model}/aliases/{alias}/rollback", httpx.Wrap(s.logger, s.rollbackAlias))
}

// aliasRequest moves an alias: to a version, or back (rollback, where
// Version is not read). By and Reason go into the alias's history.
type aliasRequest struct {
	Version int    `json:"version"`
	By      string `json:"by"`
	Reason  string `json:"reason"`
}

// by names who moved an alias: the body's by, else "api".
func (a aliasRequest) by() string {
	if a.By == "" {
		return "api"
	}
	return a.By
}

// moveAlias answers PUT /api/v1/models/{model}/aliases/{alias} with
// {"version": 3, "reason": "..."}: the alias moves at once, in one
// transaction with its history, and NOTIFY tells the servers.
func (s *Server) moveAlias(r *http.Request) (any, error) {
	if err := s.needRegistry(); err != nil {
		return nil, err
	}
	var req aliasRequest
	if err := httpx.DecodeJSON(r, 64<<10, &req, `{"version": 3, "reason": "...", "by": "..."}`); err != nil {
		return nil, err
	}
	if req.Version < 1 {
		return nil, httpx.Errorf(http.StatusBadRequest, "bad_request", "version must be a version number ≥ 1")
	}
	m, err := s.registry.SetAlias(r.Context(), chi.URLParam(r, "model"), chi.URLParam(r, "alias"), req.Version, req.by(), req.Reason)
	return m, registryError(err)
}

// rollbackAlias answers POST …/aliases/{alias}/rollback: the alias goes
// back to the version it named before its last move.
func (s *Server) rollbackAlias(r *http.Request) (any, error) {
	if err := s.needRegistry(); err != nil {
		return nil, err
	}
	var req aliasRequest
	if r.ContentLength != 0 {
		if err := httpx.DecodeJSON(r, 64<<10, &req, `{"reason": "...", "by": "..."}`); err != nil {
			return nil, err
		}
	}
	m, err := s.registry.Rollback(r.Context(), chi.URLParam(r, "model"), chi.URLParam(r, "alias"), req.by(), req.Reason)
	return m, registryError(err)
}

func (s *Server) needRegistry() error {
	if s.registry == nil {
		return httpx.Errorf(http.StatusNotImplemented, "no_registry", "this server has no database (start it with --database-url)")
	}
	return nil
}

// registryError gives the registry's errors their status: 404 for what
// does not exist, 400 for a bad name, 409 for a rollback with nothing
// before.
func registryError(err error) error {
	switch {
	case errors.Is(err, registry.ErrNotFound):
		return httpx.Errorf(http.StatusNotFound, "not_found", "%v", err)
	case errors.Is(err, registry.ErrInvalidName), errors.Is(err, registry.ErrInvalidText):
		return httpx.Errorf(http.StatusBadRequest, "bad_request", "%v", err)
	case errors.Is(err, registry.ErrNoPrevious):
		return httpx.Errorf(http.StatusConflict, "no_previous", "%v", err)
	}
	return err
}

func (s *Server) listModels(r *http.Request) (any, error) {
	if err := s.needRegistry(); err != nil {
		return nil, err
	}
	models, err := s.registry.Models(r.Context())
	return map[string]any{"models": nonNil(models)}, err
}

func (s *Server) modelVersions(r *http.Request) (any, error) {
	if err := s.needRegistry(); err != nil {
		return nil, err
	}
	model := chi.URLParam(r, "model")
	versions, err := s.registry.Versions(r.Context(), model)
	if err != nil {
		return nil, err
	}
	if len(versions) == 0 {
		return nil, httpx.Errorf(http.StatusNotFound, "not_found", "no model %q", model)
	}
	return map[string]any{"model": model, "versions": versions}, nil
}

func (s *Server) modelVersion(r *http.Request) (any, error) {
	if err := s.needRegistry(); err != nil {
		return nil, err
	}
	n, err := registry.ParseVersion(chi.URLParam(r, "version"))
	if err != nil {
		return nil, httpx.Errorf(http.StatusBadRequest, "bad_request", "%v", err)
	}
	v, err := s.registry.Get(r.Context(), chi.URLParam(r, "model"), n)
	return v, registryError(err)
}

func (s *Server) experiments(r *http.Request) (any, error) {
	if err := s.needRegistry(); err != nil {
		return nil, err
	}
	model := chi.URLParam(r, "model")
	exps, err := s.registry.Experiments(r.Context(), model)
	return map[string]any{"model": model, "experiments": nonNil(exps)}, err
}

func (s *Server) aliasHistory(r *http.Request) (any, error) {
	if err := s.needRegistry(); err != nil {
		return nil, err
	}
	moves, err := s.registry.History(r.Context(), chi.URLParam(r, "model"), chi.URLParam(r, "alias"))
	return map[string]any{"moves": nonNil(moves)}, err
}

// drift answers GET /api/v1/models/{model}/drift: the newest drift
// reports (?limit=, default 10), newest first.
func (s *Server) drift(r *http.Request) (any, error) {
	if err := s.needRegistry(); err != nil {
		return nil, err
	}
	limit, err := limitParam(r, 10)
	if err != nil {
		return nil, err
	}
	model := chi.URLParam(r, "model")
	reports, err := (&monitor.Store{DB: s.registry.DB}).Latest(r.Context(), model, limit)
	return map[string]any{"model": model, "reports": nonNil(reports)}, err
}

// performance answers GET /api/v1/models/{model}/performance: realized
// metrics per version and day, newest first.
func (s *Server) performance(r *http.Request) (any, error) {
	if err := s.needRegistry(); err != nil {
		return nil, err
	}
	model := chi.URLParam(r, "model")
	perf, err := (&monitor.Store{DB: s.registry.DB}).Performance(r.Context(), model, 365)
	return map[string]any{"model": model, "performance": nonNil(perf)}, err
}

// reportHTML answers GET /api/v1/models/{model}/report.html: the
// monitoring report as one self-contained page.
func (s *Server) reportHTML(w http.ResponseWriter, r *http.Request) {
	if err := s.needRegistry(); err != nil {
		httpx.WriteError(w, r, s.logger, err)
		return
	}
	model := chi.URLParam(r, "model")
	store := &monitor.Store{DB: s.registry.DB}
	reports, err := store.Latest(r.Context(), model, 30)
	var perf []monitor.Performance
	if err == nil {
		perf, err = store.Performance(r.Context(), model, 365)
	}
	var buf bytes.Buffer
	if err == nil {
		err = monitor.WriteHTML(&buf, model, reports, perf)
	}
	if err != nil {
		httpx.WriteError(w, r, s.logger, err)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write(buf.Bytes())
}

// alerts answers GET /api/v1/alerts[?model=&limit=]: raised alerts,
// newest first.
func (s *Server) alerts(r *http.Request) (any, error) {
	if err := s.needRegistry(); err != nil {
		return nil, err
	}
	limit, err := limitParam(r, 50)
	if err != nil {
		return nil, err
	}
	list, err := (&monitor.Alerts{DB: s.registry.DB}).List(r.Context(), r.URL.Query().Get("model"), limit)
	return map[string]any{"alerts": nonNil(list)}, err
}

// limitParam reads ?limit= (1 to 1,000), def when absent.
func limitParam(r *http.Request, def int) (int, error) {
	v := r.URL.Query().Get("limit")
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 1000 {
		return 0, httpx.Errorf(http.StatusBadRequest, "bad_request", "limit must be 1 to 1000")
	}
	return n, nil
}

// nonNil keeps an empty list a list in JSON.
func nonNil[T any](xs []T) []T {
	if xs == nil {
		return []T{}
	}
	return xs
}
