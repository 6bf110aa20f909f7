package backup_test

import (
	"slices"
	"testing"

	"github.com/gotribes/tribes/jserial"
	"github.com/gotribes/tribes/session/backup"
	"github.com/gotribes/tribes/session/delta"
)

// TestFullCopyWithListenerTwice: a session a Tomcat node sends in full may list the same
// single sign-on listener twice (Tomcat's session adds a listener without looking for an
// equal one: the one read with the session and the one its single sign-on adds). Go
// reads listeners by name, one listener per name, as AttachListener and a diff keep
// them: the copy lists it once, and its events are told once. (Found when
// interop/tomcat TestBackupListenerOnTomcat saw Go's copy list the name twice.)
func TestFullCopyWithListenerTwice(t *testing.T) {
	s := backup.NewSession("S1.A", 0, backup.Limits{})
	v, err := backup.Codec{}.Encode(s)
	if err != nil {
		t.Fatal(err)
	}
	o := v.(*jserial.Object)
	st := delta.SessionState{ID: "S1.A", CreationTime: 1, LastAccessedTime: 1, MaxInactive: 60,
		Listeners: []string{"SSO1", "SSO2", "SSO1"}}
	if o.External, err = (delta.JavaCodec{}).SessionData(&st); err != nil {
		t.Fatal(err)
	}
	back, err := backup.Codec{}.Decode(o)
	if err != nil {
		t.Fatal(err)
	}
	if got := back.(*backup.Session).Listeners(); !slices.Equal(got, []string{"SSO1", "SSO2"}) {
		t.Fatalf("listeners %q, want [SSO1 SSO2]", got)
	}
}

// TestFullCopyWithAnAttributeTwice: the stream of a DeltaSession a Java peer sends may
// name an attribute twice (Tomcat's own writeObject writes a map, but its readObject
// does not refuse a repeated name: it puts each attribute into its map in order, so the
// last value wins, as interop/tomcat TestTomcatReadsARepeatedAttributeName shows with
// catalina-ha). Go's copy held both, and Get and Set used the first, AttributeNames
// listed the name twice: the two nodes' sessions differed. The copy now holds the name
// once, with the last value, at its first place; Get, Set, Remove, AttributeNames and
// its own full copy agree with Tomcat's reading, and a backup applying its diffs holds
// what it holds.
func TestFullCopyWithAnAttributeTwice(t *testing.T) {
	val := func(v any) []byte {
		b, err := delta.JavaValueCodec{}.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	st := delta.SessionState{ID: "S2.A", CreationTime: 1, LastAccessedTime: 1, MaxInactive: 60, Attributes: []delta.NamedValue{
		{Name: "x", Value: val(1)}, {Name: "y", Value: val("two")}, {Name: "x", Value: val(3)}, {Name: "z", Value: val(4)},
		{Name: "x", Value: val(5)}}}
	s := decodeSession(t, javaSessionBytes(t, &st))
	if got, want := s.AttributeNames(), []string{"x", "y", "z"}; !slices.Equal(got, want) {
		t.Fatalf("attributes %q, want %q (x once)", got, want)
	}
	if v, ok, err := s.Get("x"); err != nil || !ok || v != 5 {
		t.Fatalf("x = %v %v %v, want 5 (the last)", v, ok, err)
	}
	// Its own full copy carries x once, the last value.
	cp := decodeSession(t, encodeSession(t, s))
	if got := cp.AttributeNames(); !slices.Equal(got, []string{"x", "y", "z"}) {
		t.Fatalf("its full copy holds %q", got)
	}
	if v, _, _ := cp.Get("x"); v != 5 {
		t.Fatalf("its full copy's x = %v, want 5", v)
	}
	if err := s.Set("x", 6); err != nil {
		t.Fatal(err)
	}
	if v, _, _ := s.Get("x"); v != 6 {
		t.Fatalf("x = %v after Set 6", v)
	}
	applyDiff(t, s, cp)
	s.Remove("x")
	if v, ok, _ := s.Get("x"); ok {
		t.Fatalf("x = %v after its Remove, want none", v)
	}
	applyDiff(t, s, cp)
	for _, ss := range []*backup.Session{s, cp} {
		if got := ss.AttributeNames(); !slices.Equal(got, []string{"y", "z"}) {
			t.Errorf("after the Remove: %q, want [y z]", got)
		}
	}
}

// javaSessionBytes returns the stream of the DeltaSession st, as a Java peer's map
// carries it (the map's value, its own stream).
func javaSessionBytes(t *testing.T, st *delta.SessionState) []byte {
	t.Helper()
	v, err := backup.Codec{}.Encode(backup.NewSession(st.ID, 0, backup.Limits{}))
	if err != nil {
		t.Fatal(err)
	}
	o := v.(*jserial.Object)
	if o.External, err = (delta.JavaCodec{}).SessionData(st); err != nil {
		t.Fatal(err)
	}
	b, err := jserial.Marshal(o)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
