package main

import (
	"context"
	"io"
	"net/http"
	"strings"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.temporal.io/sdk/interceptor"

	"github.com/sluice-ml/sluice/internal/httpx"
	"github.com/sluice-ml/sluice/internal/temporalconn"
	"github.com/sluice-ml/sluice/lakehouse"
	"github.com/sluice-ml/sluice/metastore"
	"github.com/sluice-ml/sluice/relocate"
	"github.com/sluice-ml/sluice/workers"
)

// testInterceptors wrap the workers' activities when a test runs this
// binary as a child process (fault injection); nil otherwise.
var testInterceptors []interceptor.WorkerInterceptor

func runWorker(ctx context.Context, args []string, _, stderr io.Writer) error {
	cfg := defaultConfig()
	f := newFlagSet("worker", stderr)
	cfg.temporalFlags(f)
	cfg.storageFlags(f)
	cfg.logFlags(f)
	queues := "control,io,cpu,gpu"
	f.stringVar(&queues, "queues", "SLUICE_WORKER_QUEUES", queues, "comma-separated queues to poll: control, io, cpu, gpu")
	f.intVar(&cfg.Workers.Slots, "slots", "SLUICE_WORKER_SLOTS", 0, "concurrent activities per queue (0: SDK default)")
	f.intVar(&cfg.Workers.GPUs, "gpus", "SLUICE_WORKER_GPUS", 0, "GPUs on this host; the gpu queue runs one activity per GPU")
	f.durationVar(&cfg.Workers.HeartbeatTimeout, "heartbeat-timeout", "SLUICE_HEARTBEAT_TIMEOUT", 0,
		"how long a running activity may go without a heartbeat before it runs again on another worker (0: 30s); the same on every control worker")
	spillMiB := 0
	f.intVar(&spillMiB, "spill-memory", "SLUICE_SPILL_MEMORY", 0,
		"MiB of rows the training sets keep in memory before spilling to files (0: 1024; -1: none)")
	metricsAddr := ""
	f.stringVar(&metricsAddr, "metrics-addr", "SLUICE_WORKER_METRICS_ADDR", metricsAddr, "where /metrics (Prometheus) listens, like 127.0.0.1:9464; empty: nowhere")
	if err := f.parse(args, false); err != nil {
		return err
	}
	cfg.Workers.Queues = workers.ParseQueues(queues)
	cfg.Workers.SpillMemory = int64(spillMiB) << 20
	cfg.Workers.Interceptors = testInterceptors
	if err := cfg.Workers.Validate(); err != nil {
		return err
	}
	if err := cfg.validateStorage(); err != nil {
		return err
	}
	if err := cfg.Temporal.Validate(); err != nil {
		return err
	}
	logger, err := cfg.logger()
	if err != nil {
		return err
	}
	pool, err := metastore.Open(ctx, cfg.DatabaseURL, logger)
	if err != nil {
		return err
	}
	defer pool.Close()
	lake, err := lakehouse.Open(ctx, cfg.Lake)
	if err != nil {
		return err
	}
	cat, err := lakehouse.OpenCatalog(ctx, lakehouse.CatalogOptions{DatabaseURL: cfg.DatabaseURL, Lake: cfg.Lake})
	if err != nil {
		return err
	}
	defer cat.Close()
	if pending, err := (&relocate.Mover{Catalog: cat}).Pending(ctx); err == nil && len(pending) > 0 {
		logger.Error("the lake holds tables from before projects, which this release no longer reads or writes: stop the workers, run sluice migrate --lake URL [--project NAME], start them again",
			"tables", len(pending), "first", pending[0])
	}
	tc, err := temporalconn.Dial(ctx, cfg.Temporal, logger)
	if err != nil {
		return err
	}
	defer tc.Close()
	metrics := workers.NewMetrics()
	if metricsAddr != "" {
		ln, err := httpx.Listen(metricsAddr, "--metrics-addr")
		if err != nil {
			return err
		}
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", promhttp.HandlerFor(metrics.Registry, promhttp.HandlerOpts{}))
		go func() { _ = httpx.Serve(ctx, httpx.NewServer(mux, logger), ln) }()
		logger.Info("worker metrics", "addr", ln.Addr().String())
	}
	set, err := workers.New(tc, workers.Deps{DatabaseURL: cfg.DatabaseURL, DB: pool, Lake: lake, LakeOptions: cfg.Lake, Catalog: cat, Logger: logger,
		CodeVersion: version, Metrics: metrics}, cfg.Workers)
	if err != nil {
		return err
	}
	if err := set.Start(); err != nil {
		return err
	}
	logger.Info("worker polling", "queues", strings.Join(set.Queues(), ","), "temporal", cfg.Temporal.Address)
	<-ctx.Done()
	set.Stop()
	return nil
}
