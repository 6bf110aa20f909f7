package interceptors

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
)

// TestFailureDetectorRestartsKeepAMembersOrder: a Stop does not wait for a run one of
// whose goroutines is inside a membership listener call (another member's announcement,
// held), so neither does it for that run's other goroutines, such as one whose check of
// a member ignores its context. A later run that got reports of that member took the ops
// the old goroutine had left and applied them at once, ahead of the op the old goroutine
// was still checking: once its check returned, that op (a report of the member gone) was
// applied last, out of order, and removed the member after the later runs had reported
// it gone and added again. Here the detector is stopped and started twice while the
// listener call is held; the member's events went up as + - + -, the member ending
// unlisted although its membership lists it and its last report was its addition. A
// member's op being checked now keeps the member's later ops behind it, whatever the
// runs: they go up as + - + and the member is listed.
func TestFailureDetectorRestartsKeepAMembersOrder(t *testing.T) {
	holdCheck, checking, openCheck := holdOnce()
	holdCall, calling, openCall := holdOnce()
	defer openCheck() // before the nodes' Stops, when the test fails early
	defer openCall()
	var armed atomic.Bool
	var xPort atomic.Int32
	d := must(NewTCPFailureDetector(TCPFailureDetectorConfig{
		Probe: func(_ context.Context, m channel.Member) error {
			if m.Port == xPort.Load() && armed.CompareAndSwap(true, false) {
				holdCheck() // ignores its context; X's later checks are not held
			}
			return nil
		},
	}))
	nw := channeltest.NewNetwork()
	var yPort atomic.Int32
	a := mbNew(t, nw, mbOpt{id: 1}, &holdAdded{hold: func(m channel.Member) {
		if m.Port == yPort.Load() {
			holdCall()
		}
	}}, d)
	x := mbNew(t, nw, mbOpt{id: 2})
	y := mbNew(t, nw, mbOpt{id: 3})
	xPort.Store(x.port())
	yPort.Store(y.port())
	xs, ys := fmt.Sprint(x.port()), fmt.Sprint(y.port())
	mbStart(t, a, x)
	testutil.EventuallyTrue(t, testutil.WaitLimit, "X announced", func() bool {
		return d.Settled() && len(a.evs()) == 1
	})
	mbStart(t, y)
	waitClosed(t, calling, "Y's announcement was not made")

	// A failed send reports X gone: its check is held, and so is Y's announcement.
	armed.Store(true)
	d.MemberDisappeared(x.ch.LocalMember())
	waitClosed(t, checking, "X was not checked")

	// The current run, if any, has no check left (the old one's goroutines are held).
	idle := func() bool {
		d.mu.Lock()
		defer d.mu.Unlock()
		for _, q := range d.queues {
			if d.run != nil && q.run == d.run {
				return false
			}
		}
		return true
	}
	for i, step := range []func(context.Context, channel.Service) error{a.ch.Stop, a.ch.Start, a.ch.Stop, a.ch.Start} {
		if err := returnsWithin(t, fmt.Sprint("step ", i), func() { openCheck(); openCall() }, func() error {
			return step(within(t, testutil.WaitLimit), channel.SvcAll)
		}); err != nil {
			t.Fatalf("step %d (Stop, Start, Stop, Start) with Y's announcement held: %v", i, err)
		}
		testutil.EventuallyTrue(t, testutil.WaitLimit, fmt.Sprint("step ", i, ": the run checked what it could"), idle)
	}
	openCheck()
	openCall()
	testutil.EventuallyTrue(t, testutil.WaitLimit, "the runs ended and the events went up", d.Settled)

	var xEvents, yEvents []string
	for _, e := range a.evs() {
		switch strings.TrimLeft(e, "+-") {
		case xs:
			xEvents = append(xEvents, e)
		case ys:
			yEvents = append(yEvents, e)
		}
	}
	if got, want := strings.Join(xEvents, " "), "+"+xs+" -"+xs+" +"+xs; got != want {
		t.Errorf("X's events [%s], want [%s] (all events [%v])", got, want, a.evs())
	}
	if got, want := strings.Join(yEvents, " "), "+"+ys+" -"+ys+" +"+ys; got != want {
		t.Errorf("Y's events [%s], want [%s] (all events [%v])", got, want, a.evs())
	}
	for _, n := range []*mbNode{x, y} {
		if _, ok := d.Member(n.ch.LocalMember().Key()); !ok {
			t.Errorf("member %d not listed after the restarts (events [%v])", n.port(), a.evs())
		}
	}
}
