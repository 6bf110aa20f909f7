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
	return len(s.pending) > s.holes
}

// Diff returns the changes since the last Diff as the stream DeltaSession.getDiff
// writes (a serialized DeltaRequest) and forgets them. Values within Limits.Java alone
// (Set and SetPrincipal refuse others) may go beyond them together, as a diff's values
// share one stream's handles, and the changes may be more than Limits.Java.MaxEntries,
// which a backup configured alike refuses (TestDiffPastMaxEntriesLeavesOut): Diff then
// leaves out the values that do not fit (leaveOut) and returns the others; the session
// keeps the values left out, and the Manager's next Replicate of the session returns an
// error wrapping delta.ErrMessageLimit naming them, counted in
// Stats.ChangesDroppedPastLimits (TestDiffPastLimitsTogetherLeavesOut). Kept pending,
// they would have made every later Diff fail. The listeners attached past MaxEntries,
// which such a backup does not carry (ApplyDiff), are left out first and reported alike
// (leaveOutListeners: TestDiffLeavesOutListenersPastMaxEntries). When the values are not the
// cause (more changes without a value, removals for one, than MaxEntries), no diff can
// carry them: Diff forgets them, as the session holds their outcome, and returns an
// error wrapping ErrTooManyChanges and the encoder's refusal; the map then sends the
// session in full at its next replication, which Manager.Replicate makes at once
// (TestTooManyChangesWithoutAValueGoInFull).
func (s *Session) Diff() ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.leaveOutListeners()
	b, err := s.limits.Java.EncodeDeltaRequest(s.st.ID, s.changes())
	if errors.Is(err, delta.ErrMessageLimit) {
		b, err = s.leaveOut(err)
		if errors.Is(err, delta.ErrMessageLimit) { // no value is the cause
			n := len(s.changes())
			s.forgetChanges()
			return nil, fmt.Errorf("backup: session %s: %w: %d changes (%w)", s.st.ID, ErrTooManyChanges, n, err)
		}
	}
	if err != nil {
		return nil, err
	}
	s.forgetChanges()
	return b, nil
}

// ApplyDiff applies a DeltaRequest stream another node's getDiff wrote (applyDiff),
// all of it or, on an error, nothing, and marks the session used now and no longer new,
// as DeltaRequest.execute does. A diff for another session id is refused (ErrOtherID),
// and so is one that would make the session's attribute and note values larger than
// Limits.MaxSessionBytes (ErrLimit). One that would make its listeners more than
// Limits.Java.MaxEntries is applied with the first MaxEntries of them, in the
// session's order (those it held first, not always the primary's first once it
// detached some: a listener left out is not taken back,
// TestApplyDiffListenerLeftOutNotTakenBack), the others left out, counted in the
// Manager's Stats.DiffListenersLeftOut and logged, once per session, as a warning
// (TestApplyDiffListenersBoundedByMaxEntries): refused whole, it left the diff's
// attributes out too, and a Tomcat primary whose session held more listeners went on
// sending diffs the backup refused.
func (s *Session) ApplyDiff(diff []byte) error {
	id, actions, err := s.limits.Java.DecodeDeltaRequest(diff)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.compactAttrs()
	if id != s.st.ID {
		return fmt.Errorf("%w: diff of %q for session %q", ErrOtherID, id, s.st.ID)
	}
	// The names a diff of many actions may add are made room for at once (an action
	// takes at least 11 bytes of it): grown by appending, they took twice as much.
	var sets [delta.ActionNote + 1]int
	if len(actions) > smallDiff {
		for _, a := range actions {
			if a.Op == delta.OpSet && a.Type <= delta.ActionNote {
				sets[a.Type]++
			}
		}
	}
	st := s.st
	st.Attributes = cloneGrow(st.Attributes, sets[delta.ActionAttribute])
	st.Notes = cloneGrow(st.Notes, sets[delta.ActionNote])
	st.Listeners = cloneGrow(st.Listeners, sets[delta.ActionListener])
	// Only the last principal action counts (each replaces the principal): the earlier
	// ones are not decoded, as a diff's principal actions may all refer to one principal.
	last := -1
	for i, a := range actions {
		if a.Type == delta.ActionPrincipal {
			last = i
		}
	}
	var ix *indexes // a diff of many actions looks names up in maps
	if len(actions) > smallDiff {
		ix = newIndexes(&st)
	}
	for i, a := range actions {
		if a.Type == delta.ActionPrincipal && i != last {
			continue
		}
		if err := apply(&st, a, ix, s.limits.Java); err != nil {
			return fmt.Errorf("backup: diff of session %s: action %s %s %q: %w", st.ID, a.Type, a.Op, a.Name, err)
		}
	}
	ix.finish(&st)
	if n := namedBytes(st.Attributes) + namedBytes(st.Notes); n > s.limits.MaxSessionBytes {
		return fmt.Errorf("%w: a diff would make session %s %d bytes, more than %d", ErrLimit, st.ID, n,
			s.limits.MaxSessionBytes)
	}
	// The listeners diffs attach add up, and MaxSessionBytes counts none: beyond
	// MaxEntries, which a full copy of the session may not list (Codec.Decode), they are
	// left out (TestApplyDiffListenersBoundedByMaxEntries).
	var out []string
	if n := maxEntries(s.limits.Java); len(st.Listeners) > n {
		out = st.Listeners[n:]
		st.Listeners = st.Listeners[:n:n]
	}
	st.LastAccessedTime, st.IsNew = time.Now().UnixMilli(), false
	s.st = st
	s.stateReplaced()
	if len(out) > 0 {
		s.listenersLeftOut(out)
	}
	return nil
}

