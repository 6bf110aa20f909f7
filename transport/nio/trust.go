package nio

import (
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/wire"
)

// A connection earns trust with its first member's frame (vet); until then the receiver
// looks up the sender of each frame, reserves a large frame's budget in steps
// (decoder.startAssembly), and closes the connection once it idles for FirstFrameTimeout
// with nothing in delivery (idleStranger). Both engines share this.

// message is the channel message of the frame dec just returned (see rconn.message).
func (r *receiver) message(dec *decoder, cd *wire.ChannelData) *channel.Message {
	msg := channel.MessageFromChannelData(cd)
	if !dec.trusted.Load() {
		r.vet(dec, msg)
	}
	if buf := dec.takeBuffer(); buf != nil && r.bufs != nil {
		f := &pooledFrame{pool: r.bufs, buf: buf}
		msg.SetRelease(f.release)
	}
	return msg
}

// vet looks up the sender of msg, decoded on a connection that has not carried a member's
// frame yet: a member's frame (any frame, when the receiver has no sender check:
// Transport.SetSenderCheck) makes the connection trusted: its later large frames reserve
// their whole length at their header, and it is never closed for idling. Another's notes
// when it came, so that the sweeper closes the connection once it is idle for
// FirstFrameTimeout. The frame is delivered either way: interceptors below the channel's
// sender check take messages of nodes not listed yet.
func (r *receiver) vet(dec *decoder, msg *channel.Message) {
	if r.isMember == nil || r.isMember(&msg.Source) {
		dec.trusted.Store(true)
		return
	}
	dec.inflight.Add(1)
	dec.lastFrame.Store(time.Now().UnixNano())
}

// settled ends the delivery (or drop) of a message decoded on dec: one vet counted in
// dec.inflight if dec is still not trusted (trust is never withdrawn, so a message
// settled on an untrusted connection was vetted as a non-member's). The connection's
// idle time counts from the end of its last delivery.
func (r *receiver) settled(dec *decoder) {
	if !dec.trusted.Load() && dec.inflight.Add(-1) == 0 {
		dec.lastFrame.Store(time.Now().UnixNano())
	}
}

// idleStranger reports whether a connection with decoder dec, whose partial frame waits
// since frameSince (0 none), carried only non-members' frames and none for
// FirstFrameTimeout, with none of them queued (waiting for MaxQueuedBytes room included) or
// being delivered (its ACK may be owed).
func (r *receiver) idleStranger(dec *decoder, frameSince, now int64) bool {
	return r.firstFrame > 0 && frameSince == 0 && !dec.trusted.Load() && dec.inflight.Load() == 0 &&
		since(dec.lastFrame.Load(), now) > r.firstFrame
}
