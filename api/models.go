package api

import (
	"errors"
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/sluice-ml/sluice/internal/httpx"
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
}

func (s *Server) needRegistry() error {
	if s.registry == nil {
		return httpx.Errorf(http.StatusNotImplemented, "no_registry", "this server has no database (start it with --database-url)")
	}
	return nil
}

// notFound turns the registry's not-found into a 404.
func notFound(err error) error {
	if errors.Is(err, registry.ErrNotFound) {
		return httpx.Errorf(http.StatusNotFound, "not_found", "%v", err)
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
	return v, notFound(err)
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

// nonNil keeps an empty list a list in JSON.
func nonNil[T any](xs []T) []T {
	if xs == nil {
		return []T{}
	}
	return xs
}
