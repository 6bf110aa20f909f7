package replmap

import (
	"bytes"
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
		diffvalue []byte // nil: null on the wire
	}{
		{"backup", message{Type: msgBackup, Key: []byte("k"), Value: []byte("v"), Primary: &p, Stamp: 0x0102030405060708}, 0x0102030405060708,
			append([]byte(stampMagic), 1, 2, 3, 4, 5, 6, 7, 8)},
		{"copy", message{Type: msgCopy, Key: []byte("k"), Value: []byte("v"), Primary: &p, Stamp: 7}, 7,
			append([]byte(stampMagic), 0, 0, 0, 0, 0, 0, 0, 7)},
		{"proxy", message{Type: msgProxy, Key: []byte("k"), Primary: &p, Stamp: 9}, 9,
			append([]byte(stampMagic), 0, 0, 0, 0, 0, 0, 0, 9)},
		{"diff", message{Type: msgBackup, Diff: true, Key: []byte("k"), DiffValue: []byte("d"), Primary: &p, Stamp: 9}, 0, []byte("d")},
		{"remove", message{Type: msgRemove, Key: []byte("k"), Stamp: 9}, 0, nil},
		{"unstamped backup", message{Type: msgBackup, Key: []byte("k"), Value: []byte("v"), Primary: &p}, 0, nil},
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
			if got.Stamp != tc.want {
				t.Fatalf("stamp %#x, want %#x", got.Stamp, tc.want)
			}
			again, err := c.marshal(got)
			if err != nil || !bytes.Equal(again, b) {
				t.Fatalf("encoded again: %v, same bytes %v", err, bytes.Equal(again, b))
			}
		})
	}
	// Other bytes in a diffvalue with diff false (none a Java map writes) are no stamp.
	for _, dv := range [][]byte{[]byte("x"), append([]byte("\x00grt"), 0, 0, 0, 0, 0, 0, 0, 1), append([]byte(stampMagic), 1)} {
		m := &message{MapID: []byte("map"), Type: msgBackup, Key: []byte("k"), DiffValue: dv}
		b, err := c.marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := c.unmarshal(b); err != nil || got.Stamp != 0 {
			t.Fatalf("diffvalue %q: stamp %#x, %v, want 0", dv, got.Stamp, err)
		}
	}
}
