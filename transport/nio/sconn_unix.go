//go:build unix

package nio

import (
	"io"
	"net"
	"os"

	"golang.org/x/sys/unix"
)

// readNow reads what the socket holds without waiting, even past the deadline, at which
// net.Conn.Read no longer reads. Nothing to read is os.ErrDeadlineExceeded: it is called
// once the deadline has passed.
func (c *sconn) readNow(p []byte) (n int, err error) {
	if c.raw == nil {
		return 0, os.ErrDeadlineExceeded
	}
	if cerr := c.raw.Control(func(fd uintptr) { n, err = ignoringEINTR(unix.Read, int(fd), p) }); cerr != nil {
		return 0, cerr
	}
	switch {
	case err == unix.EAGAIN:
		return 0, os.ErrDeadlineExceeded
	case err != nil:
		return 0, err
	case n == 0 && len(p) > 0:
		return 0, io.EOF
	}
	return n, nil
}

// alive checks, without blocking, that an idle TCP connection was not closed by its peer
// and has no unexpected bytes waiting (which would be mistaken for the next ACK).
func (c *sconn) alive() bool {
	tc, ok := c.conn.(*net.TCPConn)
	if !ok {
		return true
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return false
	}
	ok = false
	err = rc.Control(func(fd uintptr) {
		var b [1]byte
		_, _, rerr := unix.Recvfrom(int(fd), b[:], unix.MSG_PEEK|unix.MSG_DONTWAIT)
		ok = rerr == unix.EAGAIN || rerr == unix.EWOULDBLOCK
	})
	return ok && err == nil
}

// ignoringEINTR calls a read or write system call on fd until a signal does not interrupt
// it.
func ignoringEINTR(call func(int, []byte) (int, error), fd int, p []byte) (int, error) {
	for {
		n, err := call(fd, p)
		if err != unix.EINTR {
			return n, err
		}
	}
}
