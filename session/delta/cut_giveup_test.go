package delta_test

import (
	"testing"
	"testing/synctest"
	"time"

	"github.com/gotribes/tribes/session/delta"
)

// TestProbesOfADeadMemberStop: a member that left the view is probed every second while
// some member reached it lately; one that no member reached for 5 seconds (dead for
// everyone) is probed no more (docs/consistency.md, partitions of some links). In a
// synctest bubble, whose clock moves only when every goroutine of the test is blocked,
// the sleeps below are the fake clock's: the number of rounds in a span of it is exact.
func TestProbesOfADeadMemberStop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nw, a, b, c := three(t, delta.Config{Replication: delta.ReplicateAcked, ClusterSize: 3})
		synctest.Wait()
		low, high := lowHigh(a, b)
		before := high.cl.Stats().ProbesRequested
		nw.Kill(low.tn)
		synctest.Wait()
		if high.cl.Stats().ProbesRequested == before {
			t.Fatal("no probe of the dead member when it left the view")
		}
		// Rounds go on every second while it was reached lately: within its first 3.5
		// seconds out of view, 3 more rounds, or 4 as the rounds' ticks fall.
		first := high.cl.Stats().ProbesRequested
		time.Sleep(3*time.Second + time.Second/2)
		synctest.Wait()
		if got := high.cl.Stats().ProbesRequested - first; got < 3 || got > 4 {
			t.Errorf("%d rounds of probes in the dead member's first 3.5 s out of view, want 3 or 4 (one a second)", got)
		}
		// Reached by no one for 5 seconds: no more rounds.
		time.Sleep(3 * time.Second)
		synctest.Wait()
		stopped := high.cl.Stats().ProbesRequested
		time.Sleep(time.Minute)
		synctest.Wait()
		if got := high.cl.Stats().ProbesRequested; got != stopped {
			t.Errorf("%d more rounds of probes in the minute after no member reached the dead one for 5 s, want none",
				got-stopped)
		}
		for _, n := range []*node{high, c} {
			if st := n.cl.Stats(); st.PartialCuts != 0 {
				t.Errorf("a survivor stood down after a death: %+v", st)
			}
		}
	})
}
