package workers

import (
	"context"
	"encoding/json"
	"sync"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/interceptor"
)

// KeepAlive heartbeats every running activity that has a heartbeat timeout
// four times per timeout, repeating the activity's last heartbeat details
// (the SDK sends at most one heartbeat per 80% of the timeout). Activities
// heartbeat their progress where they make some, but a long commit or bulk
// load can go minutes without one; with KeepAlive a live worker's activity
// does not time out while Temporal answers, so the heartbeat timeout can
// be short and a dead worker's activity runs again elsewhere within it.
//
// A resumed attempt keeps its predecessor's details until it records its
// own, so a keep-alive never erases the progress a retry resumes from.
//
// Two consequences, both by design: an activity that hangs on a live worker
// is kept alive until its start-to-close timeout; and when Temporal cannot
// be reached for most of a heartbeat timeout, the SDK cancels the running
// activities (the server would time them out anyway), which run again once
// it is back.
func KeepAlive() interceptor.WorkerInterceptor { return &keepAlive{} }

type keepAlive struct {
	interceptor.WorkerInterceptorBase
}

func (*keepAlive) InterceptActivity(ctx context.Context, next interceptor.ActivityInboundInterceptor) interceptor.ActivityInboundInterceptor {
	return &keptAlive{ActivityInboundInterceptorBase: interceptor.ActivityInboundInterceptorBase{Next: next}}
}

// keptAlive is one activity execution.
type keptAlive struct {
	interceptor.ActivityInboundInterceptorBase
	out interceptor.ActivityOutboundInterceptor

	mu      sync.Mutex
	details []any
	// known is false while the details are unknown: the attempt has
	// predecessors' details it could not read back and has recorded none.
	known bool
}

func (a *keptAlive) Init(out interceptor.ActivityOutboundInterceptor) error {
	a.out = out
	return a.Next.Init(&detailsRecorder{ActivityOutboundInterceptorBase: interceptor.ActivityOutboundInterceptorBase{Next: out}, a: a})
}

func (a *keptAlive) ExecuteActivity(ctx context.Context, in *interceptor.ExecuteActivityInput) (any, error) {
	timeout := activity.GetInfo(ctx).HeartbeatTimeout
	if timeout <= 0 {
		return a.Next.ExecuteActivity(ctx, in)
	}
	a.known = true
	if activity.HasHeartbeatDetails(ctx) {
		var last json.RawMessage
		if err := activity.GetHeartbeatDetails(ctx, &last); err == nil {
			a.details = []any{last}
		} else {
			a.known = false
		}
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(timeout / 4)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-ctx.Done():
				return
			case <-tick.C:
				// Sending under the lock orders this heartbeat with the
				// activity's own: the SDK keeps the last one it is given,
				// and that must not be older progress.
				a.mu.Lock()
				if a.known {
					a.out.RecordHeartbeat(ctx, a.details...)
				}
				a.mu.Unlock()
			}
		}
	}()
	defer func() {
		close(stop)
		<-done
	}()
	return a.Next.ExecuteActivity(ctx, in)
}

// detailsRecorder remembers the details of the activity's own heartbeats.
type detailsRecorder struct {
	interceptor.ActivityOutboundInterceptorBase
	a *keptAlive
}

func (r *detailsRecorder) RecordHeartbeat(ctx context.Context, details ...any) {
	r.a.mu.Lock()
	defer r.a.mu.Unlock()
	r.a.details, r.a.known = details, true
	r.Next.RecordHeartbeat(ctx, details...)
}
