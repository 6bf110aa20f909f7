package nio

import (
	"bytes"
	"testing"

	"github.com/gotribes/tribes/wire"
)

// FuzzScanAck feeds arbitrary replies to scanAck, the parser of what a receiver answers
// on a sender's connection (TCP) or datagram (UDP): no panic; it reports an ACK or
// FAIL_ACK only when a whole frame of that body ends where it says it stopped, after
// whole frames of other bodies, and an error only for a frame ParseFrame refuses; it
// passes nothing it did not parse.
func FuzzScanAck(f *testing.F) {
	other := wire.AppendFrame(nil, []byte("not an ack"))
	f.Add(wire.AckFrame, 0)
	f.Add(wire.FailAckFrame, 0)
	f.Add(append(bytes.Clone(other), wire.AckFrame...), 64)
	f.Add(append(bytes.Clone(other), wire.FailAckFrame[:10]...), 64)
	f.Add(append(bytes.Clone(wire.AckFrame), 'x'), 3)
	f.Add([]byte("FLT2002\x7f\xff\xff\xffTLF2003"), 1<<16)
	f.Add([]byte("FLT2002\xff\xff\xff\xff"), 0)
	f.Add([]byte("XLT2002"), 0)
	f.Fuzz(func(t *testing.T, b []byte, maxBody int) {
		if maxBody > 1<<20 {
			maxBody = 1 << 20
		}
		k, used, err := scanAck(b, maxBody)
		if used < 0 || used > len(b) {
			t.Fatalf("used %d of %d bytes", used, len(b))
		}
		if err != nil && k != wire.NotAck {
			t.Fatalf("kind %v with error %v", k, err)
		}
		// Walk the frames scanAck passed again.
		off, last := 0, wire.NotAck
		for off < used {
			body, n, perr := wire.ParseFrame(b[off:], maxBody)
			if perr != nil || n == 0 {
				t.Fatalf("passed bytes [%d, %d) hold no whole frame: %d, %v", off, used, n, perr)
			}
			if last != wire.NotAck {
				t.Fatalf("passed a frame after an ACK at %d", off)
			}
			off += n
			last = wire.ClassifyAck(body)
		}
		if off != used {
			t.Fatalf("frames end at %d, scanAck stopped at %d", off, used)
		}
		if last != k {
			t.Fatalf("last passed frame is %v, scanAck reported %v", last, k)
		}
		if k != wire.NotAck {
			return
		}
		_, n, perr := wire.ParseFrame(b[used:], maxBody)
		switch {
		case err != nil && perr == nil:
			t.Fatalf("error %v, yet the frame at %d parses", err, used)
		case err == nil && (perr != nil || n != 0):
			t.Fatalf("stopped at %d before a frame that parses (%d bytes) or fails (%v)", used, n, perr)
		}
	})
}
