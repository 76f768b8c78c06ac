package workers_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
	"go.temporal.io/server/temporaltest"

	"github.com/sluice-ml/sluice/workers"
)

// silent records its progress once, then works for longer than its
// heartbeat timeout without a heartbeat; the first two attempts fail after
// that, the third reports what it resumed from.
type silent struct {
	mu      sync.Mutex
	resumed []string
}

func (s *silent) Work(ctx context.Context, quiet time.Duration) (string, error) {
	attempt := activity.GetInfo(ctx).Attempt
	from := "nothing"
	if activity.HasHeartbeatDetails(ctx) {
		if err := activity.GetHeartbeatDetails(ctx, &from); err != nil {
			return "", err
		}
	}
	s.mu.Lock()
	s.resumed = append(s.resumed, from)
	s.mu.Unlock()
	if attempt == 1 {
		activity.RecordHeartbeat(ctx, "row 7")
	}
	select {
	case <-time.After(quiet):
	case <-ctx.Done():
		return "", fmt.Errorf("attempt %d: %w", attempt, ctx.Err())
	}
	if attempt < 3 {
		return "", errors.New("fail so that the next attempt shows what it resumes from")
	}
	return from, nil
}

func runSilent(ctx workflow.Context, quiet time.Duration, attempts int32) (string, error) {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: time.Minute,
		HeartbeatTimeout:    4 * time.Second,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: 100 * time.Millisecond, MaximumAttempts: attempts},
	})
	var s *silent
	var out string
	err := workflow.ExecuteActivity(ctx, s.Work, quiet).Get(ctx, &out)
	return out, err
}

// TestKeepAliveKeepsSilentActivitiesAliveAndTheirProgress: an activity
// silent for 1.5 times its 4 s heartbeat timeout times out without the
// keep-alive and completes with it, and the keep-alive's heartbeats keep
// the activity's last progress, also across attempts that recorded none.
func TestKeepAliveKeepsSilentActivitiesAliveAndTheirProgress(t *testing.T) {
	srv := temporaltest.NewServer(temporaltest.WithT(t))
	c := srv.GetDefaultClient()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, keep := range []bool{false, true} {
		t.Run(fmt.Sprintf("keepalive=%v", keep), func(t *testing.T) {
			queue := fmt.Sprintf("keepalive-%v", keep)
			var ics []interceptor.WorkerInterceptor
			if keep {
				ics = append(ics, workers.KeepAlive())
			}
			w := worker.New(c, queue, worker.Options{Interceptors: ics})
			s := &silent{}
			w.RegisterActivity(s)
			w.RegisterWorkflow(runSilent)
			if err := w.Start(); err != nil {
				t.Fatal(err)
			}
			defer w.Stop()
			run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{TaskQueue: queue}, runSilent, 6*time.Second, map[bool]int32{false: 1, true: 3}[keep])
			if err != nil {
				t.Fatal(err)
			}
			var out string
			err = run.Get(ctx, &out)
			if !keep {
				var timeout *temporal.TimeoutError
				if !errors.As(err, &timeout) {
					t.Fatalf("without the keep-alive: %v, want a heartbeat timeout", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("with the keep-alive: %v", err)
			}
			s.mu.Lock()
			defer s.mu.Unlock()
			if want := []string{"nothing", "row 7", "row 7"}; fmt.Sprint(s.resumed) != fmt.Sprint(want) || out != "row 7" {
				t.Fatalf("attempts resumed from %q and returned %q, want %q", s.resumed, out, want)
			}
		})
	}
}
