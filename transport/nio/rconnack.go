package nio

import (
	"sync/atomic"

	"github.com/panjf2000/gnet/v2"

	"github.com/gotribes/tribes/wire"
)

// The ACKs of EngineGnet's connections: written by the event loop or by the worker that
// delivered the frame (see rconn).

// writeEarlyAcks writes the batch's early ACKs from the loop. No worker ACK is pending
// meanwhile: those of the frames decoded with them are queued after this.
func (rc *rconn) writeEarlyAcks() {
	n := rc.early
	if n == 0 {
		return
	}
	rc.early = 0
	rc.r.st.acksSent.Add(uint64(n))
	rc.r.st.ackWritten()
	for n > 0 {
		k := min(n, len(ackRun)/len(wire.AckFrame))
		if _, err := rc.c.Write(ackRun[:k*len(wire.AckFrame)]); err != nil {
			return
		}
		n -= k
	}
	if rc.c.OutboundBuffered() > 0 {
		rc.viaLoop.Store(true)
	}
}

// directAcks lets workers write their ACKs to the socket again once the loop has nothing
// of theirs left to write. It runs on the loop.
func (rc *rconn) directAcks() {
	if rc.viaLoop.Load() && rc.pendingAcks.Load() == 0 && rc.c.OutboundBuffered() == 0 {
		rc.viaLoop.Store(false)
	}
}

// onAckWritten runs on the loop after it wrote (or buffered, or failed to write) a worker's
// ACK. After a failure the connection is closed: its buffers must not be looked at.
func (rc *rconn) onAckWritten(_ gnet.Conn, err error) error {
	rc.pendingAcks.Add(-1)
	if err == nil {
		rc.directAcks()
	}
	return nil
}

// loopAck writes an ACK or FAIL_ACK frame from the event loop and counts it in ctr.
func (rc *rconn) loopAck(frame []byte, ctr *atomic.Uint64) {
	if _, err := rc.c.Write(frame); err == nil {
		ctr.Add(1)
	}
}
