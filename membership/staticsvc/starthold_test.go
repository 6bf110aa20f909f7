package staticsvc_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/membership/staticsvc"
)

// TestStartDoesNotWaitForAHeldListener pins what Start's doc says: a Start that comes to
// wait for the members it found while a listener call from elsewhere is held returns
// nil without waiting for it, and those members reach the listener once it returned.
func TestStartDoesNotWaitForAHeldListener(t *testing.T) {
	ctx := context.Background()
	p := testutil.FreePorts(t, 3)
	long := staticsvc.Config{Members: members(t, p[0], p[1]), ExpirationTime: time.Hour, PingInterval: time.Hour}
	a := newNode(t, p[0], long)
	b := newNode(t, p[1], long)
	holder := members(t, p[2])[0]
	holder.UniqueID = channel.UniqueID{9}
	entered, release := make(chan struct{}), make(chan struct{})
	var once, releaseOnce sync.Once
	t.Cleanup(func() { releaseOnce.Do(func() { close(release) }) })
	a.ch.AddMembershipListener(channel.MembershipFuncs{Added: func(m channel.Member) {
		if m.Port == holder.Port {
			once.Do(func() { close(entered); <-release })
		}
	}})
	for _, n := range []*node{b, a} {
		if err := n.ch.Start(ctx, channel.SvcAll); err != nil {
			t.Fatal(err)
		}
	}
	if _, ok := a.ev.find(true, int32(p[1])); !ok {
		t.Fatal("a's Start returned before b reached its listener")
	}
	staticsvc.Hear(a.svc, holder, true)
	select {
	case <-entered:
	case <-time.After(testutil.WaitLimit):
		t.Fatal("the listener was not called for the holder")
	}
	if err := a.ch.Stop(ctx, channel.SvcMembership); err != nil {
		t.Fatalf("Stop with a listener held: %v", err)
	}
	started := make(chan error, 1)
	go func() { started <- a.ch.Start(ctx, channel.SvcMembership) }()
	select {
	case err := <-started:
		if err != nil {
			t.Fatalf("Start with a listener held: %v", err)
		}
	case <-time.After(testutil.WaitLimit):
		t.Fatalf("Start(context.Background()) with a listener held has not returned after %v", testutil.WaitLimit)
	}
	if !a.has(p[1]) {
		t.Fatalf("a does not list b after its Start: %v", a.ch.Members())
	}
	added := func() int {
		a.ev.mu.Lock()
		defer a.ev.mu.Unlock()
		n := 0
		for _, e := range a.ev.got {
			if e.added && e.m.Port == int32(p[1]) {
				n++
			}
		}
		return n
	}
	if n := added(); n != 1 {
		t.Fatalf("b reported added %d times while the listener was held, want 1 (the first run's)", n)
	}
	releaseOnce.Do(func() { close(release) })
	testutil.EventuallyTrue(t, testutil.WaitLimit, "b reported added again once the listener returned", func() bool { return added() == 2 })
}
