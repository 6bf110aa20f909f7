package backup

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/gotribes/tribes/session/delta"
)

// Dirty reports whether the session changed since its last Diff (isDirty).
func (s *Session) Dirty() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.pending) > 0
}

// Diff returns the changes since the last Diff as the stream DeltaSession.getDiff
// writes (a serialized DeltaRequest) and forgets them.
func (s *Session) Diff() ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, err := s.limits.Java.EncodeDeltaRequest(s.st.ID, s.pending)
	if err != nil {
		return nil, err
	}
	s.pending = nil
	return b, nil
}

// ApplyDiff applies a DeltaRequest stream another node's getDiff wrote (applyDiff),
// all of it or, on an error, nothing, and marks the session used now and no longer new,
// as DeltaRequest.execute does. A diff for another session id is refused (ErrOtherID),
// and so is one that would make the session's attribute and note values larger than
// Limits.MaxSessionBytes (ErrLimit).
func (s *Session) ApplyDiff(diff []byte) error {
	id, actions, err := s.limits.Java.DecodeDeltaRequest(diff)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if id != s.st.ID {
		return fmt.Errorf("%w: diff of %q for session %q", ErrOtherID, id, s.st.ID)
	}
	st := s.st
	st.Attributes = slices.Clone(st.Attributes)
	st.Notes = slices.Clone(st.Notes)
	st.Listeners = slices.Clone(st.Listeners)
	for _, a := range actions {
		if err := apply(&st, a); err != nil {
			return fmt.Errorf("backup: diff of session %s: action %s %s %q: %w", st.ID, a.Type, a.Op, a.Name, err)
		}
	}
	if n := namedBytes(st.Attributes) + namedBytes(st.Notes); n > s.limits.MaxSessionBytes {
		return fmt.Errorf("%w: a diff would make session %s %d bytes, more than %d", ErrLimit, st.ID, n,
			s.limits.MaxSessionBytes)
	}
	st.LastAccessedTime, st.IsNew = time.Now().UnixMilli(), false
	s.st = st
	return nil
}

// apply executes one action on st (DeltaRequest.execute, without recording it).
func apply(st *delta.SessionState, a delta.Action) error {
	set := a.Op == delta.OpSet
	switch a.Type {
	case delta.ActionAttribute:
		if set {
			st.Attributes = setNamed(st.Attributes, a.Name, a.Value)
		} else {
			st.Attributes = slices.DeleteFunc(st.Attributes, func(v delta.NamedValue) bool { return v.Name == a.Name })
		}
	case delta.ActionNote:
		if set {
			st.Notes = setNamed(st.Notes, a.Name, a.Value)
		} else {
			st.Notes = slices.DeleteFunc(st.Notes, func(v delta.NamedValue) bool { return v.Name == a.Name })
		}
	case delta.ActionPrincipal:
		st.Principal = nil
		if set {
			p, err := delta.DecodePrincipal(a.Value)
			if err != nil {
				return err
			}
			st.Principal = p
		}
	case delta.ActionAuthType:
		st.AuthType = ""
		if set {
			st.AuthType = string(a.Value)
		}
	case delta.ActionIsNew:
		if len(a.Value) != 1 || a.Value[0] > 1 {
			return errors.New("bad boolean")
		}
		st.IsNew = a.Value[0] == 1
	case delta.ActionMaxInterval:
		v, n := binary.Varint(a.Value)
		if n <= 0 || n != len(a.Value) || v < -1<<31 || v > 1<<31-1 {
			return errors.New("bad interval")
		}
		st.MaxInactive = int32(v)
	case delta.ActionListener:
		i := slices.Index(st.Listeners, a.Name)
		switch {
		case set && i < 0:
			st.Listeners = append(st.Listeners, a.Name)
		case !set && i >= 0:
			st.Listeners = slices.Delete(st.Listeners, i, i+1)
		}
	default:
		return errors.New("unknown action")
	}
	return nil
}

// AccessReplicate reports whether the map should tell the backup that the session was
// used although it did not change (isAccessReplicate): when it was not replicated for
// longer than its max inactive interval. A session that never expires (interval 0 or
// negative) needs no MSG_ACCESS: Tomcat's isAccessReplicate sends one with every request
// for interval 0, to a backup that never expires it.
func (s *Session) AccessReplicate() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.st.MaxInactive > 0 && time.Since(s.replicated) > time.Duration(s.st.MaxInactive)*time.Second
}

// Replicated records when the map last sent something about the session
// (setLastTimeReplicated).
func (s *Session) Replicated(t time.Time) {
	s.mu.Lock()
	s.replicated = t
	s.mu.Unlock()
}

// Accessed is called when another node told the map it used the session (MSG_ACCESS, or
// MSG_NOTIFY_MAPMEMBER when it became the primary; accessEntry): the session was used
// now, and the local node is no longer its primary.
func (s *Session) Accessed() {
	s.mu.Lock()
	s.st.LastAccessedTime = time.Now().UnixMilli()
	s.st.IsNew = false
	s.primary = false
	s.mu.Unlock()
}
