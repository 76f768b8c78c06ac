package temporalconn

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestValidate(t *testing.T) {
	cert := filepath.Join(t.TempDir(), "cert.pem")
	if err := os.WriteFile(cert, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		mod  func(*Options)
		want string
	}{
		{"defaults", func(*Options) {}, ""},
		{"no port", func(o *Options) { o.Address = "temporal" }, "SLUICE_TEMPORAL_ADDRESS"},
		{"no namespace", func(o *Options) { o.Namespace = "" }, "SLUICE_TEMPORAL_NAMESPACE"},
		{"cert without key", func(o *Options) { o.TLSCert = cert }, "give both or neither"},
		{"missing CA file", func(o *Options) { o.TLSCA = "/nonexistent/ca.pem" }, "--temporal-tls-ca"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := DefaultOptions()
			tt.mod(&o)
			err := o.Validate()
			if tt.want == "" && err != nil {
				t.Fatalf("got %v", err)
			}
			if tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
				t.Fatalf("got %v, want an error naming %q", err, tt.want)
			}
		})
	}
}

func TestClientOptionsTLS(t *testing.T) {
	tests := []struct {
		name    string
		opts    Options
		wantTLS bool
		wantKey bool
	}{
		{"plain", Options{Address: "h:1", Namespace: "n"}, false, false},
		{"tls flag", Options{Address: "h:1", Namespace: "n", TLS: true, TLSServerName: "s"}, true, false},
		{"api key implies TLS", Options{Address: "h:1", Namespace: "n", APIKey: "k"}, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			co, err := tt.opts.ClientOptions(nil)
			if err != nil {
				t.Fatal(err)
			}
			if got := co.ConnectionOptions.TLS != nil; got != tt.wantTLS {
				t.Errorf("TLS on = %v, want %v", got, tt.wantTLS)
			}
			if tt.wantTLS && co.ConnectionOptions.TLS.ServerName != tt.opts.TLSServerName {
				t.Errorf("server name %q, want %q", co.ConnectionOptions.TLS.ServerName, tt.opts.TLSServerName)
			}
			if got := co.Credentials != nil; got != tt.wantKey {
				t.Errorf("credentials set = %v, want %v", got, tt.wantKey)
			}
		})
	}
}

func TestClientOptionsRejectsBadCA(t *testing.T) {
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Options{Address: "h:1", Namespace: "n", TLSCA: ca}.ClientOptions(nil)
	if err == nil || !strings.Contains(err.Error(), "no certificates") {
		t.Fatalf("got %v", err)
	}
}
