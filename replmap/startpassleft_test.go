package replmap_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/replmap"
)

// A member's MSG_START pass left its bookkeeping (the time of its last pass) behind once
// done, dropped only by a later pass of the same member: every member that ever
// restarted and then left was kept for ever. A member that leaves takes it with it.
func TestStartPassForgottenWhenMemberLeaves(t *testing.T) {
	nw := channeltest.NewNetwork()
	cfg := replmap.Config{SendOptions: syncAck, RPCTimeout: time.Minute}
	a := newChannel(t, nw)
	b := newChannel(t, nw)
	for _, n := range []*node{a, b} {
		testutil.EventuallyTrue(t, testutil.WaitLimit, "channel members", func() bool { return len(n.ch.Members()) == 1 })
		newMap(t, n, cfg)
	}
	start(t, a)
	start(t, b)
	waitMapMembers(t, []*node{a, b}, 1)
	for i := range 10 {
		if _, err := a.m.Put(ctx(t), fmt.Sprint("k", i), int32(i)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := replmap.AnnounceStart(ctx(t), b.m); err != nil {
		t.Fatal(err)
	}
	testutil.EventuallyTrue(t, testutil.WaitLimit, "A's passes done", func() bool { return !replmap.StartPassesRunning(a.m) })
	if err := b.m.Stop(ctx(t)); err != nil {
		t.Fatal(err)
	}
	testutil.EventuallyTrue(t, testutil.WaitLimit, "B gone from A's map", func() bool { return len(a.m.Members()) == 0 })
	if n := replmap.StartPassMembers(a.m); n != 0 {
		t.Errorf("A keeps MSG_START pass bookkeeping for %d members after B left, want 0", n)
	}
}
