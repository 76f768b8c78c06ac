package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestAPIListensOffLoopbackOnlyWithAToken: without a token the control
// API refuses an address other hosts reach; --tls-cert and --tls-key
// serve TLS.
func TestAPIListensOffLoopbackOnlyWithAToken(t *testing.T) {
	if ln, err := apiListener("0.0.0.0:0", "", "", ""); err == nil {
		ln.Close()
		t.Error("the API listened on every interface without a token")
	}
	for _, c := range []struct{ addr, token string }{{"127.0.0.1:0", ""}, {"0.0.0.0:0", "s3cret"}} {
		ln, err := apiListener(c.addr, c.token, "", "")
		if err != nil {
			t.Errorf("%s with token %q: %v", c.addr, c.token, err)
			continue
		}
		ln.Close()
	}
	if _, err := apiListener("127.0.0.1:0", "", "cert.pem", ""); err == nil {
		t.Error("a certificate without its key was taken")
	}

	dir := t.TempDir()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	must(t, err)
	kder, err := x509.MarshalECPrivateKey(key)
	must(t, err)
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	must(t, os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	must(t, os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600))
	ln, err := apiListener("127.0.0.1:0", "", certFile, keyFile)
	must(t, err)
	defer ln.Close()
	go func() {
		if c, err := ln.Accept(); err == nil {
			c.(*tls.Conn).Handshake()
			c.Close()
		}
	}()
	pool := x509.NewCertPool()
	cert, _ := x509.ParseCertificate(der)
	pool.AddCert(cert)
	conn, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"})
	if err != nil {
		t.Fatalf("a TLS client could not reach the API: %v", err)
	}
	conn.Close()
}
