package static_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/membership/static"
	"github.com/gotribes/tribes/wire"
)

// TestStopAgainOfAStoppedLevelDoesNotWaitForItsEvents pins what a Stop of levels not
// running does (documented on Stop): it returns nil at once, even while the members
// gone of an earlier Stop, which gave up when its ctx ended, are still queued behind a
// listener call that has not returned. So the channel's second Stop, which calls the
// service's Stop again for the level the first one left stopping, returns nil with the
// listener still to be told of the member gone; the event still goes up, in order, once
// the listener returned. (Waiting there, within ctx, would also make the stop that a
// channel Start makes first of such a level wait for those events, and that Start fail
// without starting until they went up: TestFailedStartStopsTheMembershipLevelThatFailed
// relies on it starting.)
func TestStopAgainOfAStoppedLevelDoesNotWaitForItsEvents(t *testing.T) {
	bm, _ := wire.ParseMemberText("127.0.0.1:4001")
	svc := static.New()
	ch, err := channel.New(channel.Config{Transport: channeltest.NewNetwork().NewNode().Transport(),
		Membership: svc, HeartbeatInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	entered, release := make(chan struct{}), make(chan struct{})
	ch.AddMembershipListener(channel.MembershipFuncs{
		Added: func(m channel.Member) {
			rec.add("+" + m.Addr())
			close(entered)
			<-release
		},
		Disappeared: func(m channel.Member) { rec.add("-" + m.Addr()) },
	})
	if err := ch.Start(context.Background(), channel.SvcAll); err != nil {
		t.Fatal(err)
	}
	added := make(chan error, 1)
	go func() { added <- svc.Add(context.Background(), bm) }() // the listener is held on this goroutine
	select {
	case <-entered:
	case <-time.After(testutil.WaitLimit):
		t.Fatal("MemberAdded not called")
	}
	ended, end := context.WithCancel(context.Background())
	end()
	if err := ch.Stop(ended, channel.SvcAll); !errors.Is(err, context.Canceled) {
		close(release)
		t.Fatalf("Stop behind the held listener: %v, want ctx's error", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), testutil.WaitLimit)
	defer cancel()
	err = ch.Stop(ctx, channel.SvcAll) // the service's Stop again, of a level not running
	got := rec.events()
	close(release)
	b := "127.0.0.1:4001"
	if err != nil || !slices.Equal(got, []string{"+" + b}) {
		t.Fatalf("second Stop: %v with the events %v told; want nil, with the member gone still queued (%v)",
			err, got, []string{"+" + b})
	}
	if err := <-added; err != nil {
		t.Fatal(err)
	}
	want := []string{"+" + b, "-" + b}
	testutil.EventuallyTrue(t, testutil.WaitLimit, "the member gone going up once the listener returned",
		func() bool { return slices.Equal(rec.events(), want) })
}
