// Package temporalconn dials the Temporal frontend with the options Sluice's
// processes share: address, namespace, mutual TLS and API keys (Temporal
// Cloud).
package temporalconn

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"

	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
)

// Options locates and authenticates to a Temporal frontend.
type Options struct {
	Address   string
	Namespace string
	// TLSCert and TLSKey are PEM files for mutual TLS.
	TLSCert string
	TLSKey  string
	// TLSCA is a PEM bundle to verify the server; empty means the system pool.
	TLSCA string
	// TLSServerName overrides the name checked in the server's certificate.
	TLSServerName string
	// TLS turns TLS on without a client certificate.
	TLS bool
	// APIKey authenticates with an API key; it implies TLS.
	APIKey string
}

// DefaultOptions is a local dev server.
func DefaultOptions() Options {
	return Options{Address: "127.0.0.1:7233", Namespace: "default"}
}

// Validate checks the options without touching the network.
func (o Options) Validate() error {
	if _, _, err := net.SplitHostPort(o.Address); err != nil {
		return fmt.Errorf("--temporal-address (SLUICE_TEMPORAL_ADDRESS): want host:port, got %q", o.Address)
	}
	if o.Namespace == "" {
		return errors.New("--temporal-namespace (SLUICE_TEMPORAL_NAMESPACE): must not be empty")
	}
	if (o.TLSCert == "") != (o.TLSKey == "") {
		return errors.New("--temporal-tls-cert and --temporal-tls-key: give both or neither")
	}
	for flag, path := range map[string]string{"--temporal-tls-cert": o.TLSCert, "--temporal-tls-key": o.TLSKey, "--temporal-tls-ca": o.TLSCA} {
		if path == "" {
			continue
		}
		if _, err := os.Stat(path); err != nil {
			return fmt.Errorf("%s: %w", flag, err)
		}
	}
	return nil
}

// ClientOptions turns o into SDK client options.
func (o Options) ClientOptions(logger *slog.Logger) (client.Options, error) {
	co := client.Options{HostPort: o.Address, Namespace: o.Namespace}
	if logger != nil {
		co.Logger = sdklog.NewStructuredLogger(logger)
	}
	tlsCfg, err := o.tlsConfig()
	if err != nil {
		return co, err
	}
	co.ConnectionOptions.TLS = tlsCfg
	if o.APIKey != "" {
		co.Credentials = client.NewAPIKeyStaticCredentials(o.APIKey)
	}
	return co, nil
}

func (o Options) tlsConfig() (*tls.Config, error) {
	if !o.TLS && o.APIKey == "" && o.TLSCert == "" && o.TLSCA == "" {
		return nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: o.TLSServerName}
	if o.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(o.TLSCert, o.TLSKey)
		if err != nil {
			return nil, fmt.Errorf("loading Temporal client certificate: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	if o.TLSCA != "" {
		pem, err := os.ReadFile(o.TLSCA)
		if err != nil {
			return nil, fmt.Errorf("reading Temporal CA bundle: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--temporal-tls-ca: no certificates in %s", o.TLSCA)
		}
		cfg.RootCAs = pool
	}
	return cfg, nil
}

// Dial connects to Temporal and checks the namespace answers.
func Dial(ctx context.Context, o Options, logger *slog.Logger) (client.Client, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	co, err := o.ClientOptions(logger)
	if err != nil {
		return nil, err
	}
	c, err := client.DialContext(ctx, co)
	if err != nil {
		return nil, fmt.Errorf("connecting to Temporal at %s (namespace %s): %w", o.Address, o.Namespace, err)
	}
	return c, nil
}
