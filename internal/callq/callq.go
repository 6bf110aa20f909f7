// Package callq runs calls up the stack, such as a membership listener's, one at a time and
// in the order they were queued, outside the lock that ordered them.
//
// A service that tells a listener of its changes must keep the events in the order of the
// changes, but must not hold its lock while the listener runs: a listener that stops the
// channel makes the service report members gone on the same goroutine, which would take
// the lock again. So the service queues each event while it holds the lock (Add) and runs
// the queue after releasing it (Run). One goroutine runs the queue at a time: another Run
// returns at once, and a call queued meanwhile, by the listener's own calls too, runs
// after the one under way, on the goroutine running the queue.
package callq

import (
	"context"
	"sync"
)

// Queue is a first-in first-out queue of calls. The zero value is an empty queue.
type Queue struct {
	mu      sync.Mutex
	calls   []func()
	running bool
	exited  chan struct{} // while running: closed when the goroutine running the queue stops
	runner  uint64        // while running: the id of the goroutine running the queue (0: unknown)
}

// Add queues f. A caller that orders f against changes of its own state calls Add while
// holding the lock that orders those changes, and Run once it released it.
func (q *Queue) Add(f func()) {
	q.mu.Lock()
	q.calls = append(q.calls, f)
	q.mu.Unlock()
}

// Run calls the queued functions one at a time, in order, each through around (nil: called
// directly), until none is left; unless another goroutine is running them, when Run
// returns at once and that goroutine calls those queued meanwhile. A call that panics
// leaves the rest of the queue to the next Run, or to a RunWait waiting meanwhile, which
// runs them (TestPanicWhileAnotherWaitsReleasesTheWaiter).
func (q *Queue) Run(around func(call func())) {
	q.mu.Lock()
	idle := q.running || len(q.calls) == 0
	q.mu.Unlock()
	if idle {
		return // the common case of a Run after every message: no goroutine id read
	}
	id := goid()
	q.mu.Lock()
	if q.running || len(q.calls) == 0 {
		q.mu.Unlock()
		return
	}
	q.running = true
	exited := make(chan struct{})
	q.exited = exited
	q.runner = id
	q.mu.Unlock()
	finished := false
	defer func() {
		if !finished { // a call panicked: let the next Run find no runner
			q.mu.Lock()
			q.running, q.exited, q.runner = false, nil, 0
			q.mu.Unlock()
			close(exited) // wakes the RunWaits waiting meanwhile: they run the rest
		}
	}()
	for {
		q.mu.Lock()
		if len(q.calls) == 0 {
			q.calls = nil
			q.running, q.exited, q.runner, finished = false, nil, 0, true
			q.mu.Unlock()
			close(exited)
			return
		}
		f := q.calls[0]
		q.calls[0] = nil
		q.calls = q.calls[1:]
		q.mu.Unlock()
		if around != nil {
			around(f)
		} else {
			f()
		}
	}
}

// RunWait runs the queue (Run, with no around) and then waits until done is closed or ctx
// ends, returning ctx.Err() then: a done closed by the Run returns nil even if ctx has
// ended. A nil done (nothing queued to wait for) returns nil at once, running nothing.
// When the goroutine running the queue stops with calls left (one of its calls
// panicked), a RunWait waiting meanwhile runs them, so that its done, closed by one of
// them, is not left open until another Run.
func (q *Queue) RunWait(ctx context.Context, done <-chan struct{}) error {
	if done == nil {
		return nil
	}
	for {
		q.Run(nil)
		select {
		case <-done:
			return nil
		default:
		}
		q.mu.Lock()
		exited, left := q.exited, len(q.calls) > 0 // exited nil: no runner
		q.mu.Unlock()
		if exited == nil && left {
			continue // the runner stopped between Run and here: run what it left
		}
		select {
		case <-done:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		case <-exited: // the runner stopped: Run again, to run what it left
		}
	}
}

// Len returns how many calls are queued and not started yet.
func (q *Queue) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.calls)
}

// InCall reports whether the calling goroutine is the one running the queue: whether
// the caller is one of the queued calls, or something it called (a listener that stops
// the service whose events it is told of). Such a caller cannot wait for the call it is
// made in, nor for those queued behind it, which run on its goroutine once it returned:
// RunWait would wait for them until its ctx ends (TestInCall).
func (q *Queue) InCall() bool {
	q.mu.Lock()
	running, runner := q.running, q.runner
	q.mu.Unlock()
	return running && runner != 0 && runner == goid()
}

// Idle reports whether no call is queued or running.
func (q *Queue) Idle() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.calls) == 0 && !q.running
}
