package replmap

import (
	"errors"
	"reflect"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/internal/jmember"
	"github.com/gotribes/tribes/jserial"
)

func testCodec() *codec { return newCodec(jmember.SUID, 1<<16) }

func TestMsgTypeString(t *testing.T) {
	for typ, want := range map[msgType]string{msgBackup: "MSG_BACKUP", msgNotifyMember: "MSG_NOTIFY_MAPMEMBER",
		msgPing: "MSG_PING", 0: "UNKNOWN", 14: "UNKNOWN", -1: "UNKNOWN"} {
		if got := typ.String(); got != want {
			t.Errorf("%d: %q, want %q", int32(typ), got, want)
		}
	}
}

// Bad input is an error wrapping ErrBadMessage, never a panic.
func TestUnmarshalErrors(t *testing.T) {
	c := testCodec()
	good, err := c.marshal(&message{MapID: []byte("m"), Type: msgPing})
	if err != nil {
		t.Fatal(err)
	}
	str, _ := jserial.Marshal("not a message")
	other, _ := jserial.NewObject(&jserial.ClassDesc{Name: messageClass, SUID: 2, Flags: jserial.SCSerializable})
	wrongSUID, _ := jserial.Marshal(other)
	badNodes, _ := c.object(&message{MapID: []byte("m")})
	_ = badNodes.SetField("nodes", &jserial.Array{Class: c.array, Elems: []any{"x"}})
	badNodesB, _ := jserial.Marshal(badNodes)
	badType, _ := c.object(&message{MapID: []byte("m")})
	_ = badType.SetField("mapId", nil)
	_ = badType.SetField("keydata", "text")
	badTypeB, _ := jserial.Marshal(badType)
	for name, b := range map[string][]byte{
		"empty": nil, "truncated": good[:len(good)-3], "string": str, "suid": wrongSUID,
		"node not a member": badNodesB, "keydata a string": badTypeB, "too long": make([]byte, 1<<16+1),
	} {
		if _, err := c.unmarshal(b); !errors.Is(err, ErrBadMessage) {
			t.Errorf("%s: %v, want ErrBadMessage", name, err)
		}
	}
	if _, err := c.stateList(str, 1); !errors.Is(err, ErrBadMessage) {
		t.Errorf("state list of a string: %v", err)
	}
	many := &message{Nodes: make([]channel.Member, maxNodes+1)}
	if _, err := c.marshal(many); err == nil {
		t.Error("marshal with too many nodes succeeded")
	}
}

// FuzzMessage: decoding never panics; what decodes encodes and decodes to the same.
func FuzzMessage(f *testing.F) {
	for _, b := range messageSeeds(f) {
		f.Add(b)
	}
	c := testCodec()
	// A Go node's stamped MSG_BACKUP (stamp.go), which no golden stream holds.
	stamped, err := c.marshal(&message{MapID: []byte("m"), Type: msgBackup, Key: []byte("k"), Value: []byte("v"), Stamp: 42})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(stamped)
	// And one with its clock (stamp.go).
	clocked, err := c.marshal(&message{MapID: []byte("m"), Type: msgProxy, Key: []byte("k"), Stamp: 42, Clock: 7})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(clocked)
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := c.unmarshal(b)
		if err != nil {
			if !errors.Is(err, ErrBadMessage) {
				t.Fatalf("error %v does not wrap ErrBadMessage", err)
			}
			return
		}
		_, _ = c.value(m.Key)
		_, _ = c.stateList(m.Value, 1<<10)
		out, err := c.marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		again, err := c.unmarshal(out)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(m, again) {
			t.Fatalf("round trip:\n%+v\n%+v", m, again)
		}
	})
}

// FuzzStateList: decoding a state list never panics, returns at most max messages, and
// fails with ErrBadMessage or, for a list longer than max, ErrLimit with the first max.
func FuzzStateList(f *testing.F) {
	c := testCodec()
	b := stateListSeed(f, c)
	f.Add(b, uint8(4))
	f.Add(b, uint8(6))
	f.Add([]byte{0xAC, 0xED, 0, 5, 0x73}, uint8(1))
	f.Fuzz(func(t *testing.T, b []byte, max uint8) {
		out, err := c.stateList(b, int(max))
		if len(out) > int(max) {
			t.Fatalf("%d messages, max %d", len(out), max)
		}
		switch {
		case err == nil, errors.Is(err, ErrBadMessage):
		case errors.Is(err, ErrLimit):
			if len(out) != int(max) {
				t.Fatalf("limit error with %d messages, max %d", len(out), max)
			}
		default:
			t.Fatalf("error %v wraps neither ErrBadMessage nor ErrLimit", err)
		}
	})
}
