package monitor

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sluice-ml/sluice/spec"
)

// Alert is a raised condition of a model, such as drift.
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

// Alerts stores alerts in sluice.alerts and delivers them to webhooks
// (the activities of the Monitor workflow).
type Alerts struct {
	DB *pgxpool.Pool
	// HTTP posts to webhooks; nil means a client with a 10 s timeout.
	HTTP *http.Client
}

const alertColumns = `id, model, kind, level, message, run_id, as_of, payload, created_at, sent_at, attempts, last_error`

func scanAlert(r pgx.Row) (Alert, error) {
	var a Alert
	var payload []byte
	err := r.Scan(&a.ID, &a.Model, &a.Kind, &a.Level, &a.Message, &a.RunID, &a.AsOf, &payload, &a.Created, &a.SentAt, &a.Attempts, &a.LastError)
	a.Payload = payload
	return a, err
}

// RaiseInput is an alert to raise unless one of the same model and kind
// was raised within the cooldown.
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

// Raise stores the alert, deduplicated: when the model already has an
// alert of the kind raised within the cooldown, or one for the same run,
// that one is returned and nothing is stored. An alert of the same run
// counts as raised (Raised true): it is this run's own, stored by an
// earlier attempt whose answer was lost, and the caller must still deliver
// it and act on it (delivery skips a sent alert; the retrain run is named
// by the alert).
func (s *Alerts) Raise(ctx context.Context, in RaiseInput) (RaiseResult, error) {
	var res RaiseResult
	a := in.Alert
	if len(a.Payload) == 0 {
		a.Payload = json.RawMessage("{}")
	}
	err := pgx.BeginFunc(ctx, s.DB, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext('sluice.alerts.' || $1 || '.' || $2))`, a.Model, a.Kind); err != nil {
			return err
		}
		// The run's own alert first: a retry must find it even when another
		// run's alert came later.
		prev, err := scanAlert(tx.QueryRow(ctx, `SELECT `+alertColumns+` FROM sluice.alerts WHERE model = $1 AND kind = $2
			AND (created_at > now() - $3::interval OR (run_id = $4 AND $4 <> '')) ORDER BY (run_id = $4 AND $4 <> '') DESC, id DESC LIMIT 1`,
			a.Model, a.Kind, fmt.Sprintf("%d microseconds", in.Cooldown.Microseconds()), a.RunID))
		if err == nil {
			res.Alert, res.Raised = prev, a.RunID != "" && prev.RunID == a.RunID
			return nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		res.Alert, err = scanAlert(tx.QueryRow(ctx, `INSERT INTO sluice.alerts (model, kind, level, message, run_id, as_of, payload)
			VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING `+alertColumns, a.Model, a.Kind, a.Level, a.Message, a.RunID, a.AsOf, []byte(a.Payload)))
		res.Raised = err == nil
		return err
	})
	if err != nil {
		return res, fmt.Errorf("monitor: raising an alert for %s: %w", a.Model, err)
	}
	return res, nil
}

// DeliverInput sends an alert to a webhook, as JSON or as a Slack
// message.
type DeliverInput struct {
	ID      int64
	Webhook string
	Format  string
}

// Deliver posts the alert and records the attempt; an answer other than
// 2xx is an error, so the activity's retries try again. A delivered alert
// is not sent twice.
func (s *Alerts) Deliver(ctx context.Context, in DeliverInput) error {
	a, err := scanAlert(s.DB.QueryRow(ctx, `SELECT `+alertColumns+` FROM sluice.alerts WHERE id = $1`, in.ID))
	if err != nil {
		return fmt.Errorf("monitor: alert %d: %w", in.ID, err)
	}
	if a.SentAt != nil {
		return nil
	}
	var body any = a
	if in.Format == "slack" {
		body = map[string]string{"text": fmt.Sprintf(":rotating_light: *%s* %s — %s", a.Model, a.Level, a.Message)}
	}
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	client := s.HTTP
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	// The webhook's ${SLUICE_SECRET_…} references are read here, in the
	// worker, and only here; what is recorded (the alert's last error,
	// this activity's error) holds neither the URL's path nor a secret.
	hook, secrets, err := spec.ExpandSecrets(in.Webhook)
	if err == nil {
		err = post(ctx, client, hook, b)
	}
	if err != nil {
		// net/http quotes the URL (%q, its password starred), so the
		// quoted URL is replaced whole before the text is redacted.
		var uerr *url.Error
		if errors.As(err, &uerr) {
			uerr.URL = spec.RedactURL(hook)
		}
		why := spec.Redact(err.Error(), hook, secrets)
		_, _ = s.DB.Exec(ctx, `UPDATE sluice.alerts SET attempts = attempts + 1, last_error = $2 WHERE id = $1`, a.ID, why)
		return fmt.Errorf("monitor: delivering alert %d: %s", a.ID, why)
	}
	_, err = s.DB.Exec(ctx, `UPDATE sluice.alerts SET attempts = attempts + 1, last_error = '', sent_at = now() WHERE id = $1`, a.ID)
	return err
}

// post sends a JSON body to a webhook; an answer other than 2xx is an
// error.
func post(ctx context.Context, client *http.Client, hook string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, hook, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("the webhook answered %s", resp.Status)
	}
	return nil
}

// List returns a model's alerts (every model's when model is empty),
// newest first.
func (s *Alerts) List(ctx context.Context, model string, limit int) ([]Alert, error) {
	rows, err := s.DB.Query(ctx, `SELECT `+alertColumns+` FROM sluice.alerts WHERE $1 = '' OR model = $1 ORDER BY id DESC LIMIT $2`, model, limit)
	if err != nil {
		return nil, fmt.Errorf("monitor: listing alerts: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Alert, error) { return scanAlert(r) })
	if err != nil {
		return nil, fmt.Errorf("monitor: listing alerts: %w", err)
	}
	return out, nil
}
