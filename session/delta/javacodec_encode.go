package delta

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/gotribes/tribes/jserial"
)

// AppendMessage appends the SessionMessageImpl stream Tomcat writes for m. It refuses,
// with an error wrapping ErrMessageLimit, a message that a JavaCodec configured alike
// would refuse to decode (javaCheckLimits).
func (c JavaCodec) AppendMessage(dst []byte, m *Message) ([]byte, error) {
	if !m.Event.Valid() {
		return dst, fmt.Errorf("delta: cannot encode unknown event %d", m.Event)
	}
	if err := c.checkLimits(m); err != nil {
		return dst, err
	}
	out, err := c.appendMessage(dst, m)
	if err != nil {
		return dst, err
	}
	if err := c.checkSize(m, len(out)-len(dst)); err != nil {
		return dst, err
	}
	return out, nil
}

func (c JavaCodec) appendMessage(dst []byte, m *Message) ([]byte, error) {
	var payload []byte
	var err error
	switch m.Event {
	case EventDelta:
		payload, err = c.encodeDeltaRequest(m.SessionID, m.Actions)
	case EventAllSessionData:
		payload, err = c.encodeSessions(m)
	case EventChangeSessionID:
		var w jserial.DataWriter
		err = w.WriteUTF(m.NewID)
		if err == nil {
			payload, err = marshalContents(w.Contents())
		}
	}
	if err != nil {
		return dst, fmt.Errorf("delta: encode %s: %w", m.Event, err)
	}
	o, err := jserial.NewObject(sessionMessageDesc)
	if err != nil {
		return dst, err
	}
	var mSession any
	if payload != nil {
		mSession = payload
	}
	for _, f := range []struct {
		name string
		v    any
	}{
		{"timestamp", int64(0)}, {"mEvtType", int32(m.Event)}, {"serializationTimestamp", m.Timestamp},
		{"timestampSet", m.Timestamp != 0}, {"mContextName", contextName(m)}, {"mSession", mSession},
		{"mSessionID", nilIfEmpty(m.SessionID)}, {"uniqueId", nilIfEmpty(m.UniqueID)},
	} {
		if err := o.SetField(f.name, f.v); err != nil {
			return dst, fmt.Errorf("delta: encode %s: %w", m.Event, err)
		}
	}
	return jserial.MarshalAppend(dst, o)
}

