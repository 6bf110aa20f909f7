package cloud

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestKubernetesErrorKeepsTheEndOfALongText: an error text of the HTTP client's longer
// than the bound was cut to its first 256 bytes, and the end of some is what tells what
// was wrong: the TLS error of a certificate not valid for the API's address lists the
// addresses it is valid for, then the one wanted, so that with a certificate for many
// addresses the error did not say which was wanted. The error now keeps the text's
// beginning and its end, still within the bound.
func TestKubernetesErrorKeepsTheEndOfALongText(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "many addresses"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for i := range 60 {
		tmpl.IPAddresses = append(tmpl.IPAddresses, net.IPv4(10, 0, 0, byte(i+1)))
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.NotFoundHandler())
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
	srv.StartTLS()
	defer srv.Close()
	ca := filepath.Join(t.TempDir(), "ca.crt")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := newAPIServer(t, nil).config() // its token file
	cfg.Kubernetes.CACertFile = ca
	cfg.Kubernetes.Host, cfg.Kubernetes.Port, _ = strings.Cut(strings.TrimPrefix(srv.URL, "https://"), ":")
	k, err := NewKubernetes(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer k.CloseIdleConnections()
	_, err = k.Fetch(context.Background())
	if !errors.Is(err, ErrFetch) {
		t.Fatalf("err = %v, want ErrFetch", err)
	}
	if msg := err.Error(); len(msg) > maxErrorText || !strings.HasSuffix(msg, "not 127.0.0.1") || !strings.Contains(msg, "x509: certificate is valid for 10.0.0.1,") {
		t.Fatalf("error of %d bytes: %s\nwant at most %d, naming the certificate's first address and ending with the one wanted", len(msg), msg, maxErrorText)
	}
}
