package nio

import (
	"fmt"

	"github.com/gotribes/tribes/wire"
)

// Strangers' share of the budget: every connection that has not carried a member's frame
// reserves up to minAssembly (or twice what arrived) at a large frame's header, and the
// whole frame once more arrived. Each is small, but MaxConnections of them could spend
// all of MaxPendingBytes, leaving no room for members' frames. So a large frame whose
// header, when its buffer is reserved, names no member on a connection not trusted is
// charged to a second counter too (Stats.UntrustedBytes), capped at
// MaxUntrustedPendingBytes: strangers together hold at most that.

// newDecoder returns the decoder of a new inbound connection: its large frames reserved
// in the receiver's budget, strangers' within their share.
func (r *receiver) newDecoder() decoder {
	return decoder{maxBody: r.maxBody, pending: &r.st.pendingBytes, limit: r.maxPending, arriving: r.arriving,
		bufs: r.bufs, strangers: &r.st.untrustedBytes, strangerLimit: r.maxStrange, isMember: r.isMember}
}

// errStrangersOverBudget refuses a stranger's large frame beyond MaxUntrustedPendingBytes;
// it wraps errOverBudget (Stats.FramesRefused).
var errStrangersOverBudget = fmt.Errorf("%w (its share for connections that carried no member's frame, MaxUntrustedPendingBytes)", errOverBudget)

// isStranger reports whether a large frame starting on in (buffered bytes arrived) is to
// be charged to strangers: the connection is not trusted and the frame's header has not
// arrived or names no member.
func (d *decoder) isStranger(in inbound, buffered int) bool {
	if d.strangers == nil || d.pending == nil || d.trusted.Load() {
		return false
	}
	b, err := in.Peek(min(buffered, wire.FrameHeaderLen+headMax))
	if err != nil {
		return true
	}
	return !d.namesMember(b)
}

// namesMember reports whether the start of a frame, b, holds a ChannelData header naming
// a member (any sender, without a sender check).
func (d *decoder) namesMember(b []byte) bool {
	if len(b) <= wire.FrameHeaderLen {
		return false
	}
	head, complete, err := parseHead(b[wire.FrameHeaderLen:], &d.cache)
	if err != nil || !complete {
		return false
	}
	return d.isMember == nil || d.isMember(&head.Address)
}

// vouched moves the frame being assembled out of strangers' share once its header, which
// has arrived by now, names a member.
func (d *decoder) vouched() {
	if d.stranger && d.namesMember(d.asm) {
		d.unchargeStranger()
	}
}

// unchargeStranger returns the frame's part of strangers' share.
func (d *decoder) unchargeStranger() {
	if d.strangerRes > 0 {
		d.strangers.Add(-d.strangerRes)
	}
	d.stranger, d.strangerRes = false, 0
}
