//go:build linux

package nio

import (
	"io"
	"os"
	"syscall"
	"unsafe"
)

// init sets the socket (rc nil: none, alt does every call) and the fallback; call it
// once the rawSock is at its final address.
func (s *rawSock) init(rc syscall.RawConn, alt sockIO) {
	s.rc, s.alt = rc, alt
	if rc != nil {
		s.readFn, s.writeFn, s.peekFn = s.readOnce, s.writeOnce, s.peekOnce
		s.tryReadFn = func(fd uintptr) bool {
			if !s.readOnce(fd) {
				s.rerrno = syscall.EAGAIN
			}
			return true // never wait
		}
		s.tryWriteFn = func(fd uintptr) bool {
			s.writeOnce(fd)
			return true // never wait
		}
	}
}

// Read reads once, at most len(p) bytes, waiting for the socket to be readable (or
// its deadline) like net.Conn.Read. It returns io.EOF when the peer closed.
func (s *rawSock) Read(p []byte) (int, error) {
	if s.rc == nil || len(p) > rawIOMax {
		return s.alt.Read(p)
	}
	if len(p) == 0 {
		return 0, nil
	}
	s.rbuf, s.rn, s.rerrno = p, 0, 0
	err := s.rc.Read(s.readFn)
	n, errno := s.rn, s.rerrno
	s.rbuf = nil
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

// canWait reports whether TryRead and WaitReadable work (connBuf's waiter): with a raw
// socket.
func (s *rawSock) canWait() bool { return s.rc != nil }

// TryRead reads what the socket has now, at most len(p) bytes (1 to rawIOMax), or
// returns errWouldBlock without waiting; io.EOF when the peer closed.
func (s *rawSock) TryRead(p []byte) (int, error) {
	s.rbuf, s.rn, s.rerrno = p, 0, 0
	err := s.rc.Read(s.tryReadFn)
	n, errno := s.rn, s.rerrno
	s.rbuf = nil
	switch {
	case err != nil:
		return 0, err
	case errno == syscall.EAGAIN:
		return 0, errWouldBlock
	case errno != 0:
		return 0, os.NewSyscallError("read", errno)
	case n == 0:
		return 0, io.EOF
	}
	return n, nil
}

// WaitReadable waits, holding no buffer, until the socket has data, the peer closed or
// an error is pending (one byte peeked, not taken), or until the connection is closed.
func (s *rawSock) WaitReadable() error { return s.rc.Read(s.peekFn) }

// peekOnce is WaitReadable's callback: false while the socket has nothing.
func (s *rawSock) peekOnce(fd uintptr) bool {
	for {
		_, _, e := syscall.RawSyscall6(syscall.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&s.peek[0])), 1,
			syscall.MSG_PEEK|syscall.MSG_DONTWAIT, 0, 0)
		switch e {
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return false
		}
		return true // a byte, the end or an error: the read that follows tells which
	}
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
	if s.rc == nil || len(b) > rawIOMax {
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

// rawWrite writes b with fn (writeFn or tryWriteFn) through the raw connection.
func (s *rawSock) rawWrite(b []byte, fn func(uintptr) bool) (int, error) {
	s.wbuf, s.wn, s.werrno = b, 0, 0
	err := s.rc.Write(fn)
	n, errno := s.wn, s.werrno
	s.wbuf = nil
	switch {
	case err != nil:
		return n, err
	case errno != 0:
		return n, os.NewSyscallError("write", errno)
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
