package delta_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/session/delta"
)

// A middleware whose manager was stopped (Cluster.Close while the server still serves)
// answered every request 503 "session manager is starting": the manager is not starting
// and never will, so the operator was sent after a start-up that is not happening. It
// answers 503 "session manager is stopped", without Retry-After.
func TestStoppedManagerNotReportedAsStarting(t *testing.T) {
	n := startReady(t, channeltest.NewNetwork(), delta.Config{})
	h := wrap(t, n, delta.HTTPConfig{}, counter)
	if w := get(h, "/", ""); w.Code != http.StatusOK {
		t.Fatalf("before stop: %d %s", w.Code, w.Body)
	}
	if err := n.m.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	w := get(h, "/", "")
	if w.Code == http.StatusOK {
		t.Fatalf("served by a stopped manager")
	}
	if strings.Contains(w.Body.String(), "starting") {
		t.Errorf("stopped manager: %d %q (Retry-After %s), as if it were starting", w.Code, w.Body.String(), w.Header().Get("Retry-After"))
	}
	if w.Code != http.StatusServiceUnavailable || !strings.Contains(w.Body.String(), "session manager is stopped") || w.Header().Get("Retry-After") != "" {
		t.Errorf("stopped manager: %d %q (Retry-After %q), want 503 \"session manager is stopped\" without Retry-After",
			w.Code, w.Body.String(), w.Header().Get("Retry-After"))
	}
}

// A manager that was never started: the default HoldUntilReady held every request
// ReadyTimeout (10 s) for a start that may never come, then answered "session manager is
// starting". It answers 503 "session manager is not started" at once, under every policy
// but ServeBeforeReady.
func TestNotStartedManagerAnsweredAtOnce(t *testing.T) {
	for _, policy := range []delta.ReadyPolicy{delta.HoldUntilReady, delta.RefuseUntilReady} {
		synctest.Test(t, func(t *testing.T) {
			_, ch := newChannel(t, channeltest.NewNetwork())
			cl := newCluster(t, ch, delta.ClusterConfig{})
			t.Cleanup(func() { _ = cl.Close(context.Background()) })
			m, err := cl.NewManager(delta.Config{Name: appName})
			if err != nil {
				t.Fatal(err)
			}
			mw, err := delta.NewMiddleware(m, delta.HTTPConfig{NotReady: policy})
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			w := get(mw.Wrap(counter), "/", "")
			if held := time.Since(start); held > 0 {
				t.Errorf("policy %d: a request to a manager never started was held %v", policy, held)
			}
			if w.Code != http.StatusServiceUnavailable || !strings.Contains(w.Body.String(), "session manager is not started") {
				t.Errorf("policy %d: manager never started: %d %q, want 503 \"session manager is not started\"", policy, w.Code, w.Body.String())
			}
		})
	}
}
