package delta_test

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gotribes/tribes/session/delta"
)

// CreateWithID makes a session under the caller's id (no route appended), which reaches
// the other nodes as Create's does; ids in use, ill-formed ones and a stopped manager
// are refused with their errors.
func TestCreateWithID(t *testing.T) {
	ctx := context.Background()
	_, a, b, _ := three(t, delta.Config{Replication: delta.ReplicateAcked})
	const id = "tok_En-0123456789.abcdefghijklmnopqrstuvwxyzABCDEF"
	s, err := a.m.CreateWithID(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if s.ID() != id || !s.IsPrimary() || !s.IsNew() {
		t.Fatalf("session %q primary %v new %v", s.ID(), s.IsPrimary(), s.IsNew())
	}
	if err := s.Set("k", "v"); err != nil {
		t.Fatal(err)
	}
	if err := a.m.Replicate(ctx, s); err != nil {
		t.Fatal(err)
	}
	cp := b.m.Find(id)
	if cp == nil {
		t.Fatal("b has no copy")
	}
	if v, _ := cp.Get("k"); v != "v" {
		t.Fatalf("b's copy has k = %v", v)
	}
	if _, err := a.m.CreateWithID(ctx, id); !errors.Is(err, delta.ErrSessionIDInUse) {
		t.Errorf("the same id again: %v, want ErrSessionIDInUse", err)
	}
	if _, err := b.m.CreateWithID(ctx, id); !errors.Is(err, delta.ErrSessionIDInUse) {
		t.Errorf("the id of a copy: %v, want ErrSessionIDInUse", err)
	}
	for _, bad := range []string{"", "a b", "a/b", "é", string(make([]byte, 257))} {
		if _, err := a.m.CreateWithID(ctx, bad); !errors.Is(err, delta.ErrInvalidSessionID) {
			t.Errorf("id %q: %v, want ErrInvalidSessionID", bad, err)
		}
	}
	if _, err := a.m.ChangeSessionID(ctx, s, "a b"); !errors.Is(err, delta.ErrInvalidSessionID) {
		t.Errorf("ChangeSessionID to an ill-formed id: %v, want ErrInvalidSessionID", err)
	}
	if err := a.m.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := a.m.CreateWithID(ctx, "other"); !errors.Is(err, delta.ErrStopped) {
		t.Errorf("stopped: %v, want ErrStopped", err)
	}
	if err := a.m.Serving(); !errors.Is(err, delta.ErrStopped) {
		t.Errorf("stopped: Serving() = %v, want ErrStopped", err)
	}
	if err := b.m.Serving(); err != nil {
		t.Errorf("b: Serving() = %v", err)
	}
}

// With ClusterSize, an id whose session was invalidated is refused while the cluster
// keeps its removal record: a refresh would take the new session for the removed one.
func TestCreateWithIDOfRemovedSession(t *testing.T) {
	ctx := context.Background()
	_, a, b, _ := three(t, delta.Config{Replication: delta.ReplicateAcked, ClusterSize: 3})
	startedAlone(t, a)
	const id = "removed-token"
	s, err := a.m.CreateWithID(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.m.Replicate(ctx, s); err != nil {
		t.Fatal(err)
	}
	if err := a.m.Invalidate(ctx, s); err != nil {
		t.Fatal(err)
	}
	for name, n := range map[string]*node{"a": a, "b": b} {
		if n.m.Find(id) != nil {
			t.Fatalf("%s still holds the invalidated session", name)
		}
		if _, err := n.m.CreateWithID(ctx, id); !errors.Is(err, delta.ErrSessionIDInUse) {
			t.Errorf("%s: the removed id again: %v, want ErrSessionIDInUse", name, err)
		}
	}
}

// A session that timed out but was not swept yet holds its id in the table: CreateWithID
// expires it as the sweep would and creates the new one (it was refused before).
func TestCreateWithIDAfterTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		_, a, b, _ := three(t, delta.Config{MaxInactiveInterval: time.Minute, ExpireInterval: time.Hour})
		s, err := a.m.CreateWithID(ctx, "tok")
		if err != nil {
			t.Fatal(err)
		}
		_ = s.Set("k", "old")
		if err := a.m.Replicate(ctx, s); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Minute + time.Second)
		synctest.Wait()
		if a.m.Find("tok") != nil || a.m.Len() != 1 {
			t.Fatalf("before: Find %v, Len %d; want a timed-out session not swept", a.m.Find("tok"), a.m.Len())
		}
		s2, err := a.m.CreateWithID(ctx, "tok")
		if err != nil {
			t.Fatalf("CreateWithID over a timed-out session: %v", err)
		}
		if _, ok := s2.Get("k"); ok {
			t.Error("the new session holds the old one's attribute")
		}
		if a.m.Stats().SessionsExpired != 1 {
			t.Errorf("SessionsExpired %d, want 1", a.m.Stats().SessionsExpired)
		}
		synctest.Wait()
		if cp := b.m.Find("tok"); cp == nil {
			t.Error("b has no copy of the new session")
		} else if _, ok := cp.Get("k"); ok {
			t.Error("b's copy holds the old session's attribute")
		}
	})
}
