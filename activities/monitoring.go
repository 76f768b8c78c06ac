package activities

import (
	"context"
	"time"

	"github.com/sluice-ml/sluice/monitor"
)

// Monitoring measures what models meet in production (io queue; see
// monitor.Meter).
type Monitoring struct {
	Meter *monitor.Meter
}

// DriftThresholds grade drift (see monitor.Thresholds); zero means
// monitor.DefaultThresholds.
type DriftThresholds struct {
	PSIWarn, PSIAlert float64
	PValue            float64
}

// DriftThresholdsOf are the thresholds as workflows carry them.
func DriftThresholdsOf(t monitor.Thresholds) DriftThresholds { return DriftThresholds(t) }

// OnlineDriftInput names a model version's online traffic to measure: the
// predictions logged in [Since, Until).
type OnlineDriftInput struct {
	Model        string
	Version      int
	Since, Until time.Time
	Thresholds   DriftThresholds
}

// OnlineDriftResult is the window's drift; Rows is 0 when there was no
// traffic (and no report).
type OnlineDriftResult struct {
	Rows    int
	Level   string
	Drifted []string
}

// OnlineDrift measures and stores the drift of a version's online
// traffic in a window.
func (a *Monitoring) OnlineDrift(ctx context.Context, in OnlineDriftInput) (OnlineDriftResult, error) {
	res, err := a.Meter.OnlineDrift(ctx, monitor.OnlineDriftRequest{Model: in.Model, Version: in.Version,
		Since: in.Since, Until: in.Until, Thresholds: monitor.Thresholds(in.Thresholds)})
	return OnlineDriftResult(res), temporalError(err)
}

// PerformanceInput names a model's predictions and the label table that
// tells how they turned out.
type PerformanceInput struct {
	Model, Task string
	// LabelTable holds Key, LabelTime and LabelColumn (bool or numeric).
	LabelTable, Key, LabelTime, LabelColumn string
	// Window is how long after a prediction its label may arrive; 0
	// means 30 days.
	Window time.Duration
}

// PerformanceResult reports the realized performance measured.
type PerformanceResult struct {
	Pairs   int
	Reports []monitor.Performance
}

// Performance measures and stores a model's realized performance.
func (a *Monitoring) Performance(ctx context.Context, in PerformanceInput) (PerformanceResult, error) {
	res, err := a.Meter.Performance(ctx, monitor.PerformanceRequest(in))
	return PerformanceResult(res), temporalError(err)
}

// ExpirePredictionLogInput says how many days of the prediction log to
// keep, as of Now.
type ExpirePredictionLogInput struct {
	// RetentionDays: 0 means 14.
	RetentionDays int
	Now           time.Time
}

// ExpirePredictionLogResult lists the days dropped.
type ExpirePredictionLogResult struct {
	Dropped []time.Time
}

// ExpirePredictionLog drops the prediction log's days past retention.
func (a *Monitoring) ExpirePredictionLog(ctx context.Context, in ExpirePredictionLogInput) (ExpirePredictionLogResult, error) {
	dropped, err := a.Meter.ExpireLog(ctx, time.Duration(in.RetentionDays)*24*time.Hour, in.Now)
	return ExpirePredictionLogResult{Dropped: dropped}, err
}
