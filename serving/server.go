// Package serving is the online prediction server. It serves the models
// the registry names by alias, loaded from the lake and swapped in
// atomically when an alias moves; fills the features an instance lacks
// from the online store; splits traffic between aliases (sticky per
// entity) and scores a shadow alias off the request path; logs every
// prediction asynchronously; and answers the Open Inference Protocol v2.
package serving

import (
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/sluice-ml/sluice/internal/httpx"
)

// Options configures the server.
type Options struct {
	// Addr is the listen address.
	Addr string
	// MaxBodyBytes bounds a request body; 0 means 1 MiB.
	MaxBodyBytes int64
	// MaxInstances bounds the instances of one request; 0 means 1,000.
	MaxInstances int
	// Timeout bounds a request's work; 0 means a second.
	Timeout time.Duration
	// Token, when set, is the bearer token that predict, infer and the
	// features API require.
	Token string
	// MaxInFlight bounds the prediction, inference and feature requests
	// served at once; those above it are answered 503 with Retry-After.
	// 0 means 256.
	MaxInFlight int
	// FeaturesAPI serves POST /v1/features/{view}, which reads the online
	// store's rows by key: off unless asked for.
	FeaturesAPI bool
}

// DefaultOptions listens on :8080 of the loopback interface.
func DefaultOptions() Options { return Options{Addr: "127.0.0.1:8080"} }

func (o Options) withDefaults() Options {
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = 1 << 20
	}
	if o.MaxInstances <= 0 {
		o.MaxInstances = 1000
	}
	if o.Timeout <= 0 {
		o.Timeout = time.Second
	}
	if o.MaxInFlight <= 0 {
		o.MaxInFlight = 256
	}
	return o
}

// Server answers prediction, feature and health requests.
type Server struct {
	opts        Options
	logger      *slog.Logger
	online      FeatureReader
	models      *Models
	predLog     PredictionRecorder
	shadow      chan shadowJob
	shadowOnce  sync.Once
	shadowBytes atomic.Int64
	inFlight    chan struct{}
	metrics     *metrics
}

// New returns a server. A nil logger discards.
func New(o Options, logger *slog.Logger) *Server {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{opts: o.withDefaults(), logger: logger}
	s.inFlight = make(chan struct{}, s.opts.MaxInFlight)
	s.metrics = newMetrics(s)
	return s
}

// WithOnline serves online features through the reader (its cache kept
// fresh by the reader's Watch), and fills predictions' missing features
// from it.
func (s *Server) WithOnline(r FeatureReader) *Server {
	s.online = r
	return s
}

// WithModels serves the models; run them (Models.Run) to load and swap
// versions. The server counts their swaps and failed loads.
func (s *Server) WithModels(m *Models) *Server {
	s.models = m
	m.OnSwap = func(model string) { s.metrics.swaps.WithLabelValues(model).Inc() }
	m.OnLoadFailure = func(model string) { s.metrics.loadFailures.WithLabelValues(model).Inc() }
	return s
}

// WithPredictionLog logs every prediction (run the log: PredictionLog.Run).
func (s *Server) WithPredictionLog(l PredictionRecorder) *Server {
	s.predLog = l
	return s
}

// Handler routes the server's endpoints.
func (s *Server) Handler() http.Handler {
	r := chi.NewRouter()
	r.Get("/healthz", httpx.Wrap(s.logger, s.health))
	r.Get("/readyz", httpx.Wrap(s.logger, s.ready))
	// Open Inference Protocol v2.
	r.Get("/v2/health/live", httpx.Wrap(s.logger, s.health))
	r.Get("/v2/health/ready", httpx.Wrap(s.logger, s.ready))
	r.Get("/v2/models/{model}", httpx.Wrap(s.logger, s.modelMetadata))
	r.Get("/v2/models/{model}/ready", httpx.Wrap(s.logger, s.modelReady))
	r.Group(func(r chi.Router) {
		r.Use(httpx.RequireBearer(s.opts.Token, s.logger), s.limitInFlight)
		r.Post("/v2/models/{model}/infer", s.infer)
		r.Post("/v1/models/{model}:predict", s.predict)
		if s.opts.FeaturesAPI {
			r.Post("/v1/features/{view}", httpx.Wrap(s.logger, s.features))
		}
	})
	if !s.opts.FeaturesAPI {
		r.Post("/v1/features/{view}", httpx.Wrap(s.logger, func(*http.Request) (any, error) {
			return nil, httpx.Errorf(http.StatusNotFound, "features_api_off", "the features API is off: start the server with --features-api")
		}))
	}
	r.Method(http.MethodGet, "/metrics", promhttp.HandlerFor(s.metrics.registry, promhttp.HandlerOpts{}))
	r.NotFound(httpx.Wrap(s.logger, func(r *http.Request) (any, error) {
		return nil, httpx.Errorf(http.StatusNotFound, "not_found", "no route for %s %s", r.Method, r.URL.Path)
	}))
	r.MethodNotAllowed(httpx.Wrap(s.logger, func(r *http.Request) (any, error) {
		return nil, httpx.Errorf(http.StatusMethodNotAllowed, "method_not_allowed", "%s is not allowed on %s", r.Method, r.URL.Path)
	}))
	return r
}