// contextName is the mContextName of m: null for "every manager", "" for the name "".
func contextName(m *Message) any {
	if m.EmptyContext {
		return m.Context
	}
	return nilIfEmpty(m.Context)
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// marshalContents writes top-level block data and objects as one stream, as an
// ObjectOutputStream does when its owner writes primitives and objects directly.
func marshalContents(contents []any) ([]byte, error) {
	var buf bytes.Buffer
	enc, err := jserial.NewEncoder(&buf, jserial.EncoderConfig{})
	if err != nil {
		return nil, err
	}
	for _, v := range contents {
		if err := enc.Encode(v); err != nil {
			return nil, err
		}
	}
	return buf.Bytes(), nil
}

// inline decodes a value stream (a JavaValueCodec encoding) to write it inside another
// stream, with c.Limits (a node alike reads them with them: a delta's values, a state
// transfer chunk's, session/backup's session data and diffs), a stream beyond them
// refused with an error wrapping ErrMessageLimit and jserial.ErrLimit.
func (c JavaCodec) inline(b []byte, what string) (any, error) {
	if !bytes.HasPrefix(b, streamMagic) {
		return nil, fmt.Errorf("%s is not a Java serialization stream (use JavaValueCodec)", what)
	}
	v, err := jserial.UnmarshalConfig(b, c.Limits)
	if errors.Is(err, jserial.ErrLimit) {
		return nil, fmt.Errorf("%w: %s, read with JavaCodec's Limits %+v: %w", ErrMessageLimit, what, c.Limits, err)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return v, nil
}

// encodeDeltaRequest returns the stream DeltaRequest.serialize writes for the actions of
// session id, its attribute and note values read with c.Limits (inline),
// and then, if it holds two values or more, the whole stream.
func (c JavaCodec) encodeDeltaRequest(id string, actions []Action) ([]byte, error) {
	var w jserial.DataWriter
	if err := w.WriteUTF(id); err != nil {
		return nil, err
	}
	w.WriteBool(false) // recordAllActions
	w.WriteInt32(int32(len(actions)))
	values := 0
	for i := range actions {
		a := &actions[i]
		name, value, err := c.javaAction(a)
		if err != nil {
			return nil, fmt.Errorf("action %s %s %q: %w", a.Type, a.Op, a.Name, err)
		}
		w.WriteInt32(int32(a.Type))
		w.WriteInt32(int32(a.Op))
		if err := w.WriteUTF(name); err != nil {
			return nil, err
		}
		w.WriteBool(value != nil)
		if value != nil {
			w.WriteObject(value)
			values++
		}
	}
	b, err := marshalContents(w.Contents())
	if err != nil || values < 2 || c.fewerBytesThanHandles(b) {
		return b, err
	}
	// A node alike decodes the values in one stream, one handle table for them all
	// (decode): each within Limits alone, together they may not be
	// (TestJavaCodecValuesTogetherPastLimitsNotSent).
	if _, err := jserial.UnmarshalAll(b, c.Limits); errors.Is(err, jserial.ErrLimit) {
		return nil, fmt.Errorf("%w: the %d values of the delta together, read with JavaCodec's Limits %+v: %w",
			ErrMessageLimit, values, c.Limits, err)
	} else if err != nil {
		return nil, err
	}
	return b, nil
}

// javaAction returns the name and the value object Tomcat's DeltaRequest records for a,
// a principal's Java stream read with c.Limits (as a receiver alike reads it), attribute
// and note values as inline reads them.
func (c JavaCodec) javaAction(a *Action) (string, any, error) {
	if a.Op != OpSet && a.Op != OpRemove {
		return "", nil, errors.New("unknown operation")
	}
	set := a.Op == OpSet
	switch a.Type {
	case ActionAttribute:
		if !set {
			return a.Name, nil, nil
		}
		v, err := c.inline(a.Value, "the value")
		return a.Name, v, err
	case ActionPrincipal:
		if !set {
			return namePrincipal, nil, nil
		}
		p, err := c.DecodePrincipal(a.Value)
		if errors.Is(err, jserial.ErrLimit) {
			// As checkPrincipal refuses it in Session.SetPrincipal.
			return "", nil, fmt.Errorf("%w: the principal, read with JavaCodec's Limits %+v: %w", ErrMessageLimit, c.Limits, err)
		}
		if err != nil {
			return "", nil, err
		}
		o, err := principalObject(p, 0)
		return namePrincipal, o, err
	case ActionIsNew:
		v, err := decodeBool(a.Value)
		return nameIsNew, v, err
	case ActionMaxInterval:
		v, err := decodeInterval(a.Value)
		return nameMaxInterval, v, err
	case ActionAuthType:
		if !set {
			return nameAuthType, nil, nil
		}
		return nameAuthType, string(a.Value), nil
	case ActionListener:
		return nameListener, ssoListener(a.Name), nil
	case ActionNote:
		if !set {
			return a.Name, nil, nil
		}
		v, err := c.noteObject(a.Value)
		return a.Name, v, err
	}
	return "", nil, errors.New("unknown action type")
}

func (c JavaCodec) noteObject(v []byte) (any, error) {
	if bytes.HasPrefix(v, streamMagic) {
		return c.inline(v, "the note")
	}
	return string(v), nil
}

func ssoListener(ssoID string) *jserial.Object {
	return &jserial.Object{Class: ssoListenerDesc, Slots: []jserial.Slot{{Class: ssoListenerSuper, Values: []any{ssoID}}}}
}

func (c JavaCodec) encodeSessions(m *Message) ([]byte, error) {
	// Each session is written on its own first, its values read with c.Limits: one
	// that a joiner alike would refuse (a value past them) is left out of the chunk and
	// recorded in m.refused, instead of the joiner refusing the whole chunk
	// (TestJavaDonorLeavesOutTheSessionPastItsLimits).
	m.refused, m.refusedMore = m.refused[:0], 0
	var kept []any
	n := 0
	for i := range m.Sessions {
		s := &m.Sessions[i]
		var one jserial.DataWriter
		if err := c.encodeSession(&one, s); errors.Is(err, ErrMessageLimit) {
			m.leaveOut(s.ID, err.Error())
			continue
		} else if err != nil {
			return nil, err
		}
		kept = append(kept, one.Contents()...)
		n++
	}
	// Written again in one writer, block data joined as a single writer makes it:
	// the stream is the one Tomcat writes.
	var w jserial.DataWriter
	w.WriteObject(int32(n))
	for _, v := range kept {
		if b, ok := v.(jserial.BlockData); ok {
			_, _ = w.Write(b)
		} else {
			w.WriteObject(v)
		}
	}
	return marshalContents(w.Contents())
}

// encodeSession writes s in DeltaSession's layout (doWriteObject), its values read with
// c.Limits (inline): a value past them is refused with an error wrapping
// ErrMessageLimit.
func (c JavaCodec) encodeSession(w *jserial.DataWriter, s *SessionState) error {
	if s.Removed {
		return fmt.Errorf("delta: JavaCodec cannot send the removal record of %s: Tomcat has none", s.ID)
	}
	w.WriteObject(s.CreationTime)
	w.WriteObject(s.LastAccessedTime)
	w.WriteObject(s.MaxInactive)
	w.WriteObject(s.IsNew)
	w.WriteObject(true) // isValid
	w.WriteObject(s.LastAccessedTime)
	w.WriteObject(int64(s.Version))
	w.WriteBool(s.Principal != nil)
	if s.Principal != nil {
		p, err := principalObject(s.Principal, 0)
		if err != nil {
			return fmt.Errorf("principal of session %s: %w", s.ID, err)
		}
		w.WriteObject(p)
	}
	w.WriteObject(s.ID)
	for _, name := range []string{NoteSessionID, NoteRequest} {
		var v any
		for _, n := range s.Notes {
			if n.Name == name {
				var err error
				if v, err = c.noteObject(n.Value); err != nil {
					return err
				}
			}
		}
		w.WriteObject(v)
	}
	w.WriteObject(int32(len(s.Attributes)))
	for _, a := range s.Attributes {
		v, err := c.inline(a.Value, fmt.Sprintf("attribute %q of session %s", a.Name, s.ID))
		if err != nil {
			return err
		}
		w.WriteObject(a.Name)
		w.WriteObject(v)
	}
	w.WriteObject(int32(len(s.Listeners)))
	for _, l := range s.Listeners {
		w.WriteObject(ssoListener(l))
	}
	return nil
}

// fewerBytesThanHandles reports whether stream b is shorter than the handles Limits
// allow it: every element that takes a handle takes a byte of the stream at least, so
// such a stream cannot go past MaxHandles, and its values' depth and array lengths
// were checked one by one (inline), so reading it whole again would find nothing
// (TestJavaCodecValuesTogetherPastLimitsNotSent still reads what could).
func (c JavaCodec) fewerBytesThanHandles(b []byte) bool {
	maxBytes, handles := c.Limits.MaxBytes, c.Limits.MaxHandles
	if maxBytes == 0 {
		maxBytes = jserial.DefaultMaxBytes
	}
	if handles == 0 { // the default scales with the stream, as UnmarshalAll's does
		handles = max(jserial.DefaultMaxHandles, len(b)/8)
	}
	return int64(len(b)) <= maxBytes && len(b) < handles
}