// listenersLeftOut counts the listeners a diff attached that ApplyDiff left out (out),
// in the Manager's Stats.DiffListenersLeftOut, and logs them, the first time for the
// session; s.mu is held.
func (s *Session) listenersLeftOut(out []string) {
	if s.report == nil {
		return
	}
	s.report.listenersOut.Add(uint64(len(out)))
	if !s.listenersLogged {
		s.listenersLogged = true
		s.report.log.Warn("backup: listeners a diff attached left out, past Limits.Java.MaxEntries", "manager",
			s.report.manager, "id", s.st.ID, "listeners", len(out), "first", out[0], "maxEntries",
			maxEntries(s.limits.Java))
	}
}

// leaveOutListeners leaves out of the pending changes the listeners attached past
// Limits.Java.MaxEntries, which a backup with the same limits does not carry (ApplyDiff:
// the first MaxEntries it holds), and records them for takeLeftOut, as a value left out
// of a diff: the next Manager.Replicate reports them, counted in
// Stats.ChangesDroppedPastLimits (TestDiffLeavesOutListenersPastMaxEntries); s.mu is
// held. A full copy leaves them out too (leaveOutOfFullCopy).
func (s *Session) leaveOutListeners() {
	n := maxEntries(s.limits.Java)
	if len(s.st.Listeners) <= n {
		return
	}
	past := make(map[string]bool, len(s.st.Listeners)-n)
	for _, l := range s.st.Listeners[n:] {
		past[l] = true
	}
	var out []leftValue
	for i, a := range s.pending {
		if a.Type == delta.ActionListener && a.Op == delta.OpSet && past[a.Name] {
			s.pending[i] = delta.Action{Type: holeAction}
			s.holes++
			delete(s.pendingAt, pendKey{a.Type, a.Name})
			out = append(out, leftValue{delta.ActionListener, a.Name})
		}
	}
	if len(out) == 0 {
		return
	}
	s.leftOut = append(s.leftOut, out...)
	if s.leftOutWhy == nil {
		s.leftOutWhy = fmt.Errorf("%w: %d listeners, more than MaxEntries %d", delta.ErrMessageLimit,
			len(s.st.Listeners), n)
	}
}

// cloneGrow returns a copy of vs with room for extra more elements.
func cloneGrow[T any](vs []T, extra int) []T {
	if extra == 0 {
		return slices.Clone(vs)
	}
	return append(make([]T, 0, len(vs)+extra), vs...)
}

// smallDiff is the most actions a diff applies by scanning the session's names; a larger
// one builds maps of them first (newIndexes).
const smallDiff = 8

// indexes are the positions of a session's attribute, note and listener names while a
// diff applies, so that each action finds its name in constant time, not by a scan (a
// diff of n attributes cost n²/2 comparisons). A removal leaves a hole that finish closes;
// the names stay in the order the scans would leave them.
type indexes struct {
	attrs, notes named[delta.NamedValue]
	listeners    named[string]
}

// named indexes the names of vs (name gives an element's name); dead marks removed ones.
type named[T any] struct {
	vs   *[]T
	name func(T) string
	at   map[string]int
	dead []bool
}

func newNamed[T any](vs *[]T, name func(T) string) (named[T], bool) {
	n := named[T]{vs: vs, name: name, at: make(map[string]int, cap(*vs))}
	for i, v := range *vs {
		if _, dup := n.at[name(v)]; dup {
			return n, false
		}
		n.at[name(v)] = i
	}
	return n, true
}

