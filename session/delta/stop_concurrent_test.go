package delta_test

import (
	"context"
	"testing"
	"testing/synctest"

	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/session/delta"
)

// startStopHeld starts a node with one session whose destruction by a Stop waits, once
// entered is closed, until the test closes release.
func startStopHeld(t *testing.T) (a *node, entered <-chan struct{}, release chan struct{}) {
	t.Helper()
	in := make(chan struct{})
	release = make(chan struct{})
	blocker := delta.SessionListenerFuncs{Destroyed: func(e delta.SessionEvent) {
		if e.Stopping {
			close(in)
			<-release
		}
	}}
	a = startReady(t, channeltest.NewNetwork(), delta.Config{SessionListeners: []delta.SessionListener{blocker}})
	if _, err := a.m.Create(context.Background()); err != nil {
		t.Fatal(err)
	}
	return a, in, release
}

// TestConcurrentStopWaitsForTheFirst: a Stop called while another Stop drains the manager
// (its sessions being destroyed, their listeners running) returned nil at once, so its
// caller took the manager for stopped while the first was still at work. It now returns
// once the first Stop has finished, with no session left.
func TestConcurrentStopWaitsForTheFirst(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		a, entered, release := startStopHeld(t)
		first, second := make(chan error, 1), make(chan error, 1)
		go func() { first <- a.m.Stop(ctx) }()
		<-entered // the first Stop is destroying the session
		go func() { second <- a.m.Stop(ctx) }()
		synctest.Wait()
		select {
		case err := <-second:
			t.Errorf("the second Stop returned (%v) while the first was still destroying the sessions", err)
			second <- nil
		default:
		}
		close(release)
		if err := <-first; err != nil {
			t.Errorf("first Stop: %v", err)
		}
		if err := <-second; err != nil {
			t.Errorf("second Stop: %v", err)
		}
		if n := a.m.Len(); n != 0 {
			t.Errorf("%d sessions left after both Stops returned", n)
		}
	})
}

// TestConcurrentStopHonoursItsContext: a second Stop waiting for the first returns its
// context's error when that ends first.
func TestConcurrentStopHonoursItsContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		a, entered, release := startStopHeld(t)
		first := make(chan error, 1)
		go func() { first <- a.m.Stop(ctx) }()
		<-entered
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if err := a.m.Stop(cctx); err != context.Canceled {
			t.Errorf("second Stop with an ended context: %v, want context.Canceled", err)
		}
		close(release)
		if err := <-first; err != nil {
			t.Errorf("first Stop: %v", err)
		}
	})
}
