package staticsvc_test

import (
	"context"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/membership/staticsvc"
)

// TestHeardAfterStopAddsNothing: a START, PING or reply whose handling began before Stop
// and reaches the view after it (the channel does not wait for a heartbeat under way,
// which pings with a negative PingInterval; rpc.Close does not wait for a handler under
// way) adds no member to the stopped service: Members stays empty, no MemberAdded comes
// after Stop's MemberDisappeared, and the next Start does not begin with that member.
func TestHeardAfterStopAddsNothing(t *testing.T) {
	ctx := context.Background()
	p := testutil.FreePorts(t, 2)
	cfg := staticsvc.Config{Members: members(t, p[0], p[1]), ExpirationTime: time.Hour, PingInterval: -1}
	a := newNode(t, p[0], cfg)
	if err := a.ch.Start(ctx, channel.SvcAll); err != nil {
		t.Fatal(err)
	}
	b := members(t, p[1])[0]
	b.UniqueID = channel.UniqueID{7}
	if err := a.ch.Stop(ctx, channel.SvcAll); err != nil {
		t.Fatal(err)
	}
	staticsvc.Hear(a.svc, b, true)  // b's START, answered as Stop ran
	staticsvc.Hear(a.svc, b, false) // b's reply to the heartbeat's PING under way
	if ms := a.svc.Members(); len(ms) != 0 {
		t.Errorf("stopped service lists %v", ms)
	}
	if ev, ok := a.ev.find(true, int32(p[1])); ok {
		t.Errorf("member added after Stop: %v", ev.m)
	}
	if err := a.ch.Start(ctx, channel.SvcAll); err != nil {
		t.Fatal(err)
	}
	// b's port does not answer: the restarted node has nobody to list.
	if ms := a.ch.Members(); len(ms) != 0 {
		t.Errorf("restarted node lists %v, heard while it was stopped", ms)
	}
}
