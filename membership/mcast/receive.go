package mcast

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/wire"
)

func (s *Service) receiveLoop(ctx context.Context) {
	buf := make([]byte, MaxPacketSize)
	var cache wire.MemberCache
	var lastFrom netip.AddrPort // datagrams mostly come from the same few senders:
	var fromText string         // their address is formatted once, not per datagram
	for ctx.Err() == nil {
		s.mu.Lock()
		conn, gen := s.conn, s.connGen
		now := time.Now()
		deadline := now.Add(s.cfg.SoTimeout)
		if next := s.tbl.nextExpiry(); !next.IsZero() && next.Before(deadline) {
			deadline = next
		}
		// Check expiry often enough that only a real pause trips the stall guard.
		if g := s.tbl.stallGuard / 2; g > 0 && now.Add(g).Before(deadline) {
			deadline = now.Add(g)
		}
		s.mu.Unlock()
		if conn == nil {
			return
		}
		n, from, err := conn.ReadPacket(buf, deadline)
		now = time.Now()
		switch {
		case err == nil:
			s.mu.Lock()
			if gen == s.connGen {
				s.errCount[rxErr] = 0
			}
			s.mu.Unlock()
			if from != lastFrom || fromText == "" {
				lastFrom, fromText = from, from.String()
			}
			s.handle(now, fromText, buf[:n], &cache)
		case errors.Is(err, os.ErrDeadlineExceeded):
		case ctx.Err() != nil:
			return
		default:
			if s.socketError(gen, rxErr, "receive", err) {
				select {
				case <-ctx.Done():
					return
				case <-time.After(errorPause):
				}
			}
		}
		s.mu.Lock()
		if ctx.Err() == nil {
			s.expireLocked(now)
		}
		s.mu.Unlock()
	}
}

func (s *Service) expireLocked(now time.Time) {
	stalls := s.tbl.stalls
	for _, m := range s.tbl.expire(now) {
		s.st.expired.Add(1)
		s.log.Debug("mcast member expired", "member", m.String(), "dropTime", s.cfg.DropTime)
		s.events.push(event{m: m})
	}
	if s.tbl.stalls != stalls {
		s.st.stall.Add(1)
		s.log.Warn("mcast receive loop was held up; members' silence during the pause is not held against them")
	}
}

// handle processes one datagram from the group, sent from the address from.
func (s *Service) handle(now time.Time, from string, b []byte, cache *wire.MemberCache) {
	if wire.IsMemberPacket(b) {
		// The member's fields alias the datagram: nothing is allocated for a heartbeat
		// that is refused (malformed, a field over its limit, a new member over
		// MaxMembers); the table copies what it keeps.
		m, n, err := wire.ParseMemberView(b)
		if err == nil && n != len(b) {
			err = fmt.Errorf("%d bytes after the member", len(b)-n)
		}
		if err != nil {
			s.st.bad.Add(1)
			s.rl.Log(slog.LevelWarn, from, "bad heartbeat", "mcast: ignoring a malformed member datagram", "err", err)
			return
		}
		if f := s.cfg.oversized(&m); f != "" {
			s.st.oversized.Add(1)
			s.rl.LogFunc(slog.LevelWarn, from, "oversized heartbeat", "mcast: ignoring a heartbeat with a field over its limit", func() []any {
				return []any{"field", f, "member", m.String(), "payload", len(m.Payload), "domain", len(m.Domain),
					"command", len(m.Command), "host", len(m.Host)}
			})
			return
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if m.Key() == s.localKey {
			return
		}
		s.st.hbRecv.Add(1)
		ch, who := s.tbl.heartbeat(now, m)
		switch ch {
		case full:
			s.st.overLimit.Add(1)
			s.rl.LogFunc(slog.LevelWarn, from, "too many members", "mcast: ignoring a new member: MaxMembers reached",
				func() []any { return []any{"member", m.String(), "maxMembers", s.cfg.MaxMembers} })
		case added:
			s.st.added.Add(1)
			s.log.Debug("mcast member added", "member", who.String())
			s.events.push(event{m: who, added: true})
			select {
			case s.addSignal <- struct{}{}:
			default:
			}
			// Answer a newcomer at once instead of within Frequency.
			if s.running&channel.SvcMembershipTx != 0 {
				s.kickLocked()
			}
		case removed:
			s.st.shutdown.Add(1)
			s.log.Debug("mcast member shut down", "member", who.String())
			s.events.push(event{m: who})
		}
		return
	}
	// Otherwise: frames (a broadcast message), as Tribes parses them in discard mode.
	for len(b) > 0 {
		body, n, err := wire.ParseFrame(b, MaxPacketSize)
		if err == nil && n == 0 {
			err = errors.New("incomplete frame")
		}
		if err != nil {
			s.st.bad.Add(1)
			s.rl.Log(slog.LevelWarn, from, "bad datagram", "mcast: ignoring a datagram that is neither a member nor a frame", "err", err)
			return
		}
		b = b[n:]
		cd, err := wire.ParseChannelData(body, cache)
		if err != nil {
			s.st.bad.Add(1)
			s.rl.Log(slog.LevelWarn, from, "bad datagram", "mcast: ignoring a malformed broadcast message", "err", err)
			continue
		}
		k := cd.Address.Key()
		s.mu.Lock()
		own := k == s.localKey
		if !own {
			s.tbl.touch(now, k)
		}
		msgs := s.msgs
		s.mu.Unlock()
		if own {
			continue
		}
		msg := channel.MessageFromChannelData(&cd)
		cost := msgCost(msg)
		if msgs.bytes.Add(cost) > msgQueueBytes {
			msgs.bytes.Add(-cost)
			s.st.msgDrop.Add(1)
			continue
		}
		select {
		case msgs.ch <- msg:
		default:
			msgs.bytes.Add(-cost)
			s.st.msgDrop.Add(1)
		}
	}
}

// pumpMessages hands broadcast messages up the channel, in arrival order, off the receive
// loop so that a slow listener cannot delay heartbeats.
func (s *Service) pumpMessages(ctx context.Context, msgs *msgQueue) {
	for {
		select {
		case <-ctx.Done():
			return
		case msg := <-msgs.ch:
			msgs.bytes.Add(-msgCost(msg))
			rx := s.rxFunc.Load()
			if rx == nil {
				s.st.msgDrop.Add(1)
				continue
			}
			s.st.msgRecv.Add(1)
			if err := (*rx)(msg); err != nil {
				s.log.Debug("mcast broadcast message not processed", "from", msg.Source.String(), "err", err)
			}
		}
	}
}
