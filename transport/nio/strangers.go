package nio

import (
	"encoding/binary"
	"fmt"

	"github.com/gotribes/tribes/channel"
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
// most that, besides the read buffer of connBufMin each connection holds.

// newDecoder returns the decoder of a new inbound connection: its large frames reserved
// in the receiver's budget, strangers' within their share.
func (r *receiver) newDecoder() decoder {
	return decoder{maxBody: r.maxBody, pending: &r.st.pendingBytes, limit: r.maxPending, arriving: r.arriving,
		bufs: r.bufs, strangers: &r.st.untrustedBytes, strangerLimit: r.maxStrange, isMember: r.isMember}
}

// errStrangersOverBudget refuses a stranger's large frame beyond MaxUntrustedPendingBytes;
// it wraps errOverBudget (Stats.FramesRefused).
var errStrangersOverBudget = fmt.Errorf("%w (its share for connections that carried no member's frame, MaxUntrustedPendingBytes)", errOverBudget)

// A frame's header names its sender, so a frame on a connection not trusted is charged to
// strangers or not by that header: the ChannelData header up to the message (options,
// timestamp, id, the sender member with its payload), up to headMax bytes. Until the
// sender is known its bytes (fewer than connBufMin) wait in the connection's read buffer,
// which every connection holds anyway, counted in PendingBytes as any buffered bytes but
// in no reservation and not in strangers' share: a large frame's buffer is not reserved
// before the header names the sender, and a member's first frame whose header arrives in
// pieces is never a stranger's. The sender is known once the header is complete or, for
// a header longer than that (a member advertising a payload of some KiB), once the
// member's identity has arrived: its host, port and unique id, which come before its
// payload and are all the channel's check looks up (memberKeyOf). A header that names no
// member by connBufMin bytes is a stranger's (classify); with no sender check, a frame
// whose header is still incomplete there is a member's, as every sender is.

// headState is what the start of a frame, as far as it arrived, says of its sender.
type headState uint8

const (
	headStranger   headState = iota // complete (or malformed), naming no member
	headMember                      // naming a member (any sender without a sender check)
	headIncomplete                  // not all there yet
)

// headOf reads the sender of the frame whose first bytes are b.
func (d *decoder) headOf(b []byte) headState {
	if len(b) <= wire.FrameHeaderLen {
		return headIncomplete
	}
	head, complete, err := parseHead(b[wire.FrameHeaderLen:], &d.cache)
	switch {
	case err != nil:
		return headStranger
	case !complete && d.isMember == nil && len(b) >= connBufMin:
		return headMember
	case !complete:
		if d.isMember == nil {
			return headIncomplete
		}
		if d.probe == nil {
			d.probe = new(channel.Member)
		}
		if memberKeyOf(b[wire.FrameHeaderLen:], d.probe) && d.isMember(d.probe) {
			return headMember
		}
		return headIncomplete
	case d.isMember == nil || d.checkSender(head.Address):
		return headMember
	}
	return headStranger
}

// frontHead is headOf for the frame at the front of the connection's buffer, whose first
// bytes are b: once its header is complete (or malformed) the answer is kept until the
// frame leaves the buffer (decoded, or moved into an assembly buffer), so that a header
// is copied and decoded once, not again on every read of the frame's rest (a stranger
// sending the rest a byte at a time made that quadratic: TestCompleteHeaderReadOnce).
func (d *decoder) frontHead(b []byte) headState {
	if d.frontKnown {
		return d.front
	}
	h := d.headOf(b)
	if h == headStranger || len(b) > wire.FrameHeaderLen && headComplete(b[wire.FrameHeaderLen:]) {
		d.front, d.frontKnown = h, true
	}
	return h
}

// headComplete reports whether prefix holds a whole ChannelData header before the message
// (or a malformed one): what parseHead decodes, found without copying it.
func headComplete(prefix []byte) bool {
	_, complete, err := headLen(prefix)
	return complete || err != nil
}

// checkSender asks the sender check about a complete header's sender. A copy of it, so
// that only this path, whose header was copied already, puts the member on the heap (the
// check takes a pointer): the header read before, while incomplete, allocates nothing.
func (d *decoder) checkSender(a channel.Member) bool { return d.isMember(&a) }

// memberKeyOf reads, from the start of a frame body whose ChannelData header is not
// complete, the sender's identity into m: the host, port and unique id the header names
// (Member.Key, all the channel's sender check looks up), the host into m.Host's own
// buffer, reused (an untrusted header is read again on each read while it arrives: it
// allocates nothing once m.Host holds a host that long). Its other fields are left zero;
// the alive time, ports, command and domain, which precede the payload in the member's
// bytes, are only checked. It reports false while they have not all arrived, or when
// they are malformed: wire's decoding of the whole header would refuse them, whatever
// follows (FuzzMemberKeyOf).
func memberKeyOf(prefix []byte, m *channel.Member) bool {
	off := 12 // options, timestamp
	if off+4 > len(prefix) {
		return false
	}
	idLen := int32(binary.BigEndian.Uint32(prefix[off:]))
	if idLen < 0 || int(idLen) > wire.MaxMessageIDLen {
		return false
	}
	off += 4 + int(idLen) // the id
	const begin = 10 + 4  // TRIBES-B marker, the member's body length
	if off+4+begin+8+12+1 > len(prefix) {
		return false
	}
	// The member's length, and its body's (24 bytes less: the markers and that length),
	// as wire.ParseMember holds them: the identity must leave room for the payload's
	// length and the end marker.
	memberLen := int32(binary.BigEndian.Uint32(prefix[off:]))
	off += 4
	start := off
	if memberLen < memberMinLen || memberLen > wire.MaxMemberSize ||
		int32(binary.BigEndian.Uint32(prefix[off+10:])) != memberLen-24 ||
		string(prefix[off:off+10]) != "TRIBES-B\x01\x00" {
		return false
	}
	off += begin + 8 // the alive time
	port := int32(binary.BigEndian.Uint32(prefix[off:]))
	off += 12 // the port, secure port and UDP port
	hostLen := int(prefix[off])
	off++
	if hostLen > wire.MaxHostLen || off+hostLen > len(prefix) {
		return false
	}
	host := prefix[off : off+hostLen]
	off += hostLen
	for range 2 { // the command, the domain
		if off+4 > len(prefix) {
			return false
		}
		n := int32(binary.BigEndian.Uint32(prefix[off:]))
		if n < 0 || int(n) > wire.MaxMemberSize || off+4+int(n) > len(prefix) {
			return false
		}
		off += 4 + int(n)
	}
	if off+16 > len(prefix) || off+16+4+10-start > int(memberLen) { // the payload's length, TRIBES-E
		return false
	}
	m.Host = append(m.Host[:0], host...)
	m.Port = port
	copy(m.UniqueID[:], prefix[off:off+16])
	return true
}

// memberMinLen is the length of a member with empty fields (wire.ParseMember's least).
const memberMinLen = 10 + 4 + 8 + 4 + 4 + 4 + 1 + 4 + 4 + 16 + 4 + 10

// classify tells, for a large frame starting on in (buffered bytes arrived), whether it
// is to be charged to strangers, or to wait, unreserved, for the rest of its header: on a
// connection not trusted, while the header is incomplete and fewer than connBufMin bytes
// arrived.
func (d *decoder) classify(in inbound, buffered int) (stranger, wait bool) {
	if d.strangers == nil || d.pending == nil || d.trusted.Load() {
		return false, false
	}
	b, err := in.Peek(min(buffered, wire.FrameHeaderLen+headMax))
	if err != nil {
		return true, false
	}
	switch d.frontHead(b) {
	case headMember:
		return false, false
	case headIncomplete:
		return true, buffered < connBufMin
	}
	return true, false
}

// vouched moves the frame being assembled out of strangers' share once its header names
// a member; it reads the header once, when it is complete.
func (d *decoder) vouched() {
	if !d.stranger || d.headRead {
		return
	}
	switch d.headOf(d.asm) {
	case headMember:
		d.unchargeStranger()
	case headStranger:
		d.headRead = true
	}
}

// unchargeStranger returns the frame's part of strangers' share.
func (d *decoder) unchargeStranger() {
	if d.strangerRes > 0 {
		d.strangers.Add(-d.strangerRes)
	}
	d.stranger, d.strangerRes, d.headRead = false, 0, false
}

// strangerHeld counts in strangers' share the bytes buffered on a connection not trusted
// (a partial frame under largeFrame, read into the connection's buffer) unless the frame's
// header names a member or is still arriving within connBufMin bytes: *counted is what the connection counts there, updated to what it
// holds now. It reports false when that passes MaxUntrustedPendingBytes: the connection
// is to be refused (errStrangersOverBudget); it keeps *counted until releaseHeld.
func (d *decoder) strangerHeld(in inbound, counted *int64) bool {
	if d.strangers == nil {
		return true
	}
	var want int64
	if n := in.InboundBuffered(); n > 0 && d.asm == nil && !d.trusted.Load() {
		head := headStranger
		if b, err := in.Peek(min(n, wire.FrameHeaderLen+headMax)); err == nil {
			head = d.frontHead(b)
		}
		if head == headStranger || head == headIncomplete && n >= connBufMin {
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
