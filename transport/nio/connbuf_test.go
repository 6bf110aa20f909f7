package nio

import (
	"testing"
)

// waitingSource is a waiter whose every message arrives after a wait: ReadOrRelease finds
// nothing buffered, gives the buffer back, and reads the next message into the one more
// returns, as rawSock does when the peer sends one message at a time (acknowledged sends).
type waitingSource struct {
	msg   []byte // what arrives after each wait
	left  []byte // arrived and not read yet
	reads int
}

func (s *waitingSource) Read(p []byte) (int, error) { return s.ReadOrRelease(p, nil, nil) }

func (s *waitingSource) canWait() bool { return true }

func (s *waitingSource) ReadOrRelease(p []byte, release func(), more func() []byte) (int, error) {
	if len(s.left) == 0 {
		if release != nil {
			release()
			p = more()
		}
		s.left = s.msg
	}
	s.reads++
	n := copy(p, s.left)
	s.left = s.left[n:]
	return n, nil
}

// A read buffer given back while its connection waits is taken again at the size it had:
// a connection receiving one 20 KiB message after another reads each with one read into
// its 32 KiB buffer. It was taken again at 4 KiB unless it had grown to 64 KiB, and grown
// by doubling (a new buffer and a copy each time) over five reads per message, every
// message (75 KiB allocated per acknowledged 20 KiB message instead of 21 KiB).
func TestConnBufTakenAgainAtItsSize(t *testing.T) {
	for _, size := range []int{6 << 10, 20 << 10, 40 << 10} {
		src := &waitingSource{msg: make([]byte, size)}
		var b connBuf
		defer b.release()
		receive := func() {
			for b.InboundBuffered() < size {
				if _, err := b.fill(src); err != nil {
					t.Fatal(err)
				}
			}
			_, _ = b.Discard(size)
		}
		for range 3 { // the buffer grows to fit a message
			receive()
		}
		grown := len(b.buf)
		for i := range 10 {
			src.reads = 0
			receive()
			if src.reads != 1 || len(b.buf) != grown {
				t.Fatalf("%d-byte message %d after a wait: %d reads, buffer %d bytes; want 1 read into the %d-byte buffer given back",
					size, i, src.reads, len(b.buf), grown)
			}
		}
	}
}
