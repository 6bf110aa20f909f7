package delta_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/session/delta"
)

// An asynchronous send returns once written, and a node's next message can travel on
// another pooled connection and be applied first by a member serving its connections
// concurrently. These tests record what a real node sends (a raw member on its network)
// and deliver it to a member on another network in the order such a race allows.

// recorded starts a node on a network of its own with cfg, and a raw member there that
// records every session message the node sends.
func recorded(t *testing.T, cfg delta.Config) (*node, func() []*delta.Message) {
	t.Helper()
	nw := channeltest.NewNetwork()
	a := startReady(t, nw, cfg)
	var mu sync.Mutex
	var msgs []*delta.Message
	newRaw(t, nw, func(m *delta.Message, _ channel.Member) {
		mu.Lock()
		msgs = append(msgs, m)
		mu.Unlock()
	})
	return a, func() []*delta.Message {
		delta.DrainAsync(a.m)
		mu.Lock()
		defer mu.Unlock()
		return append([]*delta.Message(nil), msgs...)
	}
}

// replayTo starts a ready node with cfg on a network of its own and has a raw member
// there deliver msgs to it, one at a time (each applied before the next is sent), in the
// order of idx.
func replayTo(t *testing.T, cfg delta.Config, msgs []*delta.Message, idx ...int) *node {
	t.Helper()
	nw := channeltest.NewNetwork()
	b := startReady(t, nw, cfg)
	r := newRaw(t, nw, nil)
	for _, i := range idx {
		r.send(t, b.ch.LocalMember(), msgs[i])
	}
	return b
}

// events returns the events of msgs, to check what the node sent.
func eventsOf(msgs []*delta.Message) []delta.Event {
	var evs []delta.Event
	for _, m := range msgs {
		evs = append(evs, m.Event)
	}
	return evs
}

func wantSent(t *testing.T, msgs []*delta.Message, want ...delta.Event) {
	t.Helper()
	got := eventsOf(msgs)
	if len(got) != len(want) {
		t.Fatalf("sent %v, want %v", got, want)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("sent %v, want %v", got, want)
		}
	}
}

// TestExpiryOvertakingFirstDelta: a session is created, changed and invalidated (a
// logout) on A with asynchronous replication; its EVT_SESSION_EXPIRED reaches B before
// its first delta (or before its EVT_SESSION_CREATED too). B made the copy again from
// the late delta (which carries isnew, so that a node that missed the creation makes the
// copy) or from the late creation: a logged-out session alive on B. B now remembers the
// removal and its version.
func TestExpiryOvertakingFirstDelta(t *testing.T) {
	cfg := delta.Config{JvmRoute: "a", Replication: delta.ReplicateAsync}
	a, sent := recorded(t, cfg)
	ctx := context.Background()
	s, err := a.m.Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Set("user", "alice"); err != nil {
		t.Fatal(err)
	}
	if err := a.m.Replicate(ctx, s); err != nil {
		t.Fatal(err)
	}
	if err := a.m.Invalidate(ctx, s); err != nil {
		t.Fatal(err)
	}
	msgs := sent()
	wantSent(t, msgs, delta.EventCreated, delta.EventDelta, delta.EventExpired)
	for name, order := range map[string][]int{
		"delta last":              {0, 2, 1},
		"creation and delta last": {2, 0, 1},
		"creation last":           {2, 1, 0},
	} {
		t.Run(name, func(t *testing.T) {
			cfg.JvmRoute = "b"
			b := replayTo(t, cfg, msgs, order...)
			if got := b.m.Find(s.ID()); got != nil {
				v, _ := got.Get("user")
				t.Fatalf("B holds the logged-out session %s (user %v)", s.ID(), v)
			}
		})
	}
}

