package nio

import (
	"sync/atomic"
	"testing"
	"testing/synctest"
)

// A connection that comes to wait for the queue budget after Stop or the sweeper woke the
// waiting ones (its stop reports true already) gives up at once, as one woken while it
// waited does: before, it queued behind the wake-up it had missed and waited for room, so
// that a closed connection or a stopping receiver went on to decode and deliver its frame
// once room came, however late (for ever while the budget stayed spent).
func TestQueueBudgetWaiterAfterTheWakeUpStops(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var st counters
		g := newQueueGate(&st, 100)
		if !g.tryTake(90) {
			t.Fatal("90 bytes of an empty budget of 100 not taken")
		}
		var stopped atomic.Bool
		stopped.Store(true) // Stop (or the sweeper) marked the connection ...
		g.wake()            // ... and woke the waiting connections, none yet
		var ret atomic.Int32
		go func() {
			if g.wait(50, true, stopped.Load) {
				ret.Store(1)
			} else {
				ret.Store(2)
			}
		}()
		synctest.Wait()
		got := ret.Load()
		g.add(-90) // lets a waiter still there end, so that the bubble does
		synctest.Wait()
		switch got {
		case 0:
			t.Fatal("a connection told to stop before it came to wait waited for room")
		case 1:
			t.Fatal("a connection told to stop was given room")
		}
		if q := st.queuedBytes.Load(); q != 0 {
			t.Fatalf("%d bytes queued after the stopped connection left, want 0", q)
		}
		if g.nwait.Load() != 0 || len(g.fifo) != 0 {
			t.Fatalf("%d connections counted waiting, %d queued, want none", g.nwait.Load(), len(g.fifo))
		}
	})
}
