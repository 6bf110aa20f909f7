package delta

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/jserial"
)

// sharedUser is a user principal of a class Go does not map holding a 256 KiB byte[]:
// every principal below wraps this one object, so a stream writes it once and refers
// back to it (5 bytes) from each principal.
func sharedUser(t *testing.T) *jserial.Object {
	t.Helper()
	desc := &jserial.ClassDesc{Name: "com.example.RealmUser", SUID: 1, Flags: jserial.SCSerializable,
		Fields: []jserial.Field{{Type: '[', Name: "blob", Signature: "[B"}}}
	u, err := jserial.NewObject(desc)
	if err != nil {
		t.Fatal(err)
	}
	blob := make([]byte, 256<<10)
	for i := range blob {
		blob[i] = byte(i)
	}
	if err := u.SetField("blob", blob); err != nil {
		t.Fatal(err)
	}
	return u
}

// A state transfer chunk whose sessions each have their own small principal, all
// wrapping one large user principal (the realm's, as Tomcat's GenericPrincipal does),
// must cost about the message's size to decode (or be refused), as
// TestJavaCodecSharedValues asks of attribute values. A principal's conversion is
// cached by the identity of the outer SerializablePrincipal only, and goPrincipal
// marshals the whole principal graph (the shared user included) to compare it with Go's
// form: every session used to cost a few copies of the shared object. The comparisons
// now reuse two buffers and count against the message's budget (ErrDecodeBudget).
func TestJavaCodecSharedUserPrincipalState(t *testing.T) {
	const n = 256
	u := sharedUser(t)
	m := &Message{Event: EventAllSessionData, Context: "localhost#/app", SessionID: "SESSION-STATE",
		UniqueID: "SESSION-STATE-x", Timestamp: 1}
	for i := range n {
		m.Sessions = append(m.Sessions, SessionState{ID: fmt.Sprintf("S%04d", i), CreationTime: 1,
			LastAccessedTime: 1, MaxInactive: 60, Principal: &Principal{Name: fmt.Sprint("user", i), User: u}})
	}
	c := JavaCodec{MaxExpansion: 4} // the mechanism; TestJavaCodecSharedObjectDefaultBudget checks the default
	in, err := c.AppendMessage(nil, m)
	if err != nil {
		t.Fatal(err)
	}
	if len(in) > 300<<10 {
		t.Fatalf("the message is %d bytes: the encoder did not share the user principal", len(in))
	}
	var got *Message
	alloc := testutil.Allocated(func() { got, err = c.DecodeMessage(in) })
	if err == nil && len(got.Sessions) != n {
		t.Fatalf("%d sessions", len(got.Sessions))
	}
	if limit := uint64(4*len(in) + 1<<20); alloc > limit {
		t.Errorf("a %d-byte EVT_ALL_SESSION_DATA of %d sessions sharing one user principal: %d bytes allocated (err %v), want at most %d",
			len(in), n, alloc, err, limit)
	}
}

// The same in a DeltaRequest: principal actions, each its own SerializablePrincipal
// around one shared user principal.
func TestJavaCodecSharedUserPrincipalDelta(t *testing.T) {
	const n = 256
	u := sharedUser(t)
	var w jserial.DataWriter
	if err := w.WriteUTF("s1"); err != nil {
		t.Fatal(err)
	}
	w.WriteBool(true) // recordAllActions
	w.WriteInt32(n)
	for i := range n {
		o, err := principalObject(&Principal{Name: fmt.Sprint("user", i), User: u}, 0)
		if err != nil {
			t.Fatal(err)
		}
		w.WriteInt32(int32(ActionPrincipal))
		w.WriteInt32(int32(OpSet))
		if err := w.WriteUTF(namePrincipal); err != nil {
			t.Fatal(err)
		}
		w.WriteBool(true)
		w.WriteObject(o)
	}
	in, err := marshalContents(w.Contents())
	if err != nil {
		t.Fatal(err)
	}
	if len(in) > 300<<10 {
		t.Fatalf("the request is %d bytes: the encoder did not share the user principal", len(in))
	}
	var acts []Action
	alloc := testutil.Allocated(func() { _, acts, err = JavaCodec{MaxExpansion: 4}.DecodeDeltaRequest(in) })
	if err == nil && len(acts) != n {
		t.Fatalf("%d actions", len(acts))
	}
	// The decode, refused at its budget of 4 times the request, allocates 7.7 times it
	// (2.13 MB for 278 KB): 8 times plus 1 MiB leaves a third for what changes beside
	// it (4 times plus 1 MiB left 1.4%, and a names' map presized at the action count
	// went 1.2 KB over); a copy of the shared user per action, uncounted, is 64 MiB.
	if limit := uint64(8*len(in) + 1<<20); alloc > limit {
		t.Errorf("a %d-byte DeltaRequest of %d principal actions sharing one user principal: %d bytes allocated (err %v), want at most %d",
			len(in), n, alloc, err, limit)
	}
}

