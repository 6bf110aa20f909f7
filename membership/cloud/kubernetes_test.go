package cloud

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestKubernetesFetchesRecordedList: the provider asks the API over HTTPS, trusting the
// configured CA and sending the service account token, and turns the recorded pod list
// into instances with Tomcat's ids.
func TestKubernetesFetchesRecordedList(t *testing.T) {
	api := newAPIServer(t, recorded(t))
	cfg := api.config()
	cfg.Kubernetes.Labels = "run=tomcat-in-the-cloud,tier in (web)"
	k, err := NewKubernetes(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer k.CloseIdleConnections()
	insts, err := k.Fetch(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(insts) != 2 || insts[0].IP != pod1IP || insts[0].UniqueID != md5Of(pod1UID) ||
		insts[1].IP != pod2IP || insts[1].UniqueID != md5Of(pod2UID) {
		t.Fatalf("instances %+v", insts)
	}
	// The label selector is form-encoded, as Java's URLEncoder writes it.
	if got, want := *api.lastURL.Load(), "/api/v1/namespaces/tomcat-in-the-cloud/pods?labelSelector=run%3Dtomcat-in-the-cloud%2Ctier+in+%28web%29"; got != want {
		t.Errorf("request %s, want %s", got, want)
	}
}

// TestKubernetesRefusesUnknownCA: a server whose certificate the CA file does not sign is
// not asked.
func TestKubernetesRefusesUnknownCA(t *testing.T) {
	api := newAPIServer(t, recorded(t))
	cfg := api.config()
	cfg.Kubernetes.CACertFile = otherCA(t)
	k, err := NewKubernetes(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer k.CloseIdleConnections()
	if _, err := k.Fetch(context.Background()); !errors.Is(err, ErrFetch) || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("err = %v", err)
	}
	if api.requests.Load() != 0 {
		t.Error("the request reached the server")
	}
}

// TestKubernetesReloadsToken: a rotated token file is read again (its modification time
// changed), as Tomcat does for projected service account tokens.
func TestKubernetesReloadsToken(t *testing.T) {
	api := newAPIServer(t, recorded(t))
	k, err := NewKubernetes(api.config())
	if err != nil {
		t.Fatal(err)
	}
	defer k.CloseIdleConnections()
	if _, err := k.Fetch(context.Background()); err != nil {
		t.Fatal(err)
	}
	tok := "rotated-token"
	api.token.Store(&tok)
	if _, err := k.Fetch(context.Background()); !errors.Is(err, ErrFetch) || !strings.Contains(err.Error(), "401") {
		t.Fatalf("old token: err = %v", err)
	}
	if err := os.WriteFile(api.tokFile, []byte(tok), 0o600); err != nil {
		t.Fatal(err)
	}
	later := time.Now().Add(time.Minute)
	if err := os.Chtimes(api.tokFile, later, later); err != nil {
		t.Fatal(err)
	}
	if _, err := k.Fetch(context.Background()); err != nil {
		t.Fatalf("new token: %v", err)
	}
}

// TestKubernetesRefusesLargeAnswers: a document over the byte limit, announced or not,
// fails with ErrTooLarge.
func TestKubernetesRefusesLargeAnswers(t *testing.T) {
	doc := recorded(t)
	for _, chunked := range []bool{false, true} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			if chunked {
				_, _ = w.Write(doc[:100])
				w.(http.Flusher).Flush()
				_, _ = w.Write(doc[100:])
				return
			}
			_, _ = w.Write(doc)
		}))
		host, port, _ := strings.Cut(strings.TrimPrefix(srv.URL, "http://"), ":")
		k, err := NewKubernetes(Config{LookupEnv: NoEnv, LocalIP: "127.0.0.1", Kubernetes: KubernetesConfig{
			Protocol: "http", Host: host, Port: port, Namespace: "x", TokenFile: newAPIServer(t, nil).tokFile,
			MaxResponseBytes: int64(len(doc) / 2)}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := k.Fetch(context.Background()); !errors.Is(err, ErrTooLarge) {
			t.Errorf("chunked=%v: err = %v", chunked, err)
		}
		k.CloseIdleConnections()
		srv.Close()
	}
}

// TestKubernetesTimesOut: an API server that does not answer fails the fetch after the
// timeouts, not later.
func TestKubernetesTimesOut(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { <-release }))
	defer srv.Close()
	defer close(release)
	host, port, _ := strings.Cut(strings.TrimPrefix(srv.URL, "http://"), ":")
	k, err := NewKubernetes(Config{LookupEnv: NoEnv, LocalIP: "127.0.0.1", ReadTimeout: 50 * time.Millisecond,
		Kubernetes: KubernetesConfig{Protocol: "http", Host: host, Port: port, TokenFile: newAPIServer(t, nil).tokFile}})
	if err != nil {
		t.Fatal(err)
	}
	defer k.CloseIdleConnections()
	if _, err := k.Fetch(context.Background()); !errors.Is(err, ErrFetch) {
		t.Fatalf("err = %v", err)
	}
}

// otherCA writes a self-signed CA certificate that signed nothing the tests serve.
func otherCA(t *testing.T) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "other test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(t.TempDir(), "other-ca.crt")
	if err := os.WriteFile(f, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// TestKubernetesReusesConnection: successive fetches go over one kept-alive connection,
// as Java's HttpsURLConnection keeps it, instead of a new TCP connection and TLS
// handshake with the API server on every heartbeat of every node.
func TestKubernetesReusesConnection(t *testing.T) {
	api := newAPIServer(t, recorded(t))
	k, err := NewKubernetes(api.config())
	if err != nil {
		t.Fatal(err)
	}
	defer k.CloseIdleConnections()
	for range 3 {
		if _, err := k.Fetch(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if n := api.connections(); n != 1 {
		t.Errorf("3 fetches over %d connections, want 1", n)
	}
}
