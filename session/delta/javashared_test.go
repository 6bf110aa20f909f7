package delta

import (
	"encoding/binary"
	"fmt"
	"testing"
	"unsafe"

	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/jserial"
)

// listDAG is a list of depth d, each level a list holding the level below twice: its
// stream writes each level once and refers back to it (5 bytes).
func listDAG(d int) any {
	var v any = []any{"leaf"}
	for range d {
		v = []any{v, v}
	}
	return v
}

// A Java value holding one list at many places converts once per list: a stream of 40
// levels of lists each holding the level below twice (under 1 KiB) is 2^40 lists as a
// tree. Before, the attribute codec and a principal's attributes converted it as one,
// copying every list at every reference (155 MB for 18 levels in a principal).
func TestJavaValueSharedReferences(t *testing.T) {
	const depth = 40
	in, err := jserial.Marshal(listDAG(depth))
	if err != nil {
		t.Fatal(err)
	}
	var v any
	if got := testutil.Allocated(func() { v, err = JavaValueCodec{}.Unmarshal(in) }); err != nil || got > 1<<20 {
		t.Fatalf("a %d-byte stream: %d bytes allocated, %v", len(in), got, err)
	}
	for range depth { // the shape holds, and so does the sharing
		l, ok := v.([]any)
		if !ok || len(l) != 2 {
			t.Fatalf("got %T %v", v, v)
		}
		a, _ := l[0].([]any)
		b, _ := l[1].([]any)
		if len(a) == 0 || unsafe.SliceData(a) != unsafe.SliceData(b) {
			t.Fatal("the two references became two lists")
		}
		v = a
	}
	var out []byte
	if got := testutil.Allocated(func() { out, err = JavaValueCodec{}.Marshal(v) }); err != nil || got > 1<<20 {
		t.Fatalf("writing it back: %d bytes allocated, %v", got, err)
	}

	// The same value among a session principal's attributes, in a state transfer chunk.
	m := &jserial.Map{Class: jserial.HashMap, Entries: []jserial.Entry{{Key: "x", Value: listDAG(depth)}, {Key: "y", Value: listDAG(depth)}}}
	attrs := &jserial.Object{Class: unmodifiableMapDesc, Slots: []jserial.Slot{{Class: unmodifiableMapDesc, Values: []any{m}}}}
	o := &jserial.Object{Class: principalDesc, Slots: []jserial.Slot{{Class: principalDesc,
		Values: []any{attrs, "u", nil, &jserial.Array{Class: stringArrayDesc, Elems: []any{}}}}}}
	java, err := jserial.Marshal(o)
	if err != nil {
		t.Fatal(err)
	}
	b := append([]byte{}, binaryMagic...)
	b = binary.AppendUvarint(b, uint64(EventAllSessionData))
	b = append(appendString(appendString(appendString(b, "ctx"), ""), ""), 0, 1, flagSessions, 1)
	b = append(appendString(b, "s1"), 2, 2, 120, sessFlagPrincipal|sessFlagPrincipalJava, 1)
	b = appendBytes(binary.AppendUvarint(appendString(b, "u"), 0), java)
	b = append(appendString(b, ""), 0, 0, 0)
	var msg *Message
	if got := testutil.Allocated(func() { msg, err = (BinaryCodec{}).DecodeMessage(b) }); err != nil || got > 4<<20 {
		t.Fatalf("a %d-byte chunk with the principal: %d bytes allocated, %v", len(b), got, err)
	}
	if p := msg.Sessions[0].Principal; p == nil || p.Attributes["x"] == nil {
		t.Fatalf("principal %+v", p)
	}
	if len(out) > 2*len(in) {
		t.Errorf("written back: %d bytes for the %d read; the references became copies", len(out), len(in))
	}
}

// Tomcat's messages converted to Go read each value object once: a DeltaRequest whose 256
// attribute actions, or a session whose 256 attributes, all refer to one 256 KiB byte[]
// (5 bytes each after the first) allocate about the message's size, not 256 copies of
// the value (86 MB for these 265 KB before). Both carry the same bytes for each.
func TestJavaCodecSharedValues(t *testing.T) {
	const n, size = 256, 256 << 10
	v := make([]byte, size)
	for i := range v {
		v[i] = byte(i)
	}
	var w jserial.DataWriter
	if err := w.WriteUTF("s1"); err != nil {
		t.Fatal(err)
	}
	w.WriteBool(false)
	w.WriteInt32(n)
	for range n {
		w.WriteInt32(int32(ActionAttribute))
		w.WriteInt32(int32(OpSet))
		if err := w.WriteUTF("a"); err != nil {
			t.Fatal(err)
		}
		w.WriteBool(true)
		w.WriteObject(v)
	}
	in, err := marshalContents(w.Contents())
	if err != nil {
		t.Fatal(err)
	}
	var acts []Action
	got := testutil.Allocated(func() { _, acts, err = JavaCodec{MaxExpansion: 4}.DecodeDeltaRequest(in) })
	if err != nil || len(acts) != n {
		t.Fatalf("%d actions, %v", len(acts), err)
	}
	if limit := uint64(4*len(in) + 1<<20); got > limit {
		t.Errorf("a %d-byte DeltaRequest: %d bytes allocated, want at most %d", len(in), got, limit)
	}
	want, _ := jserial.Marshal(v)
	for _, a := range acts {
		if string(a.Value) != string(want) {
			t.Fatal("an action's value is not the byte[]'s stream")
		}
	}

	var sw jserial.DataWriter
	for _, x := range []any{int64(1), int64(1), int32(60), false, true, int64(1), int64(1)} {
		sw.WriteObject(x)
	}
	sw.WriteBool(false) // no principal
	sw.WriteObject("s1")
	sw.WriteObject(int32(n))
	for i := range n {
		sw.WriteObject(fmt.Sprint("a", i))
		sw.WriteObject(v)
	}
	sw.WriteObject(int32(0)) // listeners
	in, err = marshalContents(sw.Contents())
	if err != nil {
		t.Fatal(err)
	}
	var s SessionState
	got = testutil.Allocated(func() {
		contents, err := jserial.UnmarshalAll(in, jserial.DecoderConfig{})
		if err == nil {
			s, err = JavaCodec{}.DecodeSessionData(contents)
		}
		if err != nil {
			t.Fatal(err)
		}
	})
	if len(s.Attributes) != n || string(s.Attributes[n-1].Value) != string(want) {
		t.Fatalf("%d attributes", len(s.Attributes))
	}
	if limit := uint64(4*len(in) + 1<<20); got > limit {
		t.Errorf("a %d-byte session: %d bytes allocated, want at most %d", len(in), got, limit)
	}
}
