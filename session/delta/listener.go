package delta

import "context"

// SessionListener learns of sessions being created and destroyed (the Servlet
// HttpSessionListener).
//
// Calls run on the goroutine that caused them (a request, the expiry sweep, or a message
// from another node) with no lock of the package held, so a listener may use the session
// and the manager (but a SessionDestroyed with Stopping runs inside Stop: a Stop it
// calls with the event's Context returns ErrStopping at once, one with another context
// waits for the running Stop, and so until that context ends; and the calls for the
// messages a sender sent before this node listed it, and those of the manager's expiry
// sweep, state transfer, refresh and repair, run on goroutines that Cluster.Close, or Stop, waits for: a
// Close or Stop called with the event's Context does not wait for them, see
// SessionEvent.Context). They may be concurrent with each other. A listener that panics is
// recovered from and logged, as Tomcat catches what a listener throws: the event's other
// listeners still run and the operation that fired it completes
// (TestPanickingListenerIsRecovered, Stats.ListenerPanics).
type SessionListener interface {
	// SessionCreated is called after a session was created.
	SessionCreated(e SessionEvent)
	// SessionDestroyed is called when a session expires or is invalidated, before its
	// attributes are removed: they can still be read.
	SessionDestroyed(e SessionEvent)
}

// AttributeListener learns of attribute changes (the Servlet
// HttpSessionAttributeListener). The concurrency rules of SessionListener apply.
type AttributeListener interface {
	// AttributeAdded: Value is the new value.
	AttributeAdded(e AttributeEvent)
	// AttributeReplaced: Value is the old value, as in the Servlet API.
	AttributeReplaced(e AttributeEvent)
	// AttributeRemoved: Value is the removed value.
	AttributeRemoved(e AttributeEvent)
}

// IDListener is an optional interface of a SessionListener: it also learns of session id
// changes, after the rename (e.Session.ID() is the new id), whether this node renamed the
// session (ChangeSessionID, the middleware's jvmRoute binder) or applied another node's
// rename (e.Replicated). Config.SessionListeners are told as the Servlet
// HttpSessionIdListener is; a named listener attached to the session (AttachListener) as
// Tomcat's session listeners are (SESSION_CHANGED_ID_EVENT): also for replicated renames
// when Config.SkipListenersOnReplication is set (TestNamedListenerIDChanged).
type IDListener interface {
	SessionIDChanged(e SessionEvent, oldID string)
}

// SessionEvent describes a session lifecycle event.
type SessionEvent struct {
	Session *Session
	// Replicated is true when another node caused the event (a message was applied), false
	// when it happened on this node.
	Replicated bool
	// Expired is true for SessionDestroyed when the session timed out, false when it was
	// invalidated or the manager stopped.
	Expired bool
	// Stopping is true for SessionDestroyed when the manager's Stop destroyed the session
	// (Tomcat: its context is no longer available).
	Stopping bool
	// Context is, with Stopping, the context Stop was called with, marked as Stop's: a
	// Stop of the same manager called with it (or a context derived from it) returns
	// ErrStopping at once instead of waiting for the Stop that calls the listener, which
	// waits for the listener (TestStopFromItsOwnListenerReturns). For the events of a
	// message that the cluster held for a sender not listed yet (JavaCodec) and applies
	// once the sender is listed, it is marked as the goroutine applying them, which
	// Cluster.Close waits for: a Close called with it (or a context derived from it)
	// does not wait for that goroutine, which waits for the listener; it closes the
	// cluster and returns nil, or returns ErrStopping at once while another Close runs
	// (TestCloseFromAHeldMessagesListenerReturns). For the events of the manager's own
	// goroutines, which its Stop waits for (the expiry sweep, the state transfer's, a
	// refresh's and a repair's replay of the messages that waited), it is marked as
	// theirs: a Stop called with it stops the manager and returns ErrStopping at once, and
	// a Close closes the cluster without waiting for that manager
	// (TestStopFromASweepListenerReturns, TestStopFromARefreshReplayListenerReturns,
	// TestStopFromARepairReplayListenerReturns, TestCloseFromASweepListenerReturns).
	// context.Background() for the other events;
	// never nil.
	Context context.Context
}

// AttributeEvent describes an attribute change.
type AttributeEvent struct {
	Session    *Session
	Name       string
	Value      any
	Replicated bool
	// Context is, as SessionEvent.Context, for the events of a held message's
	// application marked as the goroutine applying it, so that a Cluster.Close called
	// with it does not wait for that goroutine (TestCloseFromAHeldMessagesListenerReturns);
	// never nil.
	Context context.Context
}

// SessionListenerFuncs adapts functions to a SessionListener and an IDListener; nil
// fields are skipped.
type SessionListenerFuncs struct {
	Created   func(SessionEvent)
	Destroyed func(SessionEvent)
	IDChanged func(e SessionEvent, oldID string)
}

// SessionCreated calls Created if set.
func (f SessionListenerFuncs) SessionCreated(e SessionEvent) {
	if f.Created != nil {
		f.Created(e)
	}
}

// SessionDestroyed calls Destroyed if set.
func (f SessionListenerFuncs) SessionDestroyed(e SessionEvent) {
	if f.Destroyed != nil {
		f.Destroyed(e)
	}
}

// SessionIDChanged calls IDChanged if set.
func (f SessionListenerFuncs) SessionIDChanged(e SessionEvent, oldID string) {
	if f.IDChanged != nil {
		f.IDChanged(e, oldID)
	}
}

// AttributeListenerFuncs adapts functions to an AttributeListener; nil fields are skipped.
type AttributeListenerFuncs struct {
	Added    func(AttributeEvent)
	Replaced func(AttributeEvent)
	Removed  func(AttributeEvent)
}

// AttributeAdded calls Added if set.
func (f AttributeListenerFuncs) AttributeAdded(e AttributeEvent) {
	if f.Added != nil {
		f.Added(e)
	}
}

// AttributeReplaced calls Replaced if set.
func (f AttributeListenerFuncs) AttributeReplaced(e AttributeEvent) {
	if f.Replaced != nil {
		f.Replaced(e)
	}
}

// AttributeRemoved calls Removed if set.
func (f AttributeListenerFuncs) AttributeRemoved(e AttributeEvent) {
	if f.Removed != nil {
		f.Removed(e)
	}
}

// notice is a listener call collected under a lock and made after it is released.
type notice struct {
	kind     noticeKind
	name     string
	value    any
	oldID    string
	expired  bool
	stopping bool
	named    []string // named listeners attached to the session (destroy)
}

type noticeKind uint8

const (
	nCreated noticeKind = iota
	nDestroyed
	nAdded
	nReplaced
	nRemoved
	nIDChanged
)
