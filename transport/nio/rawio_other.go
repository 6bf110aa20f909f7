//go:build !linux

package nio

import (
	"net"
	"syscall"
)

// Read is net.Conn's: raw system calls are only used on Linux.
func (s *rawSock) Read(p []byte) (int, error) { return s.alt.Read(p) }

// Write is net.Conn's: raw system calls are only used on Linux.
func (s *rawSock) Write(b []byte) (int, error) { return s.alt.Write(b) }

// WriteNoWait is net.Conn's Write, which waits: raw system calls are only used on Linux.
func (s *rawSock) WriteNoWait(b []byte) (int, error) { return s.alt.Write(b) }

// canTryWrite is false: WriteNoWait waits.
func (s *rawSock) canTryWrite() bool { return false }

// init sets the fallback, which does every call here.
func (s *rawSock) init(_ syscall.RawConn, alt sockIO) { s.alt = alt }

// peerGone is false: a peer's close is only looked for on Linux.
func (s *rawSock) peerGone() bool { return false }

// canWait is false: a connection's read buffer waits with its connection (connBuf).
func (s *rawSock) canWait() bool { return false }

// ReadOrRelease is Read (never called: canWait).
func (s *rawSock) ReadOrRelease(p []byte, _ func(), _ func() []byte) (int, error) {
	return s.alt.Read(p)
}

// Writev is net.Buffers' WriteTo on the connection: raw system calls are only used on
// Linux.
func (s *rawSock) Writev(bufs *net.Buffers) (int, error) {
	n, err := bufs.WriteTo(s.alt)
	return int(n), err
}

// iovec is unused: raw system calls are only used on Linux.
type iovec struct{}
