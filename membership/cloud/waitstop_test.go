package cloud

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/internal/testutil"
)

// TestWaitsForEventsEndWithStop: a heartbeat and a sender that became a member waited for
// their events with no context, so with the listener held in the event of another change
// (here one that does not return until released) they waited for ever, a Stop of the
// service included. A heartbeat now waits until the membership-rx level stops: Stop
// (returning its ctx's error, its own event being behind the held one too) releases it; a
// sender no longer waits for its event at all, which goes up on a goroutine of the service
// (TestSenderEventLeavesTheReceivePath). The events still go up in order once the listener
// returns. A Start behind the held listener (a new run) returns when its ctx ends, with an
// error wrapping ctx's.
func TestWaitsForEventsEndWithStop(t *testing.T) {
	p := &listProvider{}
	s, err := New(Config{Custom: p, LookupEnv: NoEnv, LocalIP: "10.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	held := netip.MustParseAddr("10.0.0.3")
	entered, release := make(chan struct{}), make(chan struct{})
	rec := &recorder{}
	l := channel.MembershipFuncs{
		Added: func(m channel.Member) {
			rec.MemberAdded(m)
			if m.IP() == held {
				close(entered)
				<-release
			}
		},
		Disappeared: rec.MemberDisappeared,
	}
	released := false
	defer func() {
		if !released {
			close(release)
		}
	}()
	local := localMember("10.0.0.1", 4000, [16]byte{1})
	if err := s.Start(context.Background(), channel.SvcMembership, local, l); err != nil {
		t.Fatal(err)
	}
	first := make(chan struct{})
	go func() { // the listener is held on a goroutine of the service
		defer close(first)
		senderWatcher{s}.AcceptNonMember(&channel.Message{Source: localMember("10.0.0.3", 4000, [16]byte{3})})
	}()
	select {
	case <-entered:
	case <-time.After(testutil.WaitLimit):
		t.Fatal("MemberAdded of the held sender not called")
	}
	p.insts.Store(&[]Instance{{IP: "10.0.0.2", UniqueID: [16]byte{2}}})
	waiters := map[string]chan struct{}{"Heartbeat": make(chan struct{}), "a second sender": make(chan struct{})}
	go func() { defer close(waiters["Heartbeat"]); s.Heartbeat() }()
	go func() {
		defer close(waiters["a second sender"])
		senderWatcher{s}.AcceptNonMember(&channel.Message{Source: localMember("10.0.0.4", 4000, [16]byte{4})})
	}()
	testutil.EventuallyTrue(t, testutil.WaitLimit, "the heartbeat and the second sender list their members", func() bool {
		return len(s.Members()) == 3
	})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := s.Stop(ctx, channel.SvcMembership); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Stop behind the held listener: %v, want an error wrapping its ctx's", err)
	}
	for name, w := range waiters {
		select {
		case <-w:
		case <-time.After(testutil.WaitLimit):
			t.Fatalf("%s waiting for its event behind the held listener did not return after Stop", name) // for ever
		}
	}
	// A Start behind the held listener waits for its listing's events until its ctx ends.
	p.insts.Store(&[]Instance{{IP: "10.0.0.5", UniqueID: [16]byte{5}}})
	sctx, scancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer scancel()
	startErr := make(chan error, 1)
	go func() { startErr <- s.Start(sctx, channel.SvcMembership, local, l) }()
	select {
	case err := <-startErr:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Start behind the held listener: %v, want an error wrapping its ctx's", err)
		}
	case <-time.After(testutil.WaitLimit):
		t.Fatal("Start behind the held listener did not return when its ctx ended") // for ever
	}
	defer s.Stop(context.Background(), channel.SvcMembership)
	released = true
	close(release)
	<-first
	testutil.EventuallyTrue(t, testutil.WaitLimit, "every event goes up", func() bool { return len(rec.get()) == 7 })
	ev := rec.get()
	if !strings.HasPrefix(ev[0], "+10.0.0.3:4000") {
		t.Fatalf("events %v: the held sender's first", ev)
	}
	for i, e := range ev[:6] {
		if (i < 3) != (e[0] == '+') {
			t.Fatalf("events %v: the three added, then the three gone, then the new run's", ev)
		}
	}
	if !strings.HasPrefix(ev[6], "+10.0.0.5:4000") {
		t.Fatalf("events %v: the new run's member last", ev)
	}
}
