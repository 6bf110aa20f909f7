package staticsvc

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/rpc"
	"github.com/gotribes/tribes/wire"
)

// The member protocol: START and PING to the static members, the replies to them, STOP.

// Heartbeat implements channel.MembershipService: with a negative PingInterval it pings
// and expires the members (Tomcat's useThread=false); otherwise the service's own
// goroutine does that.
func (s *Service) Heartbeat() {
	if s.cfg.PingInterval >= 0 {
		return
	}
	s.mu.Lock()
	r := s.run
	s.mu.Unlock()
	if r != nil {
		s.ping(r)
	}
}

func (s *Service) pingLoop(r *runState) {
	defer close(r.done)
	t := time.NewTicker(s.cfg.PingInterval)
	defer t.Stop()
	for {
		select {
		case <-r.ctx.Done():
			return
		case <-t.C:
			s.ping(r)
		}
	}
}

// ping sends a PING to the reachable static members, then drops the members not heard
// from within ExpirationTime.
func (s *Service) ping(r *runState) {
	s.announce(r.ctx, r, msgPing)
	if r.ctx.Err() != nil {
		return
	}
	s.update(func(now time.Time) (added, gone []channel.Member) {
		for k, e := range s.view {
			if now.Sub(e.heard) > s.cfg.ExpirationTime {
				gone = append(gone, e.m)
				delete(s.view, k)
			}
		}
		return nil, gone
	})
}

// announce sends a START or PING to every static member that accepts a TCP connection and
// takes the members from the replies. A member the send fails for is dropped.
func (s *Service) announce(ctx context.Context, r *runState, typ int32) {
	to := s.reachable(ctx)
	if len(to) == 0 {
		return
	}
	s.mu.Lock()
	ch := s.ch
	s.mu.Unlock()
	msg, err := s.cls.object(memberMessage{typ: typ, member: ch.LocalMember(), id: s.id})
	if err != nil {
		s.log.Error("tribes static membership: encode "+typeName(typ), "err", err)
		return
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.RPCTimeout)
	defer cancel()
	sent := time.Now() // before the request leaves: its replies are written after it
	resps, err := r.rpc.Call(ctx, to, msg, rpc.AllReply, s.cfg.SendOptions)
	replies := 0
	for _, resp := range resps {
		m, derr := decode(resp.Message)
		if derr != nil || !m.is(s.id) {
			s.log.Warn("tribes static membership: bad reply to "+typeName(typ), "from", resp.Member.String(), "err", derr)
			continue
		}
		replies++
		s.heard(resp.Member, m.member, false, sent)
	}
	// A member that does not answer in time is not an error: it expires.
	if faulty := channel.FaultyMembers(err); len(faulty) > 0 {
		s.log.Warn("tribes static membership: "+typeName(typ)+" failed", "err", err)
		s.dropFaulty(faulty)
	}
	if typ == msgStart && replies == 0 {
		s.log.Warn("tribes static membership: no replies to MSG_START", "members", len(to))
	}
}

// reachable returns the static members, less the local one, that accept a TCP connection
// within ConnectTimeout (StaticMembershipProvider.getAliveMembers), checked in parallel.
func (s *Service) reachable(ctx context.Context) []channel.Member {
	s.mu.Lock()
	local := s.local
	s.mu.Unlock()
	var cands []channel.Member
	for _, m := range s.cfg.Members {
		if !isLocal(m, local) {
			cands = append(cands, m)
		}
	}
	ok := make([]bool, len(cands))
	var wg sync.WaitGroup
	d := net.Dialer{Timeout: s.cfg.ConnectTimeout}
	for i, m := range cands {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := d.DialContext(ctx, "tcp", m.Addr())
			if err == nil {
				ok[i] = true
				_ = c.Close()
			}
		}()
	}
	wg.Wait()
	var out []channel.Member
	for i, m := range cands {
		if ok[i] {
			out = append(out, m)
		}
	}
	return out
}

func isLocal(m, local channel.Member) bool {
	if m.UniqueID != (wire.UniqueID{}) && m.UniqueID == local.UniqueID {
		return true
	}
	return m.Port == local.Port && m.IP() == local.IP()
}

