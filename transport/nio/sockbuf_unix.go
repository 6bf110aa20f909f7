//go:build unix

package nio

import "golang.org/x/sys/unix"

// socketBuffers reads fd's SO_RCVBUF and SO_SNDBUF as getsockopt reports them.
func socketBuffers(fd uintptr) (rcv, snd int, err error) {
	if rcv, err = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF); err != nil {
		return 0, 0, err
	}
	snd, err = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUF)
	return rcv, snd, err
}