// wrappersOf returns n distinct small objects of an application class, each holding the
// same value in its one field.
func wrappersOf(t *testing.T, n int, shared any) []*jserial.Object {
	t.Helper()
	desc := &jserial.ClassDesc{Name: "com.example.Holder", SUID: 1, Flags: jserial.SCSerializable,
		Fields: []jserial.Field{{Type: 'L', Name: "value", Signature: "Ljava/lang/Object;"}}}
	out := make([]*jserial.Object, n)
	for i := range out {
		o, err := jserial.NewObject(desc)
		if err != nil {
			t.Fatal(err)
		}
		if err := o.SetField("value", shared); err != nil {
			t.Fatal(err)
		}
		out[i] = o
	}
	return out
}

// TestJavaCodecSharedValues covers attribute actions that all refer to one value; the
// cache of converted values is keyed by the identity of the action's value only, so
// actions whose values are distinct small objects sharing one large object (a 5-byte
// back-reference each) write the large one for every action: the message's budget
// (JavaCodec.MaxExpansion) refuses it.
func TestJavaCodecSharedInnerAttributeValue(t *testing.T) {
	const n = 256
	u := sharedUser(t) // an object holding 256 KiB
	var w jserial.DataWriter
	if err := w.WriteUTF("s1"); err != nil {
		t.Fatal(err)
	}
	w.WriteBool(true)
	w.WriteInt32(n)
	for i, o := range wrappersOf(t, n, u) {
		w.WriteInt32(int32(ActionAttribute))
		w.WriteInt32(int32(OpSet))
		if err := w.WriteUTF(fmt.Sprint("a", i)); err != nil {
			t.Fatal(err)
		}
		w.WriteBool(true)
		w.WriteObject(o)
	}
	in, err := marshalContents(w.Contents())
	if err != nil {
		t.Fatal(err)
	}
	if len(in) > 300<<10 {
		t.Fatalf("the request is %d bytes: the encoder did not share the inner object", len(in))
	}
	var acts []Action
	alloc := testutil.Allocated(func() { _, acts, err = JavaCodec{MaxExpansion: 4}.DecodeDeltaRequest(in) })
	if err == nil && len(acts) != n {
		t.Fatalf("%d actions", len(acts))
	}
	if limit := uint64(4*len(in) + 1<<20); alloc > limit {
		t.Errorf("a %d-byte DeltaRequest of %d attribute values sharing one inner object: %d bytes allocated (err %v), want at most %d",
			len(in), n, alloc, err, limit)
	}
}

