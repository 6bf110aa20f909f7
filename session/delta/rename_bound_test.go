package delta_test

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/sessionhttp"
	"github.com/gotribes/tribes/session/delta"
)

// TestNinthRenameDoneWhileEightUnsent: eight renames of a session each failed to reach
// B, which holds the session under its first id. A ninth rename, while the eight still
// fail to reach B, was refused (ErrRenamesUnsent, the session keeping its id: a login
// handler ignoring the error logged the user in under the id the client sent). It is
// now done here like any other (its error a *channel.SendError), and once B is
// reachable one message renames B's copy from the first id straight to the current one.
func TestNinthRenameDoneWhileEightUnsent(t *testing.T) {
	ctx := context.Background()
	nw := channeltest.NewNetwork()
	a, d := startDropping(t, nw)
	b := startReady(t, nw, delta.Config{JvmRoute: "b"})
	s := delta.CreateReplicated(t, a, "user", "ann")
	ids := []string{s.ID()}
	for range 8 {
		ids = append(ids, renameMissing(t, a, d, s, "B", b))
	}
	eighth := s.ID()
	id, err := a.ChangeSessionID(ctx, s, "")
	var sendErr *channel.SendError
	if !errors.As(err, &sendErr) || id == eighth || s.ID() != id {
		t.Fatalf("a ninth rename while eight failed to reach B: %s, %v; want a new id and a *channel.SendError", id, err)
	}
	ids = append(ids, id)
	d.drop.Store(nil)
	sent := a.Stats().Sent[delta.EventChangeSessionID]
	if err := a.Replicate(ctx, s); err != nil { // the renames go out again
		t.Fatal(err)
	}
	if n := a.Stats().Sent[delta.EventChangeSessionID] - sent; n != 1 {
		t.Errorf("A sent %d id changes to bring B from the first id to the current one, want 1", n)
	}
	checkRenamed(t, "B after the resend", b.m, ids[0], s.ID())
	checkNoOldID(t, "B", b.m, ids[:len(ids)-1])
	old := s.ID()
	if _, err := a.ChangeSessionID(ctx, s, ""); err != nil {
		t.Fatalf("a rename once B is reachable: %v", err)
	}
	checkRenamed(t, "B after the next rename", b.m, old, s.ID())
	checkRenameNotResent(t, a, s)
}

// TestMemberMissingNineRenamesHoldsTheCurrentIDOnly: B misses the session's renames 1
// to 9, then comes back: it holds the session under the current id alone, none of the
// ten ids before it.
func TestMemberMissingNineRenamesHoldsTheCurrentIDOnly(t *testing.T) {
	ctx := context.Background()
	nw := channeltest.NewNetwork()
	a, d := startDropping(t, nw)
	b := startReady(t, nw, delta.Config{JvmRoute: "b"})
	s := delta.CreateReplicated(t, a, "user", "ann")
	ids := []string{s.ID()}
	for range 9 {
		ids = append(ids, renameMissing(t, a, d, s, "B", b))
	}
	d.drop.Store(nil)
	if err := a.Replicate(ctx, s); err != nil {
		t.Fatal(err)
	}
	checkRenamed(t, "B", b.m, ids[0], s.ID())
	checkNoOldID(t, "B", b.m, ids[:len(ids)-1])
	if n := b.m.Len(); n != 1 {
		t.Errorf("B holds %d sessions, want the one under %s", n, s.ID())
	}
	checkRenameNotResent(t, a, s)
}

// checkNoOldID checks that m holds no session under any of ids.
func checkNoOldID(t *testing.T, who string, m *delta.Manager, ids []string) {
	t.Helper()
	for i, id := range ids {
		if m.Find(id) != nil {
			t.Errorf("%s still holds a session under id %d (%s)", who, i, id)
		}
	}
}

// TestRerouteWhileRenamesUnsentCounted: a request brings a session id with another
// node's route to A, whose binder renames it to A's route, while seven earlier renames
// of the session failed to reach B (and still fail). That rename was refused
// (ErrRenamesUnsent), the session keeping the other route; it is now done: answered 503
// (acknowledged replication, B missing it) with the new cookie, counted in
// Stats.SessionsRerouted, and B follows once reachable.
func TestRerouteWhileRenamesUnsentCounted(t *testing.T) {
	ctx := context.Background()
	nw := channeltest.NewNetwork()
	a, d := startDropping(t, nw)
	b := startReady(t, nw, delta.Config{JvmRoute: "b"})
	s := delta.CreateReplicated(t, a, "user", "ann")
	first := s.ID()
	for range 7 {
		renameMissing(t, a, d, s, "B", b)
	}
	// The eighth to another node's route, as the binder of a node z would have named it.
	routed := sessionhttp.WithRoute(s.ID(), "z")
	if _, err := a.ChangeSessionID(ctx, s, routed); err == nil {
		t.Fatal("the eighth rename succeeded though B gets nothing")
	}
	mw, err := delta.NewMiddleware(a, delta.HTTPConfig{})
	if err != nil {
		t.Fatal(err)
	}
	h := mw.Wrap(counter)
	w := get(h, "/", routed)
	if w.Code != http.StatusServiceUnavailable {
		t.Errorf("a request with route z while B gets nothing: %d %q, want 503", w.Code, w.Body.String())
	}
	if c := sessionCookie(t, w, "JSESSIONID"); c == nil || c.Value != s.ID() || sessionhttp.RouteOf(c.Value) != "a" {
		t.Errorf("the cookie %+v, want the session's id %s under route a", c, s.ID())
	}
	if got := a.Stats().SessionsRerouted; got != 1 {
		t.Errorf("SessionsRerouted %d after the binder's rename, want 1", got)
	}
	d.drop.Store(nil)
	if w := get(h, "/", s.ID()); w.Code != http.StatusOK {
		t.Fatalf("the next request once B is reachable: %d %q", w.Code, w.Body.String())
	}
	checkRenamed(t, "B", b.m, first, s.ID())
}
