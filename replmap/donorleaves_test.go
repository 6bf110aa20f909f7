package replmap_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/replmap"
)

// onSend calls f with the destinations of the n-th message the channel sends (counting
// from 1), before it passes the message on.
type onSend struct {
	channel.InterceptorBase
	n     int64
	sent  atomic.Int64
	f     func(to []channel.Member)
	armed atomic.Bool
}

func (o *onSend) SendMessage(ctx context.Context, to []channel.Member, msg *channel.Message) error {
	if o.armed.Load() && o.sent.Add(1) == o.n {
		o.f(to)
	}
	return o.Next().SendMessage(ctx, to, msg)
}

// A joiner whose state donor (the first map member that answered its MSG_INIT) dies as
// the transfer begins takes the state from the next map member. Before, it started
// without any entry although the other member held them all: every key was unknown
// there (a session a balancer sent there was lost) until each was put again.
func TestStateFromNextMemberWhenDonorLeaves(t *testing.T) {
	nw := channeltest.NewNetwork()
	nodes := cluster(t, nw, 3)
	for i := range 6 {
		if _, err := nodes[i%3].m.Put(ctx(t), fmt.Sprint("k", i), int32(i)); err != nil {
			t.Fatal(err)
		}
	}
	// The joiner's third message (after MSG_INIT and MSG_START) is its state request, to
	// its first map member: that member's node dies just before.
	hook := &onSend{n: 3}
	killed := false
	hook.f = func(to []channel.Member) {
		for _, nd := range nodes {
			if len(to) == 1 && nd.ch.LocalMember().Key() == to[0].Key() {
				nw.Kill(nd.tn)
				killed = true
			}
		}
	}
	joiner := newChannel(t, nw, hook)
	testutil.EventuallyTrue(t, testutil.WaitLimit, "channel members", func() bool { return len(joiner.ch.Members()) == 3 })
	newMap(t, joiner, replmap.Config{})
	hook.armed.Store(true)
	start(t, joiner)
	if hook.sent.Load() < 3 || !killed {
		t.Fatal("the joiner sent no state request, or its donor did not die")
	}
	if got := len(joiner.m.Keys()); got != 6 {
		t.Fatalf("the joiner knows %d keys, want 6 from the surviving members", got)
	}
	for i := range 6 {
		if got := get(t, joiner, fmt.Sprint("k", i)); got != int32(i) {
			t.Fatalf("k%d = %#v", i, got)
		}
	}
}
