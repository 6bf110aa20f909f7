package nio

import (
	"bytes"
	"sync/atomic"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/wire"
)

// A frame's complete header (up to the message, its sender member with its payload) was
// copied and decoded again on every read of the frame's rest: strangerHeld, on every read
// of a connection not trusted, and the large frame's arrival count, for a header it could
// not decode. A peer sending a frame's rest a byte at a time made the receiver copy the
// header once per byte: quadratic work. The header is now decoded once per frame: no
// allocation per read once it is complete, and the verdict holds until the frame is decoded.
func TestCompleteHeaderReadOnce(t *testing.T) {
	m := channel.Member{Host: []byte{10, 0, 0, 1}, Port: 4000, SecurePort: -1, UDPPort: -1,
		Payload: pattern(3000), UniqueID: channel.UniqueID{1, 2, 3}}
	src, err := m.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	f := frame(src, 0, pattern(20000)) // a small frame
	head := wire.FrameHeaderLen + 12 + 4 + 16 + 4 + len(src) + 4
	for _, member := range []bool{false, true} {
		var pending, strangers atomic.Int64
		d := decoder{maxBody: 1 << 20, pending: &pending, limit: 1 << 20, strangers: &strangers, strangerLimit: 1 << 20,
			isMember: func(*channel.Member) bool { return member }}
		in := &memInbound{buf: bytes.Clone(f)[:head]} // the rest revealed a byte at a time
		var counted int64
		if !d.strangerHeld(in, &counted) {
			t.Fatal("refused")
		}
		if want := int64(head); member && counted != 0 || !member && counted != want {
			t.Fatalf("member %v: %d bytes counted in strangers' share, want %d", member, counted, map[bool]int64{true: 0, false: want}[member])
		}
		next := head
		allocs := testing.AllocsPerRun(1000, func() { // the rest, a byte per read
			in.buf = in.buf[:next+1]
			next++
			d.strangerHeld(in, &counted)
		})
		if allocs != 0 {
			t.Fatalf("member %v: a read of a byte after a complete %d-byte header allocated %.1f times, want 0", member, head, allocs)
		}
		if want := int64(next); !member && counted != want {
			t.Fatalf("stranger's share %d after %d bytes, want %d", counted, next, want)
		}
		in.buf = in.buf[:len(f)]
		cd, _, ok, err := d.next(in)
		if err != nil || !ok || !bytes.Equal(cd.Message, pattern(20000)) {
			t.Fatalf("the frame: ok %v, %v", ok, err)
		}
		if d.frontKnown {
			t.Fatal("the verdict on a decoded frame's header is kept for the next frame")
		}
	}

	// A large frame whose header is complete but its member malformed: the arrival count
	// reads it once.
	bad := bytes.Clone(frame(src, 0, pattern(40000)))
	bad[wire.FrameHeaderLen+12+4+16+4] = 'X' // the member's TRIBES-B marker
	d := decoder{maxBody: 1 << 20, arriving: &arrivals{}}
	in := &memInbound{buf: make([]byte, 0, len(bad))}
	in.buf = append(in.buf, bad[:head]...)
	if _, _, ok, err := d.next(in); ok || err != nil {
		t.Fatalf("the header: ok %v, %v", ok, err)
	}
	next := head
	allocs := testing.AllocsPerRun(1000, func() {
		in.buf = append(in.buf, bad[next])
		next++
		d.next(in)
	})
	if allocs != 0 {
		t.Fatalf("a read of a byte of a large frame after its complete malformed header allocated %.1f times, want 0", allocs)
	}
	d.abandon()
}
