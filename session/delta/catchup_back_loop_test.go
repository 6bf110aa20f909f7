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

// slowAskBack is a delta.Channel whose requests asking a member back (delta.AskBack) are
// each on their way for delay (of the bubble's clock) before they leave; it counts them
// in sent, those marked as an answer to the member's own (delta.AskBackReply) in replies.
type slowAskBack struct {
	delta.Channel
	local   channel.Member
	delay   time.Duration
	sent    *atomic.Int32
	replies *atomic.Int32
}

func (s slowAskBack) LocalMember() channel.Member { return s.local }

func (s slowAskBack) Send(ctx context.Context, to []channel.Member, data []byte, opts channel.SendOptions) error {
	if m, err := (delta.BinaryCodec{}).DecodeMessage(data); err == nil && m.Event == delta.EventGetAllSessions &&
		m.Version&delta.AskBack != 0 {
		s.sent.Add(1)
		if m.Version&delta.AskBackReply != 0 {
			s.replies.Add(1)
		}
		time.Sleep(s.delay) // the request on its way: the other node gets it that much later
	}
	return s.Channel.Send(ctx, to, data, opts)
}

// Two nodes whose requests asking each other back each took more than askAgainAfter
// (a second) to arrive: a's view dropped r and listed it again, so a asked r back
// (AskBack); r asked a back, as a's request asked, its request saying so too; a, its own
// request to r done with more than a second before r's came, asked r back again, and so
// on for as long as both ran (or, r a joiner, while its window lasted: its late
// catch-up asked a back the same way), a request each way every 1.5 s, the two sets of
// sessions sent back and forth each time. An ask-back made because the member's request
// asked it now says so (AskBackReply), and such a request is answered but not asked
// back: a asks r once, r asks a once, and r holds a's rename made while it was out of
// a's view.
func TestSlowAskBacksDoNotAskEachOtherForEver(t *testing.T) {
	for _, inWindow := range []bool{false, true} {
		name := "running"
		if inWindow {
			name = "joinerInItsWindow"
		}
		t.Run(name, func(t *testing.T) { synctest.Test(t, func(t *testing.T) { slowAskBacks(t, inWindow) }) })
	}
}

// slowAskBacks is TestSlowAskBacksDoNotAskEachOtherForEver, r still in its joiner's
// window (Config.CatchUpWindow) when a asks it back if inWindow.
func slowAskBacks(t *testing.T, inWindow bool) {
	ctx := context.Background()
	nw := channeltest.NewNetwork()
	cfg := delta.Config{Replication: delta.ReplicateAcked}
	var sent, replies atomic.Int32
	slow := func(ch delta.Channel, local channel.Member) slowAskBack {
		return slowAskBack{Channel: ch, local: local, delay: 1500 * time.Millisecond, sent: &sent, replies: &replies}
	}
	atn, ach := newChannel(t, nw)
	av := &oneSideView{Channel: ach, hidden: new(atomic.Pointer[channel.MemberKey])}
	am := startJoiner(t, slow(av, ach.LocalMember()), delta.ClusterConfig{}, withRoute(cfg, "a"))
	if err := am.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	a := &node{tn: atn, ch: ach, m: am}
	startReady(t, nw, withRoute(cfg, "b")) // takes a's rename while r is out of a's view
	login := create(t, a, "k", 1)
	old := login.ID()
	if inWindow {
		time.Sleep(2 * delta.DefaultCatchUpWindow)
		synctest.Wait()
	}
	_, rch := newChannel(t, nw)
	rm := startJoiner(t, slow(rch, rch.LocalMember()), delta.ClusterConfig{}, withRoute(cfg, "r"))
	if err := rm.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	if !inWindow {
		time.Sleep(2 * delta.DefaultCatchUpWindow)
	}
	synctest.Wait()
	if n := sent.Load(); n != 0 {
		t.Fatalf("%d requests asking back before any member left a view, want 0", n)
	}

	av.hide(rch.LocalMember())
	synctest.Wait()
	newID, err := a.m.ChangeSessionID(ctx, login, "")
	if err != nil {
		t.Fatalf("a's rename was not acknowledged by b: %v", err)
	}
	time.Sleep(10 * time.Second)
	av.show(rch.LocalMember())
	synctest.Wait()
	time.Sleep(time.Minute)
	synctest.Wait()
	if n, r := sent.Load(), replies.Load(); n != 2 || r != 1 {
		t.Errorf("%d requests asking back within a minute of r's return to a's view, %d of them replies; "+
			"want 2 (a's, and r's reply)", n, r)
	}
	if rm.Find(old) != nil {
		t.Errorf("r still holds a's session under its old id %s", old)
	}
	if rm.Find(newID) == nil {
		t.Errorf("r lacks a's session under its new id %s", newID)
	}
}
