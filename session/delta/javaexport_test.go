package delta

import (
	"strconv"

	"github.com/gotribes/tribes/jserial"
)

// TomcatMessage returns the SessionMessageImpl stream Tomcat writes for an event with
// the given context name (nil: none; a pointer to "" is the empty name, which Tomcat's
// ROOT context has under a Host-level cluster), session id and payload (tests only).
func TomcatMessage(ev Event, ctxName *string, sessionID string, payload []byte) ([]byte, error) {
	o, err := jserial.NewObject(sessionMessageDesc)
	if err != nil {
		return nil, err
	}
	var ctxv, payv any
	if ctxName != nil {
		ctxv = *ctxName
	}
	if payload != nil {
		payv = payload
	}
	for _, f := range []struct {
		name string
		v    any
	}{
		{"timestamp", int64(0)}, {"mEvtType", int32(ev)}, {"serializationTimestamp", int64(1700000000000)},
		{"timestampSet", true}, {"mContextName", ctxv}, {"mSession", payv},
		{"mSessionID", sessionID}, {"uniqueId", sessionID + "-1"},
	} {
		if err := o.SetField(f.name, f.v); err != nil {
			return nil, err
		}
	}
	return jserial.Marshal(o)
}

// TomcatDeltaPayload returns DeltaRequest.serialize's stream for actions of session id
// (tests only).
func TomcatDeltaPayload(id string, actions []Action) ([]byte, error) {
	return JavaCodec{}.encodeDeltaRequest(id, actions)
}

// SharedAttributesDelta returns DeltaRequest.serialize's stream for session id
// created (isNew true) with n attributes a0..a<n-1>, all the one object v: the stream
// writes v once and refers back to it (tests only).
func SharedAttributesDelta(id string, n int, v any) ([]byte, error) {
	return sharedDelta(id, n, ActionAttribute, "a", v)
}

// SharedNotesDelta is SharedAttributesDelta with n notes n0..n<n-1> and an auth type,
// all the one String s (tests only).
func SharedNotesDelta(id string, n int, s string) ([]byte, error) {
	return sharedDelta(id, n, ActionNote, "n", s)
}

func sharedDelta(id string, n int, typ ActionType, prefix string, v any) ([]byte, error) {
	extra := 0
	if typ == ActionNote {
		extra = 1
	}
	var w jserial.DataWriter
	if err := w.WriteUTF(id); err != nil {
		return nil, err
	}
	w.WriteBool(false)
	w.WriteInt32(int32(n + 1 + extra))
	w.WriteInt32(int32(ActionIsNew))
	w.WriteInt32(int32(OpSet))
	if err := w.WriteUTF(nameIsNew); err != nil {
		return nil, err
	}
	w.WriteBool(true)
	w.WriteObject(true)
	for i := range n {
		w.WriteInt32(int32(typ))
		w.WriteInt32(int32(OpSet))
		if err := w.WriteUTF(prefix + strconv.Itoa(i)); err != nil {
			return nil, err
		}
		w.WriteBool(true)
		w.WriteObject(v)
	}
	if extra > 0 {
		w.WriteInt32(int32(ActionAuthType))
		w.WriteInt32(int32(OpSet))
		if err := w.WriteUTF(nameAuthType); err != nil {
			return nil, err
		}
		w.WriteBool(true)
		w.WriteObject(v)
	}
	return marshalContents(w.Contents())
}

// SharedPrincipalDelta returns DeltaRequest.serialize's stream for session id
// created (isNew true) with n principal actions, all the one SerializablePrincipal of
// user "alice" wrapping the user principal u (tests only).
func SharedPrincipalDelta(id string, n int, u *jserial.Object) ([]byte, error) {
	p, err := principalObject(&Principal{Name: "alice", Roles: []string{"r"}, User: u}, 0)
	if err != nil {
		return nil, err
	}
	var w jserial.DataWriter
	if err := w.WriteUTF(id); err != nil {
		return nil, err
	}
	w.WriteBool(true)
	w.WriteInt32(int32(n + 1))
	w.WriteInt32(int32(ActionIsNew))
	w.WriteInt32(int32(OpSet))
	if err := w.WriteUTF(nameIsNew); err != nil {
		return nil, err
	}
	w.WriteBool(true)
	w.WriteObject(true)
	for range n {
		w.WriteInt32(int32(ActionPrincipal))
		w.WriteInt32(int32(OpSet))
		if err := w.WriteUTF(namePrincipal); err != nil {
			return nil, err
		}
		w.WriteBool(true)
		w.WriteObject(p)
	}
	return marshalContents(w.Contents())
}
