package mcast

import (
	"context"
	"sync"

	"github.com/gotribes/tribes/channel"
)

type event struct {
	m     channel.Member
	added bool
}

// eventQueue delivers membership events to the listener from one goroutine, in the order
// they were pushed, without ever blocking the pusher.
type eventQueue struct {
	mu     sync.Mutex
	q      []event
	l      channel.MembershipListener
	closed bool
	wake   chan struct{}
	prev   *eventQueue   // the previous run's queue: run delivers nothing before it is done
	done   chan struct{} // closed when run returns
}

// newEventQueue returns the queue of a new run of the service; prev is the previous
// run's (nil for the first), whose listener calls may still be going on if its Stop
// gave up waiting or a Start came while it waited.
func newEventQueue(prev *eventQueue) *eventQueue {
	return &eventQueue{wake: make(chan struct{}, 1), prev: prev, done: make(chan struct{})}
}

func (e *eventQueue) push(ev event) {
	e.mu.Lock()
	if !e.closed {
		e.q = append(e.q, ev)
	}
	e.mu.Unlock()
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// close makes run deliver what is queued and return.
func (e *eventQueue) close() {
	e.mu.Lock()
	e.closed = true
	e.mu.Unlock()
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

func (e *eventQueue) setListener(l channel.MembershipListener) {
	e.mu.Lock()
	e.l = l
	e.mu.Unlock()
}

func (e *eventQueue) run(_ context.Context) {
	defer close(e.done)
	if e.prev != nil {
		<-e.prev.done // one listener call at a time, across runs too
		e.prev = nil
	}
	for range e.wake {
		for {
			e.mu.Lock()
			if len(e.q) == 0 {
				closed := e.closed
				e.mu.Unlock()
				if closed {
					return
				}
				break
			}
			ev, l := e.q[0], e.l
			e.q = e.q[1:]
			e.mu.Unlock()
			if l == nil {
				continue
			}
			if ev.added {
				l.MemberAdded(ev.m)
			} else {
				l.MemberDisappeared(ev.m)
			}
		}
	}
}
