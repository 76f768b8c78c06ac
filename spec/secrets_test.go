package spec

import (
	"strings"
	"testing"
)

// TestSourceURLsHoldNoSecrets: a postgres source's url may not hold a
// password in any of libpq's forms, nor name variables other than
// SLUICE_SOURCE_*; the worker expands those and refuses unset ones.
func TestSourceURLsHoldNoSecrets(t *testing.T) {
	for _, bad := range []string{
		"postgres://crm:hunter2@db.internal/crm",
		"postgres://db.internal/crm?password=hunter2",
		"host=db.internal user=crm password=hunter2",
		"host=db.internal user=crm password = hunter2",
		"host=db.internal password= 'hunter 2'",
		"host=db.internal sslpassword=hunter2",
		"postgres://crm:hun#ter2@db.internal/crm",
		"POSTGRESQL://crm:hunter2@db.internal/crm",
		"postgres://db.internal/crm?sslmode=require&password=hunter2",
		"postgres://${AWS_SECRET_ACCESS_KEY}@evil.example/x",
		"${SLUICE_SOURCE_}",
		"${HOME}",
		// A percent-encoded key is still a password to pgx.
		"postgres://crm@db.internal/crm?pass%77ord=hunter2",
		"postgres://crm@db.internal/crm?ssl%50assword=hunter2",
		// Another source's secrets, sent to a host this spec chooses.
		"postgres://x:${SLUICE_SOURCE_BILLING_PASSWORD}@evil.example/x",
		"postgres://x:${SLUICE_SOURCE_CRM_DB_PASSWORD}@evil.example/x", // source crm_db's
		"${SLUICE_SOURCE_CRM}",
	} {
		if problem := sourceURLProblem("crm", bad); problem == "" {
			t.Errorf("%q was accepted", bad)
		} else if strings.Contains(problem, "hunter2") {
			t.Errorf("%q: the error repeats the password: %s", bad, problem)
		}
	}
	for _, good := range []string{"", "postgres://crm@db.internal/crm", "${SLUICE_SOURCE_CRM_URL}",
		"postgres://crm:${SLUICE_SOURCE_CRM_PASSWORD}@db.internal/crm", "host=db.internal user=crm",
		"host=db.internal user=crm password=${SLUICE_SOURCE_CRM_PASSWORD}", "postgres://crm@db.internal/crm?sslmode=require&passfile=/etc/pgpass"} {
		if problem := sourceURLProblem("crm", good); problem != "" {
			t.Errorf("%q was refused: %s", good, problem)
		}
	}
	t.Setenv("SLUICE_SOURCE_CRM_PASSWORD", "hunter2")
	t.Setenv("OTHER_SECRET", "s3cr3t")
	t.Setenv("SLUICE_SOURCE_BILLING_PASSWORD", "b1ll")
	if got, err := ExpandSourceURL("crm", "postgres://crm:${SLUICE_SOURCE_CRM_PASSWORD}@db/crm"); err != nil || got != "postgres://crm:hunter2@db/crm" {
		t.Errorf("expanded to %q, %v", got, err)
	}
	t.Setenv("SLUICE_SOURCE_EMPTY", "")
	t.Setenv("SLUICE_SOURCE_CRM_EMPTY", "")
	for _, raw := range []string{"postgres://${OTHER_SECRET}@evil/x", "${SLUICE_SOURCE_CRM_UNSET}", "${SLUICE_SOURCE_CRM_EMPTY}",
		"postgres://x:${SLUICE_SOURCE_BILLING_PASSWORD}@evil/x"} {
		got, err := ExpandSourceURL("crm", raw)
		if err == nil || got != "" || strings.Contains(err.Error(), "s3cr3t") || strings.Contains(err.Error(), "b1ll") {
			t.Errorf("%q expanded to %q, %v; want an error naming the variable, not its value", raw, got, err)
		}
	}
}

// TestSpecWithAPasswordIsRefused: the refusal names the field.
func TestSpecWithAPasswordIsRefused(t *testing.T) {
	_, err := Parse("sluice.yaml", []byte(`project: p
sources:
  crm: {postgres: {query: "SELECT * FROM t WHERE at > $1", url: "postgres://crm:hunter2@db/crm"}, key: id, timestamp: at}
`))
	if err == nil || !strings.Contains(err.Error(), "sources.crm.postgres.url") || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("got %v, want an error naming sources.crm.postgres.url without the password", err)
	}
}

// TestWebhooksNameSecrets: a webhook may be a URL or name
// ${SLUICE_SECRET_…} variables, which only the delivery expands; errors
// that quote the URL hide its path and the secrets.
func TestWebhooksNameSecrets(t *testing.T) {
	for _, good := range []string{"https://hooks.example/x", "${SLUICE_SECRET_SLACK}", "https://hooks.slack.com/services/${SLUICE_SECRET_SLACK_PATH}"} {
		if p := webhookProblem(good); p != "" {
			t.Errorf("%q refused: %s", good, p)
		}
	}
	for _, bad := range []string{"ftp://x", "${HOME}", "${SLUICE_SOURCE_CRM_URL}", "https://x/${AWS_SECRET_ACCESS_KEY}"} {
		if webhookProblem(bad) == "" {
			t.Errorf("%q accepted", bad)
		}
	}
	t.Setenv("SLUICE_SECRET_SLACK_PATH", "T0/B0/s3cr3t")
	got, secrets, err := ExpandSecrets("https://hooks.slack.com/services/${SLUICE_SECRET_SLACK_PATH}")
	if err != nil || got != "https://hooks.slack.com/services/T0/B0/s3cr3t" {
		t.Fatalf("expanded to %q, %v", got, err)
	}
	msg := Redact(`Post "`+got+`": dial tcp: no such host (T0/B0/s3cr3t)`, got, secrets)
	if strings.Contains(msg, "s3cr3t") || !strings.Contains(msg, "https://hooks.slack.com/****") {
		t.Errorf("redacted: %s", msg)
	}
	if _, _, err := ExpandSecrets("${SLUICE_SECRET_UNSET}"); err == nil || !strings.Contains(err.Error(), "SLUICE_SECRET_UNSET") {
		t.Errorf("an unset secret: %v", err)
	}
}
