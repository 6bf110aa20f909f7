package delta_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/session/delta"
)

// fail makes the sends after it fail with err (nil: succeed again).
func (g *gatedChannel) fail(err error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.failWith = err
}

// TestFailedAccessIsSentAgain: a client moves from A to B (failover) and B's
// EVT_SESSION_ACCESSED, which makes B the session's primary on every node, fails (acked:
// the request got a 503). B still became primary at once, so its next requests, reads only,
// sent nothing, and A, still primary as far as it knew, expired the session after its
// timeout counted from the client's last request on A and told B: the session of a client
// reading it on B every four minutes was destroyed there (asynchronous replication
// alike). Now a failed send makes the next request tell the others again.
func TestFailedAccessIsSentAgain(t *testing.T) {
	for _, mode := range []delta.ReplicationMode{delta.ReplicateAcked, delta.ReplicateAsync} {
		t.Run(fmt.Sprint(mode), func(t *testing.T) { testFailedAccessIsSentAgain(t, mode) })
	}
}

func testFailedAccessIsSentAgain(t *testing.T, mode delta.ReplicationMode) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		cfg := delta.Config{Replication: mode, MaxInactiveInterval: 10 * time.Minute, ExpireInterval: time.Minute}
		nw := channeltest.NewNetwork()
		cfg.JvmRoute = "a"
		a := startReady(t, nw, cfg)
		cfg.JvmRoute = "b"
		b, g := startGated(t, nw, nil, cfg)
		s := create(t, a, "k", "v")
		id := s.ID()
		sb := b.Find(id)
		g.fail(errors.New("connection lost"))
		sb.Access()
		if err := b.Replicate(ctx, sb); err == nil {
			t.Fatal("the access was acknowledged though its send failed")
		}
		g.fail(nil)
		for range 6 { // a read on B every 4 minutes for 24 minutes
			time.Sleep(4 * time.Minute)
			sb.Access()
			if err := b.Replicate(ctx, sb); err != nil {
				t.Fatal(err)
			}
			synctest.Wait()
		}
		if b.Find(id) == nil || a.m.Find(id) == nil {
			t.Fatalf("a session read on B every 4 minutes expired: on A %v, on B %v (A expired %d)",
				a.m.Find(id) != nil, b.Find(id) != nil, a.m.Stats().SessionsExpired)
		}
		if s.IsPrimary() || !sb.IsPrimary() {
			t.Errorf("primary: A %v, B %v; want B only", s.IsPrimary(), sb.IsPrimary())
		}
	})
}