// replyRequest answers a START or PING (StaticMembershipProvider.replyRequest): the sender
// is alive, and the reply is the same message carrying the local member; while the
// service is not running it is declined (a NoRpcChannelReply). Other messages get a null
// reply, as from Tomcat; one that is no member message is counted (Stats.BadRequests) and
// logged rate-limited per sender address.
func (s *Service) replyRequest(v any, from channel.Member) (any, error) {
	m, err := decode(v)
	if err != nil {
		s.badRequests.Add(1)
		s.rl.LogFunc(slog.LevelWarn, from.Addr(), "bad request", "tribes static membership: bad request",
			func() []any { return []any{"from", from.String(), "err", err} })
		return nil, nil
	}
	if !m.is(s.id) || (m.typ != msgStart && m.typ != msgPing) {
		return nil, nil
	}
	if !s.active() {
		// The RPC channel is registered before Start marks the run active and until the
		// stop closes it. A null reply to a START or PING makes Tomcat's provider throw
		// (it reads the member of every Response): declined, the caller counts this node
		// out, as a Java node whose provider is not running (TestRequestWhileNotRunningDeclined).
		return nil, rpc.ErrDeclined
	}
	s.heard(from, m.member, m.typ == msgStart, time.Time{})
	s.mu.Lock()
	ch := s.ch
	s.mu.Unlock()
	m.member = ch.LocalMember()
	o, err := s.cls.object(m)
	if err != nil {
		return nil, fmt.Errorf("staticsvc: encode reply: %w", err)
	}
	return o, nil
}

// leftOver takes a late reply to a START or PING as a sign of life.
func (s *Service) leftOver(v any, from channel.Member) {
	m, err := decode(v)
	if err != nil || !m.is(s.id) || (m.typ != msgStart && m.typ != msgPing) || !s.active() {
		return
	}
	s.heard(from, m.member, false, time.Time{})
}

// stopListener receives the plain (non-RPC) member messages: MSG_STOP.
type stopListener struct{ s *Service }

// AcceptNonMember implements channel.NonMemberListener: a STOP may come from a member
// this node no longer lists.
func (l stopListener) AcceptNonMember(msg *channel.Message) bool { return l.Accept(msg) }

func (l stopListener) Accept(msg *channel.Message) bool {
	return msg.Options&channel.OptByteMessage == 0 && startsWithClass(msg.Data, memberMessageClass)
}

func (l stopListener) MessageReceived(msg *channel.Message) error {
	m, err := unmarshal(msg.Data)
	if err != nil {
		return err
	}
	if !m.is(l.s.id) || !l.s.active() {
		return nil
	}
	switch m.typ {
	case msgStop:
		l.s.stopReceived(m.member)
	case msgStart, msgPing:
		l.s.heard(msg.Source, m.member, m.typ == msgStart, time.Time{})
	}
	return nil
}

// startsWithClass reports whether the serialization stream b starts with a new object of
// the class called name (AC ED 00 05, TC_OBJECT, TC_CLASSDESC, the name).
func startsWithClass(b []byte, name string) bool {
	const off = 8
	if len(b) < off+len(name) || b[0] != 0xAC || b[1] != 0xED || b[4] != 0x73 || b[5] != 0x72 {
		return false
	}
	return int(b[6])<<8|int(b[7]) == len(name) && string(b[off:off+len(name)]) == name
}

// sendPlain sends m as a serialized object, without RPC.
func (s *Service) sendPlain(ctx context.Context, ch *channel.Channel, to []channel.Member, m memberMessage) error {
	b, err := s.cls.marshal(m)
	if err != nil {
		return err
	}
	return ch.SendMessage(ctx, to, &channel.Message{Options: s.cfg.SendOptions &^ channel.OptByteMessage, Data: b})
}

// Owns reports whether msg is one of the member protocol's messages of this service, a
// member message with its membership id or an RPC request or reply (RpcMessage,
// NoRpcChannelReply) whose stream carries that id, which is its rpc id. An application
// listener that accepts every message can use Owns to leave them alone.
func (s *Service) Owns(msg *channel.Message) bool {
	if msg.Options&channel.OptByteMessage != 0 {
		return false
	}
	if startsWithClass(msg.Data, memberMessageClass) {
		m, err := unmarshal(msg.Data)
		return err == nil && m.is(s.id)
	}
	return (startsWithClass(msg.Data, rpcMessageClass) || startsWithClass(msg.Data, noRPCReplyClass)) &&
		bytes.Contains(msg.Data, s.id)
}
