package delta_test

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/sessionhttp"
	"github.com/gotribes/tribes/session/delta"
)

// TestNinthRenameRefusedWhileEightUnsent: eight renames of a session each failed to
// reach B, which holds the session under its first id. A ninth rename, while the eight
// still fail to reach B, made the session forget the first id (at most eight were
// kept, the oldest dropped): once B was reachable, the resends renamed ids B did not
// hold, and B kept the session under its first id for good, a client holding that id
// continuing there a copy the other nodes had renamed against fixation. The ninth
// rename is now refused (ErrRenamesUnsent; the session keeps its id) until the earlier
// ones reached every member, and B then follows every rename.
func TestNinthRenameRefusedWhileEightUnsent(t *testing.T) {
	ctx := context.Background()
	nw := channeltest.NewNetwork()
	a, d := startDropping(t, nw)
	b := startReady(t, nw, delta.Config{JvmRoute: "b"})
	s := delta.CreateReplicated(t, a, "user", "ann")
	first := s.ID()
	for range 8 {
		renameMissing(t, a, d, s, "B", b)
	}
	eighth := s.ID()
	_, err := a.ChangeSessionID(ctx, s, "")
	if !errors.Is(err, delta.ErrRenamesUnsent) {
		t.Errorf("a ninth rename while eight failed to reach B: %v, want an error wrapping ErrRenamesUnsent", err)
	}
	if s.ID() != eighth {
		t.Errorf("the session's id after the refused rename is %s, want %s: it keeps its id", s.ID(), eighth)
	}
	d.drop.Store(nil)
	if err := a.Replicate(ctx, s); err != nil { // the renames go out again
		t.Fatal(err)
	}
	checkRenamed(t, "B after the resends", b.m, first, s.ID())
	old := s.ID()
	if _, err := a.ChangeSessionID(ctx, s, ""); err != nil {
		t.Fatalf("a rename once the earlier ones reached B: %v", err)
	}
	checkRenamed(t, "B after the next rename", b.m, old, s.ID())
	checkRenameNotResent(t, a, s)
}

// TestRefusedRerouteNotCounted: a request brings a session id with another node's
// route to A, whose binder renames it to A's route. While eight earlier renames of the
// session failed to reach B (and still fail), that rename is refused (ErrRenamesUnsent):
// the request gets a 503, the session keeps its id, and Stats.SessionsRerouted counted
// it anyway. It now counts the renames done only: none then, one once B is reachable.
func TestRefusedRerouteNotCounted(t *testing.T) {
	ctx := context.Background()
	nw := channeltest.NewNetwork()
	a, d := startDropping(t, nw)
	b := startReady(t, nw, delta.Config{JvmRoute: "b"})
	s := delta.CreateReplicated(t, a, "user", "ann")
	for range 7 {
		renameMissing(t, a, d, s, "B", b)
	}
	// The eighth to another node's route, as the binder of a node z would have named it.
	routed := sessionhttp.WithRoute(s.ID(), "z")
	if _, err := a.ChangeSessionID(ctx, s, routed); err == nil || errors.Is(err, delta.ErrRenamesUnsent) {
		t.Fatalf("the eighth rename while B gets nothing: %v, want a send error", err)
	}
	mw, err := delta.NewMiddleware(a, delta.HTTPConfig{})
	if err != nil {
		t.Fatal(err)
	}
	h := mw.Wrap(counter)
	if w := get(h, "/", routed); w.Code != http.StatusServiceUnavailable {
		t.Errorf("a request with route z while the rename is refused: %d %q, want 503", w.Code, w.Body.String())
	}
	if s.ID() != routed {
		t.Errorf("the session's id is %s after the refused rename, want %s", s.ID(), routed)
	}
	if got := a.Stats().SessionsRerouted; got != 0 {
		t.Errorf("SessionsRerouted %d after a refused rename, want 0", got)
	}
	d.drop.Store(nil)
	w := get(h, "/", routed)
	if w.Code != http.StatusOK {
		t.Fatalf("the same request once B is reachable: %d %q", w.Code, w.Body.String())
	}
	if c := sessionCookie(t, w, "JSESSIONID"); c == nil || sessionhttp.RouteOf(c.Value) != "a" {
		t.Errorf("the new cookie %+v, want the session under route a", c)
	}
	if got := a.Stats().SessionsRerouted; got != 1 {
		t.Errorf("SessionsRerouted %d after one rename done, want 1", got)
	}
}
