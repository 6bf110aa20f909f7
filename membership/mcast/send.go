package mcast

import (
	"context"
	"fmt"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/wire"
)

// Broadcast implements channel.Broadcaster: msg goes to the group as one datagram holding
// one frame, without acknowledgement. A frame larger than one IPv4 datagram can carry
// (65507 bytes) is refused with channel.ErrMessageTooLarge.
func (s *Service) Broadcast(ctx context.Context, msg *channel.Message) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	src := msg.SourceBytes
	if src == nil {
		m := msg.Source
		if m.UniqueID == (channel.UniqueID{}) {
			m = s.localMember()
		}
		src = wire.AppendMember(nil, &m)
	}
	id := msg.ID
	if id == nil {
		id = channel.NewMessageID()
	}
	n := wire.FrameLen(wire.ChannelDataLen(len(id), len(src), len(msg.Data)))
	if n > maxDatagram {
		return fmt.Errorf("%w: multicast frame of %d bytes, at most %d fit a datagram", channel.ErrMessageTooLarge, n, maxDatagram)
	}
	b := wire.AppendChannelDataFrame(make([]byte, 0, n), uint32(msg.Options), msg.Timestamp, id, src, msg.Data)
	s.mu.Lock()
	conn, gen := s.conn, s.connGen
	tx := s.running&channel.SvcMembershipTx != 0
	s.mu.Unlock()
	if conn == nil || !tx {
		return fmt.Errorf("%w: multicast needs the membership-tx level", channel.ErrNotStarted)
	}
	if err := conn.WritePacket(b); err != nil {
		s.socketError(gen, txErr, "broadcast", err)
		return fmt.Errorf("mcast: broadcast: %w", err)
	}
	s.st.bcSent.Add(1)
	return nil
}

// maxDatagram is the largest UDP payload over IPv4 (65535 - 20 - 8).
const maxDatagram = 65507

// sendLoop sends a heartbeat every Frequency, and at once when a new member appeared
// (kick), but at most one such early heartbeat per Frequency/10: a burst of new members,
// forged ones included, is answered by two heartbeats, not by one each.
func (s *Service) sendLoop(ctx context.Context) {
	t := time.NewTicker(s.cfg.Frequency)
	defer t.Stop()
	gap := s.cfg.Frequency / 10
	var last time.Time         // the last early heartbeat
	var later <-chan time.Time // a kick deferred to last+gap
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-later:
			later, last = nil, time.Now()
		case <-s.kick:
			if wait := gap - time.Since(last); wait > 0 {
				if later == nil {
					later = time.After(wait)
				}
				continue
			}
			last = time.Now()
		}
		s.mu.Lock()
		if ctx.Err() == nil {
			s.sendHeartbeatLocked(false)
		}
		s.mu.Unlock()
	}
}

// sendHeartbeatLocked sends the local member (with BABY-ALEX when shutdown) to the group.
func (s *Service) sendHeartbeatLocked(shutdown bool) {
	if s.conn == nil {
		return
	}
	m := s.local
	// Strictly increasing, even for two heartbeats in one millisecond: receivers take a
	// new payload only from a heartbeat with a new alive time.
	m.AliveTime = max(time.Since(s.startAt).Milliseconds(), s.lastAlive+1)
	s.lastAlive = m.AliveTime
	if shutdown {
		m.Command = wire.ShutdownCommand
	}
	b := wire.AppendMember(make([]byte, 0, m.EncodedLen()), &m)
	if err := s.conn.WritePacket(b); err != nil {
		s.socketErrorLocked(s.connGen, txErr, "send heartbeat", err)
		return
	}
	s.errCount[txErr] = 0
	s.st.hbSent.Add(1)
}

func (s *Service) kickLocked() {
	if s.cfg.NoFastJoin || s.kick == nil {
		return
	}
	select {
	case s.kick <- struct{}{}:
	default:
	}
}
