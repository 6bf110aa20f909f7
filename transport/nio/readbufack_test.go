//go:build linux

package nio

import (
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/wire"
)

// An EngineGoroutine connection whose peer does not read its ACKs blocks in the ACK write
// (until the peer reads, or FrameTimeout, 30 s, closes it). Its read buffer, grown to
// 64 KiB by the burst the ACKs answer, was kept all that time, counted in no budget:
// MaxConnections such peers held 256 MiB. It is now given back before the write waits, or
// cut to the smallest size that holds the partial frame it has, as while a read waits;
// the stream goes on intact once the peer reads.
func TestGoroutineBufferGivenBackWhileAnAckWriteWaits(t *testing.T) {
	const conns = 8
	// What each connection's goroutine holds as its ACK write is about to wait: its read
	// buffer's size, and the bytes of a partial frame in it.
	type holding struct{ size, held int }
	var mu sync.Mutex
	waits := map[*gconn]holding{}
	ackWaitHook = func(gc *gconn) {
		mu.Lock()
		defer mu.Unlock()
		if _, ok := waits[gc]; !ok {
			waits[gc] = holding{len(gc.in.buf), gc.in.InboundBuffered()}
		}
	}
	t.Cleanup(func() { ackWaitHook = nil }) // after Stop (cleanups run last first)
	cfg := goroutineConfig()
	cfg.TxBufSize = 4 << 10 // the ACKs fill the sockets sooner
	var delivered atomic.Int64
	b := startNode(t, cfg, func(*channel.Message) error {
		delivered.Add(1)
		return nil
	})
	f := frame(b.wire, channel.OptUseAck, []byte("x"))
	const frames = 8000 // 168 000 bytes of ACKs: more than the sockets on both sides take
	stream := make([]byte, 0, frames*len(f))
	for range frames {
		stream = append(stream, f...)
	}
	var writers sync.WaitGroup
	cs := make([]net.Conn, conns)
	// The peers' receive buffers are small from the start: set after the handshake, below
	// the window already advertised, they stall the connection instead.
	d := net.Dialer{Timeout: waitTimeout, Control: func(_, _ string, rc syscall.RawConn) error {
		var err error
		if cerr := rc.Control(func(fd uintptr) { err = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, 4<<10) }); cerr != nil {
			return cerr
		}
		return err
	}}
	for i := range cs {
		c, err := d.Dial("tcp", b.member.Addr())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		cs[i] = c
		writers.Go(func() { _, _ = cs[i].Write(stream) }) // waits while the receiver waits on its ACKs
	}
	// Every connection's goroutine waits in an ACK write (writeSince set) until its peer
	// reads: it has met the hook.
	np := b.t.rcv.np
	testutil.Eventually(t, waitTimeout, func() error {
		np.mu.Lock()
		defer np.mu.Unlock()
		n := 0
		for gc := range np.conns {
			if gc.writeSince.Load() != 0 {
				n++
			}
		}
		if n != conns {
			return fmt.Errorf("%d of %d connections waiting on their ACKs (%d frames delivered)", n, conns, delivered.Load())
		}
		return nil
	})
	mu.Lock()
	if len(waits) != conns {
		t.Errorf("%d connections met the wait, want %d", len(waits), conns)
	}
	for _, h := range waits {
		if want := max(connBufMin, 2*h.held); h.size > want {
			t.Errorf("a connection waiting on its unread ACKs holds a read buffer of %d bytes for %d bytes of a frame; want at most %d",
				h.size, h.held, want)
		}
	}
	mu.Unlock()
	// The peers read: every frame is acknowledged and delivered.
	var readers sync.WaitGroup
	for _, c := range cs {
		readers.Go(func() {
			for _, k := range readAcks(t, c, frames) {
				if k != wire.Ack {
					t.Errorf("answer %v", k)
					return
				}
			}
		})
	}
	readers.Wait()
	writers.Wait()
	testutil.EventuallyTrue(t, waitTimeout, "every frame delivered", func() bool { return delivered.Load() == conns*frames })
	if st := b.t.Stats(); st.FramesRejected != 0 || st.ConnsOpen != conns {
		t.Fatalf("after the peers read: %d frames rejected, %d connections open; want 0, %d", st.FramesRejected, st.ConnsOpen, conns)
	}
}
