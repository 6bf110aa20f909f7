package nio

import (
	"bytes"
	"slices"
	"sync"
	"testing"

	"github.com/gotribes/tribes/channel"
)

// largeStream is n frames from src without send options, back to back: frame i carries
// size bytes of byte(i+1), followed, with small, by a 100-byte frame of byte(0x80+i).
func largeStream(src []byte, n, size int, small bool) []byte {
	var stream []byte
	for i := range n {
		stream = append(stream, frame(src, 0, bytes.Repeat([]byte{byte(i + 1)}, size))...)
		if small {
			stream = append(stream, frame(src, 0, bytes.Repeat([]byte{byte(0x80 + i)}, 100))...)
		}
	}
	return stream
}

// TestGoroutineLargeFramesCopyLittle: on EngineGoroutine, while a connection reads a
// large frame and once its last frame was large, a read into the connection's empty
// buffer takes at most connBufMin bytes, so that each copy of a large frame's bytes out of
// that buffer into the frame's own is that much, not the up to connBufMax (64 KiB) that a
// full read would have put there: the rest is read straight into the frame's buffer. Six
// 1 MiB frames sent back to back are each copied from at least once, 4 KiB at most a time.
func TestGoroutineLargeFramesCopyLittle(t *testing.T) {
	const n, size = 6, 1 << 20
	var mu sync.Mutex
	var copies []int
	assembleCopyHook = func(k int) {
		mu.Lock()
		copies = append(copies, k)
		mu.Unlock()
	}
	defer func() { assembleCopyHook = nil }()
	cfg := testConfig()
	cfg.Engine = EngineGoroutine
	rec := newRecorder(n)
	b := startNode(t, cfg, rec.rx)
	c := dialRaw(t, b)
	go func() { _, _ = c.Write(largeStream(b.wire, n, size, false)) }()
	for range n {
		rec.next(t)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(copies) < n || slices.Max(copies) > connBufMin {
		t.Fatalf("copies out of the read buffer into %d 1 MiB frames' buffers: %v; want at least %d, none above %d", n, copies, n, connBufMin)
	}
}

// TestDeliveredMessagesKeepTheirBytes: a delivered message's bytes are its own: large ones
// alias their frame's buffer, never the connection's read buffer, and small ones are
// copied out of it, so that the reads of later frames on the same connection (large and
// small ones in turn, read with the shorter read that follows a large frame) leave every
// message held, not released, intact, on both engines.
func TestDeliveredMessagesKeepTheirBytes(t *testing.T) {
	forEachEngine(t, func(t *testing.T, cfg Config) {
		const n, size = 5, 300 << 10
		rec := newRecorder(2 * n)
		b := startNode(t, cfg, rec.rx)
		c := dialRaw(t, b)
		go func() { _, _ = c.Write(largeStream(b.wire, n, size, true)) }()
		var held []*channel.Message
		for range 2 * n {
			held = append(held, rec.next(t))
		}
		for i, m := range held {
			want := bytes.Repeat([]byte{byte(i/2 + 1)}, size)
			if i%2 == 1 {
				want = bytes.Repeat([]byte{byte(0x80 + i/2)}, 100)
			}
			if !bytes.Equal(m.Data, want) {
				t.Errorf("message %d: %d bytes, not the %d of byte %#x it was sent with", i, len(m.Data), len(want), want[0])
			}
		}
	})
}
