package mcast

import (
	"context"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gotribes/tribes/channel"
)

// gatedRecorder is a recorder whose MemberDisappeared waits for gate (a slow listener:
// a session manager saving state when a member leaves).
type gatedRecorder struct {
	*recorder
	gate chan struct{}
}

func (g *gatedRecorder) MemberDisappeared(m channel.Member) {
	<-g.gate
	g.recorder.MemberDisappeared(m)
}

// TestRestartWhileStopWaitsForListener: Stop reports every member gone and waits for the
// listener; meanwhile the service is started again (from another goroutine, or after a
// Stop whose ctx ran out). The new run's events must wait for the old run's listener
// call (events are delivered one at a time and in order), and Stop must return once its
// own run's listener calls are done, not wait for the new run to end.
func TestRestartWhileStopWaitsForListener(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nw := &fakeNet{}
		startFake(t, nw, 2, nil)
		a := newFakeNode(t, nw, 1, nil, nil)
		l := &gatedRecorder{recorder: a.r, gate: make(chan struct{})}
		var release sync.Once
		open := func() { release.Do(func() { close(l.gate) }) }
		defer func() { // a failed check must not leave the listener or a Stop blocked
			open()
			_ = a.s.Stop(context.Background(), channel.SvcMembership)
		}()
		if err := a.s.Start(context.Background(), channel.SvcMembership, a.m, l); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		wantEvents(t, a, "+2")

		stopped := make(chan error, 1)
		go func() { stopped <- a.s.Stop(context.Background(), channel.SvcMembership) }()
		synctest.Wait() // Stop waits for the listener, which is told "-2"
		if err := a.s.Start(context.Background(), channel.SvcMembership, a.m, l); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Second) // B's heartbeats: the new run hears it again
		// ... but the listener is still busy with "-2".
		if got := a.r.snapshot(); len(got) != 1 {
			t.Errorf("events %v while the listener is still told \"-2\"", got)
		}
		open()
		synctest.Wait()
		if got, want := a.r.snapshot(), []string{"+2", "-2", "+2"}; !slices.Equal(got, want) {
			t.Errorf("events %v, want %v: the listener's last word must be that B is back", got, want)
		}
		select {
		case err := <-stopped:
			if err != nil {
				t.Fatal(err)
			}
		default:
			t.Error("Stop of the first run still waits, for the second run")
		}
		a.stop(t)
	})
}
