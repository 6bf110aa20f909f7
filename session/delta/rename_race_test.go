package delta_test

import (
	"context"
	"testing"

	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/session/delta"
)

// TestDeltaCrossingARename: B sends a change of a session under its id while A renames
// the session (a login's ChangeID); B applies the rename while its delta is on its way,
// and the delta reaches A and C after they renamed the session. They dropped it as about
// a session they lack (A does not ask again for an id it renamed; C held it for a repair,
// but B's sessions hold none under that id), though they acknowledged it: B's request was
// answered, B held the change and A and C never would. Each now remembers the renames it
// made or applied lately and applies such a delta to the session it became.
func TestDeltaCrossingARename(t *testing.T) {
	ctx := context.Background()
	nw := channeltest.NewNetwork()
	a := startReady(t, nw, delta.Config{JvmRoute: "a", Replication: delta.ReplicateAcked})
	b, g := startGated(t, nw, nil, delta.Config{JvmRoute: "b", Replication: delta.ReplicateAcked})
	c := startReady(t, nw, delta.Config{JvmRoute: "c", Replication: delta.ReplicateAcked})
	s := create(t, a, "k", 0)
	sb := b.Find(s.ID())
	if err := sb.Set("k", 1); err != nil {
		t.Fatal(err)
	}
	entered, release := g.arm(nil)
	sent := make(chan error, 1)
	go func() { sent <- b.Replicate(ctx, sb) }()
	<-entered // B took its delta, under the old id
	newID, err := a.m.ChangeSessionID(ctx, s, "")
	if err != nil {
		t.Fatal(err)
	}
	if sb.ID() != newID {
		t.Fatalf("B holds the session as %s, want %s", sb.ID(), newID)
	}
	release()
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	for _, m := range []*delta.Manager{a.m, b, c.m} {
		if v, _ := delta.Attr[int](m.Find(newID), "k"); v != 1 {
			t.Errorf("k on %s is %d, want 1 (B's acknowledged change)", m.JvmRoute(), v)
		}
	}
}
