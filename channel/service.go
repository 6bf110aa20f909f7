package channel

import "strings"

// Service is a set of start levels of a Channel, with Tribes' values. A channel starts and
// stops level by level; Start and Stop take any combination.
type Service uint8

const (
	// SvcReceiver (SND_RX_SEQ = 1) is the message receiver. It starts first: its address
	// becomes the local member's host and ports.
	SvcReceiver Service = 1
	// SvcSender (SND_TX_SEQ = 2) is the message sender.
	SvcSender Service = 2
	// SvcMembershipRx (MBR_RX_SEQ = 4) listens for other members.
	SvcMembershipRx Service = 4
	// SvcMembershipTx (MBR_TX_SEQ = 8) announces the local member.
	SvcMembershipTx Service = 8
	// SvcAll (Channel.DEFAULT = 15) is every level.
	SvcAll = SvcReceiver | SvcSender | SvcMembershipRx | SvcMembershipTx

	// SvcTransport is both transport levels.
	SvcTransport = SvcReceiver | SvcSender
	// SvcMembership is both membership levels.
	SvcMembership = SvcMembershipRx | SvcMembershipTx
)

// Has reports whether every level of o is in s.
func (s Service) Has(o Service) bool { return s&o == o }

// String names the levels, e.g. "receiver|sender".
func (s Service) String() string {
	if s == 0 {
		return "none"
	}
	var p []string
	for _, l := range []struct {
		s Service
		n string
	}{{SvcReceiver, "receiver"}, {SvcSender, "sender"}, {SvcMembershipRx, "membership-rx"}, {SvcMembershipTx, "membership-tx"}} {
		if s&l.s != 0 {
			p = append(p, l.n)
		}
	}
	return strings.Join(p, "|")
}
