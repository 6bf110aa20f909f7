package staticsvc_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/membership/staticsvc"
)

// TestStopAfterItsContextStillTellsTheMembers: a Stop whose ctx ended while the ping
// goroutine was held left the rest of the stop to the background, which sent the STOP
// with that ended ctx, so it always failed and the members learned of the stop only when
// they expired this node (ExpirationTime later, here an hour). The background stop now
// sends it within a bounded context of its own (RPCTimeout): b drops a at once.
func TestStopAfterItsContextStillTellsTheMembers(t *testing.T) {
	ctx := context.Background()
	p := testutil.FreePorts(t, 3)
	all := members(t, p[0], p[1], p[2])
	a := newNode(t, p[0], staticsvc.Config{Members: all, ExpirationTime: 500 * time.Millisecond,
		PingInterval: 10 * time.Millisecond})
	b := newNode(t, p[1], staticsvc.Config{Members: all, ExpirationTime: time.Hour, PingInterval: time.Hour})
	gone := members(t, p[2])[0] // nothing listens there: a expires it
	gone.UniqueID = channel.UniqueID{7}
	entered, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	a.ch.AddMembershipListener(channel.MembershipFuncs{Disappeared: func(m channel.Member) {
		if m.Port != int32(p[2]) {
			return
		}
		once.Do(func() {
			close(entered)
			<-release // ignores Stop's context
		})
	}})
	for _, n := range []*node{b, a} {
		if err := n.ch.Start(ctx, channel.SvcAll); err != nil {
			t.Fatal(err)
		}
	}
	if !b.has(p[0]) {
		t.Fatalf("b does not list a: %v", b.ch.Members())
	}
	staticsvc.Hear(a.svc, gone, true)
	select {
	case <-entered:
	case <-time.After(testutil.WaitLimit):
		close(release)
		t.Fatal("the member did not expire")
	}
	sctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	err := a.svc.Stop(sctx, channel.SvcMembership)
	cancel()
	close(release)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Stop with the ping held: %v, want context.DeadlineExceeded", err)
	}
	if err := a.svc.Stop(ctx, channel.SvcMembership); err != nil {
		t.Fatalf("a later Stop once the ping returned: %v", err)
	}
	for deadline := time.Now().Add(testutil.WaitLimit); b.has(p[0]); {
		if time.Now().After(deadline) {
			t.Fatalf("b still lists a %v after a's stop finished: no STOP reached it", testutil.WaitLimit)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestStopFromAPingListenerReturnsAtItsContextEnd: a membership listener called by the
// ping goroutine (here for a member's expiry) that stops the membership waits for that
// goroutine, itself: listeners get no context to mark such a call with, so that Stop
// returns ctx's error once ctx ends, not never, and the stop finishes once the listener
// has returned (a later Stop returns nil, nobody listed).
func TestStopFromAPingListenerReturnsAtItsContextEnd(t *testing.T) {
	ctx := context.Background()
	p := testutil.FreePorts(t, 2)
	a := newNode(t, p[0], staticsvc.Config{Members: members(t, p[0], p[1]), ExpirationTime: 50 * time.Millisecond,
		PingInterval: 10 * time.Millisecond})
	stopped := make(chan error, 1)
	var once sync.Once
	a.ch.AddMembershipListener(channel.MembershipFuncs{Disappeared: func(m channel.Member) {
		once.Do(func() {
			sctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
			defer cancel()
			stopped <- a.ch.Stop(sctx, channel.SvcMembership)
		})
	}})
	if err := a.ch.Start(ctx, channel.SvcAll); err != nil {
		t.Fatal(err)
	}
	gone := members(t, p[1])[0] // nothing listens there: it expires at the next ping
	gone.UniqueID = channel.UniqueID{7}
	staticsvc.Hear(a.svc, gone, true)
	select {
	case err := <-stopped:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Stop from the ping's listener: %v, want context.DeadlineExceeded", err)
		}
	case <-time.After(testutil.WaitLimit):
		t.Fatalf("Stop from the ping's listener has not returned after %v", testutil.WaitLimit)
	}
	wctx, cancel := context.WithTimeout(ctx, testutil.WaitLimit)
	defer cancel()
	if err := a.svc.Stop(wctx, channel.SvcMembership); err != nil {
		t.Fatalf("a later Stop once the listener returned: %v", err)
	}
	if ms := a.svc.Members(); len(ms) != 0 {
		t.Errorf("stopped service lists %v", ms)
	}
}
