package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime/debug"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sluice-ml/sluice/api"
	"github.com/sluice-ml/sluice/internal/httpx"
	"github.com/sluice-ml/sluice/lakehouse"
	"github.com/sluice-ml/sluice/metastore"
	"github.com/sluice-ml/sluice/naming"
	"github.com/sluice-ml/sluice/online"
	"github.com/sluice-ml/sluice/registry"
	"github.com/sluice-ml/sluice/serving"
	"github.com/sluice-ml/sluice/spec"
	"github.com/sluice-ml/sluice/specstore"
)

func runServe(ctx context.Context, args []string, _, stderr io.Writer) error {
	cfg := defaultConfig()
	f := newFlagSet("serve", stderr)
	f.stringVar(&cfg.Serving.Addr, "addr", "SLUICE_SERVE_ADDR", cfg.Serving.Addr, "listen address")
	f.stringVar(&cfg.Serving.Token, "token", "SLUICE_SERVE_TOKEN", "", "bearer token that predict, infer and the features API require (empty: none)")
	cfg.storageFlags(f)
	cfg.servingFlags(f)
	cfg.logFlags(f)
	if err := f.parse(args, false); err != nil {
		return err
	}
	logger, err := cfg.logger()
	if err != nil {
		return err
	}
	// Requests allocate little that lives; collecting less often halves
	// the p99 at 5,000 req/s (BENCHMARKS.md) for a heap of tens of MiB.
	// GOGC, when set, decides.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
	srv := serving.New(cfg.Serving, logger)
	if cfg.DatabaseURL != "" {
		pool, err := metastore.Open(ctx, cfg.DatabaseURL, logger)
		if err != nil {
			return err
		}
		defer pool.Close()
		var lake lakehouse.ObjectStore
		if cfg.Lake.URL != "" {
			if lake, err = lakehouse.Open(ctx, cfg.Lake); err != nil {
				return err
			}
		}
		if err := cfg.serveFrom(ctx, srv, pool, lake, logger); err != nil {
			return err
		}
	}
	ln, err := httpx.Listen(cfg.Serving.Addr, "--addr")
	if err != nil {
		return err
	}
	logger.Info("serving", "addr", ln.Addr().String(), "online_features", cfg.DatabaseURL != "", "models", cfg.Lake.URL != "")
	return httpx.Serve(ctx, httpx.NewServer(srv.Handler(), logger), ln)
}

// servingFlags are the online server's routing and limits.
func (c *config) servingFlags(f *flagSet) {
	f.stringVar(&c.ServeRoutes, "routes", "SLUICE_SERVE_ROUTES", "", "traffic split per model: churn:champion=90,challenger=10;fraud:champion=100 (default: all to champion)")
	f.stringVar(&c.ServeShadow, "shadow", "SLUICE_SERVE_SHADOW", "", "aliases scored off the request path and logged: churn:challenger")
	f.durationVar(&c.Serving.Timeout, "request-timeout", "SLUICE_SERVE_TIMEOUT", time.Second, "the most a prediction request may take")
	f.intVar(&c.Serving.MaxInstances, "max-instances", "SLUICE_SERVE_MAX_INSTANCES", 1000, "the most instances in one request")
	f.intVar(&c.Serving.MaxInFlight, "max-in-flight", "SLUICE_SERVE_MAX_IN_FLIGHT", 256, "the most prediction requests served at once; more are answered 503 with Retry-After")
	f.boolVar(&c.Serving.FeaturesAPI, "features-api", "SLUICE_SERVE_FEATURES_API", false, "serve POST /v1/features/{view}, which reads online rows by key (behind the token when one is set)")
}

// serveFrom gives the server what a database (and a lake) bring: online
// features kept fresh by NOTIFY, the registry's models swapped in as
// aliases move, and the prediction log. Everything runs until ctx ends.
func (c *config) serveFrom(ctx context.Context, srv *serving.Server, pool *pgxpool.Pool, lake lakehouse.ObjectStore, logger *slog.Logger) error {
	features := online.NewReader(pool, online.CacheOptions{})
	if err := features.KeepFresh(ctx, logger); err != nil {
		return err
	}
	srv.WithOnline(features)
	if lake == nil {
		return nil
	}
	routes, err := serving.ParseRoutes(c.ServeRoutes, c.ServeShadow)
	if err != nil {
		return fmt.Errorf("--routes/--shadow: %w", err)
	}
	models := &serving.Models{Registry: &registry.Registry{DB: pool}, Lake: lake, Features: features, Routing: routes, Logger: logger,
		AllowMissing: specAllowsMissing(&specstore.Store{DB: pool})}
	predLog := serving.NewPredictionLog(pool, 100_000, logger)
	srv.WithModels(models).WithPredictionLog(predLog)
	go models.Run(ctx)
	go predLog.Run(ctx)
	return nil
}

