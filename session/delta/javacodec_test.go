package delta

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/gotribes/tribes/jserial"
)

// readGolden returns a stream written by the real catalina-ha classes
// (scripts/gen-golden.sh session).
func readGolden(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "java", name+".ser"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// javaValue decodes an attribute value of a decoded message.
func javaValue(t *testing.T, b []byte) any {
	t.Helper()
	v, err := jserial.Unmarshal(b)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestJavaCodecGolden decodes every golden SessionMessageImpl, checks what it says and
// encodes it back to the bytes Java wrote.
func TestJavaCodecGolden(t *testing.T) {
	const ts = 1700000000000
	for _, tc := range []struct {
		file  string
		event Event
		id    string
		check func(t *testing.T, m *Message)
	}{
		{"created", EventCreated, "S1.node1", nil},
		{"expired", EventExpired, "S1.node1", nil},
		{"accessed", EventAccessed, "S1.node1", nil},
		{"getall", EventGetAllSessions, idGetAll, nil},
		{"complete", EventTransferComplete, idTransferred, nil},
		{"nocontext", EventNoContextManager, idNoContext, func(t *testing.T, m *Message) {
			if m.Timestamp != 0 {
				t.Errorf("timestamp %d, want 0 (not set)", m.Timestamp)
			}
		}},
		{"changeid", EventChangeSessionID, "S1.node1", func(t *testing.T, m *Message) {
			if m.NewID != "S2.node2" {
				t.Errorf("NewID %q", m.NewID)
			}
		}},
		{"delta", EventDelta, "S1.node1", checkGoldenDelta},
		{"delta_remove", EventDelta, "S1.node1", func(t *testing.T, m *Message) {
			want := []Action{
				{Type: ActionPrincipal, Op: OpRemove, Name: namePrincipal},
				{Type: ActionAuthType, Op: OpRemove, Name: nameAuthType},
				{Type: ActionNote, Op: OpRemove, Name: "note1"},
				{Type: ActionListener, Op: OpRemove, Name: "sso-1"},
				{Type: ActionIsNew, Op: OpSet, Name: nameIsNew, Value: []byte{0}},
			}
			if !slices.EqualFunc(m.Actions, want, actionEqual) {
				t.Errorf("actions %+v, want %+v", m.Actions, want)
			}
		}},
		{"all_sessions", EventAllSessionData, idSessionState, checkGoldenSessions},
		{"delta_principal", EventDelta, "S1.node1", checkGoldenDeltaPrincipal},
		{"all_sessions_principal", EventAllSessionData, idSessionState, checkGoldenSessionPrincipals},
		{"all_sessions_empty", EventAllSessionData, idSessionState, func(t *testing.T, m *Message) {
			if len(m.Sessions) != 0 {
				t.Errorf("%d sessions", len(m.Sessions))
			}
		}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			b := readGolden(t, tc.file)
			var c JavaCodec
			if !c.Owns(b) {
				t.Fatal("Owns is false")
			}
			m, err := c.DecodeMessage(b)
			if err != nil {
				t.Fatal(err)
			}
			if m.Event != tc.event || m.SessionID != tc.id || m.Context != "localhost#/app" {
				t.Fatalf("event %s id %q context %q", m.Event, m.SessionID, m.Context)
			}
			if tc.event != EventNoContextManager && m.Timestamp != ts {
				t.Errorf("timestamp %d", m.Timestamp)
			}
			if tc.check != nil {
				tc.check(t, m)
			}
			out, err := c.AppendMessage(nil, m)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(out, b) {
				t.Fatalf("re-encoded differs from Java's bytes:\n got %x\nwant %x", out, b)
			}
		})
	}
}

func actionEqual(a, b Action) bool {
	return a.Type == b.Type && a.Op == b.Op && a.Name == b.Name && bytes.Equal(a.Value, b.Value)
}

func checkGoldenDelta(t *testing.T, m *Message) {
	byName := map[string]Action{}
	for _, a := range m.Actions {
		byName[a.Name] = a
	}
	if len(m.Actions) != 18 || len(byName) != 18 {
		t.Fatalf("%d actions: %+v", len(m.Actions), m.Actions)
	}
	values := map[string]any{"s": "text", "counter": int32(42), "long": int64(1 << 40), "flag": true, "dbl": 2.5,
		"date": time.UnixMilli(1700000000000).UTC()}
	for name, want := range values {
		if got := javaValue(t, byName[name].Value); got != want {
			t.Errorf("%s = %#v, want %#v", name, got, want)
		}
	}
	if got := javaValue(t, byName["bytes"].Value); !bytes.Equal(got.([]byte), []byte{1, 2, 3}) {
		t.Errorf("bytes = %v", got)
	}
	if got := javaValue(t, byName["list"].Value).([]any); !slices.Equal(got, []any{"a", int32(1000)}) {
		t.Errorf("list = %v", got)
	}
	if got := javaValue(t, byName["set"].Value).(*jserial.Set); !slices.Equal(got.Elems, []any{"x", "y"}) {
		t.Errorf("set = %v", got.Elems)
	}
	mp := javaValue(t, byName["map"].Value).(*jserial.Map)
	if v, _ := mp.Get("n"); v != int64(7) {
		t.Errorf("map[n] = %#v", v)
	}
	if o := javaValue(t, byName["cart"].Value).(*jserial.Object); o.Class.Name != "SessionGolden$Cart" {
		t.Errorf("cart is a %s", o.Class.Name)
	}
	if a := byName["gone"]; a.Type != ActionAttribute || a.Op != OpRemove {
		t.Errorf("gone: %+v", a)
	}
	if v, err := decodeInterval(byName[nameMaxInterval].Value); err != nil || v != 1800 {
		t.Errorf("max interval %d %v", v, err)
	}
	if v, err := decodeBool(byName[nameIsNew].Value); err != nil || !v {
		t.Errorf("isNew %v %v", v, err)
	}
	p, err := DecodePrincipal(byName[namePrincipal].Value)
	if err != nil || p.Name != "alice" || !slices.Equal(p.Roles, []string{"admin", "user"}) {
		t.Errorf("principal %+v %v", p, err)
	}
	if a := byName[nameAuthType]; string(a.Value) != "FORM" {
		t.Errorf("auth type %q", a.Value)
	}
	if a := byName["note1"]; a.Type != ActionNote || string(a.Value) != "noted" {
		t.Errorf("note %+v", a)
	}
	if a := byName["sso-1"]; a.Type != ActionListener || a.Op != OpSet {
		t.Errorf("listener %+v", a)
	}
}

func checkGoldenSessions(t *testing.T, m *Message) {
	if len(m.Sessions) != 2 {
		t.Fatalf("%d sessions", len(m.Sessions))
	}
	a, b := m.Sessions[0], m.Sessions[1]
	if a.ID != "A1.node1" || a.CreationTime != 1700000000000 || a.MaxInactive != 1800 || a.IsNew {
		t.Errorf("session A %+v", a)
	}
	if a.Principal == nil || a.Principal.Name != "alice" || !slices.Equal(a.Principal.Roles, []string{"member"}) {
		t.Errorf("principal %+v", a.Principal)
	}
	if len(a.Notes) != 1 || a.Notes[0].Name != NoteSessionID || string(a.Notes[0].Value) != "A0.node1" {
		t.Errorf("notes %+v", a.Notes)
	}
	attrs := map[string]any{}
	for _, nv := range a.Attributes {
		attrs[nv.Name] = javaValue(t, nv.Value)
	}
	if len(attrs) != 3 || attrs["counter"] != int32(1) || attrs["username"] != "bob" {
		t.Errorf("attributes %v", attrs)
	}
	if b.ID != "B1.node1" || !b.IsNew || b.MaxInactive != 60 || b.Principal != nil || len(b.Attributes) != 1 {
		t.Errorf("session B %+v", b)
	}
}

// TestJavaCodecRoundTrip encodes Go messages of every event and decodes them back.
func TestJavaCodecRoundTrip(t *testing.T) {
	val, err := jserial.Marshal("v")
	if err != nil {
		t.Fatal(err)
	}
	principal, err := EncodePrincipal(&Principal{Name: "p", Roles: []string{"r"}})
	if err != nil {
		t.Fatal(err)
	}
	msgs := []*Message{
		{Event: EventCreated, Context: "localhost#/app", SessionID: "X.n1", Timestamp: 5},
		{Event: EventChangeSessionID, Context: "c", SessionID: "X.n1", NewID: "Y.n2", Timestamp: 6},
		{Event: EventDelta, Context: "c", SessionID: "X", Timestamp: 7, Actions: []Action{
			{Type: ActionAttribute, Op: OpSet, Name: "a", Value: val},
			{Type: ActionPrincipal, Op: OpSet, Name: namePrincipal, Value: principal},
			{Type: ActionMaxInterval, Op: OpSet, Name: nameMaxInterval, Value: encodeInterval(-1)},
			{Type: ActionListener, Op: OpSet, Name: "sso", Value: []byte{}},
			{Type: ActionNote, Op: OpSet, Name: "n", Value: []byte("note")},
			{Type: ActionAttribute, Op: OpRemove, Name: "b"},
		}},
		{Event: EventAllSessionData, Context: "c", SessionID: idSessionState, Timestamp: 8, Sessions: []SessionState{{
			ID: "S", CreationTime: 1, LastAccessedTime: 2, MaxInactive: 3, IsNew: true, Version: 9,
			Principal: &Principal{Name: "p"}, AuthType: "", Attributes: []NamedValue{{Name: "a", Value: val}},
			Notes: []NamedValue{{Name: NoteRequest, Value: val}}, Listeners: []string{"l"},
		}}},
	}
	var c JavaCodec
	for _, m := range msgs {
		b, err := c.AppendMessage(nil, m)
		if err != nil {
			t.Fatalf("%s: %v", m.Event, err)
		}
		got, err := c.DecodeMessage(b)
		if err != nil {
			t.Fatalf("%s: %v", m.Event, err)
		}
		again, err := c.AppendMessage(nil, got)
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("%s: re-encoding differs (%v)", m.Event, err)
		}
		if got.Event != m.Event || got.SessionID != m.SessionID || got.NewID != m.NewID ||
			!slices.EqualFunc(got.Actions, m.Actions, actionEqual) || len(got.Sessions) != len(m.Sessions) {
			t.Fatalf("%s: got %+v", m.Event, got)
		}
	}
	if _, err := c.AppendMessage(nil, &Message{Event: EventDelta, SessionID: "X", Actions: []Action{
		{Type: ActionAttribute, Op: OpSet, Name: "a", Value: []byte{1}}}}); err == nil {
		t.Fatal("a non-Java attribute value was encoded")
	}
}

func TestJavaCodecMalformed(t *testing.T) {
	var c JavaCodec
	for _, name := range []string{"delta", "delta_principal", "all_sessions_principal"} {
		b := readGolden(t, name)
		for i := range len(b) {
			if _, err := c.DecodeMessage(b[:i]); !errors.Is(err, ErrMalformed) {
				t.Fatalf("%s, %d bytes: %v", name, i, err)
			}
		}
	}
}

func FuzzJavaCodec(f *testing.F) {
	for _, name := range []string{"delta", "delta_remove", "all_sessions", "changeid", "created", "delta_principal",
		"all_sessions_principal"} {
		f.Add(readGolden(f, name))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c := JavaCodec{Limits: jserial.DecoderConfig{MaxDepth: 64, MaxBytes: 1 << 20}}
		m, err := c.DecodeMessage(data)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		b, err := c.AppendMessage(nil, m)
		if err != nil {
			return // a decoded Go form Java cannot hold (e.g. an unknown note class) is refused, not panicked on
		}
		if _, err := c.DecodeMessage(b); err != nil {
			t.Fatalf("re-encoded message does not decode: %v", err)
		}
	})
}
