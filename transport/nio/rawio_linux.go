//go:build linux

package nio

import (
	"io"
	"net"
	"os"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// init sets the socket (rc nil: none, alt does every call) and the fallback; call it
// once the rawSock is at its final address.
func (s *rawSock) init(rc syscall.RawConn, alt sockIO) {
	s.rc, s.alt = rc, alt
	if rc != nil {
		s.readFn, s.writeFn, s.releaseFn = s.readOnce, s.writeOnce, s.readOrReleaseOnce
		s.writevFn = s.writevOnce
		s.tryWriteFn = func(fd uintptr) bool {
			s.writeOnce(fd)
			return true // never wait
		}
	}
}

// Read reads once, at most len(p) bytes, waiting for the socket to be readable (or
// its deadline) like net.Conn.Read. It returns io.EOF when the peer closed.
func (s *rawSock) Read(p []byte) (int, error) {
	if s.rc == nil {
		return s.alt.Read(p)
	}
	if len(p) == 0 {
		return 0, nil
	}
	s.rbuf, s.rn, s.rerrno = p, 0, 0
	err := s.rc.Read(s.readFn)
	n, errno := s.rn, s.rerrno
	s.rbuf = nil
	return readResult(n, errno, err)
}

// readResult is the outcome of a read that read n bytes, or failed with errno or err:
// none read (and no error) is the end of the stream.
func readResult(n int, errno syscall.Errno, err error) (int, error) {
	switch {
	case err != nil:
		return 0, err
	case errno != 0:
		return 0, os.NewSyscallError("read", errno)
	case n == 0:
		return 0, io.EOF
	}
	return n, nil
}

// peerGone reports whether the peer closed the connection (or shut down its sending side,
// which Tribes senders never do alone), as far as the socket knows, whatever unread bytes
// it still holds: one poll for POLLRDHUP that does not wait. A connection whose frame
// waited asks before the frame's delivery and ACK (gconn.abandoned).
func (s *rawSock) peerGone() bool {
	if s.rc == nil {
		return false
	}
	gone := false
	_ = s.rc.Control(func(fd uintptr) {
		fds := [1]unix.PollFd{{Fd: int32(fd), Events: unix.POLLRDHUP}}
		for {
			n, err := unix.Poll(fds[:], 0)
			if err == unix.EINTR {
				continue
			}
			gone = err == nil && n > 0 && fds[0].Revents&(unix.POLLRDHUP|unix.POLLHUP|unix.POLLERR) != 0
			return
		}
	})
	return gone
}

// canWait reports whether ReadOrRelease works (connBuf's waiter): with a raw socket.
func (s *rawSock) canWait() bool { return s.rc != nil }

// ReadOrRelease is Read into p (1 to rawIOMax bytes), except that if the socket has
// nothing yet it calls release, which may take p away, before it waits, and reads into
// more() once data is there: a connection waiting for its peer needs no buffer meanwhile.
// The system calls are Read's.
func (s *rawSock) ReadOrRelease(p []byte, release func(), more func() []byte) (int, error) {
	s.rbuf, s.rn, s.rerrno = p, 0, 0
	s.release, s.more = release, more
	err := s.rc.Read(s.releaseFn)
	n, errno := s.rn, s.rerrno
	s.rbuf, s.release, s.more = nil, nil, nil
	return readResult(n, errno, err)
}

// readOrReleaseOnce is ReadOrRelease's callback.
func (s *rawSock) readOrReleaseOnce(fd uintptr) bool {
	if s.rbuf == nil {
		s.rbuf = s.more()
	}
	if s.readOnce(fd) {
		return true
	}
	if s.release != nil { // the first time it would wait
		s.release()
		s.release, s.rbuf = nil, nil
	}
	return false
}

// readOnce is Read's callback: false while the socket has nothing (the poller waits, then
// calls again).
func (s *rawSock) readOnce(fd uintptr) bool {
	p := s.rbuf
	for {
		r, _, e := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
		switch e {
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return false
		case 0:
			s.rn = int(r)
		default:
			s.rerrno = e
		}
		return true
	}
}

// Write writes all of b, waiting while the socket's send buffer is full (or until its
// deadline) like net.Conn.Write.
func (s *rawSock) Write(b []byte) (int, error) {
	if s.rc == nil {
		return s.alt.Write(b)
	}
	return s.rawWrite(b, s.writeFn)
}

// WriteNoWait writes what of b the socket's send buffer takes now, without waiting, and
// returns how much that was (all of b, unless its send buffer is full). Its deadline
// applies as to Write. A b larger than rawIOMax is not written (0 bytes). Without a raw
// socket (rc nil) it is alt's Write, which waits.
func (s *rawSock) WriteNoWait(b []byte) (int, error) {
	if s.rc == nil {
		return s.alt.Write(b)
	}
	if len(b) > rawIOMax {
		return 0, nil
	}
	return s.rawWrite(b, s.tryWriteFn)
}

// canTryWrite reports whether WriteNoWait returns without waiting: with a raw socket.
func (s *rawSock) canTryWrite() bool { return s.rc != nil }

// rawWrite writes b with fn (writeFn or tryWriteFn) through the raw connection.
func (s *rawSock) rawWrite(b []byte, fn func(uintptr) bool) (int, error) {
	s.wbuf = b
	n, err := s.writeResult(fn, "write")
	s.wbuf = nil
	return n, err
}

// writeResult runs fn, a write callback (writeOnce, writevOnce), through the raw
// connection, waiting as it asks, and returns the bytes it wrote and the error that
// stopped it: the connection's (deadline, closed) or the system call's, named call.
func (s *rawSock) writeResult(fn func(uintptr) bool, call string) (int, error) {
	s.wn, s.werrno = 0, 0
	err := s.rc.Write(fn)
	n, errno := s.wn, s.werrno
	switch {
	case err != nil:
		return n, err
	case errno != 0:
		return n, os.NewSyscallError(call, errno)
	}
	return n, nil
}

// writeOnce is Write's callback: false while the send buffer is full (the poller waits,
// then calls again with what is left).
func (s *rawSock) writeOnce(fd uintptr) bool {
	b := s.wbuf
	for s.wn < len(b) {
		r, _, e := syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(&b[s.wn])), uintptr(len(b)-s.wn))
		switch e {
		case 0:
			s.wn += int(r)
		case syscall.EINTR:
		case syscall.EAGAIN:
			return false
		default:
			s.werrno = e
			return true
		}
	}
	return true
}