// TestOvertakenDeltaKeepsLaterMeta: two requests on A change a session's principal and
// max inactive interval in turn; the second's delta reaches B first. Attributes are
// ordered by their stamps, but B applied the rest in arrival order, and kept the first
// request's principal and interval (a user who logged in again as bob is alice on B).
func TestOvertakenDeltaKeepsLaterMeta(t *testing.T) {
	cfg := delta.Config{JvmRoute: "a", Replication: delta.ReplicateAsync}
	a, sent := recorded(t, cfg)
	ctx := context.Background()
	s := create(t, a, "k", 1)
	for i, user := range []string{"alice", "bob"} {
		if err := s.SetPrincipal(&delta.Principal{Name: user}); err != nil {
			t.Fatal(err)
		}
		if err := s.SetMaxInactiveInterval(time.Duration(i+1) * 10 * time.Minute); err != nil {
			t.Fatal(err)
		}
		if err := s.Set("k", i+2); err != nil {
			t.Fatal(err)
		}
		if err := a.m.Replicate(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	msgs := sent()
	wantSent(t, msgs, delta.EventCreated, delta.EventDelta, delta.EventDelta, delta.EventDelta)
	cfg.JvmRoute = "b"
	b := replayTo(t, cfg, msgs, 0, 1, 3, 2)
	c := b.m.Find(s.ID())
	if c == nil {
		t.Fatal("B lacks the session")
	}
	if p := c.Principal(); p == nil || p.Name != "bob" {
		t.Errorf("principal on B is %+v, want bob (the later request's)", p)
	}
	if d := c.MaxInactiveInterval(); d != 20*time.Minute {
		t.Errorf("max inactive interval on B is %v, want 20m (the later request's)", d)
	}
	if v, _ := delta.Attr[int](c, "k"); v != 3 {
		t.Errorf("k on B is %d, want 3", v)
	}
	if c.IsNew() {
		t.Error("the first delta's isnew came back on B")
	}
}

// TestSessionMadeAgainUnderRemovedID: a session removed and made again under the same id
// (CreateWithID, as session/scsstore does with a token) still reaches the members, which
// remember the removal: its first delta's version is above the removal's.
func TestSessionMadeAgainUnderRemovedID(t *testing.T) {
	for _, mode := range []delta.ReplicationMode{delta.ReplicateAsync, delta.ReplicateAcked} {
		t.Run(mode.String(), func(t *testing.T) {
			nw := channeltest.NewNetwork()
			a := startReady(t, nw, delta.Config{JvmRoute: "a", Replication: mode})
			b := startReady(t, nw, delta.Config{JvmRoute: "b", Replication: mode})
			makeAgain(t, a.m, "tok")
			delta.DrainAsync(a.m)
			c := b.m.Find("tok")
			if c == nil {
				t.Fatal("B lacks the session made again")
			}
			if v, _ := delta.Attr[int](c, "k"); v != 1 {
				t.Errorf("k on B is %d, want 1", v)
			}
		})
	}
}

// TestExpiryOvertakingRename: a session renamed on A (a login's ChangeID) and then
// invalidated there; its EVT_SESSION_EXPIRED, naming the new id, reaches B before the
// rename. B, holding no session under the new id, ignored the expiry and then renamed
// its copy: the logged-out session alive on B under its new id.
func TestExpiryOvertakingRename(t *testing.T) {
	cfg := delta.Config{JvmRoute: "a", Replication: delta.ReplicateAsync}
	a, sent := recorded(t, cfg)
	ctx := context.Background()
	s := create(t, a, "user", "alice")
	oldID := s.ID()
	newID, err := a.m.ChangeSessionID(ctx, s, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := a.m.Invalidate(ctx, s); err != nil {
		t.Fatal(err)
	}
	msgs := sent()
	wantSent(t, msgs, delta.EventCreated, delta.EventDelta, delta.EventChangeSessionID, delta.EventExpired)
	cfg.JvmRoute = "b"
	b := replayTo(t, cfg, msgs, 0, 1, 3, 2)
	for _, id := range []string{oldID, newID} {
		if b.m.Find(id) != nil {
			t.Errorf("B holds the logged-out session under %s", id)
		}
	}
}
