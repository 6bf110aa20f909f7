package staticsvc

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/rpc"
)

// The decline responder a stopped run leaves on its channel, and the hand-over of its
// rpc id to a Service that starts there while it runs.

// decliners holds the declining rpc.Channel of each stopped Service, by channel and rpc
// id: a Service that starts on that channel with that id closes the one it finds
// (newRPC), whichever Service left it, instead of failing with rpc.ErrDuplicateID.
var (
	declMu    sync.Mutex
	decliners = map[declKey]declEntry{}
)

type declKey struct {
	ch *channel.Channel
	id string
}

type declEntry struct {
	s *Service
	d *rpc.Channel
}

// decline registers, in place of a stopped run's RPC channel, one that answers the
// service's requests with a NoRpcChannelReply, as Java's channel answers them once its
// provider stopped: a member checking this node's STOP learns at once that it stopped.
// It is closed after stopMemory, by the next Start, or by the Start of another Service
// on the same channel with the same rpc id (newRPC).
func (s *Service) decline(ch *channel.Channel) {
	declMu.Lock() // registered and listed at once, for newRPC
	d, err := rpc.New(rpc.Config{Channel: ch, ID: s.id, AcceptNonMembers: true, Limits: s.cfg.Limits,
		Handler: rpc.HandlerFunc(func(any, channel.Member) (any, error) { return nil, rpc.ErrDeclined })})
	if err == nil {
		decliners[declKey{ch, string(s.id)}] = declEntry{s, d}
	}
	declMu.Unlock()
	if err != nil {
		if !errors.Is(err, rpc.ErrDuplicateID) {
			s.log.Warn("tribes static membership: stopped: cannot answer requests", "err", err)
		}
		return
	}
	s.mu.Lock()
	old := s.declining
	s.declining = d
	s.mu.Unlock()
	closeNow(old)
	time.AfterFunc(s.stopMemory(), func() { s.closeDeclining(d) })
}

// closeDeclining closes the declining RPC channel, if it is d (any, with nil).
func (s *Service) closeDeclining(d *rpc.Channel) {
	s.mu.Lock()
	cur := s.declining
	if cur == nil || (d != nil && cur != d) {
		s.mu.Unlock()
		return
	}
	s.declining = nil
	s.mu.Unlock()
	declMu.Lock()
	for k, e := range decliners {
		if e.d == cur {
			delete(decliners, k)
		}
	}
	declMu.Unlock()
	closeNow(cur)
}

// newRPC registers the RPC channel of a run, cfg, in place of the declining one a stopped
// Service left on its channel with its id, if there is one: that one is closed, and the
// stopped Service steps aside (TestNewServiceTakesOverAStoppedOnesDeclineResponder). Done
// under declMu, so that no stopping Service registers its responder in between.
func newRPC(cfg rpc.Config) (*rpc.Channel, error) {
	declMu.Lock()
	defer declMu.Unlock()
	k := declKey{cfg.Channel, string(cfg.ID)}
	if e, ok := decliners[k]; ok {
		delete(decliners, k)
		e.s.mu.Lock()
		if e.s.declining == e.d {
			e.s.declining = nil
		}
		e.s.mu.Unlock()
		closeNow(e.d)
	}
	return rpc.New(cfg)
}

// closeNow unregisters c without waiting for its replies to non-members, which end by
// themselves.
func closeNow(c *rpc.Channel) {
	if c == nil {
		return
	}
	ended, cancel := context.WithCancel(context.Background())
	cancel()
	_ = c.Close(ended)
}
