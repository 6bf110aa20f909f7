package delta_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/session/delta"
)

// TestGroupCommitReusesBatchArray: the batcher keeps the messages array of a batch it sent
// for the next batch to open, so that a steady load allocates none; the batch opened while
// another is in flight never shares that one's array. Over rounds of a call held in
// flight while others gather behind it, every call returns with its own delta applied on
// both peers, and the array kept between rounds holds no message (the sent ones are not
// kept alive by it).
func TestGroupCommitReusesBatchArray(t *testing.T) {
	const rounds, n = 4, 8
	nw := channeltest.NewNetwork()
	a, g := startGated(t, nw, nil, delta.Config{JvmRoute: "a", Replication: delta.ReplicateAcked})
	b := startReady(t, nw, delta.Config{JvmRoute: "b"})
	c := startReady(t, nw, delta.Config{JvmRoute: "c"})
	for r := range rounds {
		var ss []*delta.Session
		missing := make(chan string, 2*n)
		ss, wait := replicateHeld(t, a, g, n, nil, func(i int) {
			for _, p := range []*delta.Manager{b.m, c.m} {
				if v, _ := delta.Attr[int](p.Find(ss[i].ID()), "k"); v != i {
					missing <- fmt.Sprintf("call %d: node %s holds k=%d, want %d", i, p.JvmRoute(), v, i)
				}
			}
		})
		// Release the held call only once every other one waits behind it, or a late one
		// goes out in a third message.
		testutil.Eventually(t, 10*time.Second, func() error {
			if q := delta.QueuedForBatch(a); q != n-1 {
				return fmt.Errorf("%d of %d deltas wait for the send in flight", q, n-1)
			}
			return nil
		})
		errs, sent := wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("round %d: Replicate %d: %v", r, i, err)
			}
		}
		close(missing)
		for m := range missing {
			t.Errorf("round %d: returned before its delta was applied: %s", r, m)
		}
		if len(sent) != 2 {
			t.Errorf("round %d: %d channel messages, want 2 (one alone, then a batch)", r, len(sent))
		}
		if capacity, held := delta.SpareBatchArray(a); capacity == 0 || held != 0 {
			t.Errorf("round %d: the array kept for the next batch has capacity %d and holds %d messages, want one kept, holding none", r, capacity, held)
		}
	}
	for _, p := range []*delta.Manager{b.m, c.m} {
		if got := p.Stats().Received[delta.EventDelta]; got != rounds*n {
			t.Errorf("node %s applied %d deltas, want %d", p.JvmRoute(), got, rounds*n)
		}
	}
}