// newIndexes returns the indexes of st's names, or nil when a name is there twice (the
// scans then apply the diff: each finds the first, a removal takes them all).
func newIndexes(st *delta.SessionState) *indexes {
	attrs, ok1 := newNamed(&st.Attributes, func(v delta.NamedValue) string { return v.Name })
	notes, ok2 := newNamed(&st.Notes, func(v delta.NamedValue) string { return v.Name })
	listeners, ok3 := newNamed(&st.Listeners, func(v string) string { return v })
	if !ok1 || !ok2 || !ok3 {
		return nil
	}
	return &indexes{attrs: attrs, notes: notes, listeners: listeners}
}

// put replaces the element named name with v (update(old, v)), or appends v.
func (n *named[T]) put(name string, v T, update func(*T, T)) {
	if i, ok := n.at[name]; ok {
		update(&(*n.vs)[i], v)
		return
	}
	n.at[name] = len(*n.vs)
	*n.vs = append(*n.vs, v)
}

// remove removes the element named name.
func (n *named[T]) remove(name string) {
	i, ok := n.at[name]
	if !ok {
		return
	}
	delete(n.at, name)
	if n.dead == nil {
		n.dead = make([]bool, len(*n.vs))
	}
	if i >= len(n.dead) {
		n.dead = append(n.dead, make([]bool, i+1-len(n.dead))...)
	}
	n.dead[i] = true
}

// compact drops the removed elements, keeping the others' order.
func (n *named[T]) compact() {
	if n.dead == nil {
		return
	}
	out := (*n.vs)[:0]
	for i, v := range *n.vs {
		if i >= len(n.dead) || !n.dead[i] {
			out = append(out, v)
		}
	}
	clear((*n.vs)[len(out):])
	*n.vs = out
}

// finish closes the holes removals left in st's names (nothing for nil).
func (ix *indexes) finish(st *delta.SessionState) {
	if ix == nil {
		return
	}
	ix.attrs.compact()
	ix.notes.compact()
	ix.listeners.compact()
}

// setValue is named.put's update of a named value.
func setValue(old *delta.NamedValue, v delta.NamedValue) { old.Value = v.Value }

// keepName is named.put's update of a listener: it is there already.
func keepName(*string, string) {}

// scanHook, when set (tests), is told the length of each list of names a name is looked
// up in by a scan.
var scanHook func(n int)

// passHook, when set (tests), is told the length of a session's attributes each time
// they are gone over whole to index them or close their holes (indexAttrs,
// compactAttrs).
var passHook func(n int)

// removeNamed removes name from vs.
func removeNamed(vs []delta.NamedValue, name string) []delta.NamedValue {
	if scanHook != nil {
		scanHook(len(vs))
	}
	return slices.DeleteFunc(vs, func(v delta.NamedValue) bool { return v.Name == name })
}

// apply executes one action on st (DeltaRequest.execute, without recording it), looking
// names up in ix when it is not nil and reading a principal's Java stream with java's
// Limits.
func apply(st *delta.SessionState, a delta.Action, ix *indexes, java delta.JavaCodec) error {
	set := a.Op == delta.OpSet
	switch a.Type {
	case delta.ActionAttribute:
		switch {
		case ix != nil && set:
			ix.attrs.put(a.Name, delta.NamedValue{Name: a.Name, Value: a.Value}, setValue)
		case ix != nil:
			ix.attrs.remove(a.Name)
		case set:
			st.Attributes = setNamed(st.Attributes, a.Name, a.Value)
		default:
			st.Attributes = removeNamed(st.Attributes, a.Name)
		}
	case delta.ActionNote:
		switch {
		case ix != nil && set:
			ix.notes.put(a.Name, delta.NamedValue{Name: a.Name, Value: a.Value}, setValue)
		case ix != nil:
			ix.notes.remove(a.Name)
		case set:
			st.Notes = setNamed(st.Notes, a.Name, a.Value)
		default:
			st.Notes = removeNamed(st.Notes, a.Name)
		}
	case delta.ActionPrincipal:
		st.Principal = nil
		if set {
			p, err := java.DecodePrincipal(a.Value) // as the diff's stream, with Limits.Java
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
		if ix != nil {
			if set {
				ix.listeners.put(a.Name, a.Name, keepName)
			} else {
				ix.listeners.remove(a.Name)
			}
			break
		}
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
