package backup

import (
	"fmt"
	"slices"

	"github.com/gotribes/tribes/session/delta"
)

// IDListener learns of a session's id change made on this node (ChangeSessionID: the
// middleware's jvmRoute binder, or a handler's call), after the rename: s.ID() is the
// new id. It is the part of Tomcat's session listeners a session carries (its
// ClusterSingleSignOnListener, SESSION_CHANGED_ID_EVENT) that BackupManager's renames
// fire: a rename is made on one node, which tells the listeners of the session there;
// the other nodes see the map's entry move from one key to the other.
type IDListener interface {
	SessionIDChanged(s *Session, oldID string)
}

// IDListenerFunc adapts a function to an IDListener.
type IDListenerFunc func(s *Session, oldID string)

// SessionIDChanged calls f.
func (f IDListenerFunc) SessionIDChanged(s *Session, oldID string) { f(s, oldID) }

// AttachListener attaches the named listener to the session (a single sign-on id:
// Tomcat's ClusterSingleSignOnListener, which the session carries to every node and to
// Tomcat) and records the change for the next Diff. Attaching an attached name does
// nothing. Config.NamedListener gives the listener of a name.
func (s *Session) AttachListener(name string) error {
	if name == "" {
		return fmt.Errorf("backup: empty listener name")
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
// (AttachListener) or by the node that sent it (a Tomcat node's single sign-on).
func (s *Session) Listeners() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.st.Listeners)
}

// tellIDChanged tells the listeners attached to s, that Config.NamedListener knows, of
// its rename from oldID. A listener that panics is recovered from and logged, so that
// the others still run and the request that renamed the session completes.
func (m *Manager) tellIDChanged(s *Session, oldID string) {
	if m.cfg.NamedListener == nil {
		return
	}
	for _, name := range s.Listeners() {
		l := m.cfg.NamedListener(name)
		if l == nil {
			continue
		}
		func() {
			defer func() {
				if p := recover(); p != nil {
					m.log.Error("backup: session listener panicked", "manager", m.cfg.Name, "listener", name,
						"id", s.ID(), "panic", p)
				}
			}()
			l.SessionIDChanged(s, oldID)
		}()
	}
}
