package replmap_test

import (
	"context"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/replmap"
)

// A channel member whose node runs no rpc.Channel at all (a Go node with session/delta
// only, or one whose map stopped, or whose map is not created yet) never answers an
// RPC: its channel drops the request, no NoRpcChannelReply comes (Java's GroupChannel
// sends one). A joiner's MSG_START waits for the replies of the map members only, so
// Start does not wait RPCTimeout for that member (before, MSG_START waited for every
// channel member with AllReply, and Start took RPCTimeout, 15 s in session/backup).
func TestStartWithMemberWithoutRPC(t *testing.T) {
	nw := channeltest.NewNetwork()
	nodes := cluster(t, nw, 2)
	if _, err := nodes[0].m.Put(ctx(t), "k", "v"); err != nil {
		t.Fatal(err)
	}
	silent := newChannel(t, nw) // no map, no rpc.Channel
	joiner := newChannel(t, nw)
	for _, nd := range append(nodes, silent, joiner) {
		waitChannelMembers(t, nd, 3)
	}
	newMap(t, joiner, replmap.Config{RPCTimeout: time.Hour})
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := joiner.m.Start(sctx); err != nil {
		t.Fatalf("Start with a channel member that answers no RPC: %v, want it done before RPCTimeout (1h) and ctx (5s)", err)
	}
	waitMapMembers(t, append(nodes, joiner), 2)
	if v := get(t, joiner, "k"); v != "v" {
		t.Errorf("joiner's Get: %v, want v", v)
	}
}
