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

// TestRestartFromTheListenerReturns: Start waited for the members it announced, which
// go up behind the listener call it was made in, so a listener that restarted the
// service (Stop, then Start with a ctx of a minute) from MemberAdded had its Start wait
// out that minute, the Add delivering the event with it, and then return ctx's error.
// A Start made from the listener, on the goroutine delivering the events, now waits for
// none of them, as Stop: both return nil at once, and once the listener returned it is
// told of the member gone and added again, in order, the member listed.
func TestRestartFromTheListenerReturns(t *testing.T) {
	am, _ := wire.ParseMemberText("127.0.0.1:4000")
	bm, _ := wire.ParseMemberText("127.0.0.1:4001")
	s := static.New()
	rec := &recorder{}
	restarted := make(chan error, 1)
	var l channel.MembershipListener
	first := true // read and written only on the goroutine delivering the events
	l = channel.MembershipFuncs{
		Added: func(m channel.Member) {
			rec.add("+" + m.Addr())
			if first {
				first = false
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				restarted <- errors.Join(s.Stop(context.Background(), channel.SvcMembership),
					s.Start(ctx, channel.SvcMembership, am, l))
			}
		},
		Disappeared: func(m channel.Member) { rec.add("-" + m.Addr()) },
	}
	if err := s.Start(context.Background(), channel.SvcMembership, am, l); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Stop(context.Background(), channel.SvcMembership) }()
	added := make(chan error, 1)
	go func() { added <- s.Add(context.Background(), bm) }() // the listener runs on this goroutine
	select {
	case err := <-restarted:
		if err != nil {
			t.Fatalf("Stop and Start from the listener: %v, want nil", err)
		}
	case <-time.After(testutil.WaitLimit):
		t.Fatal("Start from MemberAdded, with a ctx of a minute, did not return")
	}
	select {
	case err := <-added:
		if err != nil {
			t.Fatalf("Add whose listener restarted the service: %v", err)
		}
	case <-time.After(testutil.WaitLimit):
		t.Fatal("Add did not return after its listener's restart")
	}
	b := bm.Addr()
	if got, want := rec.events(), []string{"+" + b, "-" + b, "+" + b}; !slices.Equal(got, want) {
		t.Fatalf("events %v, want %v", got, want)
	}
	if ms := s.Members(); len(ms) != 1 || !ms[0].Equal(bm) {
		t.Fatalf("members %v after the restart, want %v", ms, b)
	}
}
