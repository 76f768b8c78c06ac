// Package workers builds Temporal workers: it creates the activity structs
// with their clients once, and registers them and the workflows on the task
// queues a process serves.
package workers

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/worker"

	"github.com/sluice-ml/sluice/activities"
	"github.com/sluice-ml/sluice/features"
	"github.com/sluice-ml/sluice/gpu"
	"github.com/sluice-ml/sluice/ingest"
	"github.com/sluice-ml/sluice/lakehouse"
	"github.com/sluice-ml/sluice/monitor"
	"github.com/sluice-ml/sluice/online"
	"github.com/sluice-ml/sluice/pipelines"
	"github.com/sluice-ml/sluice/quality"
	"github.com/sluice-ml/sluice/registry"
	"github.com/sluice-ml/sluice/scoring"
	"github.com/sluice-ml/sluice/selfcheck"
	"github.com/sluice-ml/sluice/specstore"
	"github.com/sluice-ml/sluice/training"
	"github.com/sluice-ml/sluice/workflows"
)

// Options says which queues a process serves and how much it runs at once.
type Options struct {
	// Queues are resource classes: control, io, cpu, gpu.
	Queues []string
	// Slots caps concurrent activities per queue; zero means the SDK default.
	Slots int
	// GPUs is the number of GPUs on this host; the gpu queue runs one
	// training activity per GPU.
	GPUs int
	// HeartbeatTimeout is how long the activities this process's
	// workflows schedule may go silent before Temporal counts their worker
	// as dead; zero means workflows.DefaultHeartbeatTimeout. Every
	// control-queue process should agree on it.
	HeartbeatTimeout time.Duration
	// SpillMemory bounds the bytes of rows a training set keeps in
	// memory before it spills to files
	// (features.Store.SpillMemory): 0 means its default, negative none.
	SpillMemory int64
	// Interceptors wrap every worker's activities and workflows, after
	// the metrics and the keep-alive.
	Interceptors []interceptor.WorkerInterceptor
}

// DefaultOptions serves every queue.
func DefaultOptions() Options {
	return Options{Queues: []string{"control", "io", "cpu", "gpu"}, Slots: 0, GPUs: 0}
}

// Validate reports unknown queues and negative limits.
func (o Options) Validate() error {
	if len(o.Queues) == 0 {
		return errors.New("--queues: name at least one of control, io, cpu, gpu")
	}
	for _, q := range o.Queues {
		if _, ok := workflows.QueueFor(q); !ok {
			return fmt.Errorf("--queues: unknown queue %q (want control, io, cpu or gpu)", q)
		}
	}
	if o.Slots < 0 {
		return fmt.Errorf("--slots: must be zero or more, got %d", o.Slots)
	}
	if o.GPUs < 0 {
		return fmt.Errorf("--gpus: must be zero or more, got %d", o.GPUs)
	}
	if o.HeartbeatTimeout != 0 && o.HeartbeatTimeout < 4*time.Second {
		return fmt.Errorf("--heartbeat-timeout: must be at least 4s (the workers heartbeat four times per timeout), got %s", o.HeartbeatTimeout)
	}
	return nil
}

// ParseQueues splits a comma-separated queue list.
func ParseQueues(s string) []string {
	var qs []string
	for _, q := range strings.Split(s, ",") {
		if q = strings.TrimSpace(q); q != "" {
			qs = append(qs, q)
		}
	}
	return qs
}

// Deps are the clients the activities use.
type Deps struct {
	// DatabaseURL is the platform's database, where postgres sources'
	// queries run unless they name another.
	DatabaseURL string
	DB          *pgxpool.Pool
	Lake        lakehouse.ObjectStore
	// LakeOptions configure S3 access (endpoint, addressing, region),
	// used for s3:// source paths too.
	LakeOptions lakehouse.Options
	Catalog     *lakehouse.Catalog
	Logger      *slog.Logger
	// CodeVersion is the binary's version, recorded with trained models.
	CodeVersion string
	// Metrics, when set, records every activity's metrics.
	Metrics *Metrics
}

// Set is the workers of one process.
type Set struct {
	workers []worker.Worker
	queues  []string
	gpus    *gpu.Pool
}

