package workflows

import (
	"sync/atomic"
	"time"
)

// DefaultHeartbeatTimeout is how long a running activity may go without a
// heartbeat before Temporal counts its worker as dead and runs it again on
// another. Workers heartbeat every running activity several times per
// timeout (workers.KeepAlive), so this bounds how long an activity waits
// after its worker dies, not how long it may run.
const DefaultHeartbeatTimeout = 30 * time.Second

var heartbeatTimeout atomic.Int64

// SetHeartbeatTimeout sets the heartbeat timeout of every activity the
// workflows of this process schedule; zero or less restores the default.
// Call it before workers start. Replay does not compare activity
// timeouts with the history, so processes with different settings replay
// each other's workflows.
func SetHeartbeatTimeout(d time.Duration) {
	heartbeatTimeout.Store(int64(max(d, 0)))
}

// HeartbeatTimeout is the heartbeat timeout this process's workflows give
// their activities.
func HeartbeatTimeout() time.Duration {
	if d := time.Duration(heartbeatTimeout.Load()); d > 0 {
		return d
	}
	return DefaultHeartbeatTimeout
}

// heartbeatOr returns d when set, else the process's heartbeat timeout.
func heartbeatOr(d time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return HeartbeatTimeout()
}
