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

// TestLoginIgnoringErrorsNeverUnderTheOldID: a login handler that ignores ChangeID's
// error and logs the user in regardless. While B refuses every session message, each of
// ten logins renames the session on A (the cookie carries the new id, ChangeID's error
// wraps a *channel.SendError, acknowledged replication answers 503): the ninth was
// refused (ErrRenamesUnsent) and the handler logged the user in under the id the client
// sent. A now never holds the logged-in session under the id a login was sent with, and
// once B takes messages again B holds it under the last login's id alone.
func TestLoginIgnoringErrorsNeverUnderTheOldID(t *testing.T) {
	nw := channeltest.NewNetwork()
	a := startReady(t, nw, delta.Config{JvmRoute: "a", Replication: delta.ReplicateAcked})
	b := startReady(t, nw, delta.Config{JvmRoute: "b", Replication: delta.ReplicateAcked})
	var loginErr error // the handler runs in the test's goroutine (get)
	login := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rq := delta.FromContext(r.Context())
		_, loginErr = rq.ChangeID() // ignored, as a careless handler does
		_ = rq.Set("user", "ann")
	})
	ha, hlogin := wrap(t, a, delta.HTTPConfig{}, counter), wrap(t, a, delta.HTTPConfig{}, login)
	id := sessionCookie(t, get(ha, "/", ""), "JSESSIONID").Value
	first := id

	fail := true
	var failMu sync.Mutex
	remove := b.ch.AddMessageListener(failingSessions{func() bool { failMu.Lock(); defer failMu.Unlock(); return fail }})
	defer remove()
	var sendErr *channel.SendError
	for i := range 10 {
		w := get(hlogin, "/login", id)
		ck := sessionCookie(t, w, "JSESSIONID")
		if w.Code != http.StatusServiceUnavailable || ck == nil || ck.Value == id || !errors.As(loginErr, &sendErr) {
			t.Fatalf("login %d with B failing: %d, cookie %+v, ChangeID: %v; want 503 with a new id, a *channel.SendError", i+1, w.Code, ck, loginErr)
		}
		if a.m.Find(id) != nil {
			t.Errorf("login %d: A still holds a session under %s, the id the client sent", i+1, id)
		}
		id = ck.Value
	}
	failMu.Lock()
	fail = false
	failMu.Unlock()
	if w := get(ha, "/", id); w.Code != http.StatusOK {
		t.Fatalf("a request once B takes messages: %d %q", w.Code, w.Body.String())
	}
	s := b.m.Find(id)
	if s == nil {
		t.Fatalf("B holds no session under %s, the last login's id", id)
	}
	if v, _ := delta.Attr[string](s, "user"); v != "ann" {
		t.Errorf("B: user=%q under the last login's id, want ann", v)
	}
	if b.m.Find(first) != nil || b.m.Len() != 1 {
		t.Errorf("B holds %d sessions, the first id's among them: %v; want the last login's alone", b.m.Len(), b.m.Find(first) != nil)
	}
}

// TestBinderRenameWhileRenamesUnsentCountedAsRerouted: a request with another node's
// route while eight renames of its session have not reached B. Its binder rename was
// refused (ErrRenamesUnsent), leaving the session under that route; it is now done: the
// request is answered 503 with acknowledged replication, with the cookie under A's
// route, and counted in Stats.SessionsRerouted.
func TestBinderRenameWhileRenamesUnsentCountedAsRerouted(t *testing.T) {
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
	w := get(wrap(t, a, delta.HTTPConfig{}, counter), "/", "ID7.b")
	ck := sessionCookie(t, w, "JSESSIONID")
	if w.Code != http.StatusServiceUnavailable || ck == nil || ck.Value != "ID7.a" || s.ID() != "ID7.a" {
		t.Errorf("a request with ID7.b on A: %d, cookie %+v, session id %s; want 503 and ID7.a", w.Code, ck, s.ID())
	}
	if got := a.m.Stats().SessionsRerouted; got != 1 {
		t.Errorf("SessionsRerouted %d after the binder's rename, want 1", got)
	}
}
