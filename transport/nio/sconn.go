package nio

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gotribes/tribes/wire"
)

// sconn is one outbound connection. It is used by one send at a time.
type sconn struct {
	conn     net.Conn
	deadline time.Time // the I/O deadline currently set
	created  time.Time
	lastUse  time.Time
	uses     int
	broken   bool
	retired  bool        // the member disappeared: close when returned (guarded by the pool's mu)
	stopHook func() bool // retired: stops the closing of conn when the sender stops
	ackBuf   []byte
	iov      net.Buffers     // scratch for writev
	raw      syscall.RawConn // the socket, for readNow
	sock     rawSock         // conn's small reads and writes

	// The interrupt of the sends' context (watch), registered once for every send on this
	// connection whose context has the same Done channel instead of once per send (a
	// context.AfterFunc allocates twice). active is the generation of the registration
	// whose send is under way, 0 between sends: a registration moves the deadline of its
	// own sends only, never that of a later send with another context.
	wmu       sync.Mutex
	watchDone <-chan struct{}
	watchStop func() bool
	watchGen  uint64
	active    atomic.Uint64
}

// watch arms the interrupt for a send with ctx (ctx.Done() is not nil): once ctx is done,
// the connection's deadline moves into the past, which ends its blocked I/O.
func (c *sconn) watch(ctx context.Context) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if done := ctx.Done(); done != c.watchDone {
		c.unwatchLocked()
		c.watchGen++
		gen := c.watchGen
		c.watchDone = done
		c.watchStop = context.AfterFunc(ctx, func() {
			if c.active.Load() == gen {
				_ = c.conn.SetDeadline(longAgo)
			}
		})
	}
	c.active.Store(c.watchGen)
}

// close closes the connection and drops its interrupt's registration, which would keep
// the connection reachable from a long-lived context.
func (c *sconn) close() {
	c.unwatch()
	if c.stopHook != nil {
		c.stopHook()
	}
	_ = c.conn.Close()
}

// unwatch drops the interrupt's registration: the next send registers its context anew.
func (c *sconn) unwatch() {
	c.wmu.Lock()
	c.unwatchLocked()
	c.wmu.Unlock()
}

func (c *sconn) unwatchLocked() {
	if c.watchStop != nil {
		c.watchStop()
	}
	c.watchDone, c.watchStop = nil, nil
}

// nowReads bounds the reads of readAck and readAckDatagram with now: a peer that keeps
// sending frames other than ACKs cannot hold a send past its deadline.
const nowReads = 8

// readAck reads frames until one is an ACK or FAIL_ACK; other complete frames are
// ignored, as Java does. Bytes after that frame are dropped. With now, or once the
// connection's deadline passed while it waited (that deadline may precede the send's by
// deadlineSlack, or a cancelled context moved it), it takes only what has arrived
// already, in at most nowReads reads (see readNow). A buffer grown to hold a frame other
// than an ACK is dropped afterwards; c.ackBuf stays small.
func (c *sconn) readAck(maxBody int, now bool) (wire.AckKind, error) {
	if c.ackBuf == nil {
		c.ackBuf = make([]byte, 128)
	}
	buf := c.ackBuf
	n, nows := 0, 0
	var timedOut error // the waiting read's error, once the deadline passed
	for {
		k, used, err := scanAck(buf[:n], maxBody)
		if err != nil {
			return wire.NotAck, fmt.Errorf("nio: invalid reply frame: %w", err)
		}
		if k != wire.NotAck {
			return k, nil
		}
		if used > 0 {
			n = copy(buf, buf[used:n])
		}
		if n == len(buf) {
			// A frame other than an ACK, larger than the buffer: grow (bounded by maxBody),
			// for this read only. The pooled connection keeps its small buffer: a peer
			// that puts a large frame before each ACK must not leave one behind on every
			// idle connection to it.
			buf = append(buf, make([]byte, len(buf))...)
			buf = buf[:cap(buf)]
		}
		var m int
		if now {
			if nows == nowReads {
				return wire.NotAck, orTimeout(timedOut)
			}
			nows++
			m, err = c.readNow(buf[n:])
		} else if m, err = c.sock.Read(buf[n:]); m == 0 && errors.Is(err, os.ErrDeadlineExceeded) {
			now, timedOut = true, err
			continue
		}
		n += m
		if err != nil {
			if k, _, perr := scanAck(buf[:n], maxBody); m > 0 && perr == nil && k != wire.NotAck {
				return k, nil
			}
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			if timedOut != nil && errors.Is(err, os.ErrDeadlineExceeded) {
				err = timedOut
			}
			return wire.NotAck, err
		}
	}
}

// orTimeout is the error of a read that found no ACK past the deadline: the waiting
// read's, or os.ErrDeadlineExceeded.
func orTimeout(timedOut error) error {
	if timedOut != nil {
		return timedOut
	}
	return os.ErrDeadlineExceeded
}

// readAckDatagram waits for a datagram holding an ACK or FAIL_ACK frame; other datagrams
// are ignored. With now, or once the connection's deadline passed while it waited, it
// takes only the datagrams queued already (see readNow; past the deadline net.Conn.Read
// no longer reads them), at most nowReads.
func (c *sconn) readAckDatagram(maxBody int, now bool) (wire.AckKind, error) {
	if c.ackBuf == nil {
		c.ackBuf = make([]byte, 512)
	}
	nows := 0
	var timedOut error // the waiting read's error, once the deadline passed
	for {
		var n int
		var err error
		if now {
			if nows == nowReads {
				return wire.NotAck, orTimeout(timedOut)
			}
			nows++
			n, err = c.readNow(c.ackBuf)
			if err == io.EOF {
				continue // an empty datagram
			}
			if timedOut != nil && errors.Is(err, os.ErrDeadlineExceeded) {
				err = timedOut
			}
		} else if n, err = c.conn.Read(c.ackBuf); n == 0 && errors.Is(err, os.ErrDeadlineExceeded) {
			now, timedOut = true, err
			continue
		}
		if err != nil {
			return wire.NotAck, err
		}
		if k, _, _ := scanAck(c.ackBuf[:n], maxBody); k != wire.NotAck {
			return k, nil
		}
	}
}

// scanAck looks through the whole frames at the start of b for an ACK or FAIL_ACK, the
// reply of both the TCP and the UDP path. It returns the kind found (NotAck if none), the
// bytes of the frames it passed, and the error of a corrupt frame met before an ACK.
func scanAck(b []byte, maxBody int) (wire.AckKind, int, error) {
	off := 0
	for off < len(b) {
		body, fl, err := wire.ParseFrame(b[off:], maxBody)
		if err != nil {
			return wire.NotAck, off, err
		}
		if fl == 0 {
			break
		}
		off += fl
		if k := wire.ClassifyAck(body); k != wire.NotAck {
			return k, off, nil
		}
	}
	return wire.NotAck, off, nil
}
