package static_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/membership/static"
	"github.com/gotribes/tribes/wire"
)

// TestStopReportingNoMemberGoneWaitsForEarlierEvents: a Stop of the running
// membership-rx level that reported no member gone (the view empty: the one member
// added was removed again) returned at once, while the listener was still in that
// member's MemberAdded (held) and its MemberDisappeared was still queued: the listener
// was called after Stop returned nil. Such a Stop now waits, within its ctx, for the
// events queued before it, as one reporting members gone: when it returns, every one
// went up. (A Stop of a level not running still returns at once: the undo of a failed
// channel Start relies on it, TestFailedStartStopsTheMembershipLevelThatFailed.)
func TestStopReportingNoMemberGoneWaitsForEarlierEvents(t *testing.T) {
	am, _ := wire.ParseMemberText("127.0.0.1:4000")
	cm, _ := wire.ParseMemberText("127.0.0.1:4002")
	s := static.New()
	rec := &recorder{}
	entered, release := make(chan struct{}), make(chan struct{})
	l := channel.MembershipFuncs{
		Added: func(m channel.Member) {
			rec.add("+" + m.Addr())
			close(entered)
			<-release
		},
		Disappeared: func(m channel.Member) { rec.add("-" + m.Addr()) },
	}
	if err := s.Start(context.Background(), channel.SvcMembership, am, l); err != nil {
		t.Fatal(err)
	}
	added := make(chan error, 1)
	go func() { added <- s.Add(context.Background(), cm) }() // the listener is held on this goroutine
	select {
	case <-entered:
	case <-time.After(testutil.WaitLimit):
		t.Fatal("MemberAdded not called")
	}
	ended, end := context.WithCancel(context.Background())
	end()
	// Unlisted at once, its MemberDisappeared queued behind the held call.
	if err := s.Remove(ended, cm.Key()); !errors.Is(err, context.Canceled) {
		t.Fatalf("Remove behind the held listener: %v, want ctx's error", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), testutil.WaitLimit)
	defer cancel()
	stopped := make(chan []string, 1) // the events told when Stop returned
	go func() {
		if err := s.Stop(ctx, channel.SvcMembership); err != nil {
			t.Errorf("Stop: %v", err)
		}
		stopped <- rec.events()
	}()
	select {
	case got := <-stopped:
		close(release)
		t.Fatalf("Stop returned with the events %v told, the listener held and an event queued", got)
	case <-time.After(100 * time.Millisecond): // an absence: Stop waits
	}
	close(release)
	c := cm.Addr()
	want := []string{"+" + c, "-" + c}
	select {
	case got := <-stopped:
		if !slices.Equal(got, want) {
			t.Fatalf("events %v when Stop returned, want %v", got, want)
		}
	case <-time.After(testutil.WaitLimit):
		t.Fatal("Stop did not return once the events before it went up")
	}
	if err := <-added; err != nil {
		t.Fatal(err)
	}
	if got := rec.events(); !slices.Equal(got, want) {
		t.Fatalf("events %v, want %v", got, want)
	}
}