func runAPI(ctx context.Context, args []string, _, stderr io.Writer) error {
	cfg := defaultConfig()
	f := newFlagSet("api", stderr)
	f.stringVar(&cfg.API.Addr, "addr", "SLUICE_API_ADDR", cfg.API.Addr, "listen address")
	f.stringVar(&cfg.API.Token, "token", "SLUICE_API_TOKEN", "", "bearer token that /api/v1 and /metrics require (required off loopback)")
	var tlsCert, tlsKey string
	f.stringVar(&tlsCert, "tls-cert", "SLUICE_API_TLS_CERT", "", "serve TLS with this PEM certificate (with --tls-key)")
	f.stringVar(&tlsKey, "tls-key", "SLUICE_API_TLS_KEY", "", "the PEM key of --tls-cert")
	f.stringVar(&cfg.DatabaseURL, "database-url", "SLUICE_DATABASE_URL", "", "PostgreSQL with the registry (its endpoints answer 501 without it)")
	cfg.temporalFlags(f)
	cfg.logFlags(f)
	if err := f.parse(args, false); err != nil {
		return err
	}
	logger, err := cfg.logger()
	if err != nil {
		return err
	}
	ln, err := apiListener(cfg.API.Addr, cfg.API.Token, tlsCert, tlsKey)
	if err != nil {
		return err
	}
	if cfg.API.Token == "" {
		logger.Warn("SLUICE_API_TOKEN is empty: the control API accepts every caller on this host")
	}
	srv := api.New(cfg.API, logger)
	if cfg.DatabaseURL != "" {
		pool, err := metastore.Open(ctx, cfg.DatabaseURL, logger)
		if err != nil {
			return err
		}
		defer pool.Close()
		srv.WithRegistry(&registry.Registry{DB: pool})
		tc, err := cfg.dialTemporal(ctx)
		if err != nil {
			logger.Warn("no Temporal: the run and schedule endpoints answer 501", "error", err)
		} else {
			defer tc.Close()
			srv.WithTemporal(api.Temporal{Client: tc, Namespace: cfg.Temporal.Namespace, UIURL: cfg.UIURL, Project: api.SpecProjects(&specstore.Store{DB: pool})})
		}
	}
	logger.Info("control API", "addr", ln.Addr().String(), "registry", cfg.DatabaseURL != "")
	return httpx.Serve(ctx, httpx.NewServer(srv.Handler(), logger), ln)
}

// specAllowsMissing reads models.<m>.serving.allow_missing from the newest
// spec of the model's project; a model no applied spec describes does not
// allow missing features.
func specAllowsMissing(store *specstore.Store) func(ctx context.Context, model string) bool {
	return func(ctx context.Context, model string) bool {
		project, name := naming.Split(model)
		if project == "" {
			return false
		}
		v, err := store.Get(ctx, project, 0)
		if err != nil {
			return false
		}
		s, err := spec.Parse(fmt.Sprintf("%s spec v%d", v.Project, v.Version), []byte(v.Content))
		if err != nil {
			return false
		}
		return s.Models[name].Serving.AllowMissing
	}
}

// apiListener listens for the control API, with TLS when given a
// certificate. Without a token it listens on loopback only: whoever
// reaches an API with no token can move aliases and start runs.
func apiListener(addr, token, certFile, keyFile string) (net.Listener, error) {
	ln, err := httpx.ListenTLS(addr, "--addr", certFile, keyFile)
	if err != nil {
		return nil, err
	}
	if token == "" && !httpx.IsLoopback(ln.Addr()) {
		ln.Close()
		return nil, fmt.Errorf("--addr %s is reachable from other hosts and no --token (SLUICE_API_TOKEN) is set: set one, or listen on 127.0.0.1", addr)
	}
	return ln, nil
}
