package delta

import (
	"errors"
	"fmt"
	"reflect"
	"unsafe"

	"github.com/gotribes/tribes/jserial"
)

// DecodeMessage parses a SessionMessageImpl stream; errors wrap ErrMalformed.
func (c JavaCodec) DecodeMessage(data []byte) (*Message, error) {
	m, err := c.decode(data)
	if err != nil {
		if errors.Is(err, jserial.ErrLimit) && !errors.Is(err, ErrMessageLimit) {
			// Past Limits (MaxBytes...): a limit, not bytes no encoder writes.
			err = fmt.Errorf("%w: %w", ErrMessageLimit, err)
		}
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return m, nil
}

func (c JavaCodec) decode(data []byte) (*Message, error) {
	vs, err := jserial.UnmarshalAll(data, c.Limits)
	if err != nil {
		return nil, err
	}
	if len(vs) != 1 {
		return nil, fmt.Errorf("%d values in the stream, want one SessionMessageImpl", len(vs))
	}
	o, ok := vs[0].(*jserial.Object)
	if !ok || o.Class.Name != sessionMessageClass || o.Class.SUID != 2 {
		return nil, errors.New("not a SessionMessageImpl (serialVersionUID 2)")
	}
	f := jserial.Fields{Object: o}
	m := &Message{
		Event:        Event(jserial.FieldAs[int32](&f, "mEvtType")),
		Context:      jserial.FieldAs[string](&f, "mContextName"),
		EmptyContext: f.Get("mContextName") != nil, // null is "every manager", "" a name
		SessionID:    jserial.FieldAs[string](&f, "mSessionID"),
		UniqueID:     jserial.FieldAs[string](&f, "uniqueId"),
	}
	m.EmptyContext = m.EmptyContext && m.Context == ""
	if jserial.FieldAs[bool](&f, "timestampSet") {
		m.Timestamp = jserial.FieldAs[int64](&f, "serializationTimestamp")
	}
	payload := jserial.FieldAs[[]byte](&f, "mSession")
	if f.Err != nil {
		return nil, f.Err
	}
	if !m.Event.Valid() {
		return nil, fmt.Errorf("unknown event %d", m.Event)
	}
	if payload == nil {
		switch m.Event {
		case EventDelta, EventAllSessionData, EventChangeSessionID:
			return nil, fmt.Errorf("%s without data", m.Event)
		}
		return m, nil
	}
	contents, err := jserial.UnmarshalAll(payload, c.Limits)
	if err != nil {
		return nil, fmt.Errorf("%s data: %w", m.Event, err)
	}
	r := jserial.NewDataReader(contents)
	switch m.Event {
	case EventDelta:
		var id string
		id, m.Actions, err = c.decodeActions(r, len(payload))
		m.ownValues = true
		if err == nil && id != m.SessionID {
			// DeltaRequest.execute refuses it too (deltaRequest.ssid.mismatch).
			err = fmt.Errorf("DeltaRequest of session %q in a message for session %q", id, m.SessionID)
		}
	case EventAllSessionData:
		m.Sessions, err = c.decodeSessions(r, len(payload))
	case EventChangeSessionID:
		m.NewID, err = r.ReadUTF()
	default:
		return nil, fmt.Errorf("unexpected data in %s", m.Event)
	}
	if err == nil && !r.Done() {
		err = errors.New("trailing data")
	}
	if err != nil {
		return nil, fmt.Errorf("%s data: %w", m.Event, err)
	}
	return m, nil
}

// count checks a count read off the wire against MaxEntries and against max, what the
// bytes left can hold.
func (c JavaCodec) count(n int32, max int) (int, error) {
	if n < 0 || int(n) > max {
		return 0, fmt.Errorf("bad count %d", n)
	}
	if limit := orDefault(c.MaxEntries, DefaultMaxEntries); int(n) > limit {
		return 0, fmt.Errorf("%w: a count of %d (MaxEntries %d)", ErrMessageLimit, n, limit)
	}
	return int(n), nil
}

// decodeActions reads DeltaRequest.writeExternal's data: the session id, recordAllActions
// and the actions.
func (c JavaCodec) decodeActions(r *jserial.DataReader, size int) (string, []Action, error) {
	id, err := r.ReadUTF()
	if err != nil {
		return "", nil, err
	}
	if _, err := r.ReadBool(); err != nil { // recordAllActions: the sender's business
		return "", nil, err
	}
	n32, err := r.ReadInt32()
	if err != nil {
		return "", nil, err
	}
	// Every action takes at least 11 bytes.
	n, err := c.count(n32, size/11)
	if err != nil {
		return "", nil, err
	}
	// The actions are allocated at the count (at most an action per 11 bytes), not grown
	// by appending: a dense diff's would take twice as much. The names' map starts at 64:
	// names repeat, and one sized at the count outgrew the decode budget's allowance when
	// a message failed early (TestJavaCodecSharedUserPrincipalDelta).
	out := make([]Action, 0, n)
	refs := newJavaRefs(c.budget(size))
	refs.names = make(map[string]string, min(n, 64))
	for range n {
		t, err1 := r.ReadInt32()
		op, err2 := r.ReadInt32()
		name, err3 := r.ReadUTF()
		has, err4 := r.ReadBool()
		if err := errors.Join(err1, err2, err3, err4); err != nil {
			return "", nil, err
		}
		if t < 0 || t > int32(ActionNote) || op < 0 || op > int32(OpRemove) {
			return "", nil, fmt.Errorf("unknown action type %d or operation %d", t, op)
		}
		var v any
		if has {
			if v, err = r.ReadObject(); err != nil {
				return "", nil, err
			}
		}
		a, err := refs.goAction(ActionType(t), Op(op), refs.intern(name), v, has)
		if err != nil {
			return "", nil, fmt.Errorf("action %s %s %q: %w", ActionType(t), Op(op), name, err)
		}
		out = append(out, a)
	}
	return id, out, nil
}

// javaRefs is what the decoding of one of Tomcat's messages shares: the names met, and
// the Go form of each object read (an attribute's or note's stream, a String's bytes, a
// principal), which the message may refer to at many places (a back-reference takes 5
// bytes): converted anew at each, a small message could make this node allocate
// hundreds of times its size. Shared values are read-only (an action's or a transferred
// session's bytes); a principal the message gives several sessions is one *Principal, as
// Java reads it. Distinct objects sharing one object (two attribute values holding one
// list) are converted each with all it holds: their bytes are taken from the message's
// budget.
type javaRefs struct {
	names      map[string]string
	values     map[any][]byte     // the stream of an attribute's or note's value
	strs       map[any][]byte     // the bytes of a String note or auth type
	principals map[any]*Principal // a session's principal
	encoded    map[any][]byte     // a principal action's value
	budget     budget
}

func newJavaRefs(b budget) *javaRefs { return &javaRefs{names: map[string]string{}, budget: b} }

func (j *javaRefs) intern(s string) string {
	if v, ok := j.names[s]; ok {
		return v
	}
	j.names[s] = s
	return s
}

// identity is what identifies a value read off a stream that the stream may refer to
// again: a pointer, map, non-empty slice or long string; nil for the rest, which cost no
// more to convert again than their reference took.
func identity(v any) any {
	type ref struct {
		t reflect.Type
		p unsafe.Pointer
		n int
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Pointer, reflect.Map:
		if !rv.IsNil() {
			return ref{rv.Type(), rv.UnsafePointer(), 0}
		}
	case reflect.Slice:
		if rv.Len() > 0 {
			return ref{rv.Type(), rv.UnsafePointer(), rv.Len()}
		}
	case reflect.String:
		if s := rv.String(); len(s) > 32 {
			return ref{rv.Type(), unsafe.Pointer(unsafe.StringData(s)), len(s)}
		}
	}
	return nil
}

// cached returns f(v), computed once per identity in m.
func cached[T any](m *map[any]T, v any, f func(any) (T, error)) (T, error) {
	id := identity(v)
	if id != nil {
		if r, ok := (*m)[id]; ok {
			return r, nil
		}
	}
	r, err := f(v)
	if err == nil && id != nil {
		if *m == nil {
			*m = map[any]T{}
		}
		(*m)[id] = r
	}
	return r, err
}

func (j *javaRefs) marshal(v any) ([]byte, error) {
	return cached(&j.values, v, func(v any) ([]byte, error) {
		b, err := jserial.MarshalAppend(j.budget.scratch(0), v)
		if err != nil {
			return nil, err
		}
		return j.budget.keep(b)
	})
}

// str returns the bytes of s.
func (j *javaRefs) str(s string) ([]byte, error) {
	return cached(&j.strs, s, func(any) ([]byte, error) {
		if err := j.budget.take(&j.budget.kept, len(s)); err != nil {
			return nil, err
		}
		return []byte(s), nil
	})
}

func (j *javaRefs) note(v any) ([]byte, error) {
	if s, ok := v.(string); ok {
		return j.str(s)
	}
	return j.marshal(v)
}

func (j *javaRefs) principal(v any) (*Principal, error) {
	return cached(&j.principals, v, func(v any) (*Principal, error) { return goPrincipal(v, &j.budget) })
}

// goAction turns one of Tomcat's AttributeInfo into an Action.
func (j *javaRefs) goAction(t ActionType, op Op, name string, v any, has bool) (Action, error) {
	a := Action{Type: t, Op: op, Name: name}
	if op == OpRemove && t != ActionListener {
		return a, nil
	}
	if !has {
		if t == ActionAttribute || t == ActionNote || t == ActionAuthType || t == ActionPrincipal {
			// Tomcat records a set of null as a remove; accept the other form too.
			a.Op = OpRemove
			return a, nil
		}
		return a, errors.New("no value")
	}
	var err error
	switch t {
	case ActionAttribute:
		a.Value, err = j.marshal(v)
	case ActionPrincipal:
		a.Value, err = cached(&j.encoded, v, func(v any) ([]byte, error) {
			p, err := j.principal(v)
			if err != nil {
				return nil, err
			}
			b, err := appendPrincipal(j.budget.scratch(0), p)
			if err != nil {
				return nil, err
			}
			return j.budget.keep(b)
		})
	case ActionIsNew:
		b, ok := v.(bool)
		if !ok {
			return a, fmt.Errorf("%T is not a Boolean", v)
		}
		a.Value = encodeBool(b)
	case ActionMaxInterval:
		i, ok := v.(int32)
		if !ok {
			return a, fmt.Errorf("%T is not an Integer", v)
		}
		a.Value = encodeInterval(i)
	case ActionAuthType:
		s, ok := v.(string)
		if !ok {
			return a, fmt.Errorf("%T is not a String", v)
		}
		a.Value, err = j.str(s)
	case ActionListener:
		a.Name, err = goListener(v)
		if op == OpSet {
			a.Value = []byte{}
		}
	case ActionNote:
		a.Value, err = j.note(v)
	}
	return a, err
}

// goListener returns the ssoId of a ClusterSingleSignOnListener, the only replicated
// session listener Tomcat has.
func goListener(v any) (string, error) {
	if o, ok := v.(*jserial.Object); ok {
		if id, ok := o.Field("ssoId"); ok {
			if s, ok := id.(string); ok {
				return s, nil
			}
		}
	}
	return "", fmt.Errorf("session listener of class %s, want ClusterSingleSignOnListener", className(v))
}

func className(v any) string {
	if o, ok := v.(*jserial.Object); ok {
		return o.Class.Name
	}
	return fmt.Sprintf("%T", v)
}

// decodeSessions reads DeltaManager's session block (DeltaSession.writeObjectData per
// session, also the older form without the two authenticator notes).
func (c JavaCodec) decodeSessions(r *jserial.DataReader, size int) ([]SessionState, error) {
	n32, err := readAs[int32](r, "session count")
	if err != nil {
		return nil, err
	}
	// A session takes at least 40 bytes.
	n, err := c.count(n32, size/40)
	if err != nil {
		return nil, err
	}
	refs := newJavaRefs(c.budget(size))
	out := make([]SessionState, 0, n)
	for range n {
		s, err := c.decodeSession(r, size, refs)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

func readAs[T any](r *jserial.DataReader, what string) (T, error) {
	var zero T
	v, err := r.ReadObject()
	if err != nil {
		return zero, fmt.Errorf("%s: %w", what, err)
	}
	t, ok := v.(T)
	if !ok {
		return zero, fmt.Errorf("%s: unexpected %T", what, v)
	}
	return t, nil
}

func (c JavaCodec) decodeSession(r *jserial.DataReader, size int, refs *javaRefs) (SessionState, error) {
	s := SessionState{owned: true}
	var errs [8]error
	s.CreationTime, errs[0] = readAs[int64](r, "creationTime")
	s.LastAccessedTime, errs[1] = readAs[int64](r, "lastAccessedTime")
	s.MaxInactive, errs[2] = readAs[int32](r, "maxInactiveInterval")
	s.IsNew, errs[3] = readAs[bool](r, "isNew")
	_, errs[4] = readAs[bool](r, "isValid")
	_, errs[5] = readAs[int64](r, "thisAccessedTime")
	var version int64
	version, errs[6] = readAs[int64](r, "version")
	var hasPrincipal bool
	hasPrincipal, errs[7] = r.ReadBool()
	if err := errors.Join(errs[:]...); err != nil {
		return s, err
	}
	s.Version = uint64(version)
	if hasPrincipal {
		v, err := r.ReadObject()
		if err != nil {
			return s, err
		}
		// A principal of a realm's own class has no Go form: the session is kept without
		// it, as Tomcat's deltas replicate such a principal (DeltaRequest.setPrincipal sends
		// null for any class but GenericPrincipal).
		if o, ok := v.(*jserial.Object); !ok || o.Class.Name == principalClass {
			if s.Principal, err = refs.principal(v); err != nil {
				return s, err
			}
		}
	}
	var err error
	if s.ID, err = readAs[string](r, "id"); err != nil {
		return s, err
	}
	next, err := r.ReadObject()
	if err != nil {
		return s, err
	}
	if _, legacy := next.(int32); !legacy {
		for _, name := range []string{NoteSessionID, NoteRequest} {
			if next != nil {
				v, err := refs.note(next)
				if err != nil {
					return s, err
				}
				s.Notes = append(s.Notes, NamedValue{Name: name, Value: v})
			}
			if next, err = r.ReadObject(); err != nil {
				return s, err
			}
		}
	}
	na, ok := next.(int32)
	if !ok {
		return s, fmt.Errorf("attribute count: unexpected %T", next)
	}
	n, err := c.count(na, size/2)
	if err != nil {
		return s, err
	}
	for range n {
		name, err := readAs[string](r, "attribute name")
		if err != nil {
			return s, err
		}
		v, err := r.ReadObject()
		if err != nil {
			return s, err
		}
		if v == nil {
			continue // Tomcat skips null values too
		}
		b, err := refs.marshal(v)
		if err != nil {
			return s, fmt.Errorf("attribute %q: %w", name, err)
		}
		s.Attributes = append(s.Attributes, NamedValue{Name: refs.intern(name), Value: b})
	}
	// A name the stream repeats is held once, with the last value, as Tomcat's
	// DeltaSession.readObject reads it (TestDecodeSessionDataKeepsTheLastValueOfAName).
	s.Attributes = lastValues(s.Attributes)
	nl, err := readAs[int32](r, "listener count")
	if err != nil {
		return s, err
	}
	if n, err = c.count(nl, size/2); err != nil {
		return s, err
	}
	for range n {
		v, err := r.ReadObject()
		if err != nil {
			return s, err
		}
		l, err := goListener(v)
		if err != nil {
			return s, err
		}
		s.Listeners = append(s.Listeners, l)
	}
	return s, nil
}
