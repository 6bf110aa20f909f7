package delta_test

import (
	"context"
	"sync/atomic"
	"testing"
	"testing/synctest"

	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/session/delta"
)

// TestUnsentRenameDoesNotHoldTheAsyncRequest: with asynchronous replication the
// middleware queues a request's delta and answers at once. A session whose rename had
// failed made its next request wait for the rename's send instead (for a connect timeout
// while a member could not be reached). The rename is queued now, before the delta, and
// the request does not wait; the members get both, in that order.
func TestUnsentRenameDoesNotHoldTheAsyncRequest(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		nw := channeltest.NewNetwork()
		cfg := delta.Config{Replication: delta.ReplicateAsync}
		a, g := startGated(t, nw, nil, cfg)
		b := startReady(t, nw, cfg)
		s := delta.CreateReplicated(t, a, "user", "ann")
		synctest.Wait()
		old, id := renameFailing(t, a, g, s)
		if err := s.Set("cart", "book"); err != nil {
			t.Fatal(err)
		}
		_, release := g.arm(nil) // the next send (the rename's) waits
		var returned atomic.Bool
		go func() {
			if err := delta.ReplicateNoWait(a, s); err != nil {
				t.Error(err)
			}
			returned.Store(true)
		}()
		synctest.Wait()
		if !returned.Load() {
			t.Error("the asynchronous request waited for the send of the rename")
		}
		release()
		synctest.Wait()
		delta.DrainAsync(a)
		synctest.Wait()
		checkRenamed(t, "B", b.m, old, id)
		if v, _ := delta.Attr[string](b.m.Find(id), "cart"); v != "book" {
			t.Errorf("B: cart = %q under the new id, want book", v)
		}
		// Sent: the next message carries no rename again.
		if err := s.Set("cart", "pen"); err != nil {
			t.Fatal(err)
		}
		if err := a.Replicate(ctx, s); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if got := a.Stats().Sent[delta.EventChangeSessionID]; got != 1 {
			t.Errorf("A sent %d id changes, want 1 (the failed send is not counted, the rename went once again)", got)
		}
	})
}
