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
// goroutine was held (here its PING's send to a third static member, which ignores its
// context) left the rest of the stop to the background, which sent the STOP with that
// ended ctx, so it always failed and the members learned of the stop only when they
// expired this node (ExpirationTime later, here an hour). The background stop now sends
// it within a bounded context of its own (RPCTimeout): b drops a at once.
func TestStopAfterItsContextStillTellsTheMembers(t *testing.T) {
	ctx := context.Background()
	p := testutil.FreePorts(t, 3)
	all := members(t, p[0], p[1], p[2])
	acceptOnly(t, p[2]) // reachable: a's ping sends it a PING, which is held
	hold := newHoldPings()
	a := newNode(t, p[0], staticsvc.Config{Members: all, ExpirationTime: time.Hour,
		PingInterval: 10 * time.Millisecond, RPCTimeout: time.Second}, hold) // p[2] never replies
	b := newNode(t, p[1], staticsvc.Config{Members: all, ExpirationTime: time.Hour, PingInterval: time.Hour})
	for _, n := range []*node{b, a} {
		if err := n.ch.Start(ctx, channel.SvcAll); err != nil {
			t.Fatal(err)
		}
	}
	if !b.has(p[0]) {
		t.Fatalf("b does not list a: %v", b.ch.Members())
	}
	hold.port.Store(int32(p[2]))
	select {
	case <-hold.entered:
	case <-time.After(testutil.WaitLimit):
		close(hold.release)
		t.Fatal("no PING was sent")
	}
	sctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	err := a.svc.Stop(sctx, channel.SvcMembership)
	cancel()
	close(hold.release)
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

// TestStopDoesNotWaitForAHeldListener: a membership listener held (here in the
// MemberDisappeared of a member's expiry, ignoring everything) held the ping goroutine
// that called it, and with it a Stop from elsewhere until that Stop's ctx ended. The
// listeners are now called on a goroutine of their own, which Stop does not wait for
// while it is inside a listener call: Stop, with a context that never ends, returns nil,
// the STOP sent (b drops a at once), and the members it reports gone reach the listener
// once the held call has returned.
func TestStopDoesNotWaitForAHeldListener(t *testing.T) {
	ctx := context.Background()
	p := testutil.FreePorts(t, 3)
	all := members(t, p[0], p[1], p[2])
	// ExpirationTime is long: b must not expire, which it could with the 500 ms this test
	// had on a machine loaded enough to hold a's pings that long (TestCrashExpires' b did
	// at 600 ms); gone is heard from long ago, so the first ping expires it.
	a := newNode(t, p[0], staticsvc.Config{Members: all, ExpirationTime: time.Hour,
		PingInterval: 10 * time.Millisecond})
	b := newNode(t, p[1], staticsvc.Config{Members: all, ExpirationTime: time.Hour, PingInterval: time.Hour})
	gone := members(t, p[2])[0] // nothing listens there: a expires it
	gone.UniqueID = channel.UniqueID{7}
	entered, release := make(chan struct{}), make(chan struct{})
	var once, releaseOnce sync.Once
	t.Cleanup(func() { releaseOnce.Do(func() { close(release) }) })
	a.ch.AddMembershipListener(channel.MembershipFuncs{Disappeared: func(m channel.Member) {
		if m.Port != int32(p[2]) {
			return
		}
		once.Do(func() {
			close(entered)
			<-release
		})
	}})
	for _, n := range []*node{b, a} {
		if err := n.ch.Start(ctx, channel.SvcAll); err != nil {
			t.Fatal(err)
		}
	}
	if !b.has(p[0]) || !a.has(p[1]) {
		t.Fatalf("a and b do not list each other: a %v, b %v", a.ch.Members(), b.ch.Members())
	}
	staticsvc.HearAgo(a.svc, gone, 2*time.Hour)
	select {
	case <-entered:
	case <-time.After(testutil.WaitLimit):
		t.Fatal("the member did not expire")
	}
	stopped := make(chan error, 1)
	go func() { stopped <- a.svc.Stop(ctx, channel.SvcMembership) }()
	select {
	case err := <-stopped:
		if err != nil {
			t.Fatalf("Stop with a listener held: %v", err)
		}
	case <-time.After(testutil.WaitLimit):
		t.Fatalf("Stop(context.Background()) with a listener held has not returned after %v", testutil.WaitLimit)
	}
	testutil.EventuallyTrue(t, testutil.WaitLimit, "b drops a: its STOP arrived", func() bool { return !b.has(p[0]) })
	if _, ok := a.ev.find(false, int32(p[1])); ok {
		t.Fatal("b reported gone to a's listeners while an earlier call was held")
	}
	releaseOnce.Do(func() { close(release) })
	testutil.EventuallyTrue(t, testutil.WaitLimit, "a reports b gone", func() bool {
		_, ok := a.ev.find(false, int32(p[1]))
		return ok
	})
}

// TestStopFromAPingListenerReturns: a membership listener called for an event of the ping
// goroutine (here a member's expiry) that stopped the membership with a context of its
// own (here one that never ends) waited in Stop for that goroutine, which waited for the
// listener: listeners get no context that could mark the call, so such a Stop returned
// only once its ctx ended, and with context.Background() never. The listeners are now
// called on a goroutine of their own, which Stop does not wait for while it is inside a
// listener call: such a Stop returns nil at once, and the members it reports gone reach
// the listeners once the call has returned.
func TestStopFromAPingListenerReturns(t *testing.T) {
	ctx := context.Background()
	p := testutil.FreePorts(t, 2)
	a := newNode(t, p[0], staticsvc.Config{Members: members(t, p[0], p[1]), ExpirationTime: 50 * time.Millisecond,
		PingInterval: 10 * time.Millisecond})
	stopped, hung := make(chan error, 1), make(chan bool, 1)
	var once sync.Once
	a.ch.AddMembershipListener(channel.MembershipFuncs{Disappeared: func(m channel.Member) {
		once.Do(func() {
			done := make(chan error, 1)
			go func() { done <- a.ch.Stop(context.Background(), channel.SvcMembership) }()
			select {
			case err := <-done:
				stopped <- err
				hung <- false
			case <-time.After(testutil.WaitLimit):
				hung <- true
				go func() { stopped <- <-done }() // returns once the listener did
			}
		})
	}})
	if err := a.ch.Start(ctx, channel.SvcAll); err != nil {
		t.Fatal(err)
	}
	gone := members(t, p[1])[0] // nothing listens there: it expires at the next ping
	gone.UniqueID = channel.UniqueID{7}
	staticsvc.Hear(a.svc, gone, true)
	if <-hung {
		<-stopped
		t.Fatalf("Stop(context.Background()) from a listener of the ping's event has not returned after %v", testutil.WaitLimit)
	}
	if err := <-stopped; err != nil {
		t.Fatalf("Stop from the ping's listener: %v", err)
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