// limitInFlight answers 503 with Retry-After when MaxInFlight requests
// are already being served, so a flood queues in clients, not in memory.
func (s *Server) limitInFlight(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case s.inFlight <- struct{}{}:
		default:
			s.metrics.overloaded.Inc()
			w.Header().Set("Retry-After", "1")
			httpx.WriteError(w, r, s.logger, httpx.Errorf(http.StatusServiceUnavailable, "overloaded", "%d requests are being served; retry in a second", s.opts.MaxInFlight))
			return
		}
		defer func() { <-s.inFlight }()
		next.ServeHTTP(w, r)
	})
}

type healthResponse struct {
	Status string `json:"status"`
}

func (s *Server) health(*http.Request) (any, error) {
	return healthResponse{Status: "ok"}, nil
}

// ready answers once the served models were first loaded.
func (s *Server) ready(*http.Request) (any, error) {
	if s.models != nil && !s.models.Ready() {
		return nil, httpx.Errorf(http.StatusServiceUnavailable, "not_ready", "loading the models")
	}
	return healthResponse{Status: "ready"}, nil
}

// metrics are the server's Prometheus metrics.
type metrics struct {
	registry            *prometheus.Registry
	requests            *prometheus.CounterVec
	latency             *prometheus.HistogramVec
	swaps, loadFailures *prometheus.CounterVec
	shadowDropped       prometheus.Counter
	overloaded          prometheus.Counter
}

func newMetrics(s *Server) *metrics {
	m := &metrics{registry: prometheus.NewRegistry()}
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sluice_serving_requests_total",
		Help: "Prediction requests by model, version, variant and HTTP status."}, []string{"model", "version", "variant", "status"})
	m.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "sluice_serving_request_seconds",
		Help:    "Prediction request latency by model, version and variant.",
		Buckets: []float64{50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 2.5e-3, 5e-3, 10e-3, 25e-3, 100e-3, 1}}, []string{"model", "version", "variant"})
	m.swaps = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sluice_serving_model_swaps_total",
		Help: "Model versions swapped in."}, []string{"model"})
	m.loadFailures = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sluice_serving_model_load_failures_total",
		Help: "Model versions that failed to load (the old version stays)."}, []string{"model"})
	m.shadowDropped = prometheus.NewCounter(prometheus.CounterOpts{Name: "sluice_serving_shadow_dropped_total",
		Help: "Shadow scorings dropped because their queue was full."})
	m.overloaded = prometheus.NewCounter(prometheus.CounterOpts{Name: "sluice_serving_overloaded_total",
		Help: "Requests answered 503 because MaxInFlight requests were being served."})
	cache := func(name, help string, hits bool) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, func() float64 {
			if s.online == nil {
				return 0
			}
			h, miss := s.online.CacheStats()
			if hits {
				return float64(h)
			}
			return float64(miss)
		})
	}
	logged := func(name, help string, dropped bool) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, func() float64 {
			if s.predLog == nil {
				return 0
			}
			if dropped {
				return float64(s.predLog.Dropped())
			}
			return float64(s.predLog.Written())
		})
	}
	m.registry.MustRegister(m.requests, m.latency, m.swaps, m.loadFailures, m.shadowDropped, m.overloaded,
		cache("sluice_online_cache_hits_total", "Online feature lookups answered from the cache.", true),
		cache("sluice_online_cache_misses_total", "Online feature lookups read from PostgreSQL.", false),
		logged("sluice_serving_prediction_log_dropped_total", "Prediction log entries dropped (full queue or failed write).", true),
		logged("sluice_serving_prediction_log_written_total", "Prediction log entries written.", false),
		collectors.NewGoCollector())
	return m
}
