package delta_test

import (
	"context"
	"errors"
	"testing"

	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/session/delta"
)

// A session handed to the manager of another application (two managers on one
// cluster) is refused with ErrInvalidSession. Invalidate used to mark it invalid and
// leave it in its own manager's table, never expired on the other nodes; Replicate sent
// its delta under the wrong context, creating a copy in the other application on the
// other nodes.
func TestSessionOfAnotherManagerRefused(t *testing.T) {
	ctx := context.Background()
	nw := channeltest.NewNetwork()
	a := startReady(t, nw, delta.Config{JvmRoute: "a", Replication: delta.ReplicateAcked})
	b := startReady(t, nw, delta.Config{JvmRoute: "b", Replication: delta.ReplicateAcked})
	shop := func(n *node) *delta.Manager {
		m, err := n.cl.NewManager(delta.Config{Name: "localhost#/shop", MemberWait: -1, Replication: delta.ReplicateAcked})
		if err != nil {
			t.Fatal(err)
		}
		if err := m.Start(ctx); err != nil {
			t.Fatal(err)
		}
		if err := m.WaitReady(ctx); err != nil {
			t.Fatal(err)
		}
		return m
	}
	shopA, shopB := shop(a), shop(b)
	s, err := shopA.Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Set("cart", "3 items"); err != nil {
		t.Fatal(err)
	}

	if err := a.m.Replicate(ctx, s); !errors.Is(err, delta.ErrInvalidSession) {
		t.Errorf("Replicate by another manager: %v, want ErrInvalidSession", err)
	}
	if b.m.Find(s.ID()) != nil {
		t.Error("the shop's session reached b's other application")
	}
	if err := a.m.Invalidate(ctx, s); !errors.Is(err, delta.ErrInvalidSession) {
		t.Errorf("Invalidate by another manager: %v, want ErrInvalidSession", err)
	}
	if _, err := a.m.ChangeSessionID(ctx, s, ""); !errors.Is(err, delta.ErrInvalidSession) {
		t.Errorf("ChangeSessionID by another manager: %v, want ErrInvalidSession", err)
	}
	if !s.IsValid() || shopA.Find(s.ID()) != s {
		t.Fatal("the session was harmed by another manager's call")
	}
	if err := shopA.Replicate(ctx, s); err != nil {
		t.Fatal(err)
	}
	if got, _ := delta.Attr[string](shopB.Find(s.ID()), "cart"); got != "3 items" {
		t.Errorf("b's copy in the shop: cart = %q", got)
	}
}
