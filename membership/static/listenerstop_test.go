package static_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/membership/static"
	"github.com/gotribes/tribes/wire"
)

// recorder records the events it is told, in order.
type recorder struct {
	mu  sync.Mutex
	got []string
}

func (r *recorder) add(ev string) { r.mu.Lock(); r.got = append(r.got, ev); r.mu.Unlock() }
func (r *recorder) events() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.got...)
}

// TestChannelStopFromAListenerReturns: the service called the membership listener while
// holding the lock that keeps its events in order, so a listener that stopped the channel
// when Add announced a member had the service's Stop wait for that lock on the same
// goroutine: a deadlock, holding the channel's lifecycle lock. Events now go up outside
// that lock, in the same order: the Stop returns nil without waiting for the member it
// reports gone, which goes up once the listener returned, the channel is stopped, and
// the listener is told of the member gone after its addition.
func TestChannelStopFromAListenerReturns(t *testing.T) {
	nw := channeltest.NewNetwork()
	am, _ := wire.ParseMemberText("127.0.0.1:4000")
	bm, _ := wire.ParseMemberText("127.0.0.1:4001")
	svc := static.New(am)
	ch, err := channel.New(channel.Config{Transport: nw.NewNode().Transport(), Membership: svc})
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	stopped := make(chan error, 1)
	ch.AddMembershipListener(channel.MembershipFuncs{
		Added: func(m channel.Member) {
			rec.add("+" + m.Addr())
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			stopped <- ch.Stop(ctx, channel.SvcAll)
		},
		Disappeared: func(m channel.Member) { rec.add("-" + m.Addr()) },
	})
	if err := ch.Start(context.Background(), channel.SvcAll); err != nil {
		t.Fatal(err)
	}
	added := make(chan struct{})
	go func() { defer close(added); _ = svc.Add(context.Background(), bm) }() // the listener runs on this goroutine
	select {
	case err := <-stopped:
		// Its member gone goes up once the listener returned: Stop, made on the goroutine
		// delivering the events, does not wait for it.
		if err != nil {
			t.Fatalf("Stop from the listener: %v, want nil", err)
		}
	case <-time.After(2 * testutil.WaitLimit):
		// Deadlocked: Add and the channel stay blocked for ever.
		t.Fatal("Stop from the membership listener did not return")
	}
	select {
	case <-added:
	case <-time.After(testutil.WaitLimit):
		t.Fatal("Add did not return after the listener's Stop")
	}
	if got, want := rec.events(), []string{"+" + bm.Addr(), "-" + bm.Addr()}; len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("events %v, want %v", got, want)
	}
	if got := ch.Started(); got != 0 {
		t.Fatalf("running %v after the listener's Stop", got)
	}
	if len(svc.Members()) != 0 {
		t.Fatalf("members %v after Stop", svc.Members())
	}
}
