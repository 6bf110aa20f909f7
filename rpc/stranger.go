package rpc

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gotribes/tribes/channel"
)

// strangerReplies sends the replies to non-members' requests, each from a goroutine of
// its own (Config.AcceptNonMembers), and a dispatcher's NoRpcChannelReplies to
// non-members. At most MaxNonMemberReplies are in flight; one more
// cancels the oldest, so that sends to addresses that do not answer (a stranger's
// requests name any address) cannot keep the replies to joining nodes from being sent:
// a reply to a reachable node is done long before MaxNonMemberReplies newer requests
// arrive. A cancelled send still holds its goroutine until the transport gives up; while
// MaxNonMemberReplies of them are ending, further replies are dropped, so that at most
// twice MaxNonMemberReplies goroutines exist.
type strangerReplies struct {
	mu       sync.Mutex
	inFlight []*strangerSend // oldest first, at most MaxNonMemberReplies
	ending   int             // cancelled sends whose goroutine has not returned
	closed   bool
	wg       sync.WaitGroup

	sent, cancelled, dropped, failed atomic.Uint64
}

type strangerSend struct {
	cancel    context.CancelFunc
	cancelled bool // by a newer reply; guarded by strangerReplies.mu
}

// lateDeclineTimeout bounds the send of a NoRpcChannelReply in place of a reply the
// closing of its rpc.Channel cancelled (strangerReplies.reply's late).
const lateDeclineTimeout = time.Second

// reply sends m to the non-member to through d, with opts, from a goroutine of its own
// whose send ends with life. When late is set and life ends (the rpc.Channel closed)
// before m was sent, late, a NoRpcChannelReply, is sent in its place within
// lateDeclineTimeout: the request was taken, and its caller learns at once that the
// rpc.Channel is gone instead of waiting for its timeout
// (TestCloseDeclinesAReplyItCancelled).
func (s *strangerReplies) reply(life context.Context, d *dispatcher, to channel.Member, m, late *message, opts channel.SendOptions) error {
	data, err := m.marshal()
	if err != nil {
		return err
	}
	var lateData []byte
	if late != nil {
		if lateData, err = late.marshal(); err != nil {
			return err
		}
	}
	s.mu.Lock()
	if s.closed || len(s.inFlight) == MaxNonMemberReplies && s.ending >= MaxNonMemberReplies {
		s.mu.Unlock()
		s.dropped.Add(1)
		return nil
	}
	if len(s.inFlight) == MaxNonMemberReplies {
		oldest := s.inFlight[0]
		s.inFlight = s.inFlight[1:]
		oldest.cancelled = true
		oldest.cancel()
		s.ending++
		s.cancelled.Add(1)
	}
	ctx, cancel := context.WithCancel(life)
	send := &strangerSend{cancel: cancel}
	s.inFlight = append(s.inFlight, send)
	s.wg.Add(1)
	s.mu.Unlock()
	s.sent.Add(1)
	go func() {
		defer s.wg.Done()
		err := d.sendData(ctx, to, data, opts)
		cancel()
		s.mu.Lock()
		cancelled := send.cancelled
		if cancelled {
			s.ending--
		} else {
			for i, x := range s.inFlight {
				if x == send {
					s.inFlight = append(s.inFlight[:i], s.inFlight[i+1:]...)
					break
				}
			}
		}
		s.mu.Unlock()
		if err != nil && !cancelled {
			s.failed.Add(1)
			if lateData != nil && life.Err() != nil {
				lctx, lcancel := context.WithTimeout(context.Background(), lateDeclineTimeout)
				_ = d.sendData(lctx, to, lateData, opts)
				lcancel()
			}
		}
	}()
	return nil
}

// close refuses further replies; the caller then cancels the channel's life (which ends
// the sends in flight) and waits.
func (s *strangerReplies) close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
}

// wait returns once every reply's goroutine has returned.
func (s *strangerReplies) wait() { s.wg.Wait() }

func (s *strangerReplies) stats() Stats {
	return Stats{NonMemberReplies: s.sent.Load(), NonMemberRepliesCancelled: s.cancelled.Load(),
		NonMemberRepliesDropped: s.dropped.Load(), NonMemberReplyErrors: s.failed.Load()}
}
