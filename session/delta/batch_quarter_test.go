package delta_test

import (
	"context"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/session/delta"
)

// TestGroupCommitCohortWaitEndsAtAQuarterWithoutANewMessage: a batch's leader waiting for
// its cohort (Config.AckedBatchWait) looks at its batch every quarter of that time, and
// stops waiting at the first quarter in which no new message arrived, or at the end of
// AckedBatchWait; docs/consistency.md says so. In a synctest bubble, whose clock moves
// only when every goroutine of the test is blocked, the sleeps below place the returning
// clients at known instants of the wait and the instants measured are exact: no timing
// is asserted of the machine.
func TestGroupCommitCohortWaitEndsAtAQuarterWithoutANewMessage(t *testing.T) {
	const wait = 400 * time.Millisecond // AckedBatchWait; its quarters end at 100, 200, 300 and 400 ms
	for _, c := range []struct {
		name     string
		cohort   int             // the size of the batch before the lone call: it waits for as many
		arrivals []time.Duration // when the other clients come back, after the lone call
		ends     time.Duration   // when the lone call's batch leaves
		carried  int             // how many deltas it carries
	}{
		// One client back in the first quarter, none in the second: the wait ends at the
		// second quarter's end, with two of the three; the third goes in the next batch.
		{"a quarter without a new one", 3, []time.Duration{50 * time.Millisecond, 250 * time.Millisecond}, 200 * time.Millisecond, 2},
		// A client back in each quarter, one short of the cohort: the wait lasts the
		// whole AckedBatchWait, no longer; the last client goes in the next batch.
		{"a new one every quarter", 6, []time.Duration{50 * time.Millisecond, 150 * time.Millisecond, 250 * time.Millisecond, 350 * time.Millisecond, 450 * time.Millisecond}, wait, 5},
		// Every client back in the first quarter: the wait ends as the cohort is complete.
		{"the cohort complete", 3, []time.Duration{30 * time.Millisecond, 60 * time.Millisecond}, 60 * time.Millisecond, 3},
	} {
		t.Run(c.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ctx := context.Background()
				nw := channeltest.NewNetwork()
				a, g := startGated(t, nw, nil, delta.Config{JvmRoute: "a", Replication: delta.ReplicateAcked,
					AckedBatchWait: wait})
				b := startReady(t, nw, delta.Config{JvmRoute: "b"})
				before := b.m.Stats().Received[delta.EventDelta]

				// A batch of cohort messages: one held at the gate, the others queued
				// behind it. Once released, their leader waits for cohort+1 messages
				// (the one that was sent and its own); none comes, so it stops at the end
				// of the first quarter, not of AckedBatchWait.
				_, release := replicateHeld(t, a, g, c.cohort+1, nil, func(int) {})
				synctest.Wait() // the others are queued
				if n := delta.QueuedForBatch(a); n != c.cohort {
					t.Fatalf("%d deltas queued, want %d", n, c.cohort)
				}
				start := time.Now()
				errs, sent := release()
				if d := time.Since(start); d != wait/4 {
					t.Errorf("with no new message the queued batch left %v after the one before ended, want %v (a quarter of AckedBatchWait)", d, wait/4)
				}
				for i, err := range errs {
					if err != nil {
						t.Fatalf("Replicate %d: %v", i, err)
					}
				}
				if len(sent) != 2 {
					t.Fatalf("%d channel messages, want 2 (one alone, then the queued ones)", len(sent))
				}

				// Right after, a lone call leads a batch that waits for as many messages
				// as the last one carried (its clients may be on their way back).
				extra := createNumbered(t, a, len(c.arrivals)+1)
				sentBefore := len(g.payloads())
				start = time.Now()
				var wg sync.WaitGroup
				var mu sync.Mutex
				returned := make([]time.Duration, len(extra))
				for i, s := range extra {
					wg.Go(func() {
						if i > 0 {
							time.Sleep(c.arrivals[i-1]) // the fake clock: this client comes back then
						}
						if err := a.Replicate(ctx, s); err != nil {
							t.Errorf("Replicate of client %d: %v", i, err)
						}
						mu.Lock()
						returned[i] = time.Since(start)
						mu.Unlock()
					})
				}
				wg.Wait()
				if returned[0] != c.ends {
					t.Errorf("the lone call's batch left after %v, want %v", returned[0], c.ends)
				}
				in := 1 // the calls whose delta went in the lone call's batch: they returned with it
				for _, r := range returned[1:] {
					if r == returned[0] {
						in++
					}
				}
				if in != c.carried {
					t.Errorf("the lone call's batch carried %d deltas, want %d (returned at %v)", in, c.carried, returned)
				}
				wantMsgs := 1
				if c.carried < len(extra) {
					wantMsgs = 2
				}
				if n := len(g.payloads()) - sentBefore; n != wantMsgs {
					t.Errorf("%d channel messages for the %d calls, want %d", n, len(extra), wantMsgs)
				}
				if got, want := b.m.Stats().Received[delta.EventDelta]-before, uint64(c.cohort+1+len(extra)); got != want {
					t.Errorf("node b applied %d deltas, want %d", got, want)
				}
				st := a.Stats()
				ranOut := uint64(2) // the first batch's wait, and the lone call's unless its cohort came
				if c.carried == len(extra) {
					ranOut = 1
				}
				if st.BatchWaits != 2 || st.BatchWaitsRanOut != ranOut {
					t.Errorf("Stats: %d batch waits, %d ran out; want 2 and %d", st.BatchWaits, st.BatchWaitsRanOut, ranOut)
				}
			})
		})
	}
}
