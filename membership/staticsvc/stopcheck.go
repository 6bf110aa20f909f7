package staticsvc

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"syscall"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/rpc"
)

// The check of a STOP. A MSG_STOP carries no proof that the member it names sent it, and
// anyone who reaches the receiver port can send one (it must come from nodes this one
// may no longer list); the address and unique id it needs are in every reply to a START
// or PING, which a node sends anyone. Tomcat's provider drops the member a STOP names at
// once, so that a stranger could cut a live member off (its messages refused as a
// non-member's) until its next PING reply, again and again. A STOP naming a listed member
// is therefore checked first: the member gets a PING, and stays listed if it answers
// with its own member; it is dropped once the PING fails, is answered otherwise, the
// member's port refuses a connection (watchRefused), or no answer came within
// RPCTimeout. A stopping node closes its RPC channel before it
// sends its STOP, so it does not answer with its member: a Java node's channel answers
// a NoRpcChannelReply, and a Go node leaves a responder that answers the same for
// stopMemory (decline), so that a STOP of a node whose transport still runs is honoured
// after a round trip, not after RPCTimeout (TestStopOfMembershipAloneHonouredAtOnce).

// stopCheckGap is how long after a check refuted a STOP further STOPs naming the same
// member wait before it is checked again: a stranger's stream of STOPs makes at most one
// PING of each listed member per stopCheckGap.
const stopCheckGap = time.Second

// stopCheck is the check under way of a STOP naming one listed member.
type stopCheck struct {
	again bool // a STOP arrived during the check or its gap; guarded by Service.mu
}

// stopReceived handles a MSG_STOP naming m. A member that is not listed is only
// remembered as stopped (left), as before: nothing is dropped. A listed one is checked
// on a goroutine of its own, one at a time per member.
func (s *Service) stopReceived(m channel.Member) {
	k := m.Key()
	s.mu.Lock()
	r := s.run
	e, listed := s.view[k]
	if r == nil || !listed {
		s.mu.Unlock()
		if r != nil {
			s.left(m)
		}
		return
	}
	if c := s.stopChecks[k]; c != nil {
		c.again = true
		s.mu.Unlock()
		return
	}
	if s.stopChecks == nil {
		s.stopChecks = map[channel.MemberKey]*stopCheck{}
	}
	c := &stopCheck{}
	s.stopChecks[k] = c
	target := e.m
	r.checks.Add(1)
	s.mu.Unlock()
	go s.checkStop(r, c, target, m)
}

// checkStop checks the STOP naming target (stop, the member the STOP carries): dropped
// unless it answers the PING with its member; checked again after stopCheckGap if more
// STOPs naming it arrived meanwhile.
func (s *Service) checkStop(r *runState, c *stopCheck, target, stop channel.Member) {
	defer r.checks.Done()
	k := target.Key()
	end := func() {
		s.mu.Lock()
		delete(s.stopChecks, k)
		s.mu.Unlock()
	}
	answers := s.answers
	if s.checkPing != nil {
		answers = s.checkPing
	}
	for {
		if !answers(r, target) {
			end()
			if r.ctx.Err() == nil {
				s.left(stop)
			}
			return
		}
		s.stopsRefuted.Add(1)
		s.rl.LogFunc(slog.LevelWarn, target.Addr(), "stop refuted",
			"tribes static membership: ignoring a MSG_STOP: the member it names answers", func() []any {
				return []any{"member", target.String()}
			})
		t := time.NewTimer(stopCheckGap)
		select {
		case <-t.C:
		case <-r.ctx.Done():
			t.Stop()
		}
		s.mu.Lock()
		if !c.again || r.ctx.Err() != nil {
			delete(s.stopChecks, k)
			s.mu.Unlock()
			return
		}
		c.again = false
		s.mu.Unlock()
	}
}

// answers sends target a PING and reports whether it answered with its own member (the
// same address and unique id), within RPCTimeout. A reply is a sign of life, as any
// reply to a PING.
func (s *Service) answers(r *runState, target channel.Member) bool {
	s.mu.Lock()
	ch := s.ch
	s.mu.Unlock()
	msg, err := s.cls.object(memberMessage{typ: msgPing, member: ch.LocalMember(), id: s.id})
	if err != nil {
		s.log.Error("tribes static membership: encode MSG_PING", "err", err)
		return false
	}
	ctx, cancel := context.WithTimeout(r.ctx, s.cfg.RPCTimeout)
	defer cancel()
	// A stopping node may take the PING and stop before it answers: a Go node's RPC channel
	// then declines it in place of the answer its close cancelled (package rpc,
	// TestStoppingNodeDeclinesThePingItTook); failing that (its sender stopped), the call
	// ends when the node's port refuses connections, not after RPCTimeout.
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		s.watchRefused(ctx, target, cancel)
	}()
	defer func() { <-watched }()
	defer cancel()
	sent := time.Now()
	// Acknowledged: a PING the node's closing receiver never took fails at once.
	resps, _ := r.rpc.Call(ctx, []channel.Member{target}, msg, rpc.AllReply, s.cfg.SendOptions|channel.OptUseAck)
	for _, resp := range resps {
		m, err := decode(resp.Message)
		if err != nil || !m.is(s.id) || m.member.Key() != target.Key() {
			continue
		}
		s.heard(resp.Member, m.member, false, sent)
		return true
	}
	return false
}

// stopDialInterval is how often a check of a STOP tries to connect to the member it
// waits for (watchRefused).
const stopDialInterval = 100 * time.Millisecond

// watchRefused calls cancel once target's address refuses a TCP connection, trying every
// stopDialInterval until ctx ends.
func (s *Service) watchRefused(ctx context.Context, target channel.Member, cancel context.CancelFunc) {
	d := net.Dialer{Timeout: s.cfg.ConnectTimeout}
	watchRefused(ctx, target.Addr(), func(ctx context.Context, addr string) error {
		c, err := d.DialContext(ctx, "tcp", addr)
		if err == nil {
			_ = c.Close()
		}
		return err
	}, cancel)
}

// watchRefused calls cancel once dial reports that addr refused the connection
// (syscall.ECONNREFUSED), dialling every stopDialInterval until ctx ends; a connection
// made, or another error (a timeout), is tried again (TestWatchRefusedDialsEveryInterval).
func watchRefused(ctx context.Context, addr string, dial func(context.Context, string) error, cancel context.CancelFunc) {
	t := time.NewTicker(stopDialInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := dial(ctx, addr); errors.Is(err, syscall.ECONNREFUSED) {
			cancel()
			return
		}
	}
}
