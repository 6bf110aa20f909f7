package replmap

import "context"

// The map's calls to the application (Config.MadePrimary, Config.Removed, a held value's
// Accessed) tell of changes made with m.mu held, and run without it. Each is queued in
// the step that makes its change, m.mu held, and the queue is run once m.mu is released
// (internal/callq): the calls reach the application one at a time, in the order of the
// changes, whichever goroutines made them (TestMadePrimaryAndRemovedInOrder). A
// goroutine that finds another one running the queue leaves its calls to it and goes on;
// only a Get waits for its MadePrimary call (deliverWait), and only while none of the
// calls is under way: a Get made from inside one (a Removed that gets another key), whose
// own call comes after it, would wait for ever otherwise, and the map cannot tell that
// Get from one on another goroutine, so neither waits (TestGetFromRemovedDoesNotWaitForItself).

// maxQueuedCalls bounds the calls received messages leave queued behind the one under
// way (deliverReceived); a variable for the test of the bound.
var maxQueuedCalls = 1024

// callKey marks the context of a Get's Config.MadePrimary call (Map.Get): a Get called
// with it, or with a context derived from it, does not wait for its own call, which the
// queue runs after the one under way.
type callKey struct{}

// queueCallLocked queues f, m.mu held, and returns a channel closed once f returned.
func (m *Map) queueCallLocked(f func()) chan struct{} {
	done := make(chan struct{})
	m.calls.Add(func() {
		defer close(done)
		m.inCall.Add(1)
		defer m.inCall.Add(-1)
		f()
	})
	return done
}

// deliver runs the queued calls, unless another goroutine runs them (it then runs those
// queued meanwhile too).
func (m *Map) deliver() { m.calls.Run(nil) }

// deliverReceived runs the queued calls after a received message queued call (nil: none)
// for it. While another goroutine makes a call that takes a while, the calls of a
// member's messages (a Removed holding the entry's value, dropped from the entries and
// MaxStoredBytes) would pile up behind it for as long as it lasts, each receive returning
// at once; so with more than maxQueuedCalls queued the receive waits for its own call,
// or for ctx or the map's life to end: the transport stops reading the member meanwhile,
// as when the call ran on the receive itself, and the queue holds at most the bound and
// a call per receiving goroutine (TestRemovedCallsQueuedBounded).
func (m *Map) deliverReceived(ctx context.Context, call <-chan struct{}) {
	m.deliver()
	if call == nil || m.calls.Len() <= maxQueuedCalls {
		return
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(m.life, cancel)()
	_ = m.calls.RunWait(ctx, call)
}

// deliverWait runs the queued calls and waits until done (nil: nothing to wait for) is
// closed or ctx ends; from a call's context (a Get's MadePrimary, or a pass's), or while
// one of the calls is under way (it may be the caller's: Removed and Accessed have no
// context to recognise), it does not wait, as the call it would wait for comes after the
// one running.
func (m *Map) deliverWait(ctx context.Context, done <-chan struct{}) {
	if ctx.Value(callKey{}) == m || m.fromOwnPass(ctx) || done != nil && m.inCall.Load() > 0 {
		m.deliver()
		return
	}
	_ = m.calls.RunWait(ctx, done)
}
