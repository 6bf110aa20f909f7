package delta

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/gotribes/tribes/jserial"
)

// JavaCodec is the MessageCodec of Tomcat's DeltaManager: every message is a Java
// serialization stream holding an org.apache.catalina.ha.session.SessionMessageImpl
// (serialVersionUID 2, superclass ClusterMessageBase), sent as a Tribes object message
// (without OptByteMessage), so Go and Tomcat 10.1 nodes share sessions. Use it with
// JavaValueCodec as the managers' Config.Codec: attribute values must be Java
// serialization streams, which is what JavaValueCodec produces.
//
// The event payload (SessionMessageImpl.mSession) is, as Tomcat writes it:
//   - EventDelta: DeltaRequest.writeExternal's data (session id, recordAllActions, the
//     actions with their values as objects). Principals are
//     GenericPrincipal$SerializablePrincipal objects (name and roles), the max inactive
//     interval an Integer, isNew a Boolean, the auth type and String notes Strings, and a
//     listener a ClusterSingleSignOnListener whose ssoId is the Go listener name.
//   - EventAllSessionData: an Integer count and each session in DeltaSession's
//     writeObjectData layout; Tomcat's SESSION_ID and REQUEST authenticator notes travel
//     in it, other notes do not.
//   - EventChangeSessionID: a stream holding only writeUTF(newID).
//
// Message.Version of a delta has no place in Tomcat's format and arrives as 0; a
// session's version in a state transfer does travel. A note whose Java value is not a
// String is kept as that value's serialization stream in the Go note string and written
// back as the object. Malformed streams are errors wrapping ErrMalformed; the zero value
// applies the jserial decoder defaults and BinaryCodec's count limit.
type JavaCodec struct {
	// Limits bound every decoded stream (depth, handles, lengths, size). Zero fields take
	// jserial's defaults.
	Limits jserial.DecoderConfig
	// MaxEntries caps the actions or sessions of one message. 0 means DefaultMaxEntries.
	MaxEntries int
}

// Class names and serialVersionUIDs of what JavaCodec writes (Tribes specification,
// section 13).
const (
	sessionMessageClass = "org.apache.catalina.ha.session.SessionMessageImpl"
	principalClass      = "org.apache.catalina.realm.GenericPrincipal$SerializablePrincipal"
	ssoListenerClass    = "org.apache.catalina.ha.authenticator.ClusterSingleSignOnListener"

	nameListener = "__SET__LISTENER__"

	// NoteSessionID and NoteRequest are the notes of Tomcat's authenticators that a state
	// transfer carries (org.apache.catalina.authenticator.Constants SESSION_ID_NOTE and
	// FORM_REQUEST_NOTE).
	NoteSessionID = "org.apache.catalina.authenticator.SESSION_ID"
	NoteRequest   = "org.apache.catalina.authenticator.REQUEST"
)

var (
	stringSig          = "Ljava/lang/String;"
	clusterMessageDesc = &jserial.ClassDesc{Name: "org.apache.catalina.ha.ClusterMessageBase", SUID: 1,
		Flags: jserial.SCSerializable, Fields: []jserial.Field{{Type: 'J', Name: "timestamp"}}}
	sessionMessageDesc = &jserial.ClassDesc{Name: sessionMessageClass, SUID: 2, Flags: jserial.SCSerializable,
		Super: clusterMessageDesc, Fields: []jserial.Field{
			{Type: 'I', Name: "mEvtType"},
			{Type: 'J', Name: "serializationTimestamp"},
			{Type: 'Z', Name: "timestampSet"},
			{Type: 'L', Name: "mContextName", Signature: stringSig},
			{Type: '[', Name: "mSession", Signature: "[B"},
			{Type: 'L', Name: "mSessionID", Signature: stringSig},
			{Type: 'L', Name: "uniqueId", Signature: stringSig},
		}}
	principalDesc = &jserial.ClassDesc{Name: principalClass, SUID: 1, Flags: jserial.SCSerializable,
		Fields: []jserial.Field{
			{Type: 'L', Name: "attributes", Signature: "Ljava/util/Map;"},
			{Type: 'L', Name: "name", Signature: stringSig},
			{Type: 'L', Name: "principal", Signature: "Ljava/security/Principal;"},
			{Type: '[', Name: "roles", Signature: "[Ljava/lang/String;"},
		}}
	stringArrayDesc = &jserial.ClassDesc{Name: "[Ljava.lang.String;", SUID: -5921575005990323385,
		Flags: jserial.SCSerializable}
	ssoListenerSuper = &jserial.ClassDesc{Name: "org.apache.catalina.authenticator.SingleSignOnListener", SUID: 1,
		Flags: jserial.SCSerializable, Fields: []jserial.Field{{Type: 'L', Name: "ssoId", Signature: stringSig}}}
	ssoListenerDesc = &jserial.ClassDesc{Name: ssoListenerClass, SUID: 1, Flags: jserial.SCSerializable,
		Super: ssoListenerSuper}
)

