package main

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/membership/staticsvc"
	"github.com/gotribes/tribes/transport/nio"
)

// echoSink is the message listener of send and load. A "node --echo" peer sends every
// message back with its options, and with use_ack,sync a node without a listener answers
// FAIL_ACK (nothing accepted it), so the peer printed a failed echo for every message the
// README's send sent it. The sink takes them, as Tribes' LoadTest takes its own messages
// back, and counts them.
type echoSink struct {
	svc   *staticsvc.Service // its member messages are not echoes; nil without the protocol
	tr    *nio.Transport     // for the ACKs written; nil with another transport
	n     atomic.Int64       // echoes: the messages taken but the member protocol's and other nodes' checks
	acked atomic.Int64       // the messages taken that asked for an ACK, checks included
	came  chan struct{}      // a message came since the last look (capacity 1)
}

// addEchoSink adds a sink to ch, which must not be started yet.
func addEchoSink(ch *channel.Channel) *echoSink {
	s := &echoSink{came: make(chan struct{}, 1)}
	s.svc, _ = ch.Membership().(*staticsvc.Service)
	s.tr, _ = ch.Transport().(*nio.Transport)
	ch.AddMessageListener(channel.MessageListenerFunc(func(m *channel.Message) error {
		if s.svc != nil && s.svc.Owns(m) {
			return nil
		}
		if m.Options&channel.OptUseAck != 0 {
			s.acked.Add(1) // its ACK is written, an echo or not
		}
		// A node's tcpfailure probe or ping (a member with those interceptors sends them
		// on every heartbeat) is no echo, nor may it stand for one in wait.
		check := checkKind(m.Data) != ""
		m.Release()
		if check {
			return nil
		}
		s.n.Add(1)
		select {
		case s.came <- struct{}{}:
		default:
		}
		return nil
	}))
	return s
}

// wait returns once want messages came and the transport wrote the ACKs they asked for
// (a stop closes the connections, so an ACK not written by then would fail the peer's
// echo), or at once when none came yet (the peers do not echo), or when none came for idle
// (an echo's send takes at most the ack timeout), or when ctx ends. It returns how many
// came.
func (s *echoSink) wait(ctx context.Context, want int64, idle time.Duration) int64 {
	if s.n.Load() == 0 {
		return 0
	}
	t := time.NewTimer(idle)
	defer t.Stop()
	for s.n.Load() < want {
		select {
		case <-s.came:
			t.Reset(idle)
		case <-t.C:
			return s.n.Load()
		case <-ctx.Done():
			return s.n.Load()
		}
	}
	// The last ACKs follow their listener calls within moments (the listener returns
	// before its message's ACK is written: a synchronized ACK follows the delivery), and
	// the transport's Stop closes the inbound connections before its workers finish, so
	// an ACK not yet written then would be lost: wait, at most idle more, for the
	// transport to have written as many as the messages taken asked for (the member
	// protocol's and the checks' included, as Stats counts them). nio.Transport.WaitAcks
	// is woken by the code that counts them: no polling.
	if s.tr != nil {
		wctx, cancel := context.WithTimeout(ctx, idle)
		defer cancel()
		_ = s.tr.WaitAcks(wctx, uint64(s.acked.Load()))
	}
	return s.n.Load()
}
