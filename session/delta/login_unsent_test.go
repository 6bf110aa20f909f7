package delta_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/session/delta"
)

// TestMiddlewareLoginRefusedWhileRenamesUnsent holds what sessions.md tells a login
// handler about ChangeID's errors. While B refuses every session message, each of eight
// logins renames the session on A (the cookie carries the new id; ChangeID's error wraps
// a *channel.SendError) and is answered 503 with acknowledged replication. The ninth login's ChangeID returns an error wrapping
// ErrRenamesUnsent: the session was not renamed and keeps the id the client sent (no
// cookie), so the handler does not log the user in, and the middleware answers 503. Once
// B takes messages again, a login renames the session on both nodes.
func TestMiddlewareLoginRefusedWhileRenamesUnsent(t *testing.T) {
	nw := channeltest.NewNetwork()
	a := startReady(t, nw, delta.Config{JvmRoute: "a", Replication: delta.ReplicateAcked})
	b := startReady(t, nw, delta.Config{JvmRoute: "b", Replication: delta.ReplicateAcked})
	var loginErr error // the handler runs in the test's goroutine (get)
	login := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rq := delta.FromContext(r.Context())
		_, err := rq.ChangeID()
		loginErr = err
		if errors.Is(err, delta.ErrRenamesUnsent) {
			return // not renamed: no login on this id
		}
		if err := rq.Set("user", "ann"); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	})
	ha, hlogin := wrap(t, a, delta.HTTPConfig{}, counter), wrap(t, a, delta.HTTPConfig{}, login)
	id := sessionCookie(t, get(ha, "/", ""), "JSESSIONID").Value

	fail := true
	var failMu sync.Mutex
	remove := b.ch.AddMessageListener(failingSessions{func() bool { failMu.Lock(); defer failMu.Unlock(); return fail }})
	defer remove()
	var sendErr *channel.SendError
	for i := range 8 {
		w := get(hlogin, "/login", id)
		ck := sessionCookie(t, w, "JSESSIONID")
		if w.Code != http.StatusServiceUnavailable || ck == nil || ck.Value == id || errors.Is(loginErr, delta.ErrRenamesUnsent) ||
			!errors.As(loginErr, &sendErr) {
			t.Fatalf("login %d with B failing: %d, cookie %+v, ChangeID: %v; want 503 with a new id, a *channel.SendError", i+1, w.Code, ck, loginErr)
		}
		id = ck.Value
	}
	w := get(hlogin, "/login", id)
	if !errors.Is(loginErr, delta.ErrRenamesUnsent) {
		t.Errorf("the ninth login's ChangeID: %v, want an error wrapping ErrRenamesUnsent", loginErr)
	}
	if w.Code != http.StatusServiceUnavailable || w.Header().Get("Set-Cookie") != "" {
		t.Errorf("the ninth login: %d, Set-Cookie %q; want 503 and no cookie", w.Code, w.Header().Get("Set-Cookie"))
	}
	s := a.m.Find(id)
	if s == nil {
		t.Fatalf("A holds no session under %s, the id the refused login kept", id)
	}
	if v, _ := delta.Attr[string](s, "user"); v != "ann" {
		t.Errorf("user=%q, want ann from the earlier logins", v)
	}

	failMu.Lock()
	fail = false
	failMu.Unlock()
	w = get(hlogin, "/login", id)
	ck := sessionCookie(t, w, "JSESSIONID")
	if w.Code != http.StatusOK || ck == nil || ck.Value == id || loginErr != nil {
		t.Fatalf("a login once B takes messages: %d, cookie %+v, ChangeID: %v", w.Code, ck, loginErr)
	}
	for name, n := range map[string]*node{"A": a, "B": b} {
		if n.m.Find(id) != nil || n.m.Find(ck.Value) == nil {
			t.Errorf("%s: the session is not held under the login's new id %s alone", name, ck.Value)
		}
	}
}

// TestBinderRenameRefusedNotCountedAsRerouted: a request with another node's route whose
// binder rename is refused (ErrRenamesUnsent: eight renames of the session have not
// reached B) leaves the session under that route: it is answered 503 with acknowledged
// replication, without a cookie, and not counted in Stats.SessionsRerouted, which counts
// the sessions the binder renamed (it was, and logged as renamed).
func TestBinderRenameRefusedNotCountedAsRerouted(t *testing.T) {
	ctx := context.Background()
	nw := channeltest.NewNetwork()
	a := startReady(t, nw, delta.Config{JvmRoute: "a", Replication: delta.ReplicateAcked})
	b := startReady(t, nw, delta.Config{JvmRoute: "b", Replication: delta.ReplicateAcked})
	s := delta.CreateReplicated(t, a.m, "user", "ann")
	remove := b.ch.AddMessageListener(failingSessions{func() bool { return true }})
	defer remove()
	for i := range 8 { // each to an id of B's route, as a failover from B would give
		if _, err := a.m.ChangeSessionID(ctx, s, fmt.Sprintf("ID%d.b", i)); err == nil {
			t.Fatalf("rename %d succeeded though B refuses session messages", i+1)
		}
	}
	id := s.ID()
	w := get(wrap(t, a, delta.HTTPConfig{}, counter), "/", id)
	if w.Code != http.StatusServiceUnavailable || w.Header().Get("Set-Cookie") != "" || s.ID() != id {
		t.Errorf("a request with %s on A: %d, Set-Cookie %q, session id %s; want 503, no cookie, %s kept",
			id, w.Code, w.Header().Get("Set-Cookie"), s.ID(), id)
	}
	if got := a.m.Stats().SessionsRerouted; got != 0 {
		t.Errorf("SessionsRerouted %d after a refused binder rename, want 0", got)
	}
}
