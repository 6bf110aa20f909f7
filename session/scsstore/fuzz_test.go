package scsstore

import (
	"encoding/binary"
	"testing"
	"time"
)

// A stored value comes from any member: decodeValue takes any bytes without a panic, and
// what it accepts is the expiry and data encodeValue wrote.
func FuzzDecodeValue(f *testing.F) {
	f.Add(encodeValue([]byte("scs data"), time.Unix(1_800_000_000, 5)))
	f.Add([]byte{})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1})
	f.Add([]byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, v []byte) {
		b, expiry, ok := decodeValue(v)
		if !ok {
			if len(v) >= headerLen && binary.BigEndian.Uint64(v) <= 1<<63-1 {
				t.Fatalf("refused a well-formed value of %d bytes", len(v))
			}
			return
		}
		if again := encodeValue(b, expiry); string(again) != string(v) {
			t.Fatalf("decoded %x as (%x, %v), which encodes as %x", v, b, expiry, again)
		}
	})
}
