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

// TestFailedStartStopsTheMembershipLevelThatFailed: Start returns ctx's error when its
// ctx ends before its members went up (here behind a listener held in an earlier Add's
// event), the membership-rx level running; the channel's Start then failed, but its undo
// stopped only the levels before it (the transport's), so the channel, stopped (Started
// none, a Stop doing nothing), still listed the member for ever, and the listener's last
// event for it was its addition. The undo now stops the level that failed too: the
// member goes, and the listener is told so, in order.
func TestFailedStartStopsTheMembershipLevelThatFailed(t *testing.T) {
	bm, _ := wire.ParseMemberText("127.0.0.1:4001")
	svc := static.New()
	ch, err := channel.New(channel.Config{Transport: channeltest.NewNetwork().NewNode().Transport(),
		Membership: svc, HeartbeatInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	entered, release := make(chan struct{}), make(chan struct{})
	held := false // the first event, on the Add's goroutine
	ch.AddMembershipListener(channel.MembershipFuncs{
		Added: func(m channel.Member) {
			rec.add("+" + m.Addr())
			if !held {
				held = true
				close(entered)
				<-release
			}
		},
		Disappeared: func(m channel.Member) { rec.add("-" + m.Addr()) },
	})
	if err := ch.Start(context.Background(), channel.SvcAll); err != nil {
		t.Fatal(err)
	}
	added := make(chan error, 1)
	go func() { added <- svc.Add(context.Background(), bm) }()
	select {
	case <-entered:
	case <-time.After(testutil.WaitLimit):
		t.Fatal("MemberAdded of the added member not called")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := ch.Stop(ctx, channel.SvcAll); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Stop behind the held listener: %v, want its ctx's error", err)
	}
	sctx, scancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer scancel()
	go func() {
		// Release the listener once the undo of the failing Start has unlisted the member
		// (before the fix it never did: released after WaitLimit).
		<-sctx.Done()
		deadline := time.Now().Add(testutil.WaitLimit)
		for len(svc.Members()) != 0 && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		close(release)
	}()
	if err := ch.Start(sctx, channel.SvcAll); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Start behind the held listener: %v, want an error wrapping its ctx's", err)
	}
	if err := <-added; err != nil {
		t.Fatal(err)
	}
	stopCtx, stopCancel := context.WithTimeout(context.Background(), testutil.WaitLimit)
	defer stopCancel()
	if err := ch.Stop(stopCtx, channel.SvcAll); err != nil {
		t.Fatalf("Stop after the failed Start: %v", err)
	}
	if s := ch.Started(); s != 0 {
		t.Fatalf("running %v after the failed Start and a Stop", s)
	}
	if ms := ch.Members(); len(ms) != 0 {
		t.Errorf("the stopped channel lists %v after its failed Start", ms)
	}
	b := bm.Addr()
	if got, want := rec.events(), []string{"+" + b, "-" + b, "+" + b, "-" + b}; !slices.Equal(got, want) {
		t.Errorf("events %v, want %v: the member added by the failed Start is not reported gone", got, want)
	}
}
