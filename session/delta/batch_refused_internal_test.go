package delta

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
)

// scriptedSends is a Channel whose sends do not leave: the n-th returns the n-th of
// errs (nil past them), each recorded with the members it went to.
type scriptedSends struct {
	*channel.Channel
	mu   sync.Mutex
	errs []error
	to   [][]channel.Member
}

func (s *scriptedSends) Send(_ context.Context, to []channel.Member, _ []byte, _ channel.SendOptions) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.to = append(s.to, to)
	if len(s.errs) == 0 {
		return nil
	}
	err := s.errs[0]
	s.errs = s.errs[1:]
	return err
}

// A batch every member refused (FAIL_ACK: neither lists this node yet) is sent to them
// again in halves; b, listing this node by then, takes both, and c refuses both again;
// or b takes the second half only, the first failing to connect to it. A message b took
// is held by b, so the outcome must not be one that no member took (judge's notSent:
// the changes would give way to any change at their version, while b keeps them by
// their stamps). (isolateRefused gave every call the batch's first error, naming both
// members as refusing, or the first half's, naming both as not taking it, and judge took
// it for one nobody holds.) The messages of a half nobody took go by the other's outcome:
// a change that may have been sent counts as sent.
func TestBatchRefusedByAllThenTakenByOneCountsAsSent(t *testing.T) {
	_, ch := channeltest.NewNetwork().StartChannel(t)
	b := channel.Member{Host: []byte{127, 0, 0, 1}, Port: 4001, UniqueID: channel.UniqueID{1}}
	c := channel.Member{Host: []byte{127, 0, 0, 1}, Port: 4002, UniqueID: channel.UniqueID{2}}
	failAck := func(ms ...channel.Member) error {
		se := &channel.SendError{}
		for _, mem := range ms {
			se.Faulty = append(se.Faulty, channel.FaultyMember{Member: mem,
				Err: fmt.Errorf("%w: not a member", channel.ErrAckFailed)})
		}
		return se
	}
	mixed := &channel.SendError{Faulty: []channel.FaultyMember{
		{Member: b, Err: fmt.Errorf("%w: refused", channel.ErrConnect)},
		{Member: c, Err: fmt.Errorf("%w: not a member", channel.ErrAckFailed)}}}
	for name, errs := range map[string][]error{
		"b took both halves":     {failAck(b, c), failAck(c), failAck(c)},
		"b took the second half": {failAck(b, c), mixed, failAck(c)},
	} {
		sc := &scriptedSends{Channel: ch, errs: errs}
		cl := newCluster(t, sc, ClusterConfig{})
		t.Cleanup(func() { _ = cl.Close(context.Background()) })
		m, err := cl.NewManager(Config{Name: "localhost#/other", MemberWait: -1})
		if err != nil {
			t.Fatal(err)
		}
		bc := cl.codec.(batchCodec)
		msgs := []*Message{
			{Event: EventDelta, SessionID: "S1", Version: 2},
			{Event: EventDelta, SessionID: "S2", Version: 2},
		}
		var refused refusedSet
		to := []channel.Member{b, c}
		err = m.judge(len(to), m.sendBatch(context.Background(), bc, to, msgs, &refused))
		if len(sc.to) != 3 {
			t.Fatalf("%s: %d sends, want 3 (the batch, then its halves)", name, len(sc.to))
		}
		for _, msg := range msgs {
			e := refused.errFor(msg, err)
			if e == nil {
				t.Errorf("%s: %s: no error, want c's FAIL_ACK", name, msg.SessionID)
				continue
			}
			if neverSent(e) {
				t.Errorf("%s: %s: %v, classed as sent to no member", name, msg.SessionID, e)
			}
		}
	}
}
