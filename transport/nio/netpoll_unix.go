//go:build unix

package nio

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// listenBuffers sets the receive and send buffer sizes (SO_RCVBUF, SO_SNDBUF; 0 leaves
// the system's default) of a listener's socket before it listens: the connections it
// accepts inherit them.
func listenBuffers(rc syscall.RawConn, rx, tx int) error {
	var err error
	if cerr := rc.Control(func(fd uintptr) {
		for _, o := range []struct{ opt, size int }{{unix.SO_RCVBUF, rx}, {unix.SO_SNDBUF, tx}} {
			if o.size > 0 && err == nil {
				err = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, o.opt, o.size)
			}
		}
	}); cerr != nil {
		return cerr
	}
	return err
}
