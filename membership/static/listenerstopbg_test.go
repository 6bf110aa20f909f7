package static_test

import (
	"context"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/membership/static"
	"github.com/gotribes/tribes/wire"
)

// TestStopFromTheListenerWithBackgroundReturns: Stop waited for the members it reported
// gone, which go up behind the listener call under way, so a listener that stopped the
// service with context.Background() from MemberAdded waited for its own call to return:
// for ever, the Add delivering the event with it. A Stop made from the listener (on the
// goroutine delivering the event) now waits for none of the events: it returns nil, and
// the member it reports gone goes up once the listener returned, after its MemberAdded.
func TestStopFromTheListenerWithBackgroundReturns(t *testing.T) {
	am, _ := wire.ParseMemberText("127.0.0.1:4000")
	bm, _ := wire.ParseMemberText("127.0.0.1:4001")
	s := static.New()
	rec := &recorder{}
	stopped := make(chan error, 1)
	l := channel.MembershipFuncs{
		Added: func(m channel.Member) {
			rec.add("+" + m.Addr())
			stopped <- s.Stop(context.Background(), channel.SvcMembership)
		},
		Disappeared: func(m channel.Member) { rec.add("-" + m.Addr()) },
	}
	if err := s.Start(context.Background(), channel.SvcMembership, am, l); err != nil {
		t.Fatal(err)
	}
	added := make(chan error, 1)
	go func() { added <- s.Add(context.Background(), bm) }() // the listener runs on this goroutine
	select {
	case err := <-stopped:
		if err != nil {
			t.Fatalf("Stop from the listener: %v, want nil", err)
		}
	case <-time.After(testutil.WaitLimit):
		t.Fatal("Stop(context.Background()) from MemberAdded did not return")
	}
	select {
	case err := <-added:
		if err != nil {
			t.Fatalf("Add whose listener stopped the service: %v", err)
		}
	case <-time.After(testutil.WaitLimit):
		t.Fatal("Add did not return after its listener's Stop")
	}
	if got, want := rec.events(), []string{"+" + bm.Addr(), "-" + bm.Addr()}; !slices.Equal(got, want) {
		t.Fatalf("events %v, want %v", got, want)
	}
	if ms := s.Members(); len(ms) != 0 {
		t.Fatalf("members %v after Stop", ms)
	}
}

// TestStopWaitsForEarlierEvents: the other side of the test above. A Stop from another
// goroutine than the one delivering the events still waits, within its ctx, for the
// members it reports gone, and so for the listener call queued before them (another
// Add's MemberAdded, held): no listener call runs once it returned.
func TestStopWaitsForEarlierEvents(t *testing.T) {
	am, _ := wire.ParseMemberText("127.0.0.1:4000")
	bm, _ := wire.ParseMemberText("127.0.0.1:4001")
	cm, _ := wire.ParseMemberText("127.0.0.1:4002")
	s := static.New(bm)
	entered, release := make(chan struct{}), make(chan struct{})
	var inListener atomic.Bool
	l := channel.MembershipFuncs{
		Added: func(m channel.Member) {
			if m.Port != cm.Port {
				return
			}
			inListener.Store(true)
			defer inListener.Store(false)
			close(entered)
			<-release
		},
	}
	if err := s.Start(context.Background(), channel.SvcMembership, am, l); err != nil {
		t.Fatal(err)
	}
	added := make(chan error, 1)
	go func() { added <- s.Add(context.Background(), cm) }()
	<-entered
	ctx, cancel := context.WithTimeout(context.Background(), testutil.WaitLimit)
	defer cancel()
	stopped := make(chan bool, 1) // whether the listener call still ran when Stop returned
	go func() {
		if err := s.Stop(ctx, channel.SvcMembership); err != nil {
			t.Errorf("Stop: %v", err)
		}
		stopped <- inListener.Load()
	}()
	select {
	case <-stopped:
		close(release)
		t.Fatal("Stop returned while the listener call queued before it ran")
	case <-time.After(100 * time.Millisecond): // an absence: Stop waits
	}
	close(release)
	select {
	case still := <-stopped:
		if still {
			t.Fatal("Stop returned while the listener call queued before it ran")
		}
	case <-time.After(testutil.WaitLimit):
		t.Fatal("Stop did not return once the listener call before it returned")
	}
	if err := <-added; err != nil {
		t.Fatal(err)
	}
}
