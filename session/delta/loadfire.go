package delta

import (
	"context"
	"sync"
)

// A chunk of sessions that answers a request for every session (a joiner's transfer, a
// refresh's, a repair's, a late catch-up's, a joiner's second transfer past its donor's
// refused changes) is loaded on a receive goroutine holding m.loadMu for reading, so that
// the attempt it answers does not end (endAttempt) or another begin (beginAttempt,
// beginMerge) while it loads. Its merges fire listeners (a concurrent change taken, a
// copy removed by a member's record of its removal, a held message applied): called
// there, a listener that stopped the manager with the event's Context waited in Stop for
// the goroutine running the attempt, which, its wait ended by the stop, waited for
// m.loadMu to end its attempt: for ever, the event's Context being context.Background()
// (TestStopFromAMergeListenerReturns). Those calls are now collected while the lock is
// held and made once it is released, on the same goroutine, before the next message from
// that member is handled.

// deferMark is the key of the context value that collects the listener calls of a chunk's
// load (fire).
type deferMark struct{}

// deferred collects the listener calls made with a context marked by deferFires, until
// they are made: a call made with that context afterwards (by a goroutine that kept it)
// is made at once.
type deferred struct {
	mu    sync.Mutex
	done  bool
	calls []deferredCall
}

// put collects c, unless the calls were made already: it reports whether it did.
func (d *deferred) put(c deferredCall) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.done {
		return false
	}
	d.calls = append(d.calls, c)
	return true
}

// deferredCall is a call of fire that deferFires put off.
type deferredCall struct {
	ctx        context.Context
	s          *Session
	replicated bool
	ns         []notice
}

// deferFires returns ctx marked so that fire collects its calls instead of making them,
// and the function that makes them, with ctx's values as they were (the caller's marks:
// a drain's, the manager's), once the caller released its locks.
func (m *Manager) deferFires(ctx context.Context) (context.Context, func()) {
	d := &deferred{}
	return context.WithValue(ctx, deferMark{}, d), func() {
		d.mu.Lock()
		calls := d.calls
		d.calls, d.done = nil, true
		d.mu.Unlock()
		for _, c := range calls {
			m.fire(context.WithValue(c.ctx, deferMark{}, (*deferred)(nil)), c.s, c.replicated, c.ns...)
		}
	}
}
