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

// TestStopHonoursItsContext: Stop waited for the ping goroutine regardless of its
// context, so a ping held in a membership listener (here a member's expiry, whose
// MemberDisappeared does not return) held Stop for ever. Stop now returns ctx's error
// when ctx ends first, the rest of the stop left to finish once the ping ends; a later
// Stop waits for that again, within its own ctx, and returns nil once it is done.
func TestStopHonoursItsContext(t *testing.T) {
	ctx := context.Background()
	p := testutil.FreePorts(t, 2)
	cfg := staticsvc.Config{Members: members(t, p[0], p[1]), ExpirationTime: 50 * time.Millisecond,
		PingInterval: 10 * time.Millisecond}
	a := newNode(t, p[0], cfg)
	entered, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	a.ch.AddMembershipListener(channel.MembershipFuncs{Disappeared: func(channel.Member) {
		once.Do(func() {
			close(entered)
			<-release // ignores Stop's context
		})
	}})
	if err := a.ch.Start(ctx, channel.SvcAll); err != nil {
		t.Fatal(err)
	}
	gone := members(t, p[1])[0] // nothing listens there: it expires at the next ping
	gone.UniqueID = channel.UniqueID{7}
	staticsvc.Hear(a.svc, gone, true)
	select {
	case <-entered: // the ping goroutine expired it and is held in the listener
	case <-time.After(testutil.WaitLimit):
		t.Fatal("the member did not expire")
	}
	stop := func(d time.Duration) error {
		sctx, cancel := context.WithTimeout(ctx, d)
		defer cancel()
		stopped := make(chan error, 1)
		go func() { stopped <- a.svc.Stop(sctx, channel.SvcMembership) }()
		select {
		case err := <-stopped:
			return err
		case <-time.After(testutil.WaitLimit):
			close(release)
			<-stopped
			t.Fatalf("Stop with a %v context still waits for the ping goroutine after %v", d, testutil.WaitLimit)
			return nil
		}
	}
	if err := stop(100 * time.Millisecond); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Stop with the ping held: %v, want context.DeadlineExceeded", err)
	}
	if err := stop(100 * time.Millisecond); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a later Stop with the ping still held: %v, want context.DeadlineExceeded", err)
	}
	close(release)
	if err := stop(testutil.WaitLimit); err != nil {
		t.Fatalf("a later Stop once the ping returned: %v", err)
	}
	if ms := a.svc.Members(); len(ms) != 0 {
		t.Errorf("stopped service lists %v", ms)
	}
}
