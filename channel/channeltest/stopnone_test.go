package channeltest_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/wire"
)

// TestStopReportingNoMemberGoneWaitsForEarlierEvents: as membership/static's before
// 038e820, a membership's Stop whose change had no event (its view already empty: the
// other node came and went) returned at once, while its listener was still in an
// earlier event (the other node's MemberAdded, held) and another was queued behind it
// (its MemberDisappeared), so the listener was called after Stop returned nil. Such a
// Stop of a running level, made from another goroutine than the one delivering the
// events, now waits within its ctx for the events queued before it: when it returns,
// both went up.
func TestStopReportingNoMemberGoneWaitsForEarlierEvents(t *testing.T) {
	nw := channeltest.NewNetwork()
	a, b := nw.NewNode(), nw.NewNode()
	am, _ := wire.ParseMemberText("127.0.0.1:4000")
	bm, _ := wire.ParseMemberText("127.0.0.1:4002")
	var mu sync.Mutex
	var got []string
	events := func() []string { mu.Lock(); defer mu.Unlock(); return slices.Clone(got) }
	entered, release := make(chan struct{}), make(chan struct{})
	l := channel.MembershipFuncs{
		Added: func(m channel.Member) {
			mu.Lock()
			got = append(got, "+"+m.Addr())
			mu.Unlock()
			close(entered)
			<-release
		},
		Disappeared: func(m channel.Member) { mu.Lock(); got = append(got, "-"+m.Addr()); mu.Unlock() },
	}
	if err := a.Membership().Start(context.Background(), channel.SvcMembership, am, l); err != nil {
		t.Fatal(err)
	}
	started := make(chan error, 1)
	go func() { // a's listener is held on this goroutine
		started <- b.Membership().Start(context.Background(), channel.SvcMembership, bm, nil)
	}()
	select {
	case <-entered:
	case <-time.After(testutil.WaitLimit):
		t.Fatal("MemberAdded not called")
	}
	ended, end := context.WithCancel(context.Background())
	end()
	// b leaves a's view at once, its MemberDisappeared queued behind the held call.
	if err := b.Membership().Stop(ended, channel.SvcMembership); !errors.Is(err, context.Canceled) {
		t.Fatalf("b's Stop behind the held listener: %v, want ctx's error", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), testutil.WaitLimit)
	defer cancel()
	stopped := make(chan []string, 1) // the events told when a's Stop returned
	go func() {
		if err := a.Membership().Stop(ctx, channel.SvcMembership); err != nil {
			t.Errorf("Stop: %v", err)
		}
		stopped <- events()
	}()
	select {
	case ev := <-stopped:
		close(release)
		t.Fatalf("Stop returned with the events %v told, the listener held and an event queued", ev)
	case <-time.After(100 * time.Millisecond): // an absence: Stop waits
	}
	close(release)
	want := []string{"+" + bm.Addr(), "-" + bm.Addr()}
	select {
	case ev := <-stopped:
		if !slices.Equal(ev, want) {
			t.Fatalf("events %v when Stop returned, want %v", ev, want)
		}
	case <-time.After(testutil.WaitLimit):
		t.Fatal("Stop did not return once the events before it went up")
	}
	if err := <-started; err != nil {
		t.Fatal(err)
	}
	if ev := events(); !slices.Equal(ev, want) {
		t.Fatalf("events %v, want %v", ev, want)
	}
}
