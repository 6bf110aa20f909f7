package replmap

import (
	"bytes"
	"math"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/jserial"
)

// A stamp travels in the diffvalue of a MSG_BACKUP or MSG_COPY in full and of a
// MSG_PROXY, and decodes back; a diff, another type or a message without one writes
// diffvalue as before (null, or the diff), and decodes to stamp 0. The diffvalue is an
// ordinary byte array of the MapMessage, with diff false: what Java's
// AbstractReplicatedMap.messageReceived never reads.
func TestStampOnTheWire(t *testing.T) {
	c := testCodec()
	p := channel.Member{Host: []byte{127, 0, 0, 1}, Port: 4000, UniqueID: [16]byte{1}}
	for _, tc := range []struct {
		name      string
		m         message
		want      uint64
		clock     uint64
		diffvalue []byte // nil: null on the wire
	}{
		{"backup", message{Type: msgBackup, Key: []byte("k"), Value: []byte("v"), Primary: &p, Stamp: 0x0102030405060708}, 0x0102030405060708, 0,
			append([]byte(stampMagic), 1, 2, 3, 4, 5, 6, 7, 8)},
		{"copy", message{Type: msgCopy, Key: []byte("k"), Value: []byte("v"), Primary: &p, Stamp: 7}, 7, 0,
			append([]byte(stampMagic), 0, 0, 0, 0, 0, 0, 0, 7)},
		{"proxy", message{Type: msgProxy, Key: []byte("k"), Primary: &p, Stamp: 9}, 9, 0,
			append([]byte(stampMagic), 0, 0, 0, 0, 0, 0, 0, 9)},
		{"diff", message{Type: msgBackup, Diff: true, Key: []byte("k"), DiffValue: []byte("d"), Primary: &p, Stamp: 9}, 0, 0, []byte("d")},
		{"remove", message{Type: msgRemove, Key: []byte("k"), Stamp: 9, Clock: 2}, 0, 0, nil},
		{"unstamped backup", message{Type: msgBackup, Key: []byte("k"), Value: []byte("v"), Primary: &p}, 0, 0, nil},
		{"clocked backup", message{Type: msgBackup, Key: []byte("k"), Value: []byte("v"), Primary: &p, Stamp: 5, Clock: 0x0a0b}, 5, 0x0a0b,
			append([]byte(stampMagic), 0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0x0a, 0x0b)},
		{"clocked copy", message{Type: msgCopy, Key: []byte("k"), Value: []byte("v"), Primary: &p, Stamp: 5, Clock: 3}, 5, 3,
			append([]byte(stampMagic), 0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0, 3)},
		// A diff's receiver knows the clock, not the stamp (stamp.go): a Get there
		// publishes both so.
		{"clock without stamp", message{Type: msgProxy, Key: []byte("k"), Primary: &p, Clock: 9}, 0, 9,
			append([]byte(stampMagic), 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9)},
		{"clocked diff", message{Type: msgBackup, Diff: true, Key: []byte("k"), DiffValue: []byte("d"), Primary: &p, Stamp: 9, Clock: 4}, 0, 0, []byte("d")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.m.MapID = []byte("map")
			b, err := c.marshal(&tc.m)
			if err != nil {
				t.Fatal(err)
			}
			v, err := jserial.Unmarshal(b)
			if err != nil {
				t.Fatal(err)
			}
			o := v.(*jserial.Object)
			dv, _ := o.Field("diffvalue")
			if got, _ := dv.([]byte); !bytes.Equal(got, tc.diffvalue) || (tc.diffvalue == nil) != (dv == nil) {
				t.Fatalf("diffvalue %v (%T), want %v", dv, dv, tc.diffvalue)
			}
			if diff, _ := o.Field("diff"); diff != tc.m.Diff {
				t.Fatalf("diff %v, want %v", diff, tc.m.Diff)
			}
			got, err := c.unmarshal(b)
			if err != nil {
				t.Fatal(err)
			}
			if got.Stamp != tc.want || got.Clock != tc.clock {
				t.Fatalf("stamp %#x, clock %d, want %#x, %d", got.Stamp, got.Clock, tc.want, tc.clock)
			}
			again, err := c.marshal(got)
			if err != nil || !bytes.Equal(again, b) {
				t.Fatalf("encoded again: %v, same bytes %v", err, bytes.Equal(again, b))
			}
		})
	}
	// Other bytes in a diffvalue with diff false (none a Java map writes) are no stamp:
	// the clock's form with clock 0 included, which stampBytes never writes.
	for _, dv := range [][]byte{[]byte("x"), append([]byte("\x00grt"), 0, 0, 0, 0, 0, 0, 0, 1), append([]byte(stampMagic), 1),
		append([]byte(stampMagic), 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0),
		append([]byte(stampMagic), 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1),
		append([]byte(stampMagic), 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 2, 2)} {
		m := &message{MapID: []byte("map"), Type: msgBackup, Key: []byte("k"), DiffValue: dv}
		b, err := c.marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := c.unmarshal(b); err != nil || got.Stamp != 0 || got.Clock != 0 {
			t.Fatalf("diffvalue %q: stamp %#x, clock %d, %v, want 0", dv, got.Stamp, got.Clock, err)
		}
	}
}

