package cloud

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/wire"
)

// apply records a listing of run r made at now and delivers the resulting events,
// waiting for them until ctx ends (ctx's error then: they still go up, in order), but
// not on the goroutine delivering the events, inside a listener call, which they are
// queued behind.
func (s *Service) apply(ctx context.Context, r *run, insts []Instance, now time.Time) error {
	s.evMu.Lock()
	s.mu.Lock()
	if s.run != r {
		s.mu.Unlock()
		s.evMu.Unlock()
		return nil
	}
	var added, gone []channel.Member
	skipped := 0
	for _, in := range insts {
		if sameIP(in.IP, s.cfg.LocalIP) {
			s.foundLocalLocked(in.UniqueID)
			continue
		}
		a, err := netip.ParseAddr(in.IP)
		if err != nil {
			skipped++
			continue
		}
		alive := int64(-1)
		if !in.Created.IsZero() {
			alive = s.started.Sub(in.Created).Milliseconds()
		}
		m := newMember(a, s.local.Port, in.UniqueID, alive)
		if m.Port == s.local.Port && m.IP() == s.local.IP() {
			continue // this node's own address, listed under another name
		}
		if s.touchLocked(m, now) {
			added = append(added, m)
		}
	}
	if skipped > 0 {
		s.log.Warn("tribes cloud membership: listed addresses that are not IP addresses skipped", "count", skipped)
	}
	for k, e := range s.members {
		if now.Sub(e.seen) > s.cfg.ExpirationTime {
			gone = append(gone, e.m)
			delete(s.members, k)
		}
	}
	if len(added) > 0 || len(gone) > 0 {
		s.rebuildLocked()
	}
	l := s.l
	s.mu.Unlock()
	done := s.queueLocked(l, added, gone)
	s.evMu.Unlock()
	if s.events.InCall() {
		// Made from the listener (its Start of the service), on the goroutine delivering
		// its events: they go up on this goroutine once the listener returned.
		return nil
	}
	return s.events.RunWait(ctx, done)
}

// touchLocked marks m seen at now; it reports whether m is new (and was added).
func (s *Service) touchLocked(m channel.Member, now time.Time) bool {
	k := m.Key()
	if e, ok := s.members[k]; ok {
		e.seen = now
		if e.m.AliveTime != m.AliveTime {
			e.m = m
			s.rebuildLocked()
		}
		return false
	}
	if len(s.members) >= s.cfg.MaxMembers {
		s.overLimit.Add(1)
		s.rl.LogFunc(slog.LevelWarn, m.Addr(), "member limit", "tribes cloud membership: member limit reached, member ignored",
			func() []any { return []any{"member", m.String(), "max", s.cfg.MaxMembers} })
		return false
	}
	s.members[k] = &entry{m: m, seen: now}
	return true
}

func (s *Service) foundLocalLocked(id wire.UniqueID) {
	s.listedID = id
	if id != s.local.UniqueID && !s.warnedID {
		s.warnedID = true
		s.log.Warn("tribes cloud membership: the source gives this node another unique id than the channel's: "+
			"Java nodes will not recognise its messages as a member's (set channel.Config.UniqueID from LocalUniqueID)",
			"listed", fmt.Sprintf("%x", id[:]), "channel", fmt.Sprintf("%x", s.local.UniqueID[:]))
	}
}

// ListedLocalID returns the id the source gave this node at the last fetch that listed
// it, and whether one did.
func (s *Service) ListedLocalID() (wire.UniqueID, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.listedID, s.listedID != (wire.UniqueID{})
}

// sameIP compares two listed addresses as addresses where both parse ("fd00::1" and
// Java's "fd00:0:0:0:0:0:0:1" are the same; Tomcat compares the text, and so misses
// itself in IPv6 pod lists), else as text.
func sameIP(a, b string) bool {
	x, err1 := netip.ParseAddr(a)
	y, err2 := netip.ParseAddr(b)
	if err1 != nil || err2 != nil {
		return a == b
	}
	return x.Unmap().WithZone("") == y.Unmap().WithZone("")
}

func newMember(a netip.Addr, port int32, id wire.UniqueID, alive int64) channel.Member {
	a = a.Unmap()
	var host []byte
	if a.Is4() {
		b := a.As4()
		host = b[:]
	} else {
		b := a.As16()
		host = b[:]
	}
	return channel.Member{Host: host, Port: port, SecurePort: -1, UDPPort: -1, UniqueID: id, AliveTime: alive}
}

func (s *Service) rebuildLocked() {
	v := make([]channel.Member, 0, len(s.members))
	for _, e := range s.members {
		v = append(v, e.m)
	}
	slices.SortFunc(v, func(a, b channel.Member) int {
		if c := cmp.Compare(b.AliveTime, a.AliveTime); c != 0 {
			return c
		}
		return cmp.Compare(a.String(), b.String())
	})
	s.view = v
	s.addrs = make(map[netip.AddrPort]struct{}, len(v))
	for _, m := range v {
		s.addrs[netip.AddrPortFrom(m.IP(), uint16(m.Port))] = struct{}{}
	}
}

// Members implements channel.MembershipService: oldest (largest alive time) first; the
// same slice until the membership changes (do not modify its elements).
func (s *Service) Members() []channel.Member {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clip(s.view)
}

// Member implements channel.MembershipService.
func (s *Service) Member(key channel.MemberKey) (channel.Member, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.members[key]
	if !ok {
		return channel.Member{}, false
	}
	return e.m, true
}
