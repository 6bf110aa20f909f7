//go:build linux

package nio

import (
	"io"
	"os"
	"syscall"
	"unsafe"
)

// Read reads once, at most len(p) bytes, waiting for the socket to be readable (or
// its deadline) like net.Conn.Read. It returns io.EOF when the peer closed.
func (s *rawSock) Read(p []byte) (n int, err error) {
	if s.rc == nil || len(p) > rawIOMax {
		return s.alt.Read(p)
	}
	if len(p) == 0 {
		return 0, nil
	}
	var errno syscall.Errno
	if err := s.rc.Read(func(fd uintptr) bool {
		for {
			r, _, e := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
			switch e {
			case syscall.EINTR:
				continue
			case syscall.EAGAIN:
				return false // the poller waits for data, then calls again
			}
			n, errno = int(r), e
			return true
		}
	}); err != nil {
		return 0, err
	}
	switch {
	case errno != 0:
		return 0, os.NewSyscallError("read", errno)
	case n == 0:
		return 0, io.EOF
	}
	return n, nil
}

// Write writes all of b, waiting while the socket's send buffer is full (or until its
// deadline) like net.Conn.Write.
func (s *rawSock) Write(b []byte) (n int, err error) {
	if s.rc == nil || len(b) > rawIOMax {
		return s.alt.Write(b)
	}
	var errno syscall.Errno
	if err := s.rc.Write(func(fd uintptr) bool {
		for n < len(b) {
			r, _, e := syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(&b[n])), uintptr(len(b)-n))
			switch e {
			case 0:
				n += int(r)
			case syscall.EINTR:
			case syscall.EAGAIN:
				return false // the poller waits for room, then calls again
			default:
				errno = e
				return true
			}
		}
		return true
	}); err != nil {
		return n, err
	}
	if errno != 0 {
		return n, os.NewSyscallError("write", errno)
	}
	return n, nil
}
