package channel

import (
	"fmt"
	"strconv"
	"strings"
)

// SendOptions is Tribes' per-message option bit set. The bits travel in every ChannelData,
// so their values are Java's (org.apache.catalina.tribes.Channel.SEND_OPTIONS_*).
// Bits from 0x0080 up are free for interceptors and applications; Gzip claims 0x0100.
type SendOptions uint32

const (
	// OptByteMessage (0x01): the payload is raw bytes, not a Java serialization stream.
	// Channel.Send always sets it, because Go payloads are bytes.
	OptByteMessage SendOptions = 0x0001
	// OptUseAck (0x02): the receiver answers with an ACK; Send waits for it.
	OptUseAck SendOptions = 0x0002
	// OptSyncAck (0x04): with OptUseAck, the ACK is sent after the receiver processed the
	// message, and a FAIL_ACK when its listener failed. Without OptUseAck it has no effect.
	OptSyncAck SendOptions = 0x0004
	// OptAsync (0x08): the message dispatch interceptor queues the send on another goroutine.
	OptAsync SendOptions = 0x0008
	// OptSecure (0x10): defined by Tribes but implemented by nothing; carried unchanged.
	OptSecure SendOptions = 0x0010
	// OptUDP (0x20): send the frame as one UDP datagram to the member's UDP port.
	OptUDP SendOptions = 0x0020
	// OptMulticast (0x40): broadcast the frame to the membership multicast group.
	OptMulticast SendOptions = 0x0040

	// OptDefault is Tribes' SEND_OPTIONS_DEFAULT: use an ACK.
	OptDefault = OptUseAck
)

var optionNames = []struct {
	opt   SendOptions
	names []string // first is the canonical name
}{
	{OptMulticast, []string{"multicast"}},
	{OptUDP, []string{"udp"}},
	{OptSecure, []string{"secure"}},
	{OptAsync, []string{"async", "asynchronous"}},
	{OptSyncAck, []string{"sync", "synchronized_ack"}},
	{OptUseAck, []string{"use_ack"}},
	{OptByteMessage, []string{"byte", "byte_message"}},
}

// Has reports whether every bit of o is set.
func (s SendOptions) Has(o SendOptions) bool { return s&o == o }

// WaitsForAck reports whether a sender must wait for an ACK frame.
func (s SendOptions) WaitsForAck() bool { return s&OptUseAck != 0 }

// IsSyncAck reports whether the receiver must acknowledge after processing.
func (s SendOptions) IsSyncAck() bool { return s&(OptUseAck|OptSyncAck) == OptUseAck|OptSyncAck }

// JavaString is exactly Java's Channel.getSendOptionsAsString: the names of bits 0x01..0x40,
// highest first, joined by ", "; other bits are left out.
func (s SendOptions) JavaString() string {
	var parts []string
	for _, n := range optionNames {
		if s&n.opt != 0 {
			parts = append(parts, n.names[0])
		}
	}
	return strings.Join(parts, ", ")
}

// String is JavaString followed by any other bits in hex ("sync, use_ack, byte, 0x100");
// "none" for zero.
func (s SendOptions) String() string {
	if s == 0 {
		return "none"
	}
	str := s.JavaString()
	if rest := s &^ 0x7f; rest != 0 {
		if str != "" {
			str += ", "
		}
		str += "0x" + strconv.FormatUint(uint64(rest), 16)
	}
	return str
}

// ParseSendOptions parses a comma-separated list of option names (Java's names: byte_message,
// byte, use_ack, synchronized_ack, sync, asynchronous, async, secure, udp, multicast) or a
// plain decimal or 0x-hex number, as Channel.parseSendOptions does. Names are case-sensitive.
// Its errors wrap ErrInvalidConfig.
func ParseSendOptions(s string) (SendOptions, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, fmt.Errorf("%w: empty send options", ErrInvalidConfig)
	}
	if n, err := strconv.ParseUint(s, 0, 32); err == nil {
		return SendOptions(n), nil
	}
	var out SendOptions
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		found := false
		for _, n := range optionNames {
			for _, name := range n.names {
				if f == name {
					out |= n.opt
					found = true
				}
			}
		}
		if !found {
			return 0, fmt.Errorf("%w: unknown send option %q", ErrInvalidConfig, f)
		}
	}
	return out, nil
}
