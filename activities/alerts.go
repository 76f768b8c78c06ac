package activities

import (
	"context"
	"encoding/json"
	"time"

	"github.com/sluice-ml/sluice/monitor"
)

// Alerting raises alerts and delivers them to webhooks (io queue; see
// monitor.Alerts).
type Alerting struct {
	Alerts *monitor.Alerts
}

// Alert is an alert as workflows carry it; see monitor.Alert.
type Alert struct {
	ID        int64           `json:"id"`
	Model     string          `json:"model"`
	Kind      string          `json:"kind"`
	Level     string          `json:"level"`
	Message   string          `json:"message"`
	RunID     string          `json:"run_id"`
	AsOf      time.Time       `json:"as_of"`
	Payload   json.RawMessage `json:"payload"`
	Created   time.Time       `json:"created_at"`
	SentAt    *time.Time      `json:"sent_at,omitempty"`
	Attempts  int             `json:"attempts"`
	LastError string          `json:"last_error,omitempty"`
}

// RaiseInput is an alert to raise unless one like it stands within the
// cooldown.
type RaiseInput struct {
	Alert    Alert
	Cooldown time.Duration
}

// RaiseResult is the alert raised, or the one within the cooldown that
// stands for it (Raised false).
type RaiseResult struct {
	Alert  Alert
	Raised bool
}

// Raise stores the alert, deduplicated (see monitor.Alerts.Raise).
func (a *Alerting) Raise(ctx context.Context, in RaiseInput) (RaiseResult, error) {
	r, err := a.Alerts.Raise(ctx, monitor.RaiseInput{Alert: monitor.Alert(in.Alert), Cooldown: in.Cooldown})
	return RaiseResult{Alert: Alert(r.Alert), Raised: r.Raised}, err
}

// DeliverInput names a stored alert and where to post it.
type DeliverInput struct {
	ID      int64
	Webhook string
	Format  string
}

// Deliver posts the alert once; an answer other than 2xx is an error, so
// the activity's retries try again.
func (a *Alerting) Deliver(ctx context.Context, in DeliverInput) error {
	return a.Alerts.Deliver(ctx, monitor.DeliverInput(in))
}
