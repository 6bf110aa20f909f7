package cloud

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// forbiddenMessage is the message of the recorded 403 Status document (see
// testdata/README.md).
const forbiddenMessage = `pods is forbidden: User "system:serviceaccount:default:default" cannot list resource "pods" in API group "" in the namespace "default"`

// httpProvider is a Kubernetes provider asking srv (plain HTTP) for namespace default,
// through rt if not nil.
func httpProvider(t *testing.T, srv *httptest.Server, rt http.RoundTripper) *Kubernetes {
	t.Helper()
	host, port, _ := strings.Cut(strings.TrimPrefix(srv.URL, "http://"), ":")
	k, err := NewKubernetes(Config{LookupEnv: NoEnv, LocalIP: "127.0.0.1", Kubernetes: KubernetesConfig{
		Protocol: "http", Host: host, Port: port, Namespace: "default", TokenFile: newAPIServer(t, nil).tokFile,
		Transport: rt}})
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
	_, err = httpProvider(t, srv, nil).Fetch(context.Background())
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

// countingTransport counts the bytes of the answers' bodies the provider reads.
type countingTransport struct {
	t    *http.Transport
	read atomic.Int64
}

func (c *countingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := c.t.RoundTrip(req)
	if err == nil {
		resp.Body = countingBody{ReadCloser: resp.Body, n: &c.read}
	}
	return resp, err
}

func (c *countingTransport) CloseIdleConnections() { c.t.CloseIdleConnections() }

type countingBody struct {
	io.ReadCloser
	n *atomic.Int64
}

func (b countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n.Add(int64(n))
	return n, err
}

// TestKubernetesErrorBodyReadWithinALimit: the body of an answer other than 200 that is
// not a Status document is quoted clipped (its beginning and end, control characters
// replaced), and read only up to maxErrorBody bytes: the provider reads no more of an
// answer that goes on (the test counted nothing before, and passed with the whole body
// read).
func TestKubernetesErrorBodyReadWithinALimit(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte("upstream connect error\x1b[2J "))
		chunk := []byte(strings.Repeat("x", 4096))
		for range 1 << 12 { // 16 MiB if it were all read; ends when the client closes
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	}))
	defer srv.Close()
	ct := &countingTransport{t: &http.Transport{}}
	k := httpProvider(t, srv, ct)
	_, err := k.Fetch(context.Background())
	var ae *APIError
	if !errors.Is(err, ErrFetch) || !errors.As(err, &ae) || ae.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("err = %.300v, want an *APIError of 503 wrapping ErrFetch", err)
	}
	msg := err.Error()
	if len(msg) > maxErrorText || strings.ContainsRune(msg, '\x1b') || !strings.Contains(msg, "503 Service Unavailable: upstream connect error") {
		t.Fatalf("error of %d bytes: %q; want at most %d, no control character, the status and the body's beginning", len(msg), msg, maxErrorText)
	}
	if n := ct.read.Load(); n > maxErrorBody {
		t.Errorf("%d bytes of the body read, want at most %d", n, maxErrorBody)
	}
}

// TestKubernetesErrorBodyTricklingEndsWithTheFetch: a body of an answer other than 200
// that comes a byte at a time, each well within ReadTimeout (a slow loris), is read no
// longer than FetchTimeout: the fetch fails with the *APIError and the part of the body
// that came, while the server still has bytes to send (it sees the connection closed).
func TestKubernetesErrorBodyTricklingEndsWithTheFetch(t *testing.T) {
	cutOff := make(chan bool, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusForbidden)
		_, _ = w.Write([]byte("slow"))
		w.(http.Flusher).Flush()
		for range 600 { // 60 s at most
			select {
			case <-time.After(100 * time.Millisecond):
			case <-r.Context().Done():
				cutOff <- true
				return
			}
			if _, err := w.Write([]byte(".")); err != nil {
				cutOff <- true
				return
			}
			w.(http.Flusher).Flush()
		}
		cutOff <- false
	}))
	defer srv.Close()
	host, port, _ := strings.Cut(strings.TrimPrefix(srv.URL, "http://"), ":")
	k, err := NewKubernetes(Config{LookupEnv: NoEnv, LocalIP: "127.0.0.1", ReadTimeout: time.Second,
		FetchTimeout: 2 * time.Second, Kubernetes: KubernetesConfig{Protocol: "http", Host: host, Port: port,
			Namespace: "default", TokenFile: newAPIServer(t, nil).tokFile}})
	if err != nil {
		t.Fatal(err)
	}
	defer k.CloseIdleConnections()
	_, err = k.Fetch(context.Background())
	var ae *APIError
	if !errors.As(err, &ae) || ae.StatusCode != http.StatusForbidden || !strings.HasPrefix(ae.Message, "slow") {
		t.Fatalf("err = %.300v, want an *APIError of 403 quoting the part of the body that came", err)
	}
	if !<-cutOff {
		t.Fatal("the server sent its whole trickling body: the fetch waited for it")
	}
}
