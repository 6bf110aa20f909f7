package replmap_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/replmap"
)

// A joiner whose state donor stops its map as the state request goes out (its MSG_STOP
// crosses the request; its node, still a channel member, runs no other rpc.Channel and
// answers nothing) asks the next map member at once. Before, it waited for the donor's
// reply until RPCTimeout (1h here, 15 s in session/backup), then went on without
// asking another member.
func TestStateFromNextMemberWhenDonorStops(t *testing.T) {
	nw := channeltest.NewNetwork()
	nodes := cluster(t, nw, 2)
	for i := range 4 {
		if _, err := nodes[i%2].m.Put(ctx(t), fmt.Sprint("k", i), int32(i)); err != nil {
			t.Fatal(err)
		}
	}
	// The joiner's third message (after MSG_INIT and MSG_START) is its state request, to
	// its first map member: that member's map stops just before.
	hook := &onSend{n: 3}
	stopped := false
	hook.f = func(to []channel.Member) {
		for _, nd := range nodes {
			if len(to) == 1 && nd.ch.LocalMember().Key() == to[0].Key() {
				if err := nd.m.Stop(context.Background()); err != nil {
					t.Errorf("donor's Stop: %v", err)
				}
				stopped = true
			}
		}
	}
	joiner := newChannel(t, nw, hook)
	waitChannelMembers(t, joiner, 2)
	newMap(t, joiner, replmap.Config{RPCTimeout: time.Hour})
	hook.armed.Store(true)
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := joiner.m.Start(sctx)
	if err != nil || sctx.Err() != nil {
		t.Fatalf("Start: %v, ctx %v; want it done before RPCTimeout (1h) and ctx (10s): it waited for the stopped donor", err, sctx.Err())
	}
	if !stopped {
		t.Fatal("the joiner sent no state request, or its donor did not stop")
	}
	if got := len(joiner.m.Keys()); got != 4 {
		t.Fatalf("the joiner knows %d keys, want 4 from the remaining member", got)
	}
	for i := range 4 {
		if got := get(t, joiner, fmt.Sprint("k", i)); got != int32(i) {
			t.Fatalf("k%d = %#v", i, got)
		}
	}
}
