package rpc

import (
	"bytes"
	"errors"
	"testing"

	"github.com/gotribes/tribes/jserial"
)

func TestMessageRoundTrip(t *testing.T) {
	big := bytes.Repeat([]byte{7}, 3000) // block data split over several blocks
	for _, m := range []*message{
		{uuid: []byte("0123456789abcdef"), rpcID: []byte("id"), payload: "hello"},
		{reply: true, uuid: []byte("0123456789abcdef"), rpcID: big, payload: nil},
		{reply: true, noChannel: true, uuid: []byte{1, 2}, rpcID: []byte("x")},
	} {
		b, err := m.marshal()
		if err != nil {
			t.Fatal(err)
		}
		if !isMessage(b) {
			t.Fatalf("isMessage false for %x", b[:16])
		}
		got, err := unmarshal(b, jserial.DecoderConfig{})
		if err != nil {
			t.Fatal(err)
		}
		if got.reply != m.reply || got.noChannel != m.noChannel || !bytes.Equal(got.uuid, m.uuid) ||
			!bytes.Equal(got.rpcID, m.rpcID) || got.payload != m.payload {
			t.Fatalf("round trip: %+v, want %+v", got, m)
		}
	}
}

func TestUnmarshalRejects(t *testing.T) {
	other, _ := jserial.Marshal(&jserial.Object{Class: &jserial.ClassDesc{Name: messageClass, SUID: 1,
		Flags: jserial.SCExternalizable | jserial.SCBlockData}})
	var w jserial.DataWriter
	w.WriteBool(true)
	w.WriteInt32(-1)
	negative, _ := jserial.Marshal(&jserial.Object{Class: messageDesc, External: w.Contents()})
	for name, b := range map[string][]byte{
		"string":   mustMarshal(t, "x"),
		"suid":     other,
		"negative": negative,
		"garbage":  {0xAC, 0xED, 0, 5, 0x73, 0x72, 0, 1},
	} {
		if _, err := unmarshal(b, jserial.DecoderConfig{}); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v, want ErrMalformed", name, err)
		}
	}
	if isMessage(mustMarshal(t, "org.apache.catalina.tribes.group.RpcMessage")) {
		t.Error("a String is no RpcMessage")
	}
}

func mustMarshal(t *testing.T, v any) []byte {
	b, err := jserial.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestPeekRPCID: the rpc id that decides whether a non-member's message is taken is read
// without the payload, across block-data boundaries (ids up to maxIDLen), for requests,
// replies and NoRpcChannelReplies; what is not such a stream, or is cut short, is refused.
func TestPeekRPCID(t *testing.T) {
	long := bytes.Repeat([]byte("id"), maxIDLen/2)
	for _, m := range []*message{
		{uuid: []byte("0123456789abcdef"), rpcID: []byte("id"), payload: "hello"},
		{reply: true, uuid: []byte("u"), rpcID: []byte{}, payload: nil},
		{uuid: bytes.Repeat([]byte{7}, 3000), rpcID: long, payload: []any{"x", int32(1)}},
		{reply: true, noChannel: true, uuid: []byte{1, 2}, rpcID: long},
	} {
		b, err := m.marshal()
		if err != nil {
			t.Fatal(err)
		}
		if id, ok := peekRPCID(b); !ok || !bytes.Equal(id, m.rpcID) {
			t.Errorf("peekRPCID of a message with a %d-byte id: %d bytes, %v", len(m.rpcID), len(id), ok)
		}
		for _, n := range []int{0, 6, 20, len(b) / 2} {
			if _, ok := peekRPCID(b[:min(n, 60+len(m.uuid))]); ok {
				t.Errorf("peekRPCID accepted the message cut to %d bytes", n)
			}
		}
	}
	if _, ok := peekRPCID(mustMarshal(t, "a string")); ok {
		t.Error("peekRPCID accepted a string")
	}
}

func FuzzUnmarshal(f *testing.F) {
	for _, b := range fuzzSeeds(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		id, peeked := peekRPCID(b)
		m, err := unmarshal(b, jserial.DecoderConfig{})
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		if peeked && !bytes.Equal(id, m.rpcID) {
			t.Fatalf("peekRPCID %q, unmarshal %q", id, m.rpcID)
		}
		if _, err := m.marshal(); err != nil && !errors.Is(err, jserial.ErrType) {
			t.Fatalf("re-marshal: %v", err)
		}
	})
}
