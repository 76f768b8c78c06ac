package workflows

import (
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/sluice-ml/sluice/internal/permanent"
)

// Activity options, one set per class of activity: how long it may run,
// how long it may stay silent (the workers keep running activities
// alive, see HeartbeatTimeout) and how it is retried. Every class gives
// up at once on the permanent failures its activities report (bad
// input; for ingest also schema drift, the reject ratio and failed
// quality checks). Workflows and pipelines take their options from here
// and set no retry policy of their own. Options are not part of a
// workflow's history: changing them changes no replay.

// IOOptions are the io queue's: the feature store, the registry and
// other bookkeeping; hours to run, retries with backoff.
func IOOptions() workflow.ActivityOptions {
	return workflow.ActivityOptions{TaskQueue: QueueIO, StartToCloseTimeout: 6 * time.Hour, HeartbeatTimeout: HeartbeatTimeout(),
		RetryPolicy: backoff(2*time.Second, time.Minute, 10, permanent.BadInput)}
}

// IngestOptions are ingest's: like IOOptions, with more attempts (a
// retry resumes where the last attempt stopped) and none for a source
// whose rows the run refuses.
func IngestOptions() workflow.ActivityOptions {
	o := IOOptions()
	o.RetryPolicy = backoff(2*time.Second, time.Minute, 20,
		permanent.BadInput, permanent.RejectRatio, permanent.SchemaMismatch, permanent.Quality)
	return o
}

// ScoreOptions are batch scoring's parts on the io queue; heartbeat is
// the request's (0: the process's).
func ScoreOptions(heartbeat time.Duration) workflow.ActivityOptions {
	return workflow.ActivityOptions{TaskQueue: QueueIO, StartToCloseTimeout: 6 * time.Hour, HeartbeatTimeout: heartbeatOr(heartbeat),
		RetryPolicy: backoff(time.Second, time.Minute, 10, permanent.BadInput)}
}

// TrialOptions are a training trial's on queue (cpu or gpu); heartbeat is
// the request's (0: the process's).
func TrialOptions(queue string, heartbeat time.Duration) workflow.ActivityOptions {
	return workflow.ActivityOptions{TaskQueue: queue, StartToCloseTimeout: 12 * time.Hour, HeartbeatTimeout: heartbeatOr(heartbeat),
		RetryPolicy: backoff(time.Second, time.Minute, 10, permanent.BadInput)}
}

// MaintenanceOptions are lake maintenance's: one table at a time, a few
// patient retries.
func MaintenanceOptions() workflow.ActivityOptions {
	return workflow.ActivityOptions{TaskQueue: QueueIO, StartToCloseTimeout: 2 * time.Hour, HeartbeatTimeout: HeartbeatTimeout(),
		RetryPolicy: backoff(5*time.Second, 5*time.Minute, 5)}
}

// ProbeOptions are the self-check probe's on queue: a short heartbeat, so
// a killed worker's probe moves at once.
func ProbeOptions(queue string) workflow.ActivityOptions {
	return workflow.ActivityOptions{TaskQueue: queue, StartToCloseTimeout: 10 * time.Minute, HeartbeatTimeout: 5 * time.Second,
		RetryPolicy: backoff(time.Second, 30*time.Second, 10)}
}

// BriefOptions are short bookkeeping steps: planning a pipeline, raising
// an alert; a minute each, five attempts.
func BriefOptions() workflow.ActivityOptions {
	return workflow.ActivityOptions{TaskQueue: QueueIO, StartToCloseTimeout: time.Minute, HeartbeatTimeout: HeartbeatTimeout(),
		RetryPolicy: &temporal.RetryPolicy{MaximumAttempts: 5, NonRetryableErrorTypes: []string{permanent.BadInput}}}
}

// MeasureOptions are monitoring's measurements (realized performance,
// online drift): up to an hour, five attempts.
func MeasureOptions() workflow.ActivityOptions {
	o := BriefOptions()
	o.StartToCloseTimeout = time.Hour
	return o
}

// DeliveryOptions are an alert's delivery to a webhook: 30 s a try, with
// backoff, eight tries.
func DeliveryOptions() workflow.ActivityOptions {
	return workflow.ActivityOptions{TaskQueue: QueueIO, StartToCloseTimeout: 30 * time.Second, HeartbeatTimeout: HeartbeatTimeout(),
		RetryPolicy: backoff(time.Second, time.Minute, 8)}
}

// backoff retries from initial, doubling up to most, at most attempts
// times, and not at all for the permanent failure kinds given.
func backoff(initial, most time.Duration, attempts int32, permanentKinds ...string) *temporal.RetryPolicy {
	return &temporal.RetryPolicy{InitialInterval: initial, BackoffCoefficient: 2, MaximumInterval: most,
		MaximumAttempts: attempts, NonRetryableErrorTypes: permanentKinds}
}

// withIOActivity sets IOOptions.
func withIOActivity(ctx workflow.Context) workflow.Context {
	return workflow.WithActivityOptions(ctx, IOOptions())
}
