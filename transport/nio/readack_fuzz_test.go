package nio

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"github.com/gotribes/tribes/wire"
)

// readAckWatchdog is how long past its deadline a readAck may take before the fuzz target
// calls it blocked: a bound on a hang, not a measure of speed.
const readAckWatchdog = 10 * time.Second

// FuzzReadAck drives sconn.readAck, the loop that reads a receiver's replies on a
// sender's connection, with arbitrary byte streams written in arbitrary pieces, over TCP
// (its raw system calls and, past the deadline, its reads of what has arrived) or
// net.Pipe, the peer then closing the connection or keeping it open, waiting for the
// reply or (now) taking only what has arrived. It never panics and never blocks past its
// deadline; it reports what scanAck finds in the whole stream (the first ACK or FAIL_ACK,
// or the wire error of a corrupt frame before one), or, when the stream holds neither,
// io.ErrUnexpectedEOF for a closed connection; on one kept open, or with now, it may
// also stop at the deadline (os.ErrDeadlineExceeded) before the bytes arrive. Its
// connection keeps its small buffer.
func FuzzReadAck(f *testing.F) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { ln.Close() })
	other := wire.AppendFrame(nil, bytes.Repeat([]byte("not an ack "), 40))
	f.Add(wire.AckFrame, []byte{2, 0, 7}, 64, true, true, false)
	f.Add(append(bytes.Clone(other), wire.FailAckFrame...), []byte{100, 3}, 1024, true, false, false)
	f.Add(append(bytes.Clone(other), wire.AckFrame[:10]...), []byte{0}, 1024, false, true, false)
	f.Add(append(bytes.Clone(other), wire.AckFrame...), []byte{200}, 64, false, false, false)
	f.Add([]byte("FLT2002\x7f\xff\xff\xffTLF2003"), []byte{}, 1<<16, true, true, false)
	f.Add([]byte("XLT2002"), []byte{1}, 0, true, false, false)
	f.Add(append(bytes.Clone(wire.AckFrame), "FLT2002"...), []byte{5, 5, 5}, 16, false, true, false)
	f.Add(append(bytes.Clone(other), wire.AckFrame...), []byte{9}, 1024, true, true, true)
	f.Add(append(bytes.Clone(other), wire.AckFrame...), []byte{}, 1024, false, true, true)
	f.Fuzz(func(t *testing.T, data, splits []byte, maxBody int, closeAfter, useTCP, now bool) {
		maxBody = min(maxBody, 1<<20)
		wantKind, _, wantErr := scanAck(data, maxBody)

		var mine, peer net.Conn
		c := &sconn{}
		if useTCP {
			accepted := make(chan net.Conn, 1)
			go func() {
				a, _ := ln.Accept()
				accepted <- a
			}()
			d, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			if peer = <-accepted; peer == nil {
				d.Close()
				t.Fatal("accept failed")
			}
			mine = d
			c.raw, _ = d.(*net.TCPConn).SyscallConn()
			c.sock.init(c.raw, d)
		} else {
			mine, peer = net.Pipe()
			c.sock.init(nil, mine)
		}
		c.conn = mine
		defer mine.Close()
		defer peer.Close()

		deadline := time.Now().Add(readAckWatchdog)
		if !closeAfter {
			deadline = time.Now().Add(2 * time.Millisecond)
		}
		if err := mine.SetDeadline(deadline); err != nil {
			t.Fatal(err)
		}
		wrote := make(chan struct{})
		go func() {
			defer close(wrote)
			rest := data
			for i := 0; len(rest) > 0; i++ {
				n := len(rest)
				if len(splits) > 0 {
					n = min(n, int(splits[i%len(splits)])+1)
				}
				if _, err := peer.Write(rest[:n]); err != nil {
					return // readAck returned and the connection is closed
				}
				rest = rest[n:]
			}
			if closeAfter {
				peer.Close()
			}
		}()
		type result struct {
			kind wire.AckKind
			err  error
		}
		done := make(chan result, 1)
		go func() {
			k, err := c.readAck(maxBody, now)
			done <- result{k, err}
		}()
		var r result
		select {
		case r = <-done:
		case <-time.After(time.Until(deadline) + readAckWatchdog):
			mine.Close()
			t.Fatalf("readAck blocked past its deadline (%d bytes, pieces %v, close %v, tcp %v)", len(data), splits, closeAfter, useTCP)
		}
		mine.Close()
		peer.Close()
		<-wrote

		if len(c.ackBuf) != 128 {
			t.Errorf("the connection kept a buffer of %d bytes", len(c.ackBuf))
		}
		if r.err == nil && r.kind == wire.NotAck {
			t.Fatal("no ACK and no error")
		}
		if (!closeAfter || now) && r.kind == wire.NotAck && errors.Is(r.err, os.ErrDeadlineExceeded) {
			return // the deadline came before what the stream holds
		}
		switch {
		case wantErr != nil:
			if !errors.Is(r.err, errors.Unwrap(wantErr)) && !errors.Is(r.err, wantErr) {
				t.Fatalf("a corrupt reply (%v): kind %v, err %v", wantErr, r.kind, r.err)
			}
		case wantKind != wire.NotAck:
			if r.err != nil || r.kind != wantKind {
				t.Fatalf("a reply holding %v: kind %v, err %v", wantKind, r.kind, r.err)
			}
		case closeAfter:
			if !errors.Is(r.err, io.ErrUnexpectedEOF) {
				t.Fatalf("a closed reply without an ACK: kind %v, err %v, want io.ErrUnexpectedEOF", r.kind, r.err)
			}
		default:
			t.Fatalf("a reply kept open without an ACK: kind %v, err %v, want os.ErrDeadlineExceeded", r.kind, r.err)
		}
		if wantErr != nil && !isWireFrameError(r.err) {
			t.Fatalf("a corrupt reply: %v, not a wire frame error", r.err)
		}
	})
}

// isWireFrameError is true for the errors wire.ParseFrame gives a corrupt frame.
func isWireFrameError(err error) bool {
	for _, e := range []error{wire.ErrBadStartMarker, wire.ErrBadEndMarker, wire.ErrNegativeLength, wire.ErrFrameTooLarge} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}
