package workers

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/workflow"
)

// RowCounter is a result that says how many rows its activity processed.
type RowCounter interface{ RowsProcessed() int64 }

// Metrics are the workers' Prometheus metrics: each activity's duration
// and outcome, how long its task waited on its queue (the queue's lag),
// and the rows it processed.
type Metrics struct {
	Registry  *prometheus.Registry
	duration  *prometheus.HistogramVec
	lag       *prometheus.HistogramVec
	rows      *prometheus.CounterVec
	completed *prometheus.CounterVec
	workflows *prometheus.HistogramVec
}

// NewMetrics registers the workers' metrics in a new registry.
func NewMetrics() *Metrics {
	m := &Metrics{Registry: prometheus.NewRegistry()}
	buckets := prometheus.ExponentialBuckets(0.005, 4, 10) // 5 ms to ~22 min
	m.duration = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "sluice_activity_seconds",
		Help: "Activity attempts' duration, by activity, task queue and outcome.", Buckets: buckets}, []string{"activity", "queue", "outcome"})
	m.lag = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "sluice_task_queue_lag_seconds",
		Help: "How long an activity task waited on its queue before a worker started it.", Buckets: buckets}, []string{"activity", "queue"})
	m.rows = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sluice_rows_processed_total",
		Help: "Rows the activities processed (ingested, joined, materialized, scored)."}, []string{"activity", "queue"})
	m.completed = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sluice_activities_total",
		Help: "Activity attempts by activity, task queue and outcome."}, []string{"activity", "queue", "outcome"})
	m.workflows = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "sluice_workflow_seconds",
		Help:    "Workflow runs (pipelines and their steps) from start to close, by workflow type and outcome; counted where they close.",
		Buckets: buckets}, []string{"workflow", "outcome"})
	m.Registry.MustRegister(m.duration, m.lag, m.rows, m.completed, m.workflows)
	return m
}

// Interceptor records the metrics of every activity a worker runs.
func (m *Metrics) Interceptor() interceptor.WorkerInterceptor { return &metricsInterceptor{m: m} }

type metricsInterceptor struct {
	interceptor.WorkerInterceptorBase
	m *Metrics
}

func (i *metricsInterceptor) InterceptActivity(ctx context.Context, next interceptor.ActivityInboundInterceptor) interceptor.ActivityInboundInterceptor {
	return &activityMetrics{ActivityInboundInterceptorBase: interceptor.ActivityInboundInterceptorBase{Next: next}, m: i.m}
}

func (i *metricsInterceptor) InterceptWorkflow(ctx workflow.Context, next interceptor.WorkflowInboundInterceptor) interceptor.WorkflowInboundInterceptor {
	return &workflowMetrics{WorkflowInboundInterceptorBase: interceptor.WorkflowInboundInterceptorBase{Next: next}, m: i.m}
}

type workflowMetrics struct {
	interceptor.WorkflowInboundInterceptorBase
	m *Metrics
}

// ExecuteWorkflow observes a run when it closes on this worker, not when
// a worker replays it.
func (w *workflowMetrics) ExecuteWorkflow(ctx workflow.Context, in *interceptor.ExecuteWorkflowInput) (any, error) {
	res, err := w.Next.ExecuteWorkflow(ctx, in)
	if !workflow.IsReplaying(ctx) {
		info := workflow.GetInfo(ctx)
		outcome := "ok"
		if err != nil {
			outcome = "error"
		}
		w.m.workflows.WithLabelValues(info.WorkflowType.Name, outcome).Observe(workflow.Now(ctx).Sub(info.WorkflowStartTime).Seconds())
	}
	return res, err
}

type activityMetrics struct {
	interceptor.ActivityInboundInterceptorBase
	m *Metrics
}

func (a *activityMetrics) ExecuteActivity(ctx context.Context, in *interceptor.ExecuteActivityInput) (any, error) {
	info := activity.GetInfo(ctx)
	name, queue := info.ActivityType.Name, info.TaskQueue
	if !info.ScheduledTime.IsZero() && !info.StartedTime.IsZero() {
		a.m.lag.WithLabelValues(name, queue).Observe(max(0, info.StartedTime.Sub(info.ScheduledTime).Seconds()))
	}
	begin := time.Now()
	res, err := a.Next.ExecuteActivity(ctx, in)
	outcome := "ok"
	if err != nil {
		outcome = "error"
	}
	a.m.duration.WithLabelValues(name, queue, outcome).Observe(time.Since(begin).Seconds())
	a.m.completed.WithLabelValues(name, queue, outcome).Inc()
	if rc, ok := res.(RowCounter); ok && err == nil {
		a.m.rows.WithLabelValues(name, queue).Add(float64(rc.RowsProcessed()))
	}
	return res, err
}
