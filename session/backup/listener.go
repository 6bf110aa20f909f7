package backup

import (
	"slices"

	"github.com/gotribes/tribes/session/delta"
)

// SessionListener learns of the events of a session that this node causes, as the
// listeners a Tomcat session carries (its ClusterSingleSignOnListener) learn of them
// from BackupManager: a rename (ChangeSessionID: the middleware's jvmRoute binder, or a
// handler's call) and the session's end (Invalidate, or its expiry: the sweep, or
// Find). The other nodes see only the map's entry move or go. Calls run on the
// goroutine that caused the event, outside the manager's and the session's locks (as
// the middleware looks a request's session up, its jvmRoute binder's rename or the
// expiry that Find finds runs under that Request's lock: a listener must not use the
// Request); a listener that panics is recovered from and logged, so that the others
// still run and the operation completes.
type SessionListener interface {
	// SessionIDChanged is called after the rename: s.ID() is the new id.
	SessionIDChanged(s *Session, oldID string)
	// SessionDestroyed is called after the session was removed from the map: expired
	// says the sweep removed it, not an invalidation. Its attributes can still be read.
	SessionDestroyed(s *Session, expired bool)
}

// SessionListenerFuncs adapts functions to a SessionListener; nil fields are skipped.
type SessionListenerFuncs struct {
	IDChanged func(s *Session, oldID string)
	Destroyed func(s *Session, expired bool)
}

// SessionIDChanged calls IDChanged if set.
func (f SessionListenerFuncs) SessionIDChanged(s *Session, oldID string) {
	if f.IDChanged != nil {
		f.IDChanged(s, oldID)
	}
}

// SessionDestroyed calls Destroyed if set.
func (f SessionListenerFuncs) SessionDestroyed(s *Session, expired bool) {
	if f.Destroyed != nil {
		f.Destroyed(s, expired)
	}
}

// AttachListener attaches the named listener to the session (a single sign-on id:
// Tomcat's ClusterSingleSignOnListener, which the session carries to every node and to
// Tomcat) and records the change for the next Diff. Attaching an attached name does
// nothing; an empty name is ErrListenerName. Config.NamedListener gives the listener of
// a name.
func (s *Session) AttachListener(name string) error {
	if name == "" {
		return ErrListenerName
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !slices.Contains(s.st.Listeners, name) {
		s.st.Listeners = append(s.st.Listeners, name)
		s.record(delta.Action{Type: delta.ActionListener, Op: delta.OpSet, Name: name, Value: []byte{}})
	}
	return nil
}

// Listeners returns the names of the listeners attached to the session, by this node
// (AttachListener) or by the node that sent it (a Tomcat node's single sign-on), each
// once.
func (s *Session) Listeners() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.st.Listeners)
}

// tell calls f on each listener attached to s that Config.NamedListener knows. A
// listener, or a NamedListener look-up, that panics is recovered from and logged.
func (m *Manager) tell(s *Session, event string, f func(SessionListener)) {
	if m.cfg.NamedListener == nil {
		return
	}
	for _, name := range s.Listeners() {
		func() {
			defer func() {
				if p := recover(); p != nil {
					m.log.Error("backup: session listener panicked", "manager", m.cfg.Name, "listener", name,
						"event", event, "id", s.ID(), "panic", p)
				}
			}()
			// The look-up too: a NamedListener that panics for a name is recovered from
			// (TestNamedListenerLookupPanicRecovered).
			if l := m.cfg.NamedListener(name); l != nil {
				f(l)
			}
		}()
	}
}

// tellIDChanged tells the listeners of s of its rename from oldID.
func (m *Manager) tellIDChanged(s *Session, oldID string) {
	m.tell(s, "id changed", func(l SessionListener) { l.SessionIDChanged(s, oldID) })
}

// tellDestroyed tells the listeners of old, a session removed from the map here, if it
// is one, of its end.
func (m *Manager) tellDestroyed(old any, expired bool) {
	if s, ok := old.(*Session); ok && s != nil {
		m.tell(s, "destroyed", func(l SessionListener) { l.SessionDestroyed(s, expired) })
	}
}
