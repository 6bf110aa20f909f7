package nio

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"
)

// tcpPair returns the two ends of a loopback TCP connection, each with a rawSock.
func tcpPair(t *testing.T) (a, b *net.TCPConn, ra, rb *rawSock) {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	ca, err := net.Dial("tcp4", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	cb := <-accepted
	if cb == nil {
		t.Fatal("accept failed")
	}
	a, b = ca.(*net.TCPConn), cb.(*net.TCPConn)
	t.Cleanup(func() { a.Close(); b.Close() })
	sock := func(c *net.TCPConn) *rawSock {
		rc, err := c.SyscallConn()
		if err != nil {
			t.Fatal(err)
		}
		s := &rawSock{}
		s.init(rc, c)
		return s
	}
	return a, b, sock(a), sock(b)
}

// Small reads and writes go through raw system calls and behave as net.Conn's: data
// arrives intact whether the read or the write comes first, a read with nothing to read
// waits for its deadline, and a closed peer is io.EOF.
func TestRawSockReadWrite(t *testing.T) {
	a, _, ra, rb := tcpPair(t)
	msg := []byte("a frame, or an ACK")
	if n, err := ra.Write(msg); err != nil || n != len(msg) {
		t.Fatalf("write: %d %v", n, err)
	}
	got := make([]byte, 64)
	n, err := rb.Read(got)
	if err != nil || !bytes.Equal(got[:n], msg) {
		t.Fatalf("read: %q %v", got[:n], err)
	}

	// The read comes first and waits in the poller (EAGAIN) until the write.
	done := make(chan error, 1)
	go func() {
		n, err := rb.Read(got)
		if err == nil && !bytes.Equal(got[:n], []byte("later")) {
			err = errors.New("read " + string(got[:n]))
		}
		done <- err
	}()
	if _, err := ra.Write([]byte("later")); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	// Nothing to read: the deadline ends the wait.
	_, b, _, _ := tcpPair(t)
	rc, _ := b.SyscallConn()
	idle := &rawSock{}
	idle.init(rc, b)
	_ = b.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if _, err := idle.Read(got); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read with nothing to read past the deadline: %v", err)
	}

	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := rb.Read(got); err != io.EOF {
		t.Fatalf("read after the peer closed: %v, want io.EOF", err)
	}
	if _, err := rb.Read(nil); err != nil {
		t.Fatalf("empty read: %v", err)
	}
}

// Writes that fill the socket's send buffer wait (EAGAIN) until the peer reads, and
// every byte arrives in order; with a peer that never reads, the write deadline ends the
// wait. A write larger than rawIOMax is raw too, the same bytes.
func TestRawSockFullSendBuffer(t *testing.T) {
	a, b, ra, rb := tcpPair(t)
	_ = a.SetWriteBuffer(16 << 10)
	_ = b.SetReadBuffer(4 << 10) // together far less than what is written: the writes wait
	const total, chunk = 64 << 10, 8 << 10
	sent := make([]byte, total)
	for i := range sent {
		sent[i] = byte(i*31 + i>>11)
	}
	done := make(chan error, 1)
	go func() {
		var err error
		for off := 0; off < total && err == nil; off += chunk {
			_, err = ra.Write(sent[off : off+chunk])
		}
		done <- err
	}()
	got := make([]byte, 0, total)
	buf := make([]byte, 16<<10) // reads smaller than the writes: the writer fills the buffer again and again
	for len(got) < total {
		n, err := rb.Read(buf)
		if err != nil {
			t.Fatalf("read after %d bytes: %v", len(got), err)
		}
		got = append(got, buf[:n]...)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, sent) {
		t.Fatal("the bytes read differ from those written")
	}

	_, _, ra2, rb2 := tcpPair(t) // default buffers
	big := bytes.Repeat([]byte{7}, rawIOMax+1)
	go func() { _, err := ra2.Write(big); done <- err }()
	back := make([]byte, 0, len(big))
	for len(back) < len(big) {
		n, err := rb2.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		back = append(back, buf[:n]...)
	}
	if err := <-done; err != nil || !bytes.Equal(back, big) {
		t.Fatalf("large write: %v", err)
	}

	// The peer stops reading: the writer's deadline ends its wait for room.
	_ = a.SetWriteDeadline(time.Now().Add(200 * time.Millisecond))
	var err error
	for i := 0; i < 10_000 && err == nil; i++ {
		_, err = ra.Write(sent[:rawIOMax])
	}
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("write to a peer that does not read: %v, want the deadline", err)
	}
}

// A small write and read through rawSock allocate nothing (the callbacks are made once).
func TestRawSockAllocatesNothing(t *testing.T) {
	_, _, ra, rb := tcpPair(t)
	msg, got := []byte("an ACK frame"), make([]byte, 64)
	allocs := testing.AllocsPerRun(200, func() {
		if _, err := ra.Write(msg); err != nil {
			t.Fatal(err)
		}
		if n, err := rb.Read(got); err != nil || n != len(msg) {
			t.Fatalf("read %d: %v", n, err)
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per write and read", allocs)
	}
}
