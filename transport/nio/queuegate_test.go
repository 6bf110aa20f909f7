package nio

import (
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gotribes/tribes/internal/testutil"
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

// A waiting connection woken twice (Stop, or the sweeper closing two connections in a
// tick) that has taken the first wake-up and waits for the gate's lock, the second still
// in its channel, is granted room by a release that took the lock first: before, the grant
// blocked on the full channel while it held the lock the waiter needed, and the receiver
// jammed (every later release and wake-up, Stop's too, waited for that lock for ever).
func TestQueueBudgetGrantToAWaiterWokenTwice(t *testing.T) {
	var st counters
	g := newQueueGate(&st, 100)
	if !g.tryTake(90) {
		t.Fatal("90 bytes of an empty budget of 100 not taken")
	}
	done := make(chan bool, 1)
	go func() { done <- g.wait(50, true, func() bool { return false }) }()
	testutil.EventuallyTrue(t, waitTimeout, "the connection waits", func() bool { return st.readPauses.Load() == 1 })
	g.mu.Lock() // the releaser's, taken before the waiter woken below can take it
	w := g.fifo[0]
	w.ch <- struct{}{} // the first wake-up ...
	testutil.EventuallyTrue(t, waitTimeout, "the waiter took the first wake-up", func() bool { return len(w.ch) == 0 })
	w.ch <- struct{}{} // ... and the second, while the waiter waits for the lock
	served := make(chan struct{})
	go func() { // the release, holding the lock
		g.queued.Add(-90)
		g.serve()
		g.mu.Unlock()
		close(served)
	}()
	jammed := false
	select {
	case <-served:
	case <-time.After(waitTimeout):
		jammed = true
		<-w.ch // unjams it, so that the test ends
		<-served
	}
	if !<-done {
		t.Fatal("the waiting connection was not served")
	}
	if jammed {
		t.Fatal("the grant to a waiter woken twice blocked while holding the gate's lock")
	}
	if q := st.queuedBytes.Load(); q != 50 {
		t.Fatalf("%d bytes queued, want the waiter's 50", q)
	}
}
