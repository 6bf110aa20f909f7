package delta_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/gotribes/tribes/internal/sessionhttp"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/session/delta"
)

// A node without the quorum, or that has not refreshed since it got it back, cannot tell
// a session id it does not hold from one it lacks (made, or renamed, on the majority's
// side, or a copy its refresh has not brought yet: TestPartialPartition's high answered
// 200 without the session while it lacked it). Its middleware answers 503 to a request
// naming such an id, as to one for a session it holds, instead of running the handler
// without the session, which could make a new one whose cookie replaces the client's. A
// request without a session id is served; with the quorum back and refreshed, an id not
// held is served without a session.
func TestNoQuorumRefusesAnIdNotHeld(t *testing.T) {
	nw, a, b, c := three(t, delta.Config{Replication: delta.ReplicateAcked, ClusterSize: 3})
	startedAlone(t, a)
	calls := 0
	h := wrap(t, c, delta.HTTPConfig{}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls++
		if delta.FromContext(r.Context()).Session() != nil {
			t.Error("the handler got a session for an id not held")
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	unknown := sessionhttp.WithRoute("0123456789ABCDEF0123456789ABCDEF", "a") // made on a while c was cut off, say

	nw.Isolate(c.tn, a.tn, b.tn)
	refused := c.m.Stats().StaleRequestsRefused
	w := get(h, "/", unknown)
	if w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") != "1" || calls != 0 {
		t.Errorf("c without the quorum, an id not held: %d (Retry-After %q), handler called %d times; want 503, 1, 0",
			w.Code, w.Header().Get("Retry-After"), calls)
	}
	if got := c.m.Stats().StaleRequestsRefused; got != refused+1 {
		t.Errorf("StaleRequestsRefused = %d, want %d", got, refused+1)
	}
	if w := get(h, "/", ""); w.Code != http.StatusNoContent || calls != 1 {
		t.Errorf("c without the quorum, no session id: %d, handler called %d times; want 204, 1", w.Code, calls)
	}

	nw.Heal(c.tn, a.tn)
	nw.Heal(c.tn, b.tn)
	testutil.EventuallyTrue(t, 10*time.Second, "c refreshed with the quorum back", func() bool {
		return c.m.Serving() == nil
	})
	if w := get(h, "/", unknown); w.Code != http.StatusNoContent || calls != 2 {
		t.Errorf("c with the quorum, an id not held: %d, handler called %d times; want 204, 2", w.Code, calls)
	}
}
