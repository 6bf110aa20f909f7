package cloud

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// forbiddenMessage is the message of the recorded 403 Status document (see
// testdata/README.md).
const forbiddenMessage = `pods is forbidden: User "system:serviceaccount:default:default" cannot list resource "pods" in API group "" in the namespace "default"`

// httpProvider is a Kubernetes provider asking srv (plain HTTP) for namespace default.
func httpProvider(t *testing.T, srv *httptest.Server) *Kubernetes {
	t.Helper()
	host, port, _ := strings.Cut(strings.TrimPrefix(srv.URL, "http://"), ":")
	k, err := NewKubernetes(Config{LookupEnv: NoEnv, LocalIP: "127.0.0.1", Kubernetes: KubernetesConfig{
		Protocol: "http", Host: host, Port: port, Namespace: "default", TokenFile: newAPIServer(t, nil).tokFile}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(k.CloseIdleConnections)
	return k
}

// TestKubernetesForbiddenNamesTheAPIServersMessage: an answer other than 200 failed the
// fetch with its status line only ("403 Forbidden"), its body dropped, so a service
// account that may not list pods never saw what the API server says about it (which
// user, which resource, which namespace). The answer here is a recorded real 403 Status
// document of a Kubernetes API server (testdata/kubernetes-forbidden-status.json). The
// error is now an *APIError wrapping ErrFetch whose text and Message hold the
// document's message.
func TestKubernetesForbiddenNamesTheAPIServersMessage(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("testdata", "kubernetes-forbidden-status.json"))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusForbidden)
		_, _ = w.Write(doc)
	}))
	defer srv.Close()
	_, err = httpProvider(t, srv).Fetch(context.Background())
	if !errors.Is(err, ErrFetch) {
		t.Fatalf("err = %v, want ErrFetch", err)
	}
	if !strings.Contains(err.Error(), "403 Forbidden: "+forbiddenMessage) {
		t.Errorf("error %q does not hold the API server's message %q", err, forbiddenMessage)
	}
	var ae *APIError
	if !errors.As(err, &ae) {
		t.Fatalf("err = %v (%T), want an *APIError", err, err)
	}
	if ae.StatusCode != http.StatusForbidden || ae.Message != forbiddenMessage {
		t.Errorf("APIError %+v, want code 403 and message %q", ae, forbiddenMessage)
	}
	if msg := err.Error(); len(msg) > maxErrorText {
		t.Errorf("error of %d bytes, want at most %d", len(msg), maxErrorText)
	}
}

// TestKubernetesErrorBodyReadWithinALimit: the body of an answer other than 200 that is
// not a Status document is quoted clipped (its beginning and end, control characters
// replaced), and read only up to a limit: an answer that never ends does not hold the
// fetch.
func TestKubernetesErrorBodyReadWithinALimit(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte("upstream connect error\x1b[2J "))
		chunk := []byte(strings.Repeat("x", 4096))
		for range 1 << 16 { // 256 MiB if it were all read; ends when the client closes
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	}))
	defer srv.Close()
	_, err := httpProvider(t, srv).Fetch(context.Background())
	var ae *APIError
	if !errors.Is(err, ErrFetch) || !errors.As(err, &ae) || ae.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("err = %.300v, want an *APIError of 503 wrapping ErrFetch", err)
	}
	msg := err.Error()
	if len(msg) > maxErrorText || strings.ContainsRune(msg, '\x1b') || !strings.Contains(msg, "503 Service Unavailable: upstream connect error") {
		t.Fatalf("error of %d bytes: %q; want at most %d, no control character, the status and the body's beginning", len(msg), msg, maxErrorText)
	}
}
