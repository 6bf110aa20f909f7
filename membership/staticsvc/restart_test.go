package staticsvc_test

import (
	"context"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/membership/staticsvc"
	"github.com/gotribes/tribes/transport/nio"
)

// newNodeWithID is newNode with a fixed unique id (tribesdemo --id, a Java node's
// configured uniqueId): the node keeps its id when it restarts.
func newNodeWithID(t *testing.T, port int, cfg staticsvc.Config, id channel.UniqueID) *node {
	t.Helper()
	tcfg := nio.DefaultConfig()
	tcfg.Port, tcfg.AutoBind = port, 1
	tr, err := nio.New(tcfg)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := staticsvc.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ch, err := channel.New(channel.Config{Transport: tr, Membership: svc, HeartbeatInterval: -1, UniqueID: id})
	if err != nil {
		t.Fatal(err)
	}
	n := &node{ch: ch, svc: svc, ev: &events{}}
	ch.AddMembershipListener(n.ev)
	t.Cleanup(func() { _ = ch.Stop(context.Background(), channel.SvcAll) })
	return n
}

// TestReplyToStartAfterStopAddsMember: a reply to a START (or PING) this node sent after
// it received a member's STOP was written after that STOP (a stopping node closes its RPC
// channel before it sends the STOP): it is the member's next run, with the same id, and
// is listed at once, as Tomcat lists it. Here b stops while a runs, a restarts while b is
// down, b comes back (its START finds nobody), and a restarts again: a's START reaches b,
// and a must list b from b's reply, as b lists a from the START, not 10 s later.
func TestReplyToStartAfterStopAddsMember(t *testing.T) {
	ctx := context.Background()
	p := testutil.FreePorts(t, 2)
	cfg := staticsvc.Config{Members: members(t, p[0], p[1]), ExpirationTime: time.Hour, PingInterval: time.Hour}
	bID := channel.UniqueID{0xb}
	a := newNodeWithID(t, p[0], cfg, channel.UniqueID{0xa})
	b := newNodeWithID(t, p[1], cfg, bID)
	for _, n := range []*node{a, b} {
		if err := n.ch.Start(ctx, channel.SvcAll); err != nil {
			t.Fatal(err)
		}
	}
	if !a.has(p[1]) || !b.has(p[0]) {
		t.Fatalf("views after start: a %v, b %v", a.ch.Members(), b.ch.Members())
	}
	// b stops cleanly: a gets its STOP and drops it.
	if err := b.ch.Stop(ctx, channel.SvcAll); err != nil {
		t.Fatal(err)
	}
	testutil.EventuallyTrue(t, testutil.WaitLimit, "a drops b", func() bool { return !a.has(p[1]) })
	// a stops; b comes back with the same id while a is down.
	if err := a.ch.Stop(ctx, channel.SvcAll); err != nil {
		t.Fatal(err)
	}
	b = newNodeWithID(t, p[1], cfg, bID)
	if err := b.ch.Start(ctx, channel.SvcAll); err != nil {
		t.Fatal(err)
	}
	// a restarts: its START reaches b, whose reply comes before a's Start returns.
	if err := a.ch.Start(ctx, channel.SvcAll); err != nil {
		t.Fatal(err)
	}
	if !b.has(p[0]) {
		t.Fatalf("b does not list a after a's START: %v", b.ch.Members())
	}
	if !a.has(p[1]) {
		t.Errorf("a does not list b from b's reply to a's START: %v", a.ch.Members())
	}
}
