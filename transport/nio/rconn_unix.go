//go:build unix

package nio

import (
	"fmt"
	"sync/atomic"

	"github.com/panjf2000/gnet/v2"
	"golang.org/x/sys/unix"
)

// writeAck writes a worker's ACK or FAIL_ACK frame and counts it in ctr. Unless viaLoop,
// the worker writes it to the socket itself: one write, instead of waking the event loop
// to write it. What the socket does not take at once (its buffer is full: the peer does
// not read) goes through the loop, as do the ACKs after it until the loop has written them
// all; there MaxConnOutboundBytes bounds them. Holding cmu keeps the descriptor valid:
// gnet closes it only after onClose.
func (rc *rconn) writeAck(frame []byte, ctr *atomic.Uint64) {
	rc.cmu.Lock()
	defer rc.cmu.Unlock()
	if rc.closed {
		return
	}
	if !rc.viaLoop.Load() {
		n, err := ignoringEINTR(unix.Write, rc.fd, frame)
		if n == len(frame) || (err != nil && err != unix.EAGAIN) {
			// Written, or the connection failed: the loop's next read sees that and closes it.
			if err == nil {
				ctr.Add(1)
			}
			rc.pendingAcks.Add(-1)
			return
		}
		frame = frame[max(n, 0):]
		rc.viaLoop.Store(true)
	}
	// AckFrame and FailAckFrame are immutable package-level slices, so AsyncWrite may keep
	// them (or their tail) as long as it likes.
	if err := rc.c.AsyncWrite(frame, rc.ackDone); err == nil {
		ctr.Add(1)
	}
}

// readSocket is the decoder's direct read (decoder.direct); it runs on the loop.
func (rc *rconn) readSocket(p []byte) (int, error) {
	return ignoringEINTR(unix.Read, rc.fd, p)
}

// enginePort reads the port gnet's listener is bound to (gnet has no Addr()).
func enginePort(eng gnet.Engine) (int, error) {
	fd, err := eng.Dup()
	if err != nil {
		return 0, err
	}
	defer unix.Close(fd)
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return 0, err
	}
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return a.Port, nil
	case *unix.SockaddrInet6:
		return a.Port, nil
	}
	return 0, fmt.Errorf("unexpected socket address %T", sa)
}

// gnetSupported reports whether New accepts EngineGnet: on Unix-like systems, whose
// system calls writeAck, readSocket and enginePort make. Tests clear it to see New refuse
// the engine as it does elsewhere.
var gnetSupported = true