// streamMagic starts every Java serialization stream.
var streamMagic = []byte{0xAC, 0xED, 0x00, 0x05}

// javaMessagePrefix is what a stream holding a SessionMessageImpl starts with: the
// header, TC_OBJECT, TC_CLASSDESC and the class name.
var javaMessagePrefix = func() []byte {
	b := append(append([]byte(nil), streamMagic...), 0x73, 0x72)
	b = binary.BigEndian.AppendUint16(b, uint16(len(sessionMessageClass)))
	return append(b, sessionMessageClass...)
}()

func (JavaCodec) objectMessages() {}

// Owns reports whether data is a stream holding a SessionMessageImpl.
func (JavaCodec) Owns(data []byte) bool { return bytes.HasPrefix(data, javaMessagePrefix) }

// AppendMessage appends the SessionMessageImpl stream Tomcat writes for m.
func (c JavaCodec) AppendMessage(dst []byte, m *Message) ([]byte, error) {
	if !m.Event.Valid() {
		return dst, fmt.Errorf("delta: cannot encode unknown event %d", m.Event)
	}
	var payload []byte
	var err error
	switch m.Event {
	case EventDelta:
		payload, err = c.encodeDelta(m)
	case EventAllSessionData:
		payload, err = c.encodeSessions(m.Sessions)
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
		{"timestampSet", m.Timestamp != 0}, {"mContextName", nilIfEmpty(m.Context)}, {"mSession", mSession},
		{"mSessionID", nilIfEmpty(m.SessionID)}, {"uniqueId", nilIfEmpty(m.UniqueID)},
	} {
		if err := o.SetField(f.name, f.v); err != nil {
			return dst, fmt.Errorf("delta: encode %s: %w", m.Event, err)
		}
	}
	return jserial.MarshalAppend(dst, o)
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
// stream.
func inline(b []byte, what string) (any, error) {
	if !bytes.HasPrefix(b, streamMagic) {
		return nil, fmt.Errorf("%s is not a Java serialization stream (use JavaValueCodec)", what)
	}
	v, err := jserial.Unmarshal(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return v, nil
}

func (c JavaCodec) encodeDelta(m *Message) ([]byte, error) {
	var w jserial.DataWriter
	if err := w.WriteUTF(m.SessionID); err != nil {
		return nil, err
	}
	w.WriteBool(false) // recordAllActions
	w.WriteInt32(int32(len(m.Actions)))
	for i := range m.Actions {
		a := &m.Actions[i]
		name, value, err := javaAction(a)
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
		}
	}
	return marshalContents(w.Contents())
}

// javaAction returns the name and the value object Tomcat's DeltaRequest records for a.
func javaAction(a *Action) (string, any, error) {
	if a.Op != OpSet && a.Op != OpRemove {
		return "", nil, errors.New("unknown operation")
	}
	set := a.Op == OpSet
	switch a.Type {
	case ActionAttribute:
		if !set {
			return a.Name, nil, nil
		}
		v, err := inline(a.Value, "the value")
		return a.Name, v, err
	case ActionPrincipal:
		if !set {
			return namePrincipal, nil, nil
		}
		p, err := DecodePrincipal(a.Value)
		if err != nil {
			return "", nil, err
		}
		return namePrincipal, principalObject(p), nil
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
		v, err := noteObject(a.Value)
		return a.Name, v, err
	}
	return "", nil, errors.New("unknown action type")
}

func noteObject(v []byte) (any, error) {
	if bytes.HasPrefix(v, streamMagic) {
		return inline(v, "the note")
	}
	return string(v), nil
}

func principalObject(p *Principal) *jserial.Object {
	roles := make([]any, len(p.Roles))
	for i, r := range p.Roles {
		roles[i] = r
	}
	return &jserial.Object{Class: principalDesc, Slots: []jserial.Slot{{Class: principalDesc,
		Values: []any{nil, p.Name, nil, &jserial.Array{Class: stringArrayDesc, Elems: roles}}}}}
}

func ssoListener(ssoID string) *jserial.Object {
	return &jserial.Object{Class: ssoListenerDesc, Slots: []jserial.Slot{{Class: ssoListenerSuper, Values: []any{ssoID}}}}
}

func (c JavaCodec) encodeSessions(ss []SessionState) ([]byte, error) {
	var w jserial.DataWriter
	w.WriteObject(int32(len(ss)))
	for i := range ss {
		s := &ss[i]
		w.WriteObject(s.CreationTime)
		w.WriteObject(s.LastAccessedTime)
		w.WriteObject(s.MaxInactive)
		w.WriteObject(s.IsNew)
		w.WriteObject(true) // isValid
		w.WriteObject(s.LastAccessedTime)
		w.WriteObject(int64(s.Version))
		w.WriteBool(s.Principal != nil)
		if s.Principal != nil {
			w.WriteObject(principalObject(s.Principal))
		}
		w.WriteObject(s.ID)
		for _, name := range []string{NoteSessionID, NoteRequest} {
			var v any
			for _, n := range s.Notes {
				if n.Name == name {
					var err error
					if v, err = noteObject(n.Value); err != nil {
						return nil, err
					}
				}
			}
			w.WriteObject(v)
		}
		w.WriteObject(int32(len(s.Attributes)))
		for _, a := range s.Attributes {
			v, err := inline(a.Value, fmt.Sprintf("attribute %q of session %s", a.Name, s.ID))
			if err != nil {
				return nil, err
			}
			w.WriteObject(a.Name)
			w.WriteObject(v)
		}
		w.WriteObject(int32(len(s.Listeners)))
		for _, l := range s.Listeners {
			w.WriteObject(ssoListener(l))
		}
	}
	return marshalContents(w.Contents())
}

// DecodeMessage parses a SessionMessageImpl stream; errors wrap ErrMalformed.
func (c JavaCodec) DecodeMessage(data []byte) (*Message, error) {
	m, err := c.decode(data)
	if err != nil {
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
	f := fields{o: o}
	m := &Message{
		Event:     Event(f.int32("mEvtType")),
		Context:   f.str("mContextName"),
		SessionID: f.str("mSessionID"),
		UniqueID:  f.str("uniqueId"),
	}
	if f.bool("timestampSet") {
		m.Timestamp = f.int64("serializationTimestamp")
	}
	payload := f.bytes("mSession")
	if f.err != nil {
		return nil, f.err
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
		m.Actions, err = c.decodeActions(r, len(payload))
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
	if n < 0 || int(n) > orDefault(c.MaxEntries, DefaultMaxEntries) || int(n) > max {
		return 0, fmt.Errorf("bad count %d", n)
	}
	return int(n), nil
}

func (c JavaCodec) decodeActions(r *jserial.DataReader, size int) ([]Action, error) {
	if _, err := r.ReadUTF(); err != nil { // the session id, as in the message
		return nil, err
	}
	if _, err := r.ReadBool(); err != nil { // recordAllActions: the sender's business
		return nil, err
	}
	n32, err := r.ReadInt32()
	if err != nil {
		return nil, err
	}
	// Every action takes at least 11 bytes.
	n, err := c.count(n32, size/11)
	if err != nil {
		return nil, err
	}
	var out []Action
	names := map[string]string{}
	for range n {
		t, err1 := r.ReadInt32()
		op, err2 := r.ReadInt32()
		name, err3 := r.ReadUTF()
		has, err4 := r.ReadBool()
		if err := errors.Join(err1, err2, err3, err4); err != nil {
			return nil, err
		}
		if t < 0 || t > int32(ActionNote) || op < 0 || op > int32(OpRemove) {
			return nil, fmt.Errorf("unknown action type %d or operation %d", t, op)
		}
		var v any
		if has {
			if v, err = r.ReadObject(); err != nil {
				return nil, err
			}
		}
		a, err := goAction(ActionType(t), Op(op), intern(names, name), v, has)
		if err != nil {
			return nil, fmt.Errorf("action %s %s %q: %w", ActionType(t), Op(op), name, err)
		}
		out = append(out, a)
	}
	return out, nil
}

func intern(m map[string]string, s string) string {
	if v, ok := m[s]; ok {
		return v
	}
	m[s] = s
	return s
}

// goAction turns one of Tomcat's AttributeInfo into an Action.
func goAction(t ActionType, op Op, name string, v any, has bool) (Action, error) {
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
		a.Value, err = jserial.Marshal(v)
	case ActionPrincipal:
		var p *Principal
		if p, err = goPrincipal(v); err == nil {
			a.Value = EncodePrincipal(p)
		}
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
		a.Value = []byte(s)
	case ActionListener:
		a.Name, err = goListener(v)
		if op == OpSet {
			a.Value = []byte{}
		}
	case ActionNote:
		a.Value, err = goNote(v)
	}
	return a, err
}

func goNote(v any) ([]byte, error) {
	if s, ok := v.(string); ok {
		return []byte(s), nil
	}
	return jserial.Marshal(v)
}

func goPrincipal(v any) (*Principal, error) {
	o, ok := v.(*jserial.Object)
	if !ok || o.Class.Name != principalClass {
		return nil, fmt.Errorf("principal of class %s, want GenericPrincipal", className(v))
	}
	name, _ := o.Field("name")
	p := &Principal{}
	if p.Name, ok = name.(string); !ok {
		return nil, errors.New("principal without a name")
	}
	roles, _ := o.Field("roles")
	if arr, ok := roles.(*jserial.Array); ok {
		for _, r := range arr.Elems {
			s, ok := r.(string)
			if !ok {
				return nil, errors.New("principal role is not a String")
			}
			p.Roles = append(p.Roles, s)
		}
	}
	return p, nil
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
	names := map[string]string{}
	out := make([]SessionState, 0, n)
	for range n {
		s, err := c.decodeSession(r, size, names)
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

func (c JavaCodec) decodeSession(r *jserial.DataReader, size int, names map[string]string) (SessionState, error) {
	var s SessionState
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
		if s.Principal, err = goPrincipal(v); err != nil {
			return s, err
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
				v, err := goNote(next)
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
		b, err := jserial.Marshal(v)
		if err != nil {
			return s, fmt.Errorf("attribute %q: %w", name, err)
		}
		s.Attributes = append(s.Attributes, NamedValue{Name: intern(names, name), Value: b})
	}
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

// fields reads typed fields of a decoded object; the first failure sticks in err.
type fields struct {
	o   *jserial.Object
	err error
}

func (f *fields) get(name string) any {
	v, ok := f.o.Field(name)
	if !ok && f.err == nil {
		f.err = fmt.Errorf("no field %s", name)
	}
	return v
}

func fieldAs[T any](f *fields, name string) T {
	v := f.get(name)
	t, ok := v.(T)
	if !ok && v != nil && f.err == nil {
		f.err = fmt.Errorf("field %s is %T", name, v)
	}
	return t
}

func (f *fields) int32(name string) int32  { return fieldAs[int32](f, name) }
func (f *fields) int64(name string) int64  { return fieldAs[int64](f, name) }
func (f *fields) bool(name string) bool    { return fieldAs[bool](f, name) }
func (f *fields) str(name string) string   { return fieldAs[string](f, name) }
func (f *fields) bytes(name string) []byte { return fieldAs[[]byte](f, name) }