// A String must not be converted anew at every reference: javaRefs.note used to turn a
// String note into []byte(s) without the cache, and goAction did the same for an auth
// type, so sessions whose SESSION_ID note (or note and auth type actions) all refer to
// one large String copied it once per reference. Now javaRefs.str caches it.
func TestJavaCodecSharedStringNote(t *testing.T) {
	const n = 256
	big := strings.Repeat("x", 256<<10) // one 256 KiB String, written once
	var sw jserial.DataWriter
	sw.WriteObject(int32(n))
	for i := range n {
		for _, x := range []any{int64(1), int64(1), int32(60), false, true, int64(1), int64(0)} {
			sw.WriteObject(x)
		}
		sw.WriteBool(false) // no principal
		sw.WriteObject(fmt.Sprintf("S%04d", i))
		sw.WriteObject(big) // org.apache.catalina.authenticator.SESSION_ID
		sw.WriteObject(nil) // FORM_REQUEST_NOTE
		sw.WriteObject(int32(0))
		sw.WriteObject(int32(0))
	}
	payload, err := marshalContents(sw.Contents())
	if err != nil {
		t.Fatal(err)
	}
	in, err := TomcatMessage(EventAllSessionData, nil, "SESSION-STATE", payload)
	if err != nil {
		t.Fatal(err)
	}
	if len(in) > 300<<10 {
		t.Fatalf("the message is %d bytes: the encoder did not share the String", len(in))
	}
	var m *Message
	alloc := testutil.Allocated(func() { m, err = JavaCodec{MaxExpansion: 4}.DecodeMessage(in) })
	if err == nil && len(m.Sessions) != n {
		t.Fatalf("%d sessions", len(m.Sessions))
	}
	if limit := uint64(4*len(in) + 1<<20); alloc > limit {
		t.Errorf("a %d-byte EVT_ALL_SESSION_DATA of %d sessions whose note is one shared String: %d bytes allocated (err %v), want at most %d",
			len(in), n, alloc, err, limit)
	}

	// The same in a DeltaRequest: note and auth type actions referring to one String.
	var w jserial.DataWriter
	if err := w.WriteUTF("s1"); err != nil {
		t.Fatal(err)
	}
	w.WriteBool(true)
	w.WriteInt32(n)
	for i := range n {
		typ, name := ActionNote, fmt.Sprint("note", i)
		if i%2 == 1 {
			typ, name = ActionAuthType, nameAuthType
		}
		w.WriteInt32(int32(typ))
		w.WriteInt32(int32(OpSet))
		if err := w.WriteUTF(name); err != nil {
			t.Fatal(err)
		}
		w.WriteBool(true)
		w.WriteObject(big)
	}
	in, err = marshalContents(w.Contents())
	if err != nil {
		t.Fatal(err)
	}
	var acts []Action
	alloc = testutil.Allocated(func() { _, acts, err = JavaCodec{MaxExpansion: 4}.DecodeDeltaRequest(in) })
	if err == nil && len(acts) != n {
		t.Fatalf("%d actions", len(acts))
	}
	if limit := uint64(4*len(in) + 1<<20); alloc > limit {
		t.Errorf("a %d-byte DeltaRequest of %d note and auth type actions sharing one String: %d bytes allocated (err %v), want at most %d",
			len(in), n, alloc, err, limit)
	}
}

// sharedInnerDelta is TestJavaCodecSharedInnerAttributeValue's DeltaRequest: n
// attribute values, each its own small object holding one 256 KiB object.
func sharedInnerDelta(t *testing.T, n int) []byte {
	t.Helper()
	var w jserial.DataWriter
	if err := w.WriteUTF("s1"); err != nil {
		t.Fatal(err)
	}
	w.WriteBool(true)
	w.WriteInt32(int32(n))
	for i, o := range wrappersOf(t, n, sharedUser(t)) {
		w.WriteInt32(int32(ActionAttribute))
		w.WriteInt32(int32(OpSet))
		if err := w.WriteUTF(fmt.Sprint("a", i)); err != nil {
			t.Fatal(err)
		}
		w.WriteBool(true)
		w.WriteObject(o)
	}
	in, err := marshalContents(w.Contents())
	if err != nil {
		t.Fatal(err)
	}
	return in
}

