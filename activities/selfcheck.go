// Package activities holds Sluice's Temporal activities: methods on structs
// that hold their clients. They translate between Temporal and the domain
// packages and do no domain work themselves.
package activities

import (
	"context"
	"fmt"
	"time"

	"go.temporal.io/sdk/activity"

	"github.com/sluice-ml/sluice/selfcheck"
)

// SelfCheck probes the platform's storage from a worker (see package
// selfcheck).
type SelfCheck struct {
	Prober *selfcheck.Prober
}

// ProbeInput names the run and its steps.
type ProbeInput struct {
	RunID     string
	Note      string
	Steps     int
	StepDelay time.Duration
}

// ProbeResult says what the probe wrote and read back.
type ProbeResult struct {
	LakeKey     string
	RowNote     string
	StepsDone   int
	ResumedFrom int
	Attempt     int32
}

// Probe runs the probe, heartbeating each step; a retry resumes at the
// step after the last heartbeat.
func (s *SelfCheck) Probe(ctx context.Context, in ProbeInput) (ProbeResult, error) {
	start := 0
	if activity.HasHeartbeatDetails(ctx) {
		if err := activity.GetHeartbeatDetails(ctx, &start); err != nil {
			return ProbeResult{}, fmt.Errorf("reading heartbeat: %w", err)
		}
	}
	res, err := s.Prober.Probe(ctx, selfcheck.Request(in), start, activity.GetInfo(ctx).Attempt, func(step int) { activity.RecordHeartbeat(ctx, step) })
	return ProbeResult(res), temporalError(err)
}
