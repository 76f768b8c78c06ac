// Package workflows holds Sluice's Temporal workflows. They are deterministic
// and do no I/O: every side effect runs in an activity.
package workflows

// Task queues. Workflows run on QueueControl; activities run on the queue of
// the resources they need.
const (
	QueueControl = "sluice-control"
	QueueIO      = "sluice-io"
	QueueCPU     = "sluice-cpu"
	QueueGPU     = "sluice-gpu"
)

// QueueFor maps a resource class as users name it ("control", "io", "cpu",
// "gpu") to its task queue. ok is false for an unknown class.
func QueueFor(class string) (queue string, ok bool) {
	switch class {
	case "control":
		return QueueControl, true
	case "io":
		return QueueIO, true
	case "cpu":
		return QueueCPU, true
	case "gpu":
		return QueueGPU, true
	}
	return "", false
}