// An unordered write (a Put that sent no MSG_REMOVE: stamp.go) travels as its stamp and
// clock and one byte more, and decodes back unordered; a version that reads 12 or 20
// bytes reads no stamp in it (unknown, applied as before).
func TestUnorderedWriteOnTheWire(t *testing.T) {
	c := testCodec()
	p := channel.Member{Host: []byte{127, 0, 0, 1}, Port: 4000, UniqueID: [16]byte{1}}
	for _, typ := range []msgType{msgBackup, msgCopy, msgProxy} {
		m := &message{MapID: []byte("map"), Type: typ, Key: []byte("k"), Primary: &p, Stamp: 5, Clock: 3, Unordered: true}
		if typ != msgProxy {
			m.Value = []byte("v")
		}
		want := append([]byte(stampMagic), 0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0, 3, unorderedMark)
		if dv := stampBytes(m); !bytes.Equal(dv, want) || len(dv) != unorderedLen {
			t.Fatalf("%v: diffvalue %x, want %x", typ, dv, want)
		}
		b, err := c.marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		got, err := c.unmarshal(b)
		if err != nil || got.Stamp != 5 || got.Clock != 3 || !got.Unordered {
			t.Fatalf("%v: stamp %#x, clock %d, unordered %v, %v; want 5, 3, true", typ, got.Stamp, got.Clock, got.Unordered, err)
		}
	}
	if dv := stampBytes(&message{Type: msgBackup, Stamp: 5, Clock: 3}); len(dv) != clockLen {
		t.Fatalf("an ordered write's diffvalue is %d bytes, want %d", len(dv), clockLen)
	}
}

// A Go node of the previous version writes the stamp alone (12 bytes, stampLen): it
// decodes to its stamp and clock 0 (unknown, stamp.go), and a message of this version
// without a clock is written so, for that version to read.
func TestStampOfThePreviousVersionUnderstood(t *testing.T) {
	c := testCodec()
	p := channel.Member{Host: []byte{127, 0, 0, 1}, Port: 4000, UniqueID: [16]byte{1}}
	old := append([]byte(stampMagic), 0, 0, 0, 0, 0, 0, 0x5e, 0xed)
	b, err := c.marshal(&message{MapID: []byte("map"), Type: msgBackup, Key: []byte("k"), Value: []byte("v"), Primary: &p, DiffValue: old})
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.unmarshal(b)
	if err != nil || got.Stamp != 0x5eed || got.Clock != 0 {
		t.Fatalf("previous version's stamp: %#x, clock %d, %v, want 0x5eed, 0", got.Stamp, got.Clock, err)
	}
	if dv := stampBytes(&message{Type: msgBackup, Stamp: 0x5eed}); !bytes.Equal(dv, old) {
		t.Fatalf("a stamp without a clock written %x, want the previous version's %x", dv, old)
	}
}

// The order of two writes (clockBefore): by clock; an unknown clock, and equal clocks
// (concurrent writes, or the same one), order nothing.
func TestClockBefore(t *testing.T) {
	for _, tc := range []struct {
		a, b uint64
		want bool
	}{
		{1, 2, true},
		{2, 1, false},
		{2, 2, false},
		{0, 2, false},
		{2, 0, false},
		{0, 0, false},
		{1, math.MaxUint64, true},
	} {
		if got := clockBefore(tc.a, tc.b); got != tc.want {
			t.Errorf("clockBefore(%d, %d) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
}

// FuzzStamp: reading a diffvalue's stamp and clock never panics, and what reads as one
// is written back to the same bytes; a diff or another type reads as none.
func FuzzStamp(f *testing.F) {
	f.Add(int32(msgBackup), false, []byte(nil))
	f.Add(int32(msgProxy), false, append([]byte(stampMagic), 0, 0, 0, 0, 0, 0, 0, 1))
	f.Add(int32(msgCopy), false, append([]byte(stampMagic), 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 2))
	f.Add(int32(msgBackup), true, append([]byte(stampMagic), 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 2))
	f.Add(int32(msgProxy), false, append([]byte(stampMagic), 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 2, unorderedMark))
	f.Fuzz(func(t *testing.T, typ int32, diff bool, dv []byte) {
		m := &message{Type: msgType(typ), Diff: diff, DiffValue: dv}
		stamp, clock, unordered := stampOf(m)
		if stamp == 0 && clock == 0 {
			if unordered {
				t.Fatalf("%x: unordered with no stamp", dv)
			}
			return
		}
		if !stamped(m.Type, diff) {
			t.Fatalf("type %d, diff %v: stamp %#x, clock %d, want none", typ, diff, stamp, clock)
		}
		if out := stampBytes(&message{Type: m.Type, Stamp: stamp, Clock: clock, Unordered: unordered}); !bytes.Equal(out, dv) {
			t.Fatalf("stamp %#x, clock %d, unordered %v written %x, read from %x", stamp, clock, unordered, out, dv)
		}
	})
}
