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
// four times per timeout, repeating the activity's last heartbeat details.
// Activities heartbeat their progress where they make some, but a long
// commit or bulk load can go minutes without one; with KeepAlive a live
// worker's activity never times out, so the heartbeat timeout can be short
// and a dead worker's activity runs again elsewhere within it.
//
// A resumed attempt keeps its predecessor's details until it records its
// own, so a keep-alive never erases the progress a retry resumes from.
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
				a.mu.Lock()
				details, known := a.details, a.known
				a.mu.Unlock()
				if known {
					a.out.RecordHeartbeat(ctx, details...)
				}
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
	r.a.details, r.a.known = details, true
	r.a.mu.Unlock()
	r.Next.RecordHeartbeat(ctx, details...)
}
