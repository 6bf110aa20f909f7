package nio

import (
	"bytes"
	"errors"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/wire"
)

// A frame above MaxFrameSize is refused with its sender once the ChannelData header of its
// body arrived. That header holds the sender member, so it can take up to headMax bytes
// (about 66 KiB). gnet's buffer holds it: the frame is reported lost with its sender.
// EngineGoroutine's connection buffer holds 64 KiB: a longer header closes the connection
// as an invalid frame (errConnBufFull), without naming the sender. A short one is reported
// there too.
func TestOversizeHeaderBeyondTheConnectionBuffer(t *testing.T) {
	for _, payload := range []int{100, 65000} { // the second with the longest id: a header of 66 136 bytes
		m := channel.Member{Host: []byte{10, 0, 0, 1}, Port: 4000, SecurePort: -1, UDPPort: -1, Payload: bytes.Repeat([]byte{'p'}, payload)}
		src, err := m.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		id := []byte{1}
		if payload > connBufMax/2 {
			id = make([]byte, wire.MaxMessageIDLen)
		}
		f := wire.AppendChannelDataFrame(nil, 2, 1, id, src, make([]byte, 200<<10))
		head := wire.FrameHeaderLen + 12 + 4 + len(id) + 4 + len(src) + 4
		long := head > connBufMax
		if long != (payload > connBufMax/2) || head > wire.FrameHeaderLen+headMax {
			t.Fatalf("payload %d: a header of %d bytes, want it beyond %d bytes only for the large payload, within headMax", payload, head, connBufMax)
		}

		// gnet: everything that arrived is in its buffer.
		g := decoder{maxBody: 128 << 10}
		_, gerr := drain(&g, &memInbound{buf: bytes.Clone(f)}, nil)
		var lost *lostFrame
		if !errors.As(gerr, &lost) || !bytes.Equal(lost.source.AddressBytes, src) {
			t.Fatalf("payload %d, gnet: %v, want the frame lost with its sender", payload, gerr)
		}

		// EngineGoroutine: the connection buffer, filled by reads of 16 KiB.
		d := decoder{maxBody: 128 << 10}
		var cb connBuf
		sr := &chunkReader{data: f, chunk: 16 << 10}
		var derr, rerr error
		for derr == nil && rerr == nil {
			if _, derr = drain(&d, &cb, nil); derr == nil {
				_, rerr = cb.fill(sr)
			}
		}
		switch {
		case long && !errors.Is(rerr, errConnBufFull):
			t.Fatalf("payload %d (header beyond %d bytes), goroutine engine: decode %v, read %v; want errConnBufFull", payload, connBufMax, derr, rerr)
		case !long && (!errors.As(derr, &lost) || !bytes.Equal(lost.source.AddressBytes, src)):
			t.Fatalf("payload %d, goroutine engine: decode %v, read %v; want the frame lost with its sender", payload, derr, rerr)
		}
	}
}
