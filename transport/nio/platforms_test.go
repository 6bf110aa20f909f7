package nio

import (
	"errors"
	"net"
	"os"
	"testing"
	"time"

	"github.com/gotribes/tribes/internal/testutil"
)

// Why systems without the non-blocking peek (Windows: sconn_other.go) check nothing on an
// idle pooled connection: a read whose deadline has already passed, the portable way to
// look without waiting, reads nothing in Go, the runtime reporting the timeout before it
// asks the system. Here a peer wrote a stray byte and closed: that read reports the
// connection idle (os.ErrDeadlineExceeded, no byte) where the peek of alive sees both.
// Doc.go's Platforms says so.
func TestReadPastItsDeadlineReadsNothing(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	c, err := net.DialTimeout("tcp", ln.Addr().String(), waitTimeout)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	p, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Write([]byte{1}); err != nil {
		t.Fatal(err)
	}
	_ = p.Close()
	sc := &sconn{conn: c}
	testutil.EventuallyTrue(t, waitTimeout, "the peek to see the stray byte", func() bool { return !sc.alive() })
	if err := c.SetReadDeadline(time.Now().Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	var b [1]byte
	if n, err := c.Read(b[:]); n != 0 || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("a read past its deadline returned %d bytes, %v: want none and os.ErrDeadlineExceeded", n, err)
	}
	// The byte and the close were there all along.
	if err := c.SetReadDeadline(time.Now().Add(waitTimeout)); err != nil {
		t.Fatal(err)
	}
	if n, err := c.Read(b[:]); n != 1 || err != nil {
		t.Fatalf("a read with time left returned %d bytes, %v: want the stray byte", n, err)
	}
}
