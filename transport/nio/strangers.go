package nio

import (
	"fmt"

	"github.com/gotribes/tribes/wire"
)

// Strangers' share of the budget: every connection that has not carried a member's frame
// reserves up to minAssembly (or twice what arrived) at a large frame's header, and the
// whole frame once more arrived, or holds up to largeFrame bytes of a small frame in its
// buffer. Each is small, but MaxConnections of them could spend all of MaxPendingBytes,
// leaving no room for members' frames. So on a connection not trusted, a large frame
// whose header, when its buffer is reserved, names no member, and the buffered bytes of a
// small frame whose header names no member, are charged to a second counter too
// (Stats.UntrustedBytes), capped at MaxUntrustedPendingBytes: strangers together hold at
// most that.

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

// strangerHeld counts in strangers' share the bytes buffered on a connection not trusted
// (a partial frame under largeFrame, read into the connection's buffer) unless the frame's
// header names a member: *counted is what the connection counts there, updated to what it
// holds now. It reports false when that passes MaxUntrustedPendingBytes: the connection
// is to be refused (errStrangersOverBudget); it keeps *counted until releaseHeld.
func (d *decoder) strangerHeld(in inbound, counted *int64) bool {
	if d.strangers == nil {
		return true
	}
	var want int64
	if n := in.InboundBuffered(); n > 0 && d.asm == nil && !d.trusted.Load() {
		if b, err := in.Peek(min(n, wire.FrameHeaderLen+headMax)); err != nil || !d.namesMember(b) {
			want = int64(n)
		}
	}
	diff := want - *counted
	if diff == 0 {
		return true
	}
	*counted = want
	return d.strangers.Add(diff) <= d.strangerLimit || diff < 0
}

// releaseHeld returns what a closing connection counted in strangers' share (strangerHeld).
func (d *decoder) releaseHeld(counted *int64) {
	if d.strangers != nil && *counted != 0 {
		d.strangers.Add(-*counted)
		*counted = 0
	}
}
