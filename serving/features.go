package serving

import (
	"errors"
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/sluice-ml/sluice/internal/httpx"
	"github.com/sluice-ml/sluice/online"
)

// maxFeatureKeys caps the keys of one feature request.
const maxFeatureKeys = 1000

type featuresRequest struct {
	Keys []string `json:"keys"`
}

type featuresResponse struct {
	View string `json:"view"`
	// Rows holds each key's features in request order; null for a key
	// the view has no row for.
	Rows []online.Row `json:"rows"`
}

// features answers POST /v1/features/{view} with the online features of
// the keys in {"keys": [...]}, read through the cache.
func (s *Server) features(r *http.Request) (any, error) {
	if s.online == nil {
		return nil, httpx.Errorf(http.StatusNotImplemented, "no_online_store", "this server has no online store (start it with a database)")
	}
	view := chi.URLParam(r, "view")
	var req featuresRequest
	if err := httpx.DecodeJSON(r, 1<<20, &req, `{"keys": ["..."]}`); err != nil {
		return nil, err
	}
	if len(req.Keys) == 0 || len(req.Keys) > maxFeatureKeys {
		return nil, httpx.Errorf(http.StatusBadRequest, "bad_request", "give between 1 and %d keys, not %d", maxFeatureKeys, len(req.Keys))
	}
	rows, err := s.online.Get(r.Context(), view, req.Keys)
	if errors.Is(err, online.ErrNoView) {
		return nil, httpx.Errorf(http.StatusNotFound, "unknown_view", "%v", err)
	}
	if err != nil {
		return nil, err
	}
	return featuresResponse{View: view, Rows: rows}, nil
}
