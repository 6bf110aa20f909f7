package staticsvc

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/gotribes/tribes/jserial"
	"github.com/gotribes/tribes/wire"
)

func testMember() wire.Member {
	return wire.Member{AliveTime: 12345, Port: 4000, SecurePort: -1, UDPPort: -1, Host: []byte{10, 0, 0, 1},
		Domain: []byte("dom"), UniqueID: wire.UniqueID{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15},
		Payload: []byte{0xAA, 0xBB}}
}

func TestMessageRoundTrip(t *testing.T) {
	cls := newClasses(MemberImplSUID)
	for _, typ := range []int32{msgStart, msgStop, msgPing} {
		in := memberMessage{typ: typ, member: testMember(), id: []byte("Catalina-Channel-StaticMembership")}
		if typ == msgStop {
			in.member.Command = wire.ShutdownCommand
		}
		b, err := cls.marshal(in)
		if err != nil {
			t.Fatal(err)
		}
		if !startsWithClass(b, memberMessageClass) {
			t.Fatalf("%x does not start with the class", b[:16])
		}
		out, err := unmarshal(b)
		if err != nil {
			t.Fatal(err)
		}
		if out.typ != typ || !out.is(in.id) || !bytes.Equal(wire.AppendMember(nil, &out.member), wire.AppendMember(nil, &in.member)) {
			t.Fatalf("round trip of %s: %+v", typeName(typ), out)
		}
	}
}

// The stream has the layout of section 13 of the spec: MemberMessage (SUID 1, fields I
// msgtype, L member, [B membershipId), the member a MemberImpl written externally.
func TestMessageLayout(t *testing.T) {
	b, err := newClasses(MemberImplSUID).marshal(memberMessage{typ: msgPing, member: testMember(), id: []byte("x")})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range [][]byte{
		append([]byte{0x73, 0x72, 0, byte(len(memberMessageClass))}, memberMessageClass...),
		{0, 0, 0, 0, 0, 0, 0, 1, 0x02, 0, 3, 'I', 0, 7}, // SUID 1, SC_SERIALIZABLE, 3 fields, I msgtype
		append([]byte{0x72, 0, byte(len(memberImplClass))}, memberImplClass...),
		{0x84, 0x76, 0xf3, 0x7b, 0x32, 0x95, 0x36, 0x67, 0x0c, 0, 0, 0x78, 0x70}, // -8901659902996040089, externalizable
		{0x77, 0x56, 0, 0, 0, 0x52, 'T', 'R', 'I', 'B', 'E', 'S', '-', 'B'},      // block of 4 + 82 member bytes
	} {
		if !bytes.Contains(b, want) {
			t.Errorf("stream lacks % x\n% x", want, b)
		}
	}
}

// Java's streams (testdata/README.md) decode; the MemberImpl one re-encodes to the same
// bytes, and a StaticMember (MemberImpl's subclass, as Java's local member is) decodes too.
func TestGolden(t *testing.T) {
	id := []byte("Catalina-Channel-StaticMembership")
	start, err := os.ReadFile(filepath.Join("testdata", "start-memberimpl.ser"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := unmarshal(start)
	if err != nil {
		t.Fatal(err)
	}
	want := testMember()
	want.AliveTime = m.member.AliveTime // the writer's clock
	if m.typ != msgStart || !m.is(id) || !bytes.Equal(wire.AppendMember(nil, &m.member), wire.AppendMember(nil, &want)) {
		t.Fatalf("decoded %+v", m)
	}
	again, err := newClasses(MemberImplSUID).marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again, start) {
		t.Fatalf("re-encoded\n% x\nJava wrote\n% x", again, start)
	}

	stop, err := os.ReadFile(filepath.Join("testdata", "stop-staticmember.ser"))
	if err != nil {
		t.Fatal(err)
	}
	if m, err = unmarshal(stop); err != nil {
		t.Fatal(err)
	}
	if m.typ != msgStop || !m.is(id) || m.member.Addr() != "127.0.0.1:4001" ||
		m.member.UniqueID != (wire.UniqueID{16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31}) ||
		!bytes.Equal(m.member.Command, wire.ShutdownCommand) {
		t.Fatalf("decoded %+v", m)
	}
}

func TestBadMessages(t *testing.T) {
	cls := newClasses(MemberImplSUID)
	good, err := cls.object(memberMessage{typ: msgStart, member: testMember(), id: []byte("id")})
	if err != nil {
		t.Fatal(err)
	}
	withMember := func(ext []any) *jserial.Object {
		o, _ := cls.object(memberMessage{typ: msgStart, member: testMember(), id: []byte("id")})
		mv, _ := o.Field("member")
		mv.(*jserial.Object).External = ext
		return o
	}
	wrongSUID, _ := cls.object(memberMessage{typ: msgStart, member: testMember(), id: []byte("id")})
	wrongSUID.Class = &jserial.ClassDesc{Name: memberMessageClass, SUID: 2, Flags: jserial.SCSerializable, Fields: good.Class.Fields}
	mb := wire.AppendMember(nil, new(testMember()))
	for name, v := range map[string]any{
		"string":         "MemberMessage",
		"other class":    &jserial.Object{Class: &jserial.ClassDesc{Name: "x.Y", Flags: jserial.SCSerializable}},
		"wrong SUID":     wrongSUID,
		"no data":        withMember(nil),
		"negative size":  withMember([]any{jserial.BlockData{0xff, 0xff, 0xff, 0xff}}),
		"short":          withMember([]any{jserial.BlockData(append([]byte{0, 0, 0, 100}, mb...))}),
		"trailing bytes": withMember([]any{jserial.BlockData(append(append([]byte{0, 0, 0, byte(len(mb) + 1)}, mb...), 0))}),
		"not a member":   withMember([]any{jserial.BlockData{0, 0, 0, 3, 1, 2, 3}}),
	} {
		if _, err := decode(v); !errors.Is(err, ErrBadMessage) {
			t.Errorf("%s: %v, want ErrBadMessage", name, err)
		}
	}
	if _, err := unmarshal([]byte{0xAC, 0xED, 0, 5, 0x70}); !errors.Is(err, ErrBadMessage) {
		t.Errorf("null: %v", err)
	}
	if _, err := unmarshal(make([]byte, maxMessageBytes+1)); !errors.Is(err, ErrBadMessage) {
		t.Errorf("oversized: %v", err)
	}
}

func FuzzUnmarshal(f *testing.F) {
	cls := newClasses(MemberImplSUID)
	for _, b := range fuzzSeeds(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := unmarshal(b)
		if err != nil {
			if !errors.Is(err, ErrBadMessage) {
				t.Fatalf("error %v does not wrap ErrBadMessage", err)
			}
			return
		}
		// What decodes encodes again and decodes to the same.
		again, err := cls.marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		m2, err := unmarshal(again)
		if err != nil || m2.typ != m.typ || !m2.is(m.id) || !m2.member.Equal(m.member) {
			t.Fatalf("re-decoded %+v, %v; first %+v", m2, err, m)
		}
	})
}
