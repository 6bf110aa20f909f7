package cloud

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
)

// listProvider lists what the test stores in it.
type listProvider struct{ insts atomic.Pointer[[]Instance] }

func (p *listProvider) Fetch(context.Context) ([]Instance, error) {
	if l := p.insts.Load(); l != nil {
		return *l, nil
	}
	return nil, nil
}

// TestChannelStopFromAListenerReturns: the service called the membership listener while
// holding the lock that keeps its events in order, so a listener that stopped the channel
// when a heartbeat's listing announced a member had the service's Stop wait for that lock
// on the same goroutine: a deadlock, holding the channel's lifecycle lock. Events now go
// up outside that lock, in the same order, and a Stop made from the listener waits for
// neither the call it is made in nor the events behind it: Channel.Stop with
// context.Background() returns nil, the channel is stopped, and the listener is told of
// the member gone after its addition, once it returned.
func TestChannelStopFromAListenerReturns(t *testing.T) {
	p := &listProvider{}
	s, err := New(Config{Custom: p, LookupEnv: NoEnv, LocalIP: "10.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	ch, err := channel.New(channel.Config{Transport: channeltest.NewNetwork().NewNode().Transport(), Membership: s})
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	stopped := make(chan error, 1)
	ch.AddMembershipListener(channel.MembershipFuncs{
		Added: func(m channel.Member) {
			rec.MemberAdded(m)
			stopped <- ch.Stop(context.Background(), channel.SvcAll)
		},
		Disappeared: rec.MemberDisappeared,
	})
	if err := ch.Start(context.Background(), channel.SvcAll); err != nil {
		t.Fatal(err)
	}
	p.insts.Store(&[]Instance{{IP: "10.0.0.2", UniqueID: [16]byte{2}}})
	beat := make(chan struct{})
	go func() { defer close(beat); s.Heartbeat() }() // the listener runs on this goroutine
	select {
	case err := <-stopped:
		if err != nil {
			t.Fatalf("Stop from the listener: %v, want nil", err)
		}
	case <-time.After(testutil.WaitLimit):
		// Deadlocked: the heartbeat and the channel stay blocked for ever.
		t.Fatal("Stop from the membership listener did not return")
	}
	select {
	case <-beat:
	case <-time.After(testutil.WaitLimit):
		t.Fatal("Heartbeat did not return after the listener's Stop")
	}
	// Its member gone goes up once the listener returned, on the heartbeat's goroutine.
	got := rec.get()
	if len(got) != 2 || got[0][0] != '+' || got[1] != "-"+got[0][1:] {
		t.Fatalf("events %v, want the member added then gone", got)
	}
	if got := ch.Started(); got != 0 {
		t.Fatalf("running %v after the listener's Stop", got)
	}
	if ms := s.Members(); len(ms) != 0 {
		t.Fatalf("members %v after Stop", ms)
	}
}
