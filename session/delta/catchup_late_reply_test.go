package delta_test

import (
	"context"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/session/delta"
)

// slowCatchUp is a delta.Channel whose requests for the sessions sent about lately that
// do not ask back (a late catch-up's of a member new in the view) are each on their way
// for delay (of the bubble's clock) before they leave, while on is set.
type slowCatchUp struct {
	delta.Channel
	local channel.Member
	delay time.Duration
	on    *atomic.Bool
}

func (s slowCatchUp) LocalMember() channel.Member { return s.local }

func (s slowCatchUp) Send(ctx context.Context, to []channel.Member, data []byte, opts channel.SendOptions) error {
	if m, err := (delta.BinaryCodec{}).DecodeMessage(data); err == nil && s.on.Load() &&
		m.Event == delta.EventGetAllSessions && m.Version&delta.AskRecent != 0 && m.Version&delta.AskBack == 0 {
		time.Sleep(s.delay)
	}
	return s.Channel.Send(ctx, to, data, opts)
}

// A joiner r in its window, asked back by a (a's view dropped r and listed it again),
// had a due as a reply (AskBackReply) while its late catch-up was busy asking a member
// new in the view (c, its request slow); r's view then dropped a, r changed the session
// (b and c took it, a did not) and listed a again, before r's request to a was made. That
// request still said it was a reply, so a, which had asked r already, did not ask r back,
// and a kept the old value for good, though the reply's reason (a asked r just before)
// said nothing of what r did while a was out of its view. A member added again to the
// joiner's view is asked with AskBack alone, as the late catch-up's doc says ("unless k
// was added again meanwhile"): a asks r back and holds r's change.
func TestJoinerReplyToAMemberBackAgainAsksItBack(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		nw := channeltest.NewNetwork()
		cfg := delta.Config{Replication: delta.ReplicateAcked}
		atn, ach := newChannel(t, nw)
		av := &oneSideView{Channel: ach, hidden: new(atomic.Pointer[channel.MemberKey])}
		am := startJoiner(t, av, delta.ClusterConfig{}, withRoute(cfg, "a"))
		if err := am.WaitReady(ctx); err != nil {
			t.Fatal(err)
		}
		a := &node{tn: atn, ch: ach, m: am}
		startReady(t, nw, withRoute(cfg, "b"))
		login := create(t, a, "k", 1)
		time.Sleep(2 * delta.DefaultCatchUpWindow) // a's and b's windows are over
		synctest.Wait()

		var slowOn atomic.Bool
		_, rch := newChannel(t, nw)
		rv := &oneSideView{Channel: rch, hidden: new(atomic.Pointer[channel.MemberKey])}
		rcfg := cfg
		rcfg.CatchUpWindow = 5 * time.Minute // r's is open throughout
		rm := startJoiner(t, slowCatchUp{Channel: rv, local: rch.LocalMember(), delay: 30 * time.Second, on: &slowOn},
			delta.ClusterConfig{}, withRoute(rcfg, "r"))
		if err := rm.WaitReady(ctx); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Second) // r's first late requests are answered
		synctest.Wait()

		slowOn.Store(true)
		startReady(t, nw, withRoute(cfg, "c")) // r's late catch-up asks c, slowly
		time.Sleep(time.Second)
		synctest.Wait()

		av.hide(rch.LocalMember()) // a asks r back once r is listed again
		synctest.Wait()
		av.show(rch.LocalMember())
		synctest.Wait()
		time.Sleep(time.Second) // a's request reached r, which has a due as a reply
		synctest.Wait()

		rv.hide(ach.LocalMember())
		synctest.Wait()
		rs := rm.Find(login.ID())
		if rs == nil {
			t.Fatal("r lacks a's session")
		}
		if err := rs.Set("k", 2); err != nil {
			t.Fatal(err)
		}
		if err := rm.Replicate(ctx, rs); err != nil {
			t.Fatalf("r's change was not acknowledged by b and c: %v", err)
		}
		rv.show(ach.LocalMember())
		synctest.Wait()
		time.Sleep(2 * time.Minute)
		synctest.Wait()
		if k, _ := delta.Attr[int](a.m.Find(login.ID()), "k"); k != 2 {
			t.Errorf("a holds k=%d, want r's 2 made while a was out of r's view", k)
		}
	})
}
