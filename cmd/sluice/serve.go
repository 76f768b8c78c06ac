package main

import (
	"context"
	"io"
	"net/http"
	"time"

	"github.com/sluice-ml/sluice/api"
	"github.com/sluice-ml/sluice/internal/httpx"
	"github.com/sluice-ml/sluice/serving"
)

func runServe(ctx context.Context, args []string, _, stderr io.Writer) error {
	cfg := defaultConfig()
	f := newFlagSet("serve", stderr)
	f.stringVar(&cfg.Serving.Addr, "addr", "SLUICE_SERVE_ADDR", cfg.Serving.Addr, "listen address")
	cfg.logFlags(f)
	if err := f.parse(args, false); err != nil {
		return err
	}
	logger, err := cfg.logger()
	if err != nil {
		return err
	}
	ln, err := httpx.Listen(cfg.Serving.Addr, "--addr")
	if err != nil {
		return err
	}
	logger.Info("serving", "addr", ln.Addr().String())
	return httpx.Serve(ctx, newHTTPServer(serving.New(cfg.Serving, logger).Handler()), ln)
}

func runAPI(ctx context.Context, args []string, _, stderr io.Writer) error {
	cfg := defaultConfig()
	f := newFlagSet("api", stderr)
	f.stringVar(&cfg.API.Addr, "addr", "SLUICE_API_ADDR", cfg.API.Addr, "listen address")
	f.stringVar(&cfg.API.Token, "token", "SLUICE_API_TOKEN", "", "bearer token that /api/v1 requires")
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
	logger.Info("control API", "addr", ln.Addr().String())
	return httpx.Serve(ctx, newHTTPServer(api.New(cfg.API, logger).Handler()), ln)
}

func newHTTPServer(h http.Handler) *http.Server {
	return &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
}
