package nio

import "syscall"

// listenBuffers sets the receive and send buffer sizes (SO_RCVBUF, SO_SNDBUF; 0 leaves
// the system's default) of a listener's socket before it listens: the connections it
// accepts inherit them.
func listenBuffers(rc syscall.RawConn, rx, tx int) error {
	var err error
	if cerr := rc.Control(func(fd uintptr) {
		for _, o := range []struct{ opt, size int }{{syscall.SO_RCVBUF, rx}, {syscall.SO_SNDBUF, tx}} {
			if o.size > 0 && err == nil {
				err = syscall.SetsockoptInt(syscall.Handle(fd), syscall.SOL_SOCKET, o.opt, o.size)
			}
		}
	}); cerr != nil {
		return cerr
	}
	return err
}
