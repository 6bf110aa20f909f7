package nio

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"sync/atomic"
	"testing"
	"time"
)

// countingIO is a rawSock's fallback that counts the calls that reach it.
type countingIO struct {
	c     *net.TCPConn
	calls atomic.Int64
}

func (c *countingIO) Read(p []byte) (int, error) {
	c.calls.Add(1)
	return c.c.Read(p)
}

func (c *countingIO) Write(b []byte) (int, error) {
	c.calls.Add(1)
	return c.c.Write(b)
}

// rawPair returns the two ends of a loopback TCP connection, each with a rawSock whose
// fallback counts the calls that reach it (net.Conn's, which enter the runtime's system
// call path).
func rawPair(t *testing.T) (a, b *net.TCPConn, ra, rb *rawSock, fa, fb *countingIO) {
	t.Helper()
	a, b, _, _ = tcpPair(t)
	sock := func(c *net.TCPConn) (*rawSock, *countingIO) {
		rc, err := c.SyscallConn()
		if err != nil {
			t.Fatal(err)
		}
		f := &countingIO{c: c}
		s := &rawSock{}
		s.init(rc, f)
		return s, f
	}
	ra, fa = sock(a)
	rb, fb = sock(b)
	return a, b, ra, rb, fa, fb
}

// seeded returns n bytes that differ from one position to the next.
func seeded(n, seed int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*31 + i>>11 + seed)
	}
	return b
}

// A large frame's reads and writes are raw system calls as small ones are: a 1 MiB
// writev of a frame's head, payload and trailer, through send and receive buffers far
// smaller (so that it waits for room again and again, and its system calls write parts
// of a buffer), and reads of up to 1 MiB into one buffer, as a large frame's rest is
// read (gconn.readDirect), reach neither side's net.Conn; every byte arrives in order.
// Through net.Conn, a copy of that size outlasts sysmon's 20 µs and has it hand the
// goroutine's processor to another thread (a futex call and a context switch).
func TestRawSockLargeFrameIsRaw(t *testing.T) {
	a, b, ra, rb, fa, fb := rawPair(t)
	_ = a.SetWriteBuffer(64 << 10)
	_ = b.SetReadBuffer(32 << 10)
	head, payload, tail := seeded(100, 1), seeded(1<<20, 2), seeded(13, 3)
	want := append(append(append([]byte(nil), head...), payload...), tail...)

	done := make(chan error, 1)
	go func() {
		iov := net.Buffers{head, payload, tail}
		n, err := ra.Writev(&iov)
		if err == nil && n != len(want) {
			err = errors.New("short writev")
		}
		done <- err
	}()
	got := make([]byte, len(want))
	off, reads := 0, 0
	for off < len(got) && reads < 1_000_000 {
		n, err := rb.Read(got[off:]) // up to 1 MiB at once
		if err != nil {
			t.Fatalf("read after %d bytes: %v", off, err)
		}
		off += n
		reads++
	}
	if err := <-done; err != nil {
		t.Fatalf("writev: %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("the bytes read differ from those written")
	}
	if n := fa.calls.Load() + fb.calls.Load(); n != 0 {
		t.Fatalf("%d calls went through net.Conn (writer %d, reader %d), want none", n, fa.calls.Load(), fb.calls.Load())
	}
	if reads < 2 {
		t.Fatalf("%d reads: the buffers did not make the writev wait", reads)
	}

	// A large write of one buffer is raw too.
	go func() { _, err := ra.Write(payload); done <- err }()
	for off = 0; off < len(payload); {
		n, err := rb.Read(got[off:len(payload)])
		if err != nil {
			t.Fatalf("read after %d bytes: %v", off, err)
		}
		off += n
	}
	if err := <-done; err != nil || !bytes.Equal(got[:len(payload)], payload) {
		t.Fatalf("large write: %v", err)
	}
	if n := fa.calls.Load() + fb.calls.Load(); n != 0 {
		t.Fatalf("%d calls went through net.Conn, want none", n)
	}
}

// A raw writev to a peer that does not read waits for room until the write deadline,
// reporting what it wrote; an empty vector writes nothing; a writev allocates nothing.
func TestRawSockWritevDeadlineAndAllocs(t *testing.T) {
	a, b, ra, rb, _, _ := rawPair(t)
	_ = a.SetWriteBuffer(64 << 10)
	_ = b.SetReadBuffer(32 << 10)
	big := seeded(8<<20, 4) // far more than both buffers hold
	_ = a.SetWriteDeadline(time.Now().Add(200 * time.Millisecond))
	iov := net.Buffers{big[:10], big[10:]}
	n, err := ra.Writev(&iov)
	if !errors.Is(err, os.ErrDeadlineExceeded) || n <= 0 || n >= len(big) {
		t.Fatalf("writev to a peer that does not read: %d bytes, %v; want part of it and the deadline", n, err)
	}

	empty := net.Buffers{nil, {}}
	if n, err := rb.Writev(&empty); n != 0 || err != nil {
		t.Fatalf("empty writev: %d %v", n, err)
	}

	_, _, rc, rd, _, _ := rawPair(t)
	head, payload := []byte("head"), seeded(32<<10, 5)
	got := make([]byte, len(head)+len(payload))
	vec := net.Buffers{}
	allocs := testing.AllocsPerRun(50, func() {
		vec = append(vec[:0], head, payload)
		if _, err := rc.Writev(&vec); err != nil {
			t.Fatal(err)
		}
		for off := 0; off < len(got); {
			n, err := rd.Read(got[off:])
			if err != nil {
				t.Fatal(err)
			}
			off += n
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per writev and read", allocs)
	}
}

// A raw writev of more buffers than one system call takes (IOV_MAX, 1024; more is EINVAL)
// writes them all, in order, through send and receive buffers that make it wait and
// write buffers in part; and none of it goes through net.Conn.
func TestRawSockWritevOverIOVMax(t *testing.T) {
	a, b, ra, rb, fa, _ := rawPair(t)
	_ = a.SetWriteBuffer(64 << 10)
	_ = b.SetReadBuffer(32 << 10)
	all := seeded(3*iovMax*101, 6)
	var iov net.Buffers
	for off := 0; off < len(all); {
		n := min(1+len(iov)%201, len(all)-off) // 1 to 201 bytes, 101 on average
		iov = append(iov, all[off:off+n])
		off += n
	}
	if len(iov) <= 2*iovMax {
		t.Fatalf("only %d buffers", len(iov))
	}
	done := make(chan error, 1)
	go func() {
		vec := iov
		n, err := ra.Writev(&vec)
		if err == nil && n != len(all) {
			err = fmt.Errorf("writev wrote %d of %d bytes", n, len(all))
		}
		if err != nil {
			_ = a.Close() // the reader sees the end at once
		}
		done <- err
	}()
	got := make([]byte, len(all))
	_ = b.SetReadDeadline(time.Now().Add(time.Minute))
	for off := 0; off < len(got); {
		n, err := rb.Read(got[off:])
		if err != nil {
			t.Fatalf("read after %d of %d bytes: %v (writev: %v)", off, len(got), err, <-done)
		}
		off += n
	}
	if err := <-done; err != nil {
		t.Fatalf("writev of %d buffers: %v", len(iov), err)
	}
	if !bytes.Equal(got, all) {
		t.Fatal("the bytes read differ from those written")
	}
	if n := fa.calls.Load(); n != 0 {
		t.Fatalf("%d writes went through net.Conn, want none", n)
	}
}
