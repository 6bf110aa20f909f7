package jmember

import (
	"bytes"
	"encoding/binary"
	"errors"
	"reflect"
	"testing"

	"github.com/gotribes/tribes/jserial"
	"github.com/gotribes/tribes/wire"
)

func sample() wire.Member {
	var id wire.UniqueID
	for i := range id {
		id[i] = byte(i)
	}
	return wire.Member{AliveTime: 12345, Port: 4000, SecurePort: -1, UDPPort: -1, Host: []byte{10, 0, 0, 1},
		Domain: []byte("dom"), UniqueID: id, Payload: []byte{0xaa, 0xbb}}
}

// TestRoundTrip: a member written by Object, through a Java serialization stream, decodes
// to the same member, whatever the serialVersionUID.
func TestRoundTrip(t *testing.T) {
	m := sample()
	for _, suid := range []int64{SUID, SUID10, SUID9} {
		b, err := jserial.Marshal(Object(Desc(suid), &m))
		if err != nil {
			t.Fatal(err)
		}
		v, err := jserial.Unmarshal(b)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Decode(v)
		if err != nil {
			t.Fatalf("suid %d: %v", suid, err)
		}
		if !reflect.DeepEqual(got, m) {
			t.Fatalf("suid %d: got %+v, want %+v", suid, got, m)
		}
	}
}

// TestDecodeErrors: what is not an externalized member, or whose length does not fit,
// fails with ErrBadMember, before any allocation for a length beyond the bytes there.
func TestDecodeErrors(t *testing.T) {
	m := sample()
	good := wire.AppendMember(nil, &m)
	length := func(n int32) jserial.BlockData { return binary.BigEndian.AppendUint32(nil, uint32(n)) }
	obj := func(contents ...any) *jserial.Object { return &jserial.Object{Class: Desc(SUID), External: contents} }
	for name, v := range map[string]any{
		"not an object":       "text",
		"no class":            &jserial.Object{External: []any{length(int32(len(good))), jserial.BlockData(good)}},
		"not externalizable":  &jserial.Object{Class: &jserial.ClassDesc{Name: Class}},
		"no length":           obj(),
		"zero length":         obj(length(0)),
		"negative length":     obj(length(-1)),
		"over the member cap": obj(length(wire.MaxMemberSize + 1)),
		"length beyond bytes": obj(length(wire.MaxMemberSize), jserial.BlockData(good)),
		"bytes short":         obj(length(int32(len(good))), jserial.BlockData(good[:len(good)-1])),
		"trailing bytes":      obj(length(int32(len(good))), jserial.BlockData(append(bytes.Clone(good), 0))),
		"trailing object":     obj(length(int32(len(good))), jserial.BlockData(good), "x"),
		"member corrupt":      obj(length(int32(len(good))), jserial.BlockData(append([]byte("X"), good[1:]...))),
	} {
		if _, err := Decode(v); !errors.Is(err, ErrBadMember) {
			t.Errorf("%s: %v, want ErrBadMember", name, err)
		}
	}
}

// FuzzDecode feeds arbitrary externalized contents (block data cut at an arbitrary point,
// maybe followed by an object) to Decode, as a peer's MemberMessage or MapMessage
// carries them: an error wrapping ErrBadMember, never a panic; a member decoded is the
// one the bytes hold, written again byte for byte.
func FuzzDecode(f *testing.F) {
	m := sample()
	good := binary.BigEndian.AppendUint32(nil, uint32(m.EncodedLen()))
	good = wire.AppendMember(good, &m)
	f.Add(good, 3, false)
	f.Add(good, 0, true)
	f.Add(good[:len(good)-2], 10, false)
	f.Add([]byte{0, 0, 0xff, 0xff}, 4, false)
	f.Add([]byte{0x7f, 0xff, 0xff, 0xff}, 2, false)
	f.Fuzz(func(t *testing.T, b []byte, cut int, object bool) {
		cut = min(max(cut, 0), len(b))
		contents := []any{jserial.BlockData(b[:cut]), jserial.BlockData(b[cut:])}
		if object {
			contents = append(contents, "an object")
		}
		got, err := Decode(&jserial.Object{Class: Desc(SUID9), External: contents})
		if err != nil {
			if !errors.Is(err, ErrBadMember) {
				t.Fatalf("error %v does not wrap ErrBadMember", err)
			}
			return
		}
		if object || len(b) < 4 {
			t.Fatalf("decoded %+v from %d bytes, trailing object %v", got, len(b), object)
		}
		if again := wire.AppendMember(nil, &got); !bytes.Equal(again, b[4:]) {
			t.Fatalf("member written again differs:\n got %x\nfrom %x", again, b[4:])
		}
	})
}
