package cloud

import (
	"log/slog"
	"net/netip"
	"slices"
	"time"

	"github.com/gotribes/tribes/channel"
)

// senderWatcher is the DNS provider's channel listener: a message whose sender is not a
// member (by address and port) makes the sender a member, with the id Tomcat gives it.
// It accepts no message itself.
type senderWatcher struct{ s *Service }

func (w senderWatcher) Accept(msg *channel.Message) bool {
	w.s.sawSender(msg.Source)
	return false
}

func (w senderWatcher) AcceptNonMember(msg *channel.Message) bool {
	w.s.sawSender(msg.Source)
	return false
}

func (w senderWatcher) MessageReceived(*channel.Message) error { return nil }

// sawSender adds src unless a member has its address and port (Tomcat's
// DNSMembershipProvider.accept). A sender at this node's own address and port is never
// added, whatever id it claims: the member added carries the id derived from the address,
// which for IPv4 is the local id itself (Tomcat's memberAlive ignores a member equal to
// the local one). The member is listed (Members, Member, the channel's sender check) when
// sawSender returns; its event is queued in order with the service's other events and goes
// up on a goroutine of the service (or on that of a change delivering meanwhile: Start, a
// heartbeat, Stop), without sawSender waiting for it: the transport's
// receive of the message's connection never waits for a listener, and messages that
// follow from the sender may reach the message listeners before, or while, its
// MemberAdded runs (TestSenderEventLeavesTheReceivePath), as Tomcat hands it to its
// utility executor.
func (s *Service) sawSender(src channel.Member) {
	if len(src.Host) != 4 && len(src.Host) != 16 {
		return
	}
	m := channel.Member{Host: slices.Clone(src.Host), Port: src.Port, SecurePort: -1, UDPPort: -1,
		UniqueID: senderUniqueID(src.Host), AliveTime: -1}
	s.mu.Lock()
	if s.running&channel.SvcMembershipRx == 0 || s.known(src) || s.isLocalLocked(m) {
		s.mu.Unlock()
		return
	}
	s.mu.Unlock()
	s.evMu.Lock()
	s.mu.Lock()
	if s.running&channel.SvcMembershipRx == 0 || s.known(src) || s.isLocalLocked(m) || !s.touchLocked(m, time.Now()) {
		s.mu.Unlock()
		s.evMu.Unlock()
		return
	}
	s.rebuildLocked()
	l := s.l
	s.mu.Unlock()
	queued := s.queueSenderLocked(l, m)
	s.evMu.Unlock()
	// Rate-limited: a stranger writing a new source in each frame makes a member of each
	// (TestStrangerSendersInfoLogBounded).
	s.rl.LogFunc(slog.LevelInfo, m.Addr(), "sender member", "tribes cloud membership: a sender not listed became a member",
		func() []any { return []any{"member", m.String()} })
	if queued {
		go s.runEvents()
	}
}

// isLocalLocked reports whether m is this node: its key, or its address and port.
func (s *Service) isLocalLocked(m channel.Member) bool {
	return m.Key() == s.local.Key() || (m.Port == s.local.Port && m.IP() == s.local.IP())
}

func (s *Service) known(src channel.Member) bool {
	_, ok := s.addrs[netip.AddrPortFrom(src.IP(), uint16(src.Port))]
	return ok
}

var _ channel.NonMemberListener = senderWatcher{}
