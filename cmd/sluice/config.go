package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"go.temporal.io/sdk/client"

	"github.com/sluice-ml/sluice/api"
	"github.com/sluice-ml/sluice/internal/temporalconn"
	"github.com/sluice-ml/sluice/lakehouse"
	"github.com/sluice-ml/sluice/serving"
	"github.com/sluice-ml/sluice/workers"
)

// config gathers every package's Options for one process.
type config struct {
	Temporal    temporalconn.Options
	DatabaseURL string
	Lake        lakehouse.Options
	Workers     workers.Options
	API         api.Options
	Serving     serving.Options
	// ServeRoutes and ServeShadow configure the online server's traffic
	// (serving.ParseRoutes).
	ServeRoutes, ServeShadow string
	// APIURL sends commands through the control API instead of Temporal.
	APIURL string
	// APITokenFile holds the API's token when no token is given.
	APITokenFile string
	// applyMove lets apply take over a project applied from another folder.
	applyMove bool
	// UIURL is the Temporal UI's address, for links.
	UIURL    string
	LogLevel string
}

func defaultConfig() config {
	return config{
		Temporal: temporalconn.DefaultOptions(),
		Workers:  workers.DefaultOptions(),
		API:      api.DefaultOptions(),
		Serving:  serving.DefaultOptions(),
		LogLevel: "info",
	}
}

// temporalFlags registers the Temporal client flags.
func (c *config) temporalFlags(f *flagSet) {
	t := &c.Temporal
	f.stringVar(&t.Address, "temporal-address", "SLUICE_TEMPORAL_ADDRESS", t.Address, "Temporal frontend host:port")
	f.stringVar(&t.Namespace, "temporal-namespace", "SLUICE_TEMPORAL_NAMESPACE", t.Namespace, "Temporal namespace")
	f.stringVar(&t.TLSCert, "temporal-tls-cert", "SLUICE_TEMPORAL_TLS_CERT", "", "client certificate (PEM) for mutual TLS")
	f.stringVar(&t.TLSKey, "temporal-tls-key", "SLUICE_TEMPORAL_TLS_KEY", "", "client key (PEM) for mutual TLS")
	f.stringVar(&t.TLSCA, "temporal-tls-ca", "SLUICE_TEMPORAL_TLS_CA", "", "CA bundle (PEM) that signs the server's certificate")
	f.stringVar(&t.TLSServerName, "temporal-tls-server-name", "SLUICE_TEMPORAL_TLS_SERVER_NAME", "", "server name to verify")
	f.boolVar(&t.TLS, "temporal-tls", "SLUICE_TEMPORAL_TLS", false, "use TLS without a client certificate")
	f.stringVar(&t.APIKey, "temporal-api-key", "SLUICE_TEMPORAL_API_KEY", "", "API key (Temporal Cloud); implies TLS")
	f.stringVar(&c.UIURL, "temporal-ui", "SLUICE_TEMPORAL_UI", "", "the Temporal UI's URL, for links to runs")
}

// storageFlags registers the PostgreSQL and lake flags.
func (c *config) storageFlags(f *flagSet) {
	f.stringVar(&c.DatabaseURL, "database-url", "SLUICE_DATABASE_URL", "", "PostgreSQL connection URL")
	f.stringVar(&c.Lake.URL, "lake", "SLUICE_LAKE", "", "lake location: file:///abs/path or s3://bucket/prefix")
	f.stringVar(&c.Lake.S3Endpoint, "s3-endpoint", "SLUICE_S3_ENDPOINT", "", "S3 endpoint URL, for MinIO and other S3-compatible servers")
	f.boolVar(&c.Lake.S3PathStyle, "s3-path-style", "SLUICE_S3_PATH_STYLE", false, "address buckets by path (MinIO and most S3-compatible servers)")
}

func (c *config) logFlags(f *flagSet) {
	f.stringVar(&c.LogLevel, "log-level", "SLUICE_LOG_LEVEL", c.LogLevel, "debug, info, warn or error")
}

// validateStorage checks the flags that production processes require.
func (c *config) validateStorage() error {
	if c.DatabaseURL == "" {
		return fmt.Errorf("--database-url (SLUICE_DATABASE_URL) is required")
	}
	if c.Lake.URL == "" {
		return fmt.Errorf("--lake (SLUICE_LAKE) is required")
	}
	if err := c.Lake.Validate(); err != nil {
		return fmt.Errorf("--lake (SLUICE_LAKE): %w", err)
	}
	return nil
}

func (c *config) logger() (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(strings.ToLower(c.LogLevel))); err != nil {
		return nil, fmt.Errorf("--log-level (SLUICE_LOG_LEVEL): want debug, info, warn or error, got %q", c.LogLevel)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})), nil
}

// dialTemporal connects the client commands (selfcheck, ingest) to Temporal.
func (c *config) dialTemporal(ctx context.Context) (client.Client, error) {
	logger, err := c.logger()
	if err != nil {
		return nil, err
	}
	return temporalconn.Dial(ctx, c.Temporal, logger)
}
