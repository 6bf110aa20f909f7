package channel_test

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
)

// eventInjector passes membership events up the chain from wherever the test calls it.
type eventInjector struct{ channel.InterceptorBase }

// overlapDetector is a membership listener that notes whether a call began while another
// was still running; each call yields the processor many times, so that calls made
// concurrently would overlap.
type overlapDetector struct {
	active, overlaps, calls atomic.Int32
}

func (d *overlapDetector) enter() {
	if d.active.Add(1) > 1 {
		d.overlaps.Add(1)
	}
	for range 50 {
		runtime.Gosched()
	}
	d.active.Add(-1)
	d.calls.Add(1)
}

func (d *overlapDetector) MemberAdded(channel.Member)       { d.enter() }
func (d *overlapDetector) MemberDisappeared(channel.Member) { d.enter() }

// TestMembershipListenerCallsNeverConcurrent: docs/cluster-apps.md says
// MembershipListener calls are never concurrent. Eight goroutines pass 50 membership
// events each up the chain at once; every one reaches the listener, and none while
// another call to it runs.
func TestMembershipListenerCallsNeverConcurrent(t *testing.T) {
	nw := channeltest.NewNetwork()
	inj := &eventInjector{}
	a := newNode(t, nw, inj)
	d := &overlapDetector{}
	a.ch.AddMembershipListener(d)
	const goroutines, events = 8, 50
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range events {
				m := channel.Member{Host: []byte{10, 0, byte(g), byte(i)}, Port: 4000}
				if i%2 == 0 {
					inj.MemberAdded(m)
				} else {
					inj.MemberDisappeared(m)
				}
			}
		})
	}
	wg.Wait()
	if n := d.calls.Load(); n != goroutines*events {
		t.Fatalf("%d listener calls, want %d", n, goroutines*events)
	}
	if n := d.overlaps.Load(); n != 0 {
		t.Errorf("%d membership listener calls began while another was running", n)
	}
}
