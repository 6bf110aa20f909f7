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
	"time"

	"github.com/gotribes/tribes/channel"
)

// tricklingServer is a plain-HTTP API server that answers with doc in parts, waiting gap
// before each, then, if stall, waits for the request to end instead of finishing.
func tricklingServer(t *testing.T, doc []byte, parts int, gap time.Duration, stall bool) Config {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		n := (len(doc) + parts - 1) / parts
		for b := doc; len(b) > 0; {
			select {
			case <-time.After(gap):
			case <-r.Context().Done():
				return
			}
			if stall && len(b) <= n {
				<-r.Context().Done()
				return
			}
			k := min(n, len(b))
			_, _ = w.Write(b[:k])
			w.(http.Flusher).Flush()
			b = b[k:]
		}
	}))
	t.Cleanup(srv.Close)
	tok := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tok, []byte("t"), 0o600); err != nil {
		t.Fatal(err)
	}
	host, port, _ := strings.Cut(strings.TrimPrefix(srv.URL, "http://"), ":")
	return Config{LookupEnv: NoEnv, LocalIP: "127.0.0.1", ConnectTimeout: 100 * time.Millisecond,
		ReadTimeout: 400 * time.Millisecond,
		Kubernetes:  KubernetesConfig{Protocol: "http", Host: host, Port: port, Namespace: recordedNamespace, TokenFile: tok}}
}

// TestKubernetesReadTimeoutIsPerRead: ReadTimeout is Tomcat's readTimeout, how long the
// API server may stay silent, not a bound on the whole answer: a pod list that keeps
// coming, in parts each well within ReadTimeout, is read even when it takes longer than
// ConnectTimeout and ReadTimeout together (a large namespace, a busy API server).
func TestKubernetesReadTimeoutIsPerRead(t *testing.T) {
	cfg := tricklingServer(t, withAddresses(recorded(t), "127.0.0.1", "127.0.0.2"), 8, 100*time.Millisecond, false)
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Provider().(*Kubernetes).CloseIdleConnections()
	var health []error
	s.SetHealthFunc(func(err error) { health = append(health, err) })
	begin := time.Now()
	if err := s.Start(context.Background(), channel.SvcMembership, localMember("127.0.0.1", 4000, md5Of(pod1UID)), &recorder{}); err != nil {
		t.Fatal(err)
	}
	defer s.Stop(context.Background(), channel.SvcMembership)
	took := time.Since(begin)
	if ms := s.Members(); len(ms) != 1 || ms[0].UniqueID != md5Of(pod2UID) {
		t.Errorf("members %v after a fetch of %v, want the other pod (health %v)", ms, took, health)
	}
	if took < cfg.ConnectTimeout+cfg.ReadTimeout {
		t.Errorf("the answer took %v, not longer than both timeouts: the test proves nothing", took)
	}
}

// TestKubernetesReadTimeoutEndsSilentAnswer: an answer that stops coming fails the fetch
// with ErrFetch once the server has been silent for ReadTimeout (400 ms), not at
// FetchTimeout, made 30 s here: the error is the read timeout's, not the fetch timeout's
// (context.DeadlineExceeded), and comes within half of FetchTimeout.
func TestKubernetesReadTimeoutEndsSilentAnswer(t *testing.T) {
	cfg := tricklingServer(t, recorded(t), 4, 10*time.Millisecond, true)
	cfg.FetchTimeout = 30 * time.Second
	k, err := NewKubernetes(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer k.CloseIdleConnections()
	begin := time.Now()
	_, err = k.Fetch(context.Background())
	took := time.Since(begin)
	if !errors.Is(err, ErrFetch) || errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v after %v, want ErrFetch from the read timeout, not the fetch timeout", err, took)
	}
	if took > cfg.FetchTimeout/2 {
		t.Errorf("a silent answer failed after %v, ReadTimeout %v, FetchTimeout %v", took, cfg.ReadTimeout, cfg.FetchTimeout)
	}
}
