package nio

import (
	"context"
	"errors"
	"net"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
)

// hangingPeer is a listener whose accept queue is full and never drained: Linux drops
// further SYNs, so a connect to it hangs like one to a crashed host (no RST, no answer).
func hangingPeer(t *testing.T) channel.Member {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	addr := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: sa.(*syscall.SockaddrInet4).Port}
	for range 8 { // fill the accept queue until a connect hangs
		c, err := net.DialTimeout("tcp4", addr.String(), 300*time.Millisecond)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return channel.Member{Host: []byte{127, 0, 0, 1}, Port: int32(addr.Port), SecurePort: -1, UDPPort: -1}
			}
			t.Fatalf("filling the accept queue: %v", err)
		}
		t.Cleanup(func() { _ = c.Close() })
	}
	t.Skip("connects to a full accept queue do not hang here")
	return channel.Member{}
}

// sendAll opens the destinations' connections one after the other (tryGet dials inside
// the first loop). A member whose connect hangs (a crashed host, once its pooled
// connection was closed by the ack timeout) uses the whole deadline, and every member
// listed after it is never written to: it fails with "no time left to connect" although
// it is up. doc.go: "Send delivers a message to members in parallel"; Tomcat's
// ParallelNioSender connects all of them without blocking, and the healthy ones get the
// message.
func TestHangingConnectDoesNotFailTheOtherMembers(t *testing.T) {
	hang := hangingPeer(t)
	rec := newRecorder(4)
	b := startNode(t, testConfig(), rec.rx)
	cfg := testConfig()
	cfg.Timeout = 500 * time.Millisecond
	a := startNode(t, cfg, nil)

	err := a.t.Send(context.Background(), []channel.Member{hang, b.member}, a.msg(channel.OptUseAck, []byte("x")))
	for _, f := range channel.FaultyMembers(err) {
		if f.Member.Equal(b.member) {
			t.Fatalf("the healthy member listed after one whose connect hangs failed: %v", f.Err)
		}
	}
	if len(channel.FaultyMembers(err)) != 1 {
		t.Fatalf("err = %v, want the hanging member only", err)
	}
	rec.next(t)
}

// The same first loop writes each destination's frame to the end before it turns to the
// next: a member that does not read (its application is slow, and the goroutine engine
// leaves the bytes in the socket, doc.go) holds the write of a large message until the
// deadline, and the members listed after it are never written to: they fail with an ack
// timeout although they are up. Tomcat's ParallelNioSender writes to all of them as
// their sockets become writable.
func TestStalledWriteDoesNotFailTheOtherMembers(t *testing.T) {
	// The member that does not read has a small receive buffer, so that the frame stalls
	// in the sender's socket. (A small send buffer on the sender, Config.SenderTxBufSize,
	// would stall it too, but also slow the healthy member: over Linux loopback a 16 KiB
	// send buffer makes an 8 MiB write take seconds, delayed ACKs pacing it.)
	stalled := notReadingPeer(t, 16<<10)

	rec := newRecorder(4)
	b := startNode(t, testConfig(), rec.rx)
	cfg := testConfig()
	// The stalled member uses the timeout up; the healthy one must get 12 MiB and answer
	// within it, which took over 500 ms under the race detector on a loaded machine.
	cfg.Timeout = 2 * time.Second
	a := startNode(t, cfg, nil)

	big := make([]byte, 12<<20) // far more than the socket buffers hold (Linux: 4 MiB at most by default)
	err := a.t.Send(context.Background(), []channel.Member{stalled, b.member}, a.msg(channel.OptUseAck, big))
	onlyFirstFailed(t, err, b.member)
	rec.next(t)
}

// The same on connections pooled already, where the frame is first written without
// waiting on the caller's goroutine: a frame with a large payload (written with writev) or
// an inline one the member's socket does not take whole at once is finished on a
// goroutine of its own, and the healthy member listed after the stalled one gets it.
func TestStalledWriteOnPooledConnectionsDoesNotFailTheOtherMembers(t *testing.T) {
	for _, v := range []struct {
		name   string
		size   int // of the payload
		txBuf  int // Config.SenderTxBufSize
		rcvBuf int // of the member that does not read
	}{
		{"writev", 12 << 20, 0, 16 << 10},
		{"inline", inlineMax, 4 << 10, 4 << 10}, // a few KiB of the frame fit in the socket buffers
	} {
		t.Run(v.name, func(t *testing.T) {
			stalled := notReadingPeer(t, v.rcvBuf)
			rec := newRecorder(4)
			b := startNode(t, testConfig(), rec.rx)
			cfg := testConfig()
			cfg.Timeout = 2 * time.Second // the stalled member uses it up; the healthy one has time to spare
			cfg.SenderTxBufSize = v.txBuf
			a := startNode(t, cfg, nil)
			to := []channel.Member{stalled, b.member}

			// Pool a connection to each: the stalled member takes a few bytes.
			if err := a.t.Send(context.Background(), to, a.msg(0, []byte("x"))); err != nil {
				t.Fatal(err)
			}
			rec.next(t)
			err := a.t.Send(context.Background(), to, a.msg(channel.OptUseAck, make([]byte, v.size)))
			onlyFirstFailed(t, err, b.member)
			rec.next(t)
			if st := a.t.Stats(); st.Dials != 2 {
				t.Fatalf("%d connections dialled, want 2: the second send did not use the pooled ones", st.Dials)
			}
		})
	}
}

// notReadingPeer is a listener whose connections are accepted, with a receive buffer of
// rcvBuf bytes, and never read.
func notReadingPeer(t *testing.T, rcvBuf int) channel.Member {
	t.Helper()
	lc := net.ListenConfig{Control: func(_, _ string, rc syscall.RawConn) error {
		return listenBuffers(rc, rcvBuf, 0)
	}}
	ln, err := lc.Listen(context.Background(), "tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				_ = c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c) // never read
		}
	}()
	t.Cleanup(func() {
		close(done)
		_ = ln.Close()
		wg.Wait()
	})
	return channel.Member{Host: []byte{127, 0, 0, 1}, Port: int32(ln.Addr().(*net.TCPAddr).Port), SecurePort: -1, UDPPort: -1}
}

// onlyFirstFailed checks that err of a send to a stalled member and then healthy names
// the stalled member only.
func onlyFirstFailed(t *testing.T, err error, healthy channel.Member) {
	t.Helper()
	for _, f := range channel.FaultyMembers(err) {
		if f.Member.Equal(healthy) {
			t.Fatalf("the healthy member listed after one that does not read failed: %v", f.Err)
		}
	}
	if len(channel.FaultyMembers(err)) != 1 {
		t.Fatalf("err = %v, want the stalled member only", err)
	}
}
