package delta_test

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/gotribes/tribes/session/delta"
)

// TestFailedReplicationDoesNotRevertNewerWrites: an acked replication from A fails for one
// member (C answers FAIL_ACK) after B applied it; A keeps the change pending for its next
// replication. Meanwhile a request on B writes the same attribute again, acknowledged by
// everybody, A included. A's next replication, for a request that changed another
// attribute, must not send its stale pending value, which would put the attribute back
// on B and C (an acknowledged write lost) while A keeps the newer one (replicas
// diverging).
func TestFailedReplicationDoesNotRevertNewerWrites(t *testing.T) {
	ctx := context.Background()
	_, a, b, c := three(t, delta.Config{Replication: delta.ReplicateAcked})
	var refuse atomic.Bool
	c.ch.AddMessageListener(failingSessions{refuse.Load})
	s := create(t, a, "x", 1, "y", 1)
	id := s.ID()

	refuse.Store(true)
	_ = s.Set("x", 2)
	if err := a.m.Replicate(ctx, s); err == nil {
		t.Fatal("replication to C should have failed")
	}
	refuse.Store(false)
	if v, _ := delta.Attr[int](b.m.Find(id), "x"); v != 2 {
		t.Fatalf("B did not apply x=2 (x=%d)", v)
	}

	// A request on B: x=3, acknowledged by A and C.
	sb := b.m.Find(id)
	_ = sb.Set("x", 3)
	if err := b.m.Replicate(ctx, sb); err != nil {
		t.Fatal(err)
	}
	// A request on A that only changes y.
	_ = s.Set("y", 2)
	if err := a.m.Replicate(ctx, s); err != nil {
		t.Fatal(err)
	}
	for name, n := range map[string]*node{"A": a, "B": b, "C": c} {
		x, _ := delta.Attr[int](n.m.Find(id), "x")
		y, _ := delta.Attr[int](n.m.Find(id), "y")
		if x != 3 || y != 2 {
			t.Errorf("%s: x=%d y=%d, want x=3 y=2", name, x, y)
		}
	}
}
