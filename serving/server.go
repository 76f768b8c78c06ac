// Package serving is the online prediction server: it loads promoted models
// and answers real-time requests. This first cut answers health checks.
package serving

import (
	"log/slog"
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/sluice-ml/sluice/internal/httpx"
	"github.com/sluice-ml/sluice/online"
)

// Options configures the server.
type Options struct {
	// Addr is the listen address.
	Addr string
}

// DefaultOptions listens on :8080 of the loopback interface.
func DefaultOptions() Options { return Options{Addr: "127.0.0.1:8080"} }

// Server answers prediction and health requests.
type Server struct {
	opts   Options
	logger *slog.Logger
	online *online.Reader
}

// New returns a server. A nil logger discards.
func New(o Options, logger *slog.Logger) *Server {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Server{opts: o, logger: logger}
}

// Handler routes the server's endpoints.
// WithOnline serves online features through the reader (its cache kept
// fresh by the reader's Watch).
func (s *Server) WithOnline(r *online.Reader) *Server {
	s.online = r
	return s
}

func (s *Server) Handler() http.Handler {
	r := chi.NewRouter()
	r.Get("/healthz", httpx.Wrap(s.logger, s.health))
	// Open Inference Protocol v2 health endpoints.
	r.Get("/v2/health/live", httpx.Wrap(s.logger, s.health))
	r.Get("/v2/health/ready", httpx.Wrap(s.logger, s.health))
	r.Post("/v1/features/{view}", httpx.Wrap(s.logger, s.features))
	return r
}

type healthResponse struct {
	Status string `json:"status"`
}

func (s *Server) health(*http.Request) (any, error) {
	return healthResponse{Status: "ok"}, nil
}
