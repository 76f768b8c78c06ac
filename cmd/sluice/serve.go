package main

import (
	"context"
	"io"
	"net/http"
	"time"

	"github.com/sluice-ml/sluice/api"
	"github.com/sluice-ml/sluice/internal/httpx"
	"github.com/sluice-ml/sluice/metastore"
	"github.com/sluice-ml/sluice/online"
	"github.com/sluice-ml/sluice/registry"
	"github.com/sluice-ml/sluice/serving"
)

func runServe(ctx context.Context, args []string, _, stderr io.Writer) error {
	cfg := defaultConfig()
	f := newFlagSet("serve", stderr)
	f.stringVar(&cfg.Serving.Addr, "addr", "SLUICE_SERVE_ADDR", cfg.Serving.Addr, "listen address")
	f.stringVar(&cfg.DatabaseURL, "database-url", "SLUICE_DATABASE_URL", "", "PostgreSQL with the online store (online features are off without it)")
	cfg.logFlags(f)
	if err := f.parse(args, false); err != nil {
		return err
	}
	logger, err := cfg.logger()
	if err != nil {
		return err
	}
	srv := serving.New(cfg.Serving, logger)
	if cfg.DatabaseURL != "" {
		pool, err := metastore.Open(ctx, cfg.DatabaseURL, logger)
		if err != nil {
			return err
		}
		defer pool.Close()
		features := online.NewReader(pool, online.CacheOptions{})
		watchCtx, stop := context.WithCancel(ctx)
		defer stop()
		if _, err := features.Watch(watchCtx); err != nil {
			return err
		}
		srv.WithOnline(features)
	}
	ln, err := httpx.Listen(cfg.Serving.Addr, "--addr")
	if err != nil {
		return err
	}
	logger.Info("serving", "addr", ln.Addr().String(), "online_features", cfg.DatabaseURL != "")
	return httpx.Serve(ctx, newHTTPServer(srv.Handler()), ln)
}

func runAPI(ctx context.Context, args []string, _, stderr io.Writer) error {
	cfg := defaultConfig()
	f := newFlagSet("api", stderr)
	f.stringVar(&cfg.API.Addr, "addr", "SLUICE_API_ADDR", cfg.API.Addr, "listen address")
	f.stringVar(&cfg.API.Token, "token", "SLUICE_API_TOKEN", "", "bearer token that /api/v1 requires")
	f.stringVar(&cfg.DatabaseURL, "database-url", "SLUICE_DATABASE_URL", "", "PostgreSQL with the registry (its endpoints answer 501 without it)")
	cfg.logFlags(f)
	if err := f.parse(args, false); err != nil {
		return err
	}
	logger, err := cfg.logger()
	if err != nil {
		return err
	}
	if cfg.API.Token == "" {
		logger.Warn("SLUICE_API_TOKEN is empty: the control API accepts every caller")
	}
	ln, err := httpx.Listen(cfg.API.Addr, "--addr")
	if err != nil {
		return err
	}
	srv := api.New(cfg.API, logger)
	if cfg.DatabaseURL != "" {
		pool, err := metastore.Open(ctx, cfg.DatabaseURL, logger)
		if err != nil {
			return err
		}
		defer pool.Close()
		srv.WithRegistry(&registry.Registry{DB: pool})
	}
	logger.Info("control API", "addr", ln.Addr().String(), "registry", cfg.DatabaseURL != "")
	return httpx.Serve(ctx, newHTTPServer(srv.Handler()), ln)
}

func newHTTPServer(h http.Handler) *http.Server {
	return &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
}
