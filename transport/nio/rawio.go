package nio

import "syscall"

// rawIOMax is the largest b WriteNoWait writes: it writes none of a larger one, which
// sendAll then writes on a goroutine of its own, as it does every frame with a payload
// over inlineMax (writev).
const rawIOMax = 64 << 10

// rawSock does a TCP connection's reads and writes (frames, ACKs, a connection's read
// buffer, a large frame's rest, a large payload's writev) with raw system calls made
// inside syscall.RawConn's Read and Write, so that the runtime's poller still waits while
// the socket is not ready and deadlines still apply, but the call itself does not go
// through the runtime's system call entry.
//
// That entry is what a round trip of small acknowledged messages paid for most beyond
// the reads and writes themselves: between two round trips the process is idle, its
// sysmon thread goes to sleep, and each net.Conn read or write then woke it (a futex
// call and a context switch) before the system call. A read or write on a non-blocking
// socket never blocks, which is what a raw system call requires. In alternating runs of
// 1 KiB synchronized-ack round trips (docs/benchmarks-history.md, "Small reads and writes
// as raw system calls"), CPU per message fell from 28 to 22.5 µs and context switches
// from 1.64 to 1.0 per message on each side.
//
// Large reads and writes are raw too. Copying a 1 MiB frame into or out of the kernel
// takes longer than the 20 µs after which sysmon may take the processor (P) of a
// goroutine in the runtime's system call path and hand it to another thread, waking one
// (a futex call and a context switch) that finds nothing to do, and keeps sysmon itself
// polling every 20 µs; a raw call keeps its P for the copy, as a memmove of the same
// bytes would. In alternating runs of 1 MiB acknowledged messages
// (docs/benchmarks-history.md, thirty-first session) context switches fell from 3.2-3.6
// to 2.0 per message on each side, and sysmon's share of the samples from 10-13 % to
// 0.1 %.
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
	writevFn       func(fd uintptr) bool // s.writevOnce
	iov            []iovec               // the vector of the writev under way: what is left of it
	iovs           []iovec               // iov's array, kept from one writev to the next
	release        func()                // ReadOrRelease's, until called
	more           func() []byte         // ReadOrRelease's
}

// sockIO is what rawSock falls back to: the connection itself.
type sockIO interface {
	Read([]byte) (int, error)
	Write([]byte) (int, error)
}
