package interceptors

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
)

// holdLog is a slog.Handler that holds the first record whose message is msg until
// open is called: a hook on the goroutine that logs it.
type holdLog struct {
	msg     string
	once    sync.Once
	free    sync.Once
	entered chan struct{}
	release chan struct{}
}

func newHoldLog(msg string) *holdLog {
	return &holdLog{msg: msg, entered: make(chan struct{}), release: make(chan struct{})}
}

func (h *holdLog) Enabled(context.Context, slog.Level) bool { return true }

func (h *holdLog) Handle(_ context.Context, r slog.Record) error {
	if r.Message == h.msg {
		h.once.Do(func() {
			close(h.entered)
			<-h.release
		})
	}
	return nil
}

func (h *holdLog) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *holdLog) WithGroup(string) slog.Handler      { return h }
func (h *holdLog) open()                              { h.free.Do(func() { close(h.release) }) }

func (h *holdLog) wait(t *testing.T) {
	t.Helper()
	select {
	case <-h.entered:
	case <-time.After(testutil.WaitLimit):
		t.Fatalf("nothing logged %q", h.msg)
	}
}

// TestNonBlockingCoordinatorNoViewChangeAfterItsStop: the goroutine checked that its run
// was still running when it installed a view, then logged it and called OnViewChange; a
// Stop that began between the check and the call (here the log is held) and returned
// (its ctx ended) was followed by an OnViewChange call of the stopped run. The check and
// the listener call's mark are now one step, so no call begins once Stop marked the run
// stopped.
func TestNonBlockingCoordinatorNoViewChangeAfterItsStop(t *testing.T) {
	h := newHoldLog("tribes coordinator: view installed")
	defer h.open()
	var stopped atomic.Bool
	var late atomic.Int32
	c := must(NewNonBlockingCoordinator(NonBlockingCoordinatorConfig{
		Logger: slog.New(h),
		OnViewChange: func([]channel.Member, [16]byte) {
			if stopped.Load() {
				late.Add(1)
			}
		},
	}))
	n := newNode(t, channeltest.NewNetwork(), c)
	if err := n.ch.Start(context.Background(), channel.SvcAll); err != nil {
		t.Fatal(err)
	}
	h.wait(t) // alone, the coordinator installs its own view at once
	err := returnsWithin(t, "Stop", h.open, func() error {
		return n.ch.Stop(within(t, 100*time.Millisecond), channel.SvcAll)
	})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Stop with the install held: %v, want context.DeadlineExceeded", err)
	}
	stopped.Store(true)
	h.open()
	// A Stop that returns nil has waited for the goroutine: the install is over.
	if err := c.Stop(within(t, testutil.WaitLimit), channel.SvcAll); err != nil {
		t.Fatalf("Stop once the log returned: %v", err)
	}
	if got := late.Load(); got != 0 {
		t.Fatalf("OnViewChange called %d times after the Stop returned", got)
	}
}

// sentWithID returns how many coordination messages of election id the tap saw sent.
func sentWithID(t *testing.T, n *tnode, id [16]byte) int {
	t.Helper()
	count := 0
	for _, m := range n.tap.sent() {
		if !IsCoordinationMessage(m.Data) {
			continue
		}
		cm, err := ParseCoordinationMessage(m.Data)
		if err != nil {
			t.Fatal(err)
		}
		if cm.ID == id {
			count++
		}
	}
	return count
}

