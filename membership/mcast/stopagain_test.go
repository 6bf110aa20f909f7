package mcast

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gotribes/tribes/channel"
)

// TestStopAgainWaitsForATimedOutStop: a Stop whose ctx ended while the listener was still
// told a member is gone (the run's dispatcher still running) returned ctx's error, and a
// later Stop returned nil at once, although the listener call still ran: the channel,
// which calls Stop again to wait for a level left stopping, took the membership for
// stopped. A later Stop now waits for the stop still running, within its own ctx (ctx's
// error, wrapped, when it ends first), and returns nil once it finished.
func TestStopAgainWaitsForATimedOutStop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nw := &fakeNet{}
		startFake(t, nw, 2, nil)
		a := newFakeNode(t, nw, 1, nil, nil)
		l := &gatedRecorder{recorder: a.r, gate: make(chan struct{})}
		var release sync.Once
		open := func() { release.Do(func() { close(l.gate) }) }
		defer open()
		if err := a.s.Start(context.Background(), channel.SvcMembership, a.m, l); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		wantEvents(t, a, "+2")

		stopWithin := func(d time.Duration) error {
			ctx, cancel := context.WithTimeout(context.Background(), d)
			defer cancel()
			return a.s.Stop(ctx, channel.SvcMembership)
		}
		if err := stopWithin(time.Second); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Stop while the listener is held: %v, want context.DeadlineExceeded", err)
		}
		if err := stopWithin(time.Second); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Stop again while the listener is still held: %v, want context.DeadlineExceeded", err)
		}
		stopped := make(chan error, 1)
		go func() { stopped <- a.s.Stop(context.Background(), channel.SvcMembership) }()
		synctest.Wait()
		select {
		case err := <-stopped:
			t.Fatalf("Stop returned (%v) while the listener is still held", err)
		default:
		}
		open()
		synctest.Wait()
		select {
		case err := <-stopped:
			if err != nil {
				t.Fatalf("Stop once the listener returned: %v", err)
			}
		default:
			t.Fatal("Stop still waits after the listener returned")
		}
		wantEvents(t, a, "+2", "-2")
		if err := stopWithin(time.Second); err != nil {
			t.Fatalf("Stop of a stopped service: %v", err)
		}
	})
}

// TestStartAfterATimedOutStopWaitsForIt: a Start after a Stop whose ctx ended while the
// listener was held opened a new socket and started a new run at once, alongside the one
// still stopping. It now waits for that stop first, within its own ctx: when ctx ends
// first it returns ctx's error (wrapped) and starts nothing (no socket opened, no level
// running); once the stop finished, a Start starts as usual.
func TestStartAfterATimedOutStopWaitsForIt(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nw := &fakeNet{}
		startFake(t, nw, 2, nil)
		a := newFakeNode(t, nw, 1, nil, nil)
		l := &gatedRecorder{recorder: a.r, gate: make(chan struct{})}
		var release sync.Once
		open := func() { release.Do(func() { close(l.gate) }) }
		defer open()
		if err := a.s.Start(context.Background(), channel.SvcMembership, a.m, l); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		wantEvents(t, a, "+2")

		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if err := a.s.Stop(ctx, channel.SvcMembership); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Stop while the listener is held: %v, want context.DeadlineExceeded", err)
		}
		opens := len(*a.conns)
		sctx, scancel := context.WithTimeout(context.Background(), time.Second)
		defer scancel()
		if err := a.s.Start(sctx, channel.SvcMembershipRx, a.m, l); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Start while the previous stop runs: %v, want context.DeadlineExceeded", err)
		}
		if n := len(*a.conns); n != opens {
			t.Errorf("a Start that gave up opened %d sockets", n-opens)
		}
		a.s.mu.Lock()
		running := a.s.running
		a.s.mu.Unlock()
		if running != 0 {
			t.Errorf("a Start that gave up left levels %v running", running)
		}
		open()
		synctest.Wait()
		a.run(t)
		synctest.Wait()
		wantEvents(t, a, "+2", "-2", "+2")
		a.stop(t)
	})
}
