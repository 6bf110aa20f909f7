package static_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/membership/static"
	"github.com/gotribes/tribes/wire"
)

// TestAddWaitsOnlyUntilItsContextEnds: Add and Remove waited for their event with no
// context, so with the listener held in the event of another change (here one that
// does not return until released) they waited for ever. They now return when their ctx
// ends, with an error wrapping ctx's; the member is listed (then unlisted) at once, and
// its events still go up after the one under way, in order.
func TestAddWaitsOnlyUntilItsContextEnds(t *testing.T) {
	local, _ := wire.ParseMemberText("127.0.0.1:4000")
	bm, _ := wire.ParseMemberText("127.0.0.1:4001")
	cm, _ := wire.ParseMemberText("127.0.0.1:4002")
	s := static.New()
	l := &blockingListener{hold: bm.Port, entered: make(chan struct{}), release: make(chan struct{}), last: map[int32]string{}}
	released := false
	release := func() {
		if !released {
			released = true
			close(l.release)
		}
	}
	defer release()
	if err := s.Start(context.Background(), channel.SvcMembership, local, l); err != nil {
		t.Fatal(err)
	}
	added := make(chan error, 1)
	go func() { added <- s.Add(context.Background(), bm) }() // the listener blocks on this goroutine
	select {
	case <-l.entered:
	case <-time.After(testutil.WaitLimit):
		t.Fatal("MemberAdded of the held member not called")
	}
	for _, op := range []struct {
		name string
		call func(context.Context) error
	}{
		{"Add", func(ctx context.Context) error { return s.Add(ctx, cm) }},
		{"Remove", func(ctx context.Context) error { return s.Remove(ctx, cm.Key()) }},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		ret := make(chan error, 1)
		go func() { ret <- op.call(ctx) }()
		select {
		case err := <-ret:
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("%s behind a held listener: %v, want an error wrapping its ctx's", op.name, err)
			}
		case <-time.After(testutil.WaitLimit):
			t.Fatalf("%s behind a held listener did not return when its ctx ended", op.name) // waits for ever
		}
		cancel()
		if op.name == "Add" {
			if _, ok := s.Member(cm.Key()); !ok {
				t.Errorf("Add returned with its ctx's error but did not list %v", cm)
			}
		} else if _, ok := s.Member(cm.Key()); ok {
			t.Errorf("Remove returned with its ctx's error but still lists %v", cm)
		}
	}
	release()
	if err := <-added; err != nil {
		t.Fatalf("Add of the held member: %v", err)
	}
	testutil.EventuallyTrue(t, testutil.WaitLimit, "the events queued behind the held listener go up", func() bool {
		l.mu.Lock()
		defer l.mu.Unlock()
		return l.last[cm.Port] == "gone"
	})
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.overlap {
		t.Error("membership events delivered concurrently")
	}
}

// TestAddFromTheListener: Add from the membership listener cannot see its event go up
// before the listener returns; with a cancelled ctx it returns at once with ctx's error,
// and the member goes up after the listener's call, in order.
func TestAddFromTheListener(t *testing.T) {
	local, _ := wire.ParseMemberText("127.0.0.1:4000")
	bm, _ := wire.ParseMemberText("127.0.0.1:4001")
	cm, _ := wire.ParseMemberText("127.0.0.1:4002")
	s := static.New()
	rec := &recorder{}
	var addErr error
	l := channel.MembershipFuncs{
		Added: func(m channel.Member) {
			rec.add("+" + m.Addr())
			if m.Port == bm.Port {
				ctx, cancel := context.WithCancel(context.Background())
				cancel()
				addErr = s.Add(ctx, cm)
				rec.add("returned")
			}
		},
		Disappeared: func(m channel.Member) { rec.add("-" + m.Addr()) },
	}
	if err := s.Start(context.Background(), channel.SvcMembership, local, l); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Add(context.Background(), bm) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Add of the member whose listener adds another: %v", err)
		}
	case <-time.After(testutil.WaitLimit):
		t.Fatal("Add of the member whose listener adds another did not return")
	}
	if !errors.Is(addErr, context.Canceled) {
		t.Errorf("Add from the listener with a cancelled ctx: %v, want an error wrapping context.Canceled", addErr)
	}
	want := []string{"+" + bm.Addr(), "returned", "+" + cm.Addr()}
	if got := rec.events(); len(got) != len(want) || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
		t.Fatalf("events %v, want %v", got, want)
	}
}
