//go:build !unix

package nio

import (
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/panjf2000/gnet/v2"
)

// gnetSupported is false: EngineGnet's workers and event loop read and write the
// connections' sockets themselves with Unix system calls, so New refuses the engine here
// (ErrEngineUnsupported). What follows is what the engine's code calls, never reached.
var gnetSupported = false

// writeAck hands a worker's ACK or FAIL_ACK frame to the event loop and counts it in ctr.
func (rc *rconn) writeAck(frame []byte, ctr *atomic.Uint64) {
	rc.cmu.Lock()
	defer rc.cmu.Unlock()
	if rc.closed {
		return
	}
	if err := rc.c.AsyncWrite(frame, rc.ackDone); err == nil {
		ctr.Add(1)
	}
}

// readSocket reads nothing: the decoder takes what gnet read only.
func (rc *rconn) readSocket([]byte) (int, error) { return 0, errors.ErrUnsupported }

// enginePort fails: reading the port of gnet's listener needs Unix system calls.
func enginePort(gnet.Engine) (int, error) {
	return 0, fmt.Errorf("%w: gnet's port", ErrEngineUnsupported)
}