// TestNonBlockingCoordinatorStoppedRunChangesNothing: a token whose alive check the
// goroutine was held in (a check that ignores its context) when a Stop gave up waiting
// for it was handled once the check returned, after the Stop: the member checked was
// added to the membership, MemberAdded passed up, and the token forwarded. The goroutine
// of a stopped run now adds no member, calls no listener and sends nothing.
func TestNonBlockingCoordinatorStoppedRunChangesNothing(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	var once, free sync.Once
	open := func() { free.Do(func() { close(release) }) }
	defer open()
	c := must(NewNonBlockingCoordinator(NonBlockingCoordinatorConfig{
		AliveCheck: func(context.Context, channel.Member) bool {
			once.Do(func() { close(entered) })
			<-release
			return true
		},
	}))
	nw := channeltest.NewNetwork()
	n := newNode(t, nw, c)
	var added atomic.Int32
	n.ch.AddMembershipListener(channel.MembershipFuncs{Added: func(m channel.Member) {
		if m.Equal(unreachableMember) {
			added.Add(1)
		}
	}})
	peer := newNode(t, nw)
	startNodes(t, n, peer)
	member := peer.member()
	cm := CoordinationMessage{Leader: unreachableMember, Source: member,
		View: []channel.Member{unreachableMember, member}, ID: newViewID(), Type: CoordRequest}
	if err := n.tap.inject(coordMessage(t, member, cm)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-entered:
	case <-time.After(testutil.WaitLimit):
		t.Fatal("the coordinator never checked the unknown member")
	}
	err := returnsWithin(t, "Stop", open, func() error {
		return n.ch.Stop(within(t, 100*time.Millisecond), channel.SvcAll)
	})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Stop with the alive check held: %v, want context.DeadlineExceeded", err)
	}
	open()
	// A Stop that returns nil has waited for the goroutine: it handled the token.
	if err := c.Stop(within(t, testutil.WaitLimit), channel.SvcAll); err != nil {
		t.Fatalf("Stop once the alive check returned: %v", err)
	}
	if _, ok := c.Member(unreachableMember.Key()); ok {
		t.Error("the stopped run added the checked member to the membership")
	}
	if got := added.Load(); got != 0 {
		t.Errorf("MemberAdded passed up %d times by the stopped run", got)
	}
	if got := sentWithID(t, n, cm.ID); got != 0 {
		t.Errorf("the stopped run forwarded the token %d times", got)
	}
}

// TestNonBlockingCoordinatorOldRunLeavesTheNewOne: the goroutine of a run held in a
// membership listener (MemberAdded of a member learnt from a token) when the channel was
// stopped and started again (once, or twice) went on handling that token once the
// listener returned, in the new run: it forwarded the token and released the new run's
// held messages; after two restarts the newest run's goroutine did not wait for it, and
// the two ran the election state together. The old goroutine now does nothing more once
// its call returns, and a run's goroutine waits for every older one still running.
func TestNonBlockingCoordinatorOldRunLeavesTheNewOne(t *testing.T) {
	for _, restarts := range []int{1, 2} {
		t.Run(map[int]string{1: "once", 2: "twice"}[restarts], func(t *testing.T) {
			testOldRunLeavesTheNewOne(t, restarts)
		})
	}
}

// holdAdded is a layer whose MemberAdded calls hold first (a listener of the layers below
// that may block).
type holdAdded struct {
	channel.InterceptorBase
	hold func(channel.Member)
}

func (h *holdAdded) MemberAdded(m channel.Member) {
	h.hold(m)
	h.Prev().MemberAdded(m)
}

func testOldRunLeavesTheNewOne(t *testing.T, restarts int) {
	entered, release := make(chan struct{}), make(chan struct{})
	var once, free sync.Once
	open := func() { free.Do(func() { close(release) }) }
	defer open()
	c := must(NewNonBlockingCoordinator(NonBlockingCoordinatorConfig{
		AliveCheck: func(context.Context, channel.Member) bool { return true },
	}))
	hold := &holdAdded{hold: func(m channel.Member) {
		if m.Equal(unreachableMember) {
			once.Do(func() {
				close(entered)
				<-release
			})
		}
	}}
	nw := channeltest.NewNetwork()
	n := newNode(t, nw, hold, c)
	peer := newNode(t, nw)
	startNodes(t, n, peer)
	c.mu.Lock()
	old := c.run
	c.mu.Unlock()
	member := peer.member()
	cm := CoordinationMessage{Leader: unreachableMember, Source: member,
		View: []channel.Member{unreachableMember, member}, ID: newViewID(), Type: CoordRequest}
	if err := n.tap.inject(coordMessage(t, member, cm)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-entered:
	case <-time.After(testutil.WaitLimit):
		t.Fatal("MemberAdded never passed up for the member the token named")
	}
	for range restarts {
		if err := returnsWithin(t, "Stop", open, func() error {
			return n.ch.Stop(within(t, testutil.WaitLimit), channel.SvcAll)
		}); err != nil {
			t.Fatalf("Stop with MemberAdded held: %v", err)
		}
		if err := returnsWithin(t, "Start", open, func() error {
			return n.ch.Start(within(t, testutil.WaitLimit), channel.SvcAll)
		}); err != nil {
			t.Fatalf("Start with MemberAdded held: %v", err)
		}
	}
	open()
	select {
	case <-old.finished():
	case <-time.After(testutil.WaitLimit):
		t.Fatal("the old run's goroutine did not end")
	}
	if got := sentWithID(t, n, cm.ID); got != 0 {
		t.Errorf("the old run forwarded the token %d times in the new run", got)
	}
}
