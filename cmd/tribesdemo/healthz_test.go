package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gotribes/tribes/channel"
)

// TestHealthzUnhealthyChannel: tribesdemo sessions answers /healthz with 503 while the
// channel reports a failure (the receiver restarting after descriptor exhaustion:
// channel.ErrReceiverFailed, TestHealthEvents in channel) or the manager is not ready,
// and with 200 otherwise.
func TestHealthzUnhealthyChannel(t *testing.T) {
	failed := fmt.Errorf("%w: accept: too many open files", channel.ErrReceiverFailed)
	for _, c := range []struct {
		name   string
		health error
		ready  bool
		code   int
		body   string
	}{
		{"receiver failed", failed, true, http.StatusServiceUnavailable, "unhealthy"},
		{"receiver failed, not ready", failed, false, http.StatusServiceUnavailable, "unhealthy"},
		{"not ready", nil, false, http.StatusServiceUnavailable, "starting"},
		{"healthy and ready", nil, true, http.StatusOK, "ok"},
	} {
		w := httptest.NewRecorder()
		health := func() error { return c.health }
		healthz(health, func() bool { return c.ready })(w, httptest.NewRequest(http.MethodGet, "/healthz", nil))
		if w.Code != c.code || !strings.Contains(w.Body.String(), c.body) {
			t.Errorf("%s: %d %q, want %d with %q", c.name, w.Code, w.Body.String(), c.code, c.body)
		}
	}
}
