package nio

import "syscall"

// rawIOMax is the largest read or write rawSock makes with a raw system call; larger
// ones (the rest of a large frame, a large payload's writev) go through net.Conn.
const rawIOMax = 64 << 10

// rawSock does a TCP connection's small reads and writes (frames, ACKs, a connection's
// read buffer) with raw system calls made inside syscall.RawConn's Read and Write, so
// that the runtime's poller still waits while the socket is not ready and deadlines
// still apply, but the call itself does not go through the runtime's system call entry.
//
// That entry is what a round trip of small acknowledged messages paid for most beyond
// the reads and writes themselves: between two round trips the process is idle, its
// sysmon thread goes to sleep, and each net.Conn read or write then woke it (a futex
// call and a context switch) before the system call. A read or write on a non-blocking
// socket never blocks, which is what a raw system call requires. In alternating runs of
// 1 KiB synchronized-ack round trips (docs/benchmarks.md), CPU per message fell from 28
// to 22.5 µs and context switches from 1.64 to 1.0 per message on each side.
//
// A rawSock serves one goroutine at a time (a connection's reader, or the send that holds
// a pooled connection): the callbacks given to RawConn are made once, in init, and take
// their buffer and leave their outcome in the struct, so that a call allocates nothing.
type rawSock struct {
	rc  syscall.RawConn // nil: every call goes to alt
	alt sockIO

	rbuf, wbuf     []byte // the buffer of the read or write under way
	rn, wn         int    // bytes read, or written so far
	rerrno, werrno syscall.Errno
	readFn         func(fd uintptr) bool // s.readOnce
	writeFn        func(fd uintptr) bool // s.writeOnce
	tryWriteFn     func(fd uintptr) bool // s.writeOnce, never waiting
	releaseFn      func(fd uintptr) bool // s.readOrReleaseOnce
	release        func()                // ReadOrRelease's, until called
	more           func() []byte         // ReadOrRelease's
}

// sockIO is what rawSock falls back to: the connection itself.
type sockIO interface {
	Read([]byte) (int, error)
	Write([]byte) (int, error)
}
