package delta

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/gotribes/tribes/jserial"
)

// cartValue returns the JavaValueCodec stream of a com.example.shop.Cart { int items;
// String owner } with a descriptor of its own, as each value a Go node holds is.
func cartValue(t *testing.T, owner string, items int32) []byte {
	t.Helper()
	desc := &jserial.ClassDesc{Name: "com.example.shop.Cart", SUID: 7, Flags: jserial.SCSerializable,
		Fields: []jserial.Field{{Type: 'I', Name: "items"}, {Type: 'L', Name: "owner", Signature: "Ljava/lang/String;"}}}
	o, err := jserial.NewObject(desc)
	if err != nil {
		t.Fatal(err)
	}
	if err := o.SetField("items", items); err != nil {
		t.Fatal(err)
	}
	if err := o.SetField("owner", owner); err != nil {
		t.Fatal(err)
	}
	b, err := jserial.Marshal(o)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A delta and a state transfer holding several values of one class write its descriptor
// once and refer back to it, as Tomcat's ObjectOutputStream does (DeltaRequest.serialize
// and DeltaManager's state transfer write one stream for all the values, and read them
// from one stream): each value's descriptor used to be written in full.
func TestJavaCodecSharesClassDescriptors(t *testing.T) {
	const n = 8
	const class = "com.example.shop.Cart"
	var actions []Action
	st := SessionState{ID: "S1", CreationTime: 1, LastAccessedTime: 1, MaxInactive: 60}
	for i := range n {
		v := cartValue(t, fmt.Sprint("owner", i), int32(i))
		name := fmt.Sprint("cart", i)
		actions = append(actions, Action{Type: ActionAttribute, Op: OpSet, Name: name, Value: v})
		st.Attributes = append(st.Attributes, NamedValue{Name: name, Value: v})
	}
	for _, m := range []*Message{
		{Event: EventDelta, Context: "localhost#/app", SessionID: "S1", UniqueID: "u1", Timestamp: 1, Actions: actions},
		{Event: EventAllSessionData, Context: "localhost#/app", SessionID: "SESSION-STATE", UniqueID: "u2", Timestamp: 1,
			Sessions: []SessionState{st, {ID: "S2", CreationTime: 1, LastAccessedTime: 1, MaxInactive: 60,
				Attributes: st.Attributes}}},
	} {
		b, err := JavaCodec{}.AppendMessage(nil, m)
		if err != nil {
			t.Fatal(err)
		}
		// The payload (mSession) is a byte[] in the message's stream, so the class name's
		// bytes appear as they are.
		t.Logf("%s: %d bytes", m.Event, len(b))
		if c := bytes.Count(b, []byte(class)); c != 1 {
			t.Errorf("%s: %d bytes, class %s written %d times, want once", m.Event, len(b), class, c)
		}
		got, err := JavaCodec{}.DecodeMessage(b)
		if err != nil {
			t.Fatalf("%s: %v", m.Event, err)
		}
		values := got.Actions
		if m.Event == EventAllSessionData {
			if len(got.Sessions) != 2 {
				t.Fatalf("%d sessions", len(got.Sessions))
			}
			values = nil
			for _, s := range got.Sessions {
				for _, a := range s.Attributes {
					values = append(values, Action{Name: a.Name, Value: a.Value})
				}
			}
		}
		for i, a := range values {
			if want := actions[i%n]; a.Name != want.Name || !bytes.Equal(a.Value, want.Value) {
				t.Errorf("%s: value %d reads as %s %x, want %s %x", m.Event, i, a.Name, a.Value, want.Name, want.Value)
			}
		}
	}
}
