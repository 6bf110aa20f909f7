package nio

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
)

// ackWatchers are the WaitAcks calls waiting for the ACK counters to reach their count.
type ackWatchers struct {
	n  atomic.Int32 // len(w): the writers' fast path reads only this
	mu sync.Mutex
	w  map[chan struct{}]uint64 // closed once AcksSent+FailAcksSent reach the count
}

// acksWritten is Stats.AcksSent plus Stats.FailAcksSent.
func (c *counters) acksWritten() uint64 { return c.acksSent.Load() + c.failAcksSent.Load() }

// ackWritten tells the WaitAcks calls that ACK or FAIL_ACK frames were counted; every
// place that counts them calls it after. Without a waiter it costs one atomic load.
func (c *counters) ackWritten() {
	if c.ackWatch.n.Load() == 0 {
		return
	}
	a := &c.ackWatch
	total := c.acksWritten()
	a.mu.Lock()
	defer a.mu.Unlock()
	for ch, want := range a.w {
		if total >= want {
			close(ch)
			delete(a.w, ch)
		}
	}
	a.n.Store(int32(len(a.w)))
}

// WaitAcks waits until the receiver has written n ACK and FAIL_ACK frames in all since
// New (Stats.AcksSent plus Stats.FailAcksSent, counted as they are: handed to the socket,
// or with EngineGnet to its event loop's outbound buffer), or until ctx ends: it then
// returns an error wrapping ctx.Err(). A message listener returns before the ACK of its
// message is written (a synchronized ACK follows the delivery), so one that must know the
// ACKs of what it took were written before the transport stops (Stop closes the inbound
// connections, and an ACK not written by then is lost) waits here for as many as it took
// that asked for one; cmd/tribesdemo's send and load wait so for their last echoes. No
// Tomcat equivalent. It does not poll: the code that counts an ACK wakes it.
func (t *Transport) WaitAcks(ctx context.Context, n uint64) error {
	c := &t.st
	if c.acksWritten() >= n {
		return nil
	}
	ch := make(chan struct{})
	a := &c.ackWatch
	a.mu.Lock()
	if a.w == nil {
		a.w = make(map[chan struct{}]uint64)
	}
	a.w[ch] = n
	a.n.Store(int32(len(a.w)))
	a.mu.Unlock()
	// An ACK counted before the waiter was registered saw none: look again.
	c.ackWritten()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		a.mu.Lock()
		_, waiting := a.w[ch]
		delete(a.w, ch)
		a.n.Store(int32(len(a.w)))
		a.mu.Unlock()
		if !waiting {
			return nil // reached as ctx ended
		}
		return fmt.Errorf("nio: %d of %d ACKs written when the context ended: %w", c.acksWritten(), n, ctx.Err())
	}
}
