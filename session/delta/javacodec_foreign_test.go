package delta

import (
	"fmt"
	"testing"

	"github.com/gotribes/tribes/jserial"
)

// DeltaSession.doWriteObject writes a session's principal whenever it is Serializable
// (stream.writeBoolean(getPrincipal() instanceof Serializable)), whatever its class: a
// custom Realm's own Principal class travels in a state transfer, and a Tomcat joiner
// loads every session of the message. JavaCodec used to refuse a principal that is not a
// GenericPrincipal$SerializablePrincipal, which failed the whole EVT_ALL_SESSION_DATA:
// one such session cost the Go joiner every session of the message (all of them with
// Tomcat's default sendAllSessions="true"). Now the session is kept without that
// principal, as Tomcat's own deltas replicate it (DeltaRequest.setPrincipal: null for
// any class but GenericPrincipal).
func TestJavaCodecStateWithForeignPrincipal(t *testing.T) {
	desc := &jserial.ClassDesc{Name: "com.example.realm.UserPrincipal", SUID: 1, Flags: jserial.SCSerializable,
		Fields: []jserial.Field{{Type: 'L', Name: "name", Signature: "Ljava/lang/String;"}}}
	p, err := jserial.NewObject(desc)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.SetField("name", "alice"); err != nil {
		t.Fatal(err)
	}
	var w jserial.DataWriter
	w.WriteObject(int32(3))
	for i := range 3 {
		for _, x := range []any{int64(1700000000000), int64(1700000000000), int32(1800), false, true,
			int64(1700000000000), int64(0)} {
			w.WriteObject(x)
		}
		w.WriteBool(i == 1) // the second session has the realm's principal
		if i == 1 {
			w.WriteObject(p)
		}
		w.WriteObject(fmt.Sprintf("SESSION%d", i))
		w.WriteObject(nil)      // SESSION_ID_NOTE
		w.WriteObject(nil)      // FORM_REQUEST_NOTE
		w.WriteObject(int32(1)) // attributes
		w.WriteObject("k")
		w.WriteObject("v")
		w.WriteObject(int32(0)) // listeners
	}
	payload, err := marshalContents(w.Contents())
	if err != nil {
		t.Fatal(err)
	}
	data, err := TomcatMessage(EventAllSessionData, nil, "SESSION-STATE", payload)
	if err != nil {
		t.Fatal(err)
	}
	m, err := JavaCodec{}.DecodeMessage(data)
	if err != nil {
		t.Fatalf("a state transfer of 3 sessions, one with a %s principal: %v", desc.Name, err)
	}
	if len(m.Sessions) != 3 {
		t.Fatalf("%d sessions, want 3", len(m.Sessions))
	}
	for i, s := range m.Sessions {
		if s.Principal != nil || len(s.Attributes) != 1 {
			t.Errorf("session %d: principal %+v, %d attributes", i, s.Principal, len(s.Attributes))
		}
	}
}
