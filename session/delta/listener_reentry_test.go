package delta_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/session/delta"
)

// A session listener may call back into the manager (the package documentation says so):
// here a "log out everywhere" listener invalidates the user's other sessions when one is
// destroyed, and theirs invalidate it in turn, while its own invalidation is under way.
// Its expiry held the session's send slot while the listeners ran, and the nested
// Invalidate waited for that slot: a deadlock.
func TestDestroyedListenerMayInvalidateTheSession(t *testing.T) {
	ctx := context.Background()
	var (
		mu       sync.Mutex
		sessions []*delta.Session // the user's
		m        *delta.Manager
	)
	logoutAll := delta.SessionListenerFuncs{Destroyed: func(e delta.SessionEvent) {
		if e.Replicated || e.Stopping {
			return
		}
		mu.Lock()
		others := append([]*delta.Session(nil), sessions...)
		mu.Unlock()
		for _, o := range others {
			if o != e.Session {
				if err := m.Invalidate(ctx, o); err != nil {
					t.Errorf("Invalidate from a listener: %v", err)
				}
			}
		}
	}}
	nw := channeltest.NewNetwork()
	a := startReady(t, nw, delta.Config{Replication: delta.ReplicateAcked, JvmRoute: "a",
		SessionListeners: []delta.SessionListener{logoutAll}})
	b := startReady(t, nw, delta.Config{Replication: delta.ReplicateAcked, JvmRoute: "b"})
	m = a.m
	s1, s2 := create(t, a, "user", "alice"), create(t, a, "user", "alice")
	mu.Lock()
	sessions = []*delta.Session{s1, s2}
	mu.Unlock()

	done := make(chan error, 1)
	go func() { done <- a.m.Invalidate(ctx, s1) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Invalidate did not return: the listener's Invalidate waits for the session's send slot")
	}
	if a.m.Len() != 0 || b.m.Len() != 0 {
		t.Errorf("left: a %d, b %d sessions (want 0, 0)", a.m.Len(), b.m.Len())
	}
	if st := a.m.Stats(); st.SessionsDestroyed != 2 || st.Sent[delta.EventExpired] != 2 {
		t.Errorf("destroyed %d, EXPIRED sent %d (want 2, 2)", st.SessionsDestroyed, st.Sent[delta.EventExpired])
	}
}

// An id listener may replicate the session it hears of: ChangeSessionID held the
// session's send slot while it told the listeners, and the listener's Replicate waited
// for that slot.
func TestIDListenerMayReplicateTheSession(t *testing.T) {
	ctx := context.Background()
	var m *delta.Manager
	stampID := delta.SessionListenerFuncs{IDChanged: func(e delta.SessionEvent, oldID string) {
		if e.Replicated {
			return
		}
		if err := e.Session.Set("previousID", oldID); err != nil {
			t.Error(err)
		}
		if err := m.Replicate(ctx, e.Session); err != nil {
			t.Errorf("Replicate from an id listener: %v", err)
		}
	}}
	nw := channeltest.NewNetwork()
	a := startReady(t, nw, delta.Config{Replication: delta.ReplicateAcked, JvmRoute: "a",
		SessionListeners: []delta.SessionListener{stampID}})
	b := startReady(t, nw, delta.Config{Replication: delta.ReplicateAcked, JvmRoute: "b"})
	m = a.m
	s := create(t, a, "user", "alice")
	old := s.ID()
	a.rec.take()

	type result struct {
		id  string
		err error
	}
	done := make(chan result, 1)
	go func() {
		id, err := a.m.ChangeSessionID(ctx, s, "")
		done <- result{id, err}
	}()
	var r result
	select {
	case r = <-done:
		if r.err != nil {
			t.Fatal(r.err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("ChangeSessionID did not return: the listener's Replicate waits for the session's send slot")
	}
	copyB := b.m.Find(r.id)
	if got, _ := delta.Attr[string](copyB, "previousID"); got != old {
		t.Errorf("b's copy under the new id: previousID = %q, want %q", got, old)
	}
	if b.m.Find(old) != nil {
		t.Error("b still holds the old id")
	}
	// The recorder is the last listener: it hears of the id change after the Set.
	wantEvents(t, "A", a.rec.take(), "added local previousID="+old, "idchanged local")
}

// An attribute listener may Update the session it hears of: Update held the session's
// Update slot while its Set told the listeners, and the listener's Update waited for it.
// Here a listener counts the changes of "cart" in "changes".
func TestAttributeListenerMayUpdateTheSession(t *testing.T) {
	ctx := context.Background()
	count := func(e delta.AttributeEvent) {
		if e.Name != "cart" || e.Replicated {
			return
		}
		if _, err := e.Session.Update("changes", func(old any) (any, error) {
			n, _ := old.(int)
			return n + 1, nil
		}); err != nil {
			t.Errorf("Update from a listener: %v", err)
		}
	}
	nw := channeltest.NewNetwork()
	a := startReady(t, nw, delta.Config{AttributeListeners: []delta.AttributeListener{
		delta.AttributeListenerFuncs{Added: count, Replaced: count}}})
	s := create(t, a)
	done := make(chan error, 1)
	go func() {
		for range 2 {
			if _, err := s.Update("cart", func(old any) (any, error) {
				n, _ := old.(int)
				return n + 1, nil
			}); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Update did not return: the listener's Update waits for the session's Update slot")
	}
	if got, _ := delta.Attr[int](s, "changes"); got != 2 {
		t.Errorf("changes = %d, want 2", got)
	}
	if err := a.m.Replicate(ctx, s); err != nil {
		t.Fatal(err)
	}
}

// A SessionCreated listener may invalidate the new session (a limit of sessions per
// user): Create told the listeners before the cluster, so the invalidation's
// EVT_SESSION_EXPIRED went out before the EVT_SESSION_CREATED, and every other node kept
// a copy of a session gone here until it timed out there (twice its max inactive
// interval).
func TestCreatedListenerMayInvalidateTheSession(t *testing.T) {
	ctx := context.Background()
	var m *delta.Manager
	limit := delta.SessionListenerFuncs{Created: func(e delta.SessionEvent) {
		if !e.Replicated {
			if err := m.Invalidate(ctx, e.Session); err != nil {
				t.Errorf("Invalidate from a created listener: %v", err)
			}
		}
	}}
	for _, mode := range []delta.ReplicationMode{delta.ReplicateAcked, delta.ReplicateAsync} {
		nw := channeltest.NewNetwork()
		a := startReady(t, nw, delta.Config{Replication: mode, JvmRoute: "a",
			SessionListeners: []delta.SessionListener{limit}})
		b := startReady(t, nw, delta.Config{Replication: mode, JvmRoute: "b"})
		m = a.m
		s, err := a.m.Create(ctx)
		if err != nil {
			t.Fatal(err)
		}
		delta.DrainAsync(a.m)
		if s.IsValid() || a.m.Len() != 0 {
			t.Errorf("%v: the invalidated session is still here", mode)
		}
		if n := b.m.Len(); n != 0 {
			t.Errorf("%v: b holds %d copies of a session invalidated at its creation", mode, n)
		}
		wantEvents(t, "B", b.rec.take(), "created rep", "destroyed rep expired=false")
	}
}
