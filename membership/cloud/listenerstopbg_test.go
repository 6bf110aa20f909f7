package cloud

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/internal/testutil"
)

// TestStopFromTheListenerWithBackgroundReturns: Stop waited for every event queued
// before it, the listener call under way included, so a listener that stopped the
// service with context.Background() from MemberAdded waited for its own call to return:
// for ever, the Start delivering the event with it. A Stop made from the listener (on
// the goroutine delivering the event) now does not wait for the call it is made in, nor
// for the events behind it: it returns nil, and the member it reports gone goes up once
// the listener returned, after its MemberAdded.
func TestStopFromTheListenerWithBackgroundReturns(t *testing.T) {
	p := &listProvider{}
	p.insts.Store(&[]Instance{{IP: "10.0.0.2", UniqueID: [16]byte{2}}})
	s, err := New(Config{Custom: p, LookupEnv: NoEnv, LocalIP: "10.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	stopped := make(chan error, 1)
	l := channel.MembershipFuncs{
		Added: func(m channel.Member) {
			rec.MemberAdded(m)
			stopped <- s.Stop(context.Background(), channel.SvcMembership)
		},
		Disappeared: rec.MemberDisappeared,
	}
	local := localMember("10.0.0.1", 4000, [16]byte{1})
	started := make(chan error, 1)
	go func() { started <- s.Start(context.Background(), channel.SvcMembership, local, l) }()
	select {
	case err := <-stopped:
		if err != nil {
			t.Fatalf("Stop from the listener: %v, want nil", err)
		}
	case <-time.After(testutil.WaitLimit):
		t.Fatal("Stop(context.Background()) from MemberAdded did not return")
	}
	select {
	case err := <-started:
		if err != nil {
			t.Fatalf("Start whose listener stopped the service: %v", err)
		}
	case <-time.After(testutil.WaitLimit):
		t.Fatal("Start did not return after its listener's Stop")
	}
	testutil.EventuallyTrue(t, testutil.WaitLimit, "the member reported gone after its addition", func() bool {
		return len(rec.get()) == 2
	})
	if got := rec.get(); !strings.HasPrefix(got[0], "+10.0.0.2:4000") || got[1] != "-"+got[0][1:] {
		t.Fatalf("events %v, want the member added then gone", got)
	}
	if ms := s.Members(); len(ms) != 0 {
		t.Fatalf("members %v after Stop", ms)
	}
	if !s.events.Idle() {
		t.Fatal("events still queued or running after the member gone went up")
	}
}

// TestRestartFromTheListenerWithBackgroundReturns: Start waited for the members it
// listed to reach the listener until its ctx ended, so a listener that restarted the
// service with context.Background() (Stop, then Start) from MemberAdded waited for events
// queued behind its own call: for ever. A Start made from the listener now does not wait
// for them either: both return nil, and once the listener returned it is told of the
// member gone and added again, in order.
func TestRestartFromTheListenerWithBackgroundReturns(t *testing.T) {
	p := &listProvider{}
	p.insts.Store(&[]Instance{{IP: "10.0.0.2", UniqueID: [16]byte{2}}})
	s, err := New(Config{Custom: p, LookupEnv: NoEnv, LocalIP: "10.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	local := localMember("10.0.0.1", 4000, [16]byte{1})
	rec := &recorder{}
	restarted := make(chan error, 1)
	var l channel.MembershipListener
	first := true
	l = channel.MembershipFuncs{
		Added: func(m channel.Member) {
			rec.MemberAdded(m)
			if first { // only on the goroutine delivering the events: no lock needed
				first = false
				restarted <- errors.Join(s.Stop(context.Background(), channel.SvcMembership),
					s.Start(context.Background(), channel.SvcMembership, local, l))
			}
		},
		Disappeared: rec.MemberDisappeared,
	}
	started := make(chan error, 1)
	go func() { started <- s.Start(context.Background(), channel.SvcMembership, local, l) }()
	select {
	case err := <-restarted:
		if err != nil {
			t.Fatalf("Stop and Start from the listener: %v, want nil", err)
		}
	case <-time.After(testutil.WaitLimit):
		t.Fatal("Stop and Start(context.Background()) from MemberAdded did not return")
	}
	select {
	case err := <-started:
		if err != nil {
			t.Fatalf("Start whose listener restarted the service: %v", err)
		}
	case <-time.After(testutil.WaitLimit):
		t.Fatal("Start did not return after its listener's restart")
	}
	defer func() { _ = s.Stop(context.Background(), channel.SvcMembership) }()
	got := rec.get()
	if len(got) != 3 || !strings.HasPrefix(got[0], "+10.0.0.2:4000") || got[1] != "-"+got[0][1:] || got[2] != got[0] {
		t.Fatalf("events %v, want the member added, gone, added again", got)
	}
	if ms := s.Members(); len(ms) != 1 {
		t.Fatalf("members %v after the restart, want the listed one", ms)
	}
}
