package delta

import "slices"

// The parts of a session besides its attributes: the principal, the auth type, notes
// and session listeners.

// Principal returns a copy of the authenticated principal, or nil.
func (s *Session) Principal() *Principal {
	if s == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.principal.clone()
}

// SetPrincipal sets (nil: removes) the authenticated principal. Its attributes and user
// principal travel in Java's form with either codec: a value with no Java form (see
// JavaValueCodec) is refused with an error wrapping ErrNoJavaForm, the session unchanged.
// A principal the cluster's codec would refuse to send (BinaryCodec: a name or a role
// longer than MaxStringLen, more roles than MaxEntries; JavaCodec: a value beyond its
// Limits) is refused with an error wrapping ErrMessageLimit that names the limit, the
// session unchanged (TestSetPrincipalRefusesWhatThePeersWouldRefuse,
// TestSetPrincipalRefusesWhatJavaCodecWouldNotSend).
func (s *Session) SetPrincipal(p *Principal) error {
	if err := s.lockValid(); err != nil {
		return err
	}
	defer s.mu.Unlock()
	if p == nil {
		s.principal = nil
		s.record(Action{Type: ActionPrincipal, Op: OpRemove, Name: namePrincipal})
		return nil
	}
	v, err := EncodePrincipal(p)
	if err != nil {
		return err
	}
	if err := s.m.checkPrincipalLimits(v); err != nil {
		return err
	}
	s.principal = p.clone()
	s.record(Action{Type: ActionPrincipal, Op: OpSet, Name: namePrincipal, Value: v})
	return nil
}

// AuthType returns the authentication type ("FORM", "BASIC", ...), or "".
func (s *Session) AuthType() string {
	if s == nil {
		return ""
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.authType
}

// SetAuthType sets (empty: removes) the authentication type.
func (s *Session) SetAuthType(t string) error {
	if err := s.lockValid(); err != nil {
		return err
	}
	defer s.mu.Unlock()
	s.authType = t
	if t == "" {
		s.record(Action{Type: ActionAuthType, Op: OpRemove, Name: nameAuthType})
	} else {
		s.record(Action{Type: ActionAuthType, Op: OpSet, Name: nameAuthType, Value: []byte(t)})
	}
	return nil
}

// Note returns note name. Notes are small string annotations for the framework (Tomcat
// keeps authentication state in them); unlike Tomcat's, they replicate.
func (s *Session) Note(name string) (string, bool) {
	if s == nil {
		return "", false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, n := range s.e().notes {
		if n.name == name {
			return n.value, true
		}
	}
	return "", false
}

// SetNote sets note name.
func (s *Session) SetNote(name, value string) error {
	if err := s.lockValid(); err != nil {
		return err
	}
	defer s.mu.Unlock()
	s.setNote(name, value)
	s.record(Action{Type: ActionNote, Op: OpSet, Name: name, Value: []byte(value)})
	return nil
}

// RemoveNote removes note name.
func (s *Session) RemoveNote(name string) error {
	if err := s.lockValid(); err != nil {
		return err
	}
	defer s.mu.Unlock()
	if s.removeNote(name) {
		s.record(Action{Type: ActionNote, Op: OpRemove, Name: name})
	}
	return nil
}

// AttachListener attaches the named listener (Config.NamedListeners) to the session: it
// is told when the session is destroyed, and of its id changes if it is an IDListener,
// on every node where that name is configured.
func (s *Session) AttachListener(name string) error {
	if err := s.lockValid(); err != nil {
		return err
	}
	defer s.mu.Unlock()
	if !slices.Contains(s.e().named, name) {
		s.x().named = append(s.x().named, name)
		s.record(Action{Type: ActionListener, Op: OpSet, Name: name, Value: []byte{}})
	}
	return nil
}

// listenerNames returns the names of the listeners attached to the session.
func (s *Session) listenerNames() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.e().named)
}

// DetachListener detaches a named listener.
func (s *Session) DetachListener(name string) error {
	if err := s.lockValid(); err != nil {
		return err
	}
	defer s.mu.Unlock()
	if i := slices.Index(s.e().named, name); i >= 0 {
		s.x().named = slices.Delete(s.x().named, i, i+1)
		s.record(Action{Type: ActionListener, Op: OpRemove, Name: name})
	}
	return nil
}

func (s *Session) setNote(name, value string) {
	x := s.x()
	for i := range x.notes {
		if x.notes[i].name == name {
			x.notes[i].value = value
			return
		}
	}
	x.notes = append(x.notes, noteEntry{name, value})
}

func (s *Session) removeNote(name string) bool {
	x := s.ext
	if x == nil {
		return false
	}
	for i := range x.notes {
		if x.notes[i].name == name {
			x.notes = slices.Delete(x.notes, i, i+1)
			return true
		}
	}
	return false
}
