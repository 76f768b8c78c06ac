package monitor_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sluice-ml/sluice/metastore"
	"github.com/sluice-ml/sluice/monitor"
	"github.com/sluice-ml/sluice/testkit/testenv"
)

// TestFailedDeliveriesHideTheWebhook: whatever form net/http gives the
// URL in its error (quoted, its password starred, a secret with a line
// break), neither the alert's last error nor the activity's error holds
// the webhook's path or the secret.
func TestFailedDeliveriesHideTheWebhook(t *testing.T) {
	ctx := testenv.Context(t)
	db, err := metastore.Open(ctx, testenv.PostgresURL(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	alerts := &monitor.Alerts{DB: db}
	for i, hook := range []string{"http://127.0.0.1:1/services/T0/SECRETTOKEN\n", "http://u:p@127.0.0.1:1/services/SECRETTOKEN"} {
		t.Setenv("SLUICE_SECRET_HIDE_HOOK", hook)
		raised, err := alerts.Raise(ctx, monitor.RaiseInput{Alert: monitor.Alert{Model: fmt.Sprintf("hide.m%d_%d", i, time.Now().UnixNano()), Kind: "drift",
			Level: "alert", Message: "x", RunID: fmt.Sprint("hide-", i), AsOf: time.Now()}, Cooldown: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		err = alerts.Deliver(ctx, monitor.DeliverInput{ID: raised.Alert.ID, Webhook: "${SLUICE_SECRET_HIDE_HOOK}"})
		var last string
		db.QueryRow(ctx, `SELECT last_error FROM sluice.alerts WHERE id = $1`, raised.Alert.ID).Scan(&last)
		if err == nil || strings.Contains(err.Error(), "SECRETTOKEN") || strings.Contains(last, "SECRETTOKEN") || last == "" {
			t.Errorf("hook %q: error %v, last error %q", hook, err, last)
		}
	}
}