// A message whose values' Go forms exceed its budget is refused with an error wrapping
// ErrDecodeBudget, jserial.ErrLimit and ErrMalformed; a larger MaxExpansion lets it
// through.
func TestJavaCodecDecodeBudget(t *testing.T) {
	const n = 64
	payload := sharedInnerDelta(t, n)
	in, err := TomcatMessage(EventDelta, nil, "s1", payload)
	if err != nil {
		t.Fatal(err)
	}
	_, err = JavaCodec{}.DecodeMessage(in)
	for _, want := range []error{ErrDecodeBudget, jserial.ErrLimit, ErrMalformed} {
		if !errors.Is(err, want) {
			t.Errorf("a %d-byte delta of %d values sharing 256 KiB: error %v, want one wrapping %v", len(in), n, err, want)
		}
	}
	if _, _, err := (JavaCodec{}).DecodeDeltaRequest(payload); !errors.Is(err, ErrDecodeBudget) || !errors.Is(err, ErrMalformed) {
		t.Errorf("DecodeDeltaRequest: %v", err)
	}
	m, err := JavaCodec{MaxExpansion: n + 1}.DecodeMessage(in)
	if err != nil || len(m.Actions) != n {
		t.Fatalf("with MaxExpansion %d: %v", n+1, err)
	}
	for _, a := range m.Actions {
		if len(a.Value) < 256<<10 {
			t.Fatalf("action %s: %d bytes", a.Name, len(a.Value))
		}
	}

	// Comparing principals with Go's form of them writes streams it does not keep; they
	// count too (at most four times what may be kept, plus 1 MiB), or a message of many
	// small principals sharing one large user principal would take time without bound.
	u := sharedUser(t)
	state := &Message{Event: EventAllSessionData, Context: "localhost#/app", SessionID: idSessionState, Timestamp: 1}
	for i := range 256 {
		state.Sessions = append(state.Sessions, SessionState{ID: fmt.Sprintf("S%04d", i), CreationTime: 1,
			LastAccessedTime: 1, MaxInactive: 60, Principal: &Principal{Name: fmt.Sprint("user", i), User: u}})
	}
	if in, err = (JavaCodec{}).AppendMessage(nil, state); err != nil {
		t.Fatal(err)
	}
	if _, err := (JavaCodec{}).DecodeMessage(in); !errors.Is(err, ErrDecodeBudget) {
		t.Errorf("a %d-byte chunk of 256 principals sharing a 256 KiB user principal: %v, want ErrDecodeBudget", len(in), err)
	}
	if m, err := (JavaCodec{MaxExpansion: 1000}).DecodeMessage(in); err != nil || m.Sessions[255].Principal.User != m.Sessions[0].Principal.User {
		t.Errorf("with MaxExpansion 1000: %v, or the user principal is not shared", err)
	}
}

// Dense messages decode within the default budget: a state transfer chunk of 1000
// sessions, each with a principal of its own and 20 small values whose class
// descriptors each value's own stream repeats (Integer, Long, Boolean, Date and an
// application's small bean), where the values' streams take about twice the message.
// AppendMessage writes each value's application class descriptors anew; Tomcat's stream,
// which writes them once, expands 2.75 times (TestJavaCodecShopStateWithinBudget).
func TestJavaCodecDenseStateWithinBudget(t *testing.T) {
	desc := &jserial.ClassDesc{Name: "com.example.shop.CartItem", SUID: 1, Flags: jserial.SCSerializable,
		Fields: []jserial.Field{{Type: 'I', Name: "quantity"}, {Type: 'J', Name: "productId"},
			{Type: 'L', Name: "sku", Signature: "Ljava/lang/String;"}}}
	m := &Message{Event: EventAllSessionData, Context: "localhost#/app", SessionID: idSessionState, Timestamp: 1}
	for i := range 1000 {
		st := SessionState{ID: fmt.Sprintf("S%04d", i), CreationTime: 1, LastAccessedTime: 1, MaxInactive: 60,
			Principal: &Principal{Name: fmt.Sprint("user", i), Roles: []string{"shopper"}}}
		for k := range 20 {
			var v any
			switch k % 5 {
			case 0:
				v = int32(k)
			case 1:
				v = int64(k)
			case 2:
				v = k%2 == 0
			case 3:
				v = time.UnixMilli(int64(k))
			default:
				o, err := jserial.NewObject(desc)
				if err != nil {
					t.Fatal(err)
				}
				for _, f := range []struct {
					name string
					v    any
				}{{"quantity", int32(k)}, {"productId", int64(i)}, {"sku", "A1"}} {
					if err := o.SetField(f.name, f.v); err != nil {
						t.Fatal(err)
					}
				}
				v = o
			}
			b, err := JavaValueCodec{}.Marshal(v)
			if err != nil {
				t.Fatal(err)
			}
			st.Attributes = append(st.Attributes, NamedValue{Name: fmt.Sprint("k", k), Value: b})
		}
		m.Sessions = append(m.Sessions, st)
	}
	in, err := JavaCodec{}.AppendMessage(nil, m)
	if err != nil {
		t.Fatal(err)
	}
	got, err := JavaCodec{}.DecodeMessage(in)
	if err != nil {
		t.Fatalf("a %d-byte chunk: %v", len(in), err)
	}
	out := 0
	for _, s := range got.Sessions {
		for _, a := range s.Attributes {
			out += len(a.Value)
		}
	}
	t.Logf("%d bytes of values from a %d-byte message (%.1f times)", out, len(in), float64(out)/float64(len(in)))
	if 2*out < 3*len(in) {
		t.Errorf("the values take %d bytes, %d-byte message: not the dense case this test is about", out, len(in))
	}
}

