package delta

import (
	"fmt"
	"testing"
	"time"

	"github.com/gotribes/tribes/jserial"
)

// realisticValues are attribute values of session i of the kinds web applications keep:
// a HashMap of 50 small Strings (preferences), an ArrayList of 20 Integers (small ones
// from Integer's cache, shared by every value holding them, and larger ones), a
// java.util.Date, the shop's Cart of Items (nested objects with an abstract superclass),
// an enum constant every session holds (com.example.Role.CUSTOMER) and Boolean.TRUE.
func realisticValues(t *testing.T, c *shopClasses, role *jserial.ClassDesc, i int) []namedObject {
	t.Helper()
	prefs := map[string]any{}
	for k := range 50 {
		prefs[fmt.Sprint("pref", k)] = fmt.Sprint("v", (i+k)%7)
	}
	var recent []any
	for k := range 20 {
		recent = append(recent, int32(k*37%300))
	}
	jprefs, err := toJava(prefs, 0) // a java.util.HashMap
	if err != nil {
		t.Fatal(err)
	}
	cart := c.session(t, i)[0]
	return []namedObject{
		{"preferences", jprefs},
		{"recentIds", recent},
		{"lastSeen", time.UnixMilli(1700000000000 + int64(i)).UTC()},
		{cart.name, cart.v},
		{"role", &jserial.Enum{Class: role, Name: "CUSTOMER"}},
		{"loggedIn", true},
	}
}

// The sessions of the kinds a Tomcat application holds decode within the default budget
// with room to spare, in a state transfer chunk of 1000 sessions as in a delta of 200
// such values of one session: both written as Tomcat writes them, every value into one
// stream (a class descriptor, a cached Integer, Boolean.TRUE and the enum constant once,
// referred back to after), and in a delta of 200 tiny values that each refer back to a
// shared one (the enum constant, Boolean.TRUE, a cached Integer). Measured (the values'
// Go forms / message bytes): the chunk 1.43, the delta 1.41, the tiny values 2.61; 16
// (DefaultMaxExpansion) leaves more than three times each. Only values sharing a large
// object come near it (TestJavaCodecSharedObjectDefaultBudget).
func TestJavaCodecRealisticSessionsWithinBudget(t *testing.T) {
	c := newShopClasses(false)
	role := jserial.NewEnumDesc("com.example.Role")
	name := "localhost#/app"

	var w jserial.DataWriter
	const n = 1000
	w.WriteObject(int32(n))
	for i := range n {
		for _, x := range []any{int64(1700000000000), int64(1700000000000), int32(1800), false, true, int64(1700000000000), int64(0)} {
			w.WriteObject(x)
		}
		w.WriteBool(false) // no principal
		w.WriteObject(fmt.Sprintf("%032X", i))
		w.WriteObject(nil) // SESSION_ID_NOTE
		w.WriteObject(nil) // FORM_REQUEST_NOTE
		attrs := realisticValues(t, c, role, i)
		w.WriteObject(int32(len(attrs)))
		for _, a := range attrs {
			w.WriteObject(a.name)
			w.WriteObject(a.v)
		}
		w.WriteObject(int32(0)) // listeners
	}
	state := tomcatPayloadMessage(t, EventAllSessionData, name, idSessionState, w.Contents())

	var d jserial.DataWriter
	if err := d.WriteUTF("S1"); err != nil {
		t.Fatal(err)
	}
	d.WriteBool(false)
	const values = 200
	d.WriteInt32(values)
	for k := range values / 6 {
		for _, a := range realisticValues(t, c, role, k) {
			d.WriteInt32(int32(ActionAttribute))
			d.WriteInt32(int32(OpSet))
			if err := d.WriteUTF(fmt.Sprint(a.name, k)); err != nil {
				t.Fatal(err)
			}
			d.WriteBool(true)
			d.WriteObject(a.v)
		}
	}
	for k := values / 6 * 6; k < values; k++ {
		d.WriteInt32(int32(ActionAttribute))
		d.WriteInt32(int32(OpSet))
		if err := d.WriteUTF(fmt.Sprint("extra", k)); err != nil {
			t.Fatal(err)
		}
		d.WriteBool(true)
		d.WriteObject(int32(k))
	}
	delta := tomcatPayloadMessage(t, EventDelta, name, "S1", d.Contents())

	// The tiniest values: each a back-reference to a shared one (the enum constant,
	// Boolean.TRUE, a cached Integer) after its first, its Go form a whole stream.
	var tiny jserial.DataWriter
	if err := tiny.WriteUTF("S1"); err != nil {
		t.Fatal(err)
	}
	tiny.WriteBool(false)
	tiny.WriteInt32(values)
	for k := range values {
		tiny.WriteInt32(int32(ActionAttribute))
		tiny.WriteInt32(int32(OpSet))
		if err := tiny.WriteUTF(fmt.Sprint("f", k)); err != nil {
			t.Fatal(err)
		}
		tiny.WriteBool(true)
		tiny.WriteObject([]any{&jserial.Enum{Class: role, Name: "CUSTOMER"}, true, int32(7)}[k%3])
	}
	tinyDelta := tomcatPayloadMessage(t, EventDelta, name, "S1", tiny.Contents())

	for _, tc := range []struct {
		what string
		in   []byte
		want int // sessions or actions
	}{{"a state transfer chunk of 1000 sessions", state, n}, {"a delta of 200 values", delta, values},
		{"a delta of 200 shared tiny values", tinyDelta, values}} {
		m, err := JavaCodec{}.DecodeMessage(tc.in)
		if err != nil {
			t.Fatalf("%s (%d bytes): %v", tc.what, len(tc.in), err)
		}
		kept, got := keptBytes(m), len(m.Sessions)
		if m.Event == EventDelta {
			got = len(m.Actions)
			for _, a := range m.Actions {
				kept += len(a.Value)
			}
		}
		if got != tc.want {
			t.Fatalf("%s: %d decoded, want %d", tc.what, got, tc.want)
		}
		ratio := float64(kept) / float64(len(tc.in))
		t.Logf("%s: %d bytes of values from a %d-byte message (%.2f times); least MaxExpansion that decodes it: %d",
			tc.what, kept, len(tc.in), ratio, minExpansion(t, tc.in))
		if 3*ratio > DefaultMaxExpansion {
			t.Errorf("%s: the values take %.2f times the message, the default MaxExpansion %d leaves less than three times that",
				tc.what, ratio, DefaultMaxExpansion)
		}
	}
}

// tomcatPayloadMessage returns Tomcat's message of event for session id whose payload
// (mSession) is contents written as one stream.
func tomcatPayloadMessage(t *testing.T, event Event, name, id string, contents []any) []byte {
	t.Helper()
	payload, err := marshalContents(contents)
	if err != nil {
		t.Fatal(err)
	}
	in, err := TomcatMessage(event, &name, id, payload)
	if err != nil {
		t.Fatal(err)
	}
	return in
}