// Writev writes all of *bufs, however many buffers, with writev system calls of at most
// iovMax buffers each, waiting while the socket's send buffer is full (or until its
// deadline), like net.Buffers.WriteTo on the connection, and returns the bytes written.
// *bufs is left as WriteTo leaves it: to be cleared.
func (s *rawSock) Writev(bufs *net.Buffers) (int, error) {
	if s.rc == nil {
		n, err := bufs.WriteTo(s.alt)
		return int(n), err
	}
	s.iov = s.iovs[:0]
	for _, b := range *bufs {
		if len(b) > 0 {
			v := unix.Iovec{Base: &b[0]}
			v.SetLen(len(b))
			s.iov = append(s.iov, v)
		}
	}
	s.iovs = s.iov[:0] // kept, grown if it had to be
	if len(s.iov) == 0 {
		return 0, nil
	}
	n, err := s.writeResult(s.writevFn, "writev")
	clear(s.iovs[:cap(s.iovs)]) // holds no buffer once done
	s.iov = nil
	return n, err
}

// iovMax is the most buffers one writev takes (Linux's IOV_MAX, UIO_MAXIOV); it refuses a
// longer vector (EINVAL).
const iovMax = 1024

// writevOnce is Writev's callback: false while the send buffer is full (the poller
// waits, then calls again with what is left of the vector). Each system call takes at
// most iovMax buffers of the vector.
func (s *rawSock) writevOnce(fd uintptr) bool {
	for len(s.iov) > 0 {
		r, _, e := syscall.RawSyscall(syscall.SYS_WRITEV, fd, uintptr(unsafe.Pointer(&s.iov[0])), uintptr(min(len(s.iov), iovMax)))
		switch e {
		case 0:
			s.wn += int(r)
			s.consumed(int(r))
		case syscall.EINTR:
		case syscall.EAGAIN:
			return false
		default:
			s.werrno = e
			return true
		}
	}
	return true
}

// consumed drops the first n bytes of the vector: the buffers written whole, and the
// start of the one written in part.
func (s *rawSock) consumed(n int) {
	for len(s.iov) > 0 && n >= int(s.iov[0].Len) {
		n -= int(s.iov[0].Len)
		s.iov[0] = unix.Iovec{}
		s.iov = s.iov[1:]
	}
	if n > 0 {
		v := &s.iov[0]
		v.Base = (*byte)(unsafe.Add(unsafe.Pointer(v.Base), n))
		v.SetLen(int(v.Len) - n)
	}
}

// iovec is the system call's vector entry.
type iovec = unix.Iovec
