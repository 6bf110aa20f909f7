package backup

import (
	"fmt"
	"slices"

	"github.com/gotribes/tribes/session/delta"
)

// The session's attributes: read, set and removed by name, each name held once (a
// session received in full keeps the last value of a name its stream repeats:
// delta.JavaCodec.DecodeSessionData).

// AttributeNames returns the names of the attributes, in the session's order.
func (s *Session) AttributeNames() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.compactAttrs()
	names := make([]string, len(s.st.Attributes))
	for i, a := range s.st.Attributes {
		names[i] = a.Name
	}
	return names
}

// Get returns attribute name as delta.JavaValueCodec reads its Java object (an
// Integer is an int, a String a string, a class Go does not map a *jserial.Object, ...);
// ok is false when the session has no such attribute.
func (s *Session) Get(name string) (v any, ok bool, err error) {
	s.mu.Lock()
	i, ok := s.attrAt[name]
	if s.attrAt == nil { // not built: a scan (there are no holes)
		i = slices.IndexFunc(s.st.Attributes, func(a delta.NamedValue) bool { return a.Name == name })
		ok = i >= 0
	}
	var b []byte
	if ok {
		b = s.st.Attributes[i].Value
	}
	s.mu.Unlock()
	if !ok {
		return nil, false, nil
	}
	v, err = delta.JavaValueCodec{}.Unmarshal(b)
	if err != nil {
		return nil, false, fmt.Errorf("backup: attribute %q: %w", name, err)
	}
	return v, true, nil
}

// Set sets attribute name to v (a value with a Java form, see delta.JavaValueCodec; nil
// removes it) and records the change for the next Diff. A change that a diff could not
// carry is refused, the session unchanged: a value that Limits.Java's Limits do not let
// a node read (an error wrapping delta.ErrMessageLimit and jserial.ErrLimit, as
// session/delta's Set refuses it), or a name longer than a diff writes (65535 bytes of
// modified UTF-8). Taken, it would have made every Diff of the session fail
// (TestSetPastLimitsRefused).
func (s *Session) Set(name string, v any) error {
	if v == nil {
		s.Remove(name)
		return nil
	}
	b, err := delta.JavaValueCodec{}.Marshal(v)
	if err != nil {
		return fmt.Errorf("backup: attribute %q: %w", name, err)
	}
	// The diff of this change alone, as Diff encodes it (the id aside).
	if _, err := s.limits.Java.EncodeDeltaRequest("", []delta.Action{
		{Type: delta.ActionAttribute, Op: delta.OpSet, Name: name, Value: b}}); err != nil {
		return fmt.Errorf("backup: attribute %.64q: %w", name, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.indexAttrs()
	n := s.attrN + int64(len(name)+len(b))
	i, replaced := s.attrAt[name]
	if replaced {
		n -= int64(len(name) + len(s.st.Attributes[i].Value))
	}
	if n > s.limits.MaxSessionBytes {
		return fmt.Errorf("%w: attribute %q would make the session %d bytes, more than %d", ErrLimit, name, n,
			s.limits.MaxSessionBytes)
	}
	if replaced {
		s.st.Attributes[i].Value = b
	} else {
		s.attrAt[name] = len(s.st.Attributes)
		s.st.Attributes = append(s.st.Attributes, delta.NamedValue{Name: name, Value: b})
		if s.attrGone != nil {
			s.attrGone = append(s.attrGone, false)
		}
	}
	s.attrN = n
	s.record(delta.Action{Type: delta.ActionAttribute, Op: delta.OpSet, Name: name, Value: b})
	return nil
}

// indexAttrs builds attrAt and attrN if they are not built (st has no holes then).
func (s *Session) indexAttrs() {
	if s.attrAt != nil {
		return
	}
	if passHook != nil {
		passHook(len(s.st.Attributes))
	}
	s.attrAt = make(map[string]int, len(s.st.Attributes))
	for i, a := range s.st.Attributes {
		s.attrAt[a.Name] = i
	}
	s.attrN = s.attrBytes()
}

// stateReplaced forgets attrAt and attrN, st having been replaced (without holes).
func (s *Session) stateReplaced() { s.attrAt, s.attrGone, s.attrHoles = nil, nil, 0 }

// compactAttrs closes the holes Removes left in st.Attributes, keeping the order of the
// others, and moves their places in attrAt.
func (s *Session) compactAttrs() {
	if s.attrHoles == 0 {
		return
	}
	if passHook != nil {
		passHook(len(s.st.Attributes))
	}
	out := s.st.Attributes[:0]
	for i, a := range s.st.Attributes {
		if s.attrGone[i] {
			continue
		}
		s.attrAt[a.Name] = len(out)
		out = append(out, a)
	}
	clear(s.st.Attributes[len(out):])
	s.st.Attributes = out
	s.attrGone, s.attrHoles = nil, 0
}

// Remove removes attribute name and records the change, in constant amortised time: the
// attribute's place is left as a hole, closed once the holes are half of the places or
// when the attributes are read whole (TestRemoveManyAttributesLinear).
func (s *Session) Remove(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.indexAttrs()
	i, ok := s.attrAt[name]
	if !ok {
		return
	}
	delete(s.attrAt, name)
	if s.attrGone == nil {
		s.attrGone = make([]bool, len(s.st.Attributes), cap(s.st.Attributes))
	}
	s.attrN -= int64(len(name) + len(s.st.Attributes[i].Value))
	s.attrGone[i] = true
	s.st.Attributes[i] = delta.NamedValue{}
	s.attrHoles++
	if s.attrHoles > len(s.st.Attributes)/2 {
		s.compactAttrs()
	}
	s.record(delta.Action{Type: delta.ActionAttribute, Op: delta.OpRemove, Name: name})
}

// attrBytes is what the session's attribute and note values take.
func (s *Session) attrBytes() int64 { return namedBytes(s.st.Attributes) + namedBytes(s.st.Notes) }

func namedBytes(vs []delta.NamedValue) int64 {
	var n int64
	for _, v := range vs {
		n += int64(len(v.Name) + len(v.Value))
	}
	return n
}

// setNamed replaces the value of name in vs, or appends it.
func setNamed(vs []delta.NamedValue, name string, b []byte) []delta.NamedValue {
	if scanHook != nil {
		scanHook(len(vs))
	}
	if i := slices.IndexFunc(vs, func(a delta.NamedValue) bool { return a.Name == name }); i >= 0 {
		vs[i].Value = b
		return vs
	}
	return append(vs, delta.NamedValue{Name: name, Value: b})
}