// Loading a state transfer chunk whose sessions' notes all refer to one String must
// not copy it once per session either: JavaCodec's values are its own
// (SessionState.owned), and a session keeps them as they are.
func TestJavaStateSharedNoteLoaded(t *testing.T) {
	const n = 256
	big := strings.Repeat("x", 256<<10)
	var w jserial.DataWriter
	w.WriteObject(int32(n))
	for i := range n {
		for _, x := range []any{int64(1), int64(1), int32(60), false, true, int64(1), int64(0)} {
			w.WriteObject(x)
		}
		w.WriteBool(false)
		w.WriteObject(fmt.Sprintf("S%04d", i))
		w.WriteObject(big) // SESSION_ID_NOTE
		w.WriteObject(nil)
		w.WriteObject(int32(0))
		w.WriteObject(int32(0))
	}
	payload, err := marshalContents(w.Contents())
	if err != nil {
		t.Fatal(err)
	}
	in, err := TomcatMessage(EventAllSessionData, nil, idSessionState, payload)
	if err != nil {
		t.Fatal(err)
	}
	m, err := JavaCodec{}.DecodeMessage(in)
	if err != nil {
		t.Fatal(err)
	}
	sessions := make([]Session, n)
	alloc := testutil.Allocated(func() {
		for i := range m.Sessions {
			sessions[i].load(&m.Sessions[i])
		}
	})
	if v, ok := sessions[n-1].e().notes[0], len(sessions[n-1].e().notes) == 1; !ok || v.value != big {
		t.Fatal("the note was not loaded")
	}
	if limit := uint64(len(in) + 1<<20); alloc > limit {
		t.Errorf("loading %d sessions whose note is one shared String (a %d-byte message): %d bytes allocated, want at most %d",
			n, len(in), alloc, limit)
	}
}

// DecodeSessionData (package session/backup's DeltaSession entries) does not see the size
// of the stream its contents were read from: the Go forms of the session's values may
// take Limits.MaxBytes.
func TestJavaCodecSessionDataBudget(t *testing.T) {
	var w jserial.DataWriter
	for _, x := range []any{int64(1), int64(1), int32(60), false, true, int64(1), int64(0)} {
		w.WriteObject(x)
	}
	w.WriteBool(false)
	w.WriteObject("S1")
	w.WriteObject(nil)
	w.WriteObject(nil)
	const n = 16 // 4 MiB of values, one 256 KiB object in the stream
	w.WriteObject(int32(n))
	for i, o := range wrappersOf(t, n, sharedUser(t)) {
		w.WriteObject(fmt.Sprint("a", i))
		w.WriteObject(o)
	}
	w.WriteObject(int32(0))
	contents := w.Contents()
	_, err := JavaCodec{Limits: jserial.DecoderConfig{MaxBytes: 1 << 20}}.DecodeSessionData(contents)
	if !errors.Is(err, ErrDecodeBudget) || !errors.Is(err, ErrMalformed) {
		t.Errorf("with MaxBytes 1 MiB: %v, want ErrDecodeBudget", err)
	}
	st, err := JavaCodec{}.DecodeSessionData(contents)
	if err != nil || len(st.Attributes) != n {
		t.Errorf("with the default MaxBytes: %v", err)
	}
}