// New builds one worker per queue in o. The control queue always carries the
// workflows, so a process that serves it can run them. It sets the
// process's activity heartbeat timeout (workflows.SetHeartbeatTimeout).
func New(c client.Client, deps Deps, o Options) (*Set, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	workflows.SetHeartbeatTimeout(o.HeartbeatTimeout)
	logger := deps.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	selfCheck := &activities.SelfCheck{Prober: &selfcheck.Prober{DB: deps.DB, Lake: deps.Lake}}
	featureStore := &features.Store{Catalog: deps.Catalog, Online: &online.Store{DB: deps.DB}, Lake: deps.Lake, SpillMemory: o.SpillMemory}
	ingester := &activities.Ingest{Loader: &ingest.Loader{Catalog: deps.Catalog, Quality: &quality.Store{DB: deps.DB},
		DatabaseURL: deps.DatabaseURL, S3: deps.LakeOptions}}
	lake := &activities.Lake{Catalog: deps.Catalog}
	feats := &activities.Features{Store: featureStore}
	models := &activities.Models{Registry: &registry.Registry{DB: deps.DB}, Experiments: &training.Experiments{DB: deps.DB}, Lake: deps.Lake, Catalog: deps.Catalog}
	score := &activities.Scoring{Scorer: &scoring.Scorer{Catalog: deps.Catalog, DB: deps.DB, Lake: deps.Lake, FeatureStore: featureStore}}
	monitoring := &activities.Monitoring{Meter: &monitor.Meter{Catalog: deps.Catalog, DB: deps.DB, Lake: deps.Lake}}
	planner := &pipelines.Planner{Specs: &specstore.Store{DB: deps.DB}, CodeVersion: deps.CodeVersion}
	s := &Set{}
	seen := map[string]bool{}
	for _, class := range o.Queues {
		queue, _ := workflows.QueueFor(class)
		if seen[queue] {
			continue
		}
		seen[queue] = true
		wo := worker.Options{MaxConcurrentActivityExecutionSize: o.Slots}
		if deps.Metrics != nil {
			wo.Interceptors = append(wo.Interceptors, deps.Metrics.Interceptor())
		}
		wo.Interceptors = append(wo.Interceptors, KeepAlive())
		wo.Interceptors = append(wo.Interceptors, o.Interceptors...)
		if class == "gpu" && o.GPUs > 0 {
			wo.MaxConcurrentActivityExecutionSize = o.GPUs
		}
		// Only the control queue runs workflows; the others poll activities.
		wo.DisableWorkflowWorker = class != "control"
		w := worker.New(c, queue, wo)
		switch class {
		case "control":
			w.RegisterWorkflow(workflows.SelfCheck)
			w.RegisterWorkflow(workflows.Ingest)
			w.RegisterWorkflow(workflows.Maintain)
			w.RegisterWorkflow(workflows.TrainingSet)
			w.RegisterWorkflow(workflows.Materialize)
			w.RegisterWorkflow(workflows.Train)
			w.RegisterWorkflow(workflows.TrainTrials)
			w.RegisterWorkflow(workflows.Promote)
			w.RegisterWorkflow(workflows.BatchScore)
			w.RegisterWorkflow(pipelines.Pipeline)
			w.RegisterWorkflow(pipelines.Monitor)
		case "io":
			w.RegisterActivity(selfCheck)
			w.RegisterActivity(ingester)
			w.RegisterActivity(lake)
			w.RegisterActivity(feats)
			w.RegisterActivity(models)
			w.RegisterActivity(score)
			w.RegisterActivity(planner)
			w.RegisterActivity(&activities.Alerting{Alerts: &monitor.Alerts{DB: deps.DB}})
			w.RegisterActivity(monitoring)
		default:
			// Every activity queue answers the self-check, so a probe can
			// prove that a queue's workers reach storage.
			w.RegisterActivity(selfCheck)
			// Training runs on the cpu and gpu queues. A gpu worker with
			// --gpus N opens and self-tests its GPUs and runs one trial on
			// each; a GPU that fails trains its trials on the CPU, and
			// each trial records what ran.
			trainer := &training.Trainer{Features: featureStore, Lake: deps.Lake, Worker: identity(), Device: "cpu"}
			if class == "gpu" {
				trainer.Device = "cpu (gpu queue; no GPUs given: --gpus)"
				if o.GPUs > 0 {
					trainer.GPUs = training.NewDevices(o.GPUs)
					s.gpus = gpu.OpenPool(o.GPUs, logger)
					trainer.GPU = s.gpus
				}
			}
			w.RegisterActivity(&activities.Training{Trainer: trainer})
		}
		s.workers = append(s.workers, w)
		s.queues = append(s.queues, queue)
	}
	return s, nil
}

// Queues lists the task queues the set polls.
func (s *Set) Queues() []string { return s.queues }

// Start starts every worker; on error it stops those already started.
func (s *Set) Start() error {
	for i, w := range s.workers {
		if err := w.Start(); err != nil {
			for _, started := range s.workers[:i] {
				started.Stop()
			}
			return fmt.Errorf("starting worker on %s: %w", s.queues[i], err)
		}
	}
	return nil
}

// Stop stops every worker, waiting for running activities to return.
func (s *Set) Stop() {
	for _, w := range s.workers {
		w.Stop()
	}
	if s.gpus != nil {
		s.gpus.Close()
	}
}

// identity names this worker process in trial records.
func identity() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("%s/%d", host, os.Getpid())
}
