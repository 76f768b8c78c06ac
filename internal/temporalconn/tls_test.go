package temporalconn_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
	"go.temporal.io/server/temporaltest"

	"github.com/sluice-ml/sluice/internal/temporalconn"
)

// pki is a test CA with a server and a client certificate it signed.
type pki struct {
	caPEM                  []byte
	serverCert, clientCert tls.Certificate
	pool                   *x509.CertPool
}

func newPKI(t *testing.T, cn string) *pki {
	t.Helper()
	key := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	caKey := key()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	issue := func(serial int64, name string, usage x509.ExtKeyUsage) tls.Certificate {
		k := key()
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name}, DNSNames: []string{name},
			IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage}}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &k.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: k}
	}
	p := &pki{caPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), pool: x509.NewCertPool(),
		serverCert: issue(2, "temporal.test", x509.ExtKeyUsageServerAuth), clientCert: issue(3, "sluice-worker", x509.ExtKeyUsageClientAuth)}
	p.pool.AddCert(ca)
	return p
}

// writeCert writes a certificate and its key as PEM files.
func writeCert(t *testing.T, dir, name string, c tls.Certificate) (certPath, keyPath string) {
	t.Helper()
	keyDER, err := x509.MarshalPKCS8PrivateKey(c.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	certPath, keyPath = filepath.Join(dir, name+".pem"), filepath.Join(dir, name+"-key.pem")
	if err := os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Certificate[0]}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certPath, keyPath
}

// tlsFront puts the dev server behind TLS that requires a client
// certificate of the CA: a proxy that terminates TLS and forwards to the
// plain frontend.
func tlsFront(t *testing.T, p *pki, backend string) string {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{p.serverCert}, ClientAuth: tls.RequireAndVerifyClientCert,
		ClientCAs: p.pool, NextProtos: []string{"h2"}, MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				if err := c.(*tls.Conn).Handshake(); err != nil {
					return
				}
				b, err := net.Dial("tcp", backend)
				if err != nil {
					return
				}
				defer b.Close()
				go io.Copy(b, c)
				io.Copy(c, b)
			}()
		}
	}()
	return ln.Addr().String()
}

func echo(_ workflow.Context, s string) (string, error) { return "over mTLS: " + s, nil }

// TestMutualTLS runs a workflow through the dev server behind
// self-signed mutual TLS, and checks that a client without a
// certificate, or trusting another CA, is refused.
func TestMutualTLS(t *testing.T) {
	srv := temporaltest.NewServer(temporaltest.WithT(t))
	srv.NewWorker("tls-test", func(r worker.Registry) { r.RegisterWorkflow(echo) })
	p := newPKI(t, "sluice test CA")
	addr := tlsFront(t, p, srv.GetFrontendHostPort())
	dir := t.TempDir()
	caPath := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(caPath, p.caPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	certPath, keyPath := writeCert(t, dir, "client", p.clientCert)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	o := temporalconn.Options{Address: addr, Namespace: srv.GetDefaultNamespace(), TLSCert: certPath, TLSKey: keyPath, TLSCA: caPath, TLSServerName: "temporal.test"}
	c, err := temporalconn.Dial(ctx, o, nil)
	if err != nil {
		t.Fatalf("dialing with the client certificate: %v", err)
	}
	defer c.Close()
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{TaskQueue: "tls-test"}, echo, "hello")
	if err != nil {
		t.Fatal(err)
	}
	var got string
	if err := run.Get(ctx, &got); err != nil || got != "over mTLS: hello" {
		t.Fatalf("the workflow said %q (%v)", got, err)
	}

	short, cancelShort := context.WithTimeout(ctx, 10*time.Second)
	defer cancelShort()
	noCert := o
	noCert.TLSCert, noCert.TLSKey = "", ""
	if c, err := temporalconn.Dial(short, noCert, nil); err == nil {
		c.Close()
		t.Error("a client without a certificate got in")
	}
	other := newPKI(t, "another CA")
	otherCA := filepath.Join(dir, "other-ca.pem")
	os.WriteFile(otherCA, other.caPEM, 0o600)
	wrongCA := o
	wrongCA.TLSCA = otherCA
	if c, err := temporalconn.Dial(short, wrongCA, nil); err == nil {
		c.Close()
		t.Error("a client trusting another CA accepted the server")
	}
}
