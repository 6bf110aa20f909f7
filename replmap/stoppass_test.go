package replmap_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/replmap"
)

// A member's MSG_STOP makes a publish the entries it backed up anew, to c here, whose
// MSG_BACKUPs are held. a's Stop, whose context ends meanwhile, returned nil with that
// pass still running, and a later Stop returned nil at once: nothing waited for it. Stop
// now waits for the pass within its context and says when it still runs, a later Stop
// waits for it too, and once it sees the stop the pass sends no MSG_BACKUP more.
func TestStopWaitsForAMemberStopPass(t *testing.T) {
	const entries = 10
	nw := channeltest.NewNetwork()
	cfg := replmap.Config{SendOptions: syncAck, RPCTimeout: time.Minute}
	hold := &holdBackups{release: make(chan struct{})}
	a, b, c := newChannel(t, nw), newChannel(t, nw), newChannel(t, nw, hold)
	nodes := []*node{a, b, c}
	for _, n := range nodes {
		testutil.EventuallyTrue(t, testutil.WaitLimit, "channel members", func() bool { return len(n.ch.Members()) == 2 })
		newMap(t, n, cfg)
	}
	for _, n := range nodes {
		start(t, n)
	}
	waitMapMembers(t, nodes, 2)
	for i := range entries {
		if _, err := a.m.Put(ctx(t), fmt.Sprint("k", i), int32(i)); err != nil {
			t.Fatal(err)
		}
	}
	hold.n.Store(0)
	hold.armed.Store(true)
	released := false
	release := func() {
		if !released {
			released = true
			hold.armed.Store(false)
			close(hold.release)
		}
	}
	t.Cleanup(release)

	bStopped := make(chan error, 1)
	go func() { bStopped <- b.m.Stop(context.Background()) }() // its MSG_STOP runs a's pass
	testutil.EventuallyTrue(t, testutil.WaitLimit, "a's pass sends to c", func() bool { return hold.n.Load() > 0 })

	if err := stopWithin(t, a, 200*time.Millisecond); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("a's Stop whose context ended while its pass ran = %v, want the context's error", err)
	}
	if err := stopWithin(t, a, 200*time.Millisecond); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("a later Stop while the pass runs = %v, want the context's error", err)
	}
	sent := hold.n.Load()
	release()
	if err := a.m.Stop(ctx(t)); err != nil {
		t.Errorf("a later Stop once the pass can end = %v", err)
	}
	if got := hold.n.Load(); got != sent {
		t.Errorf("c received %d MSG_BACKUPs after a's Stop, want none", got-sent)
	}
	<-bStopped
}

// stopWithin stops n's map with a context ending after d and returns its error; it fails
// the test when Stop has not returned within testutil.WaitLimit.
func stopWithin(t *testing.T, n *node, d time.Duration) error {
	t.Helper()
	c, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	done := make(chan error, 1)
	go func() { done <- n.m.Stop(c) }()
	select {
	case err := <-done:
		return err
	case <-time.After(testutil.WaitLimit):
		t.Fatalf("Stop with a context of %v has not returned after %v", d, testutil.WaitLimit)
		return nil
	}
}

// One pass runs at a time for a departed member: a departure of b while its pass runs
// (blocked on c, which holds its MSG_BACKUPs) adds the entries it names to that pass and
// returns, rather than sending them beside it, and the pass publishes each entry once.
func TestMemberStopPassOneAtATime(t *testing.T) {
	const entries = 10
	nw := channeltest.NewNetwork()
	cfg := replmap.Config{SendOptions: syncAck, RPCTimeout: time.Minute}
	hold := &holdBackups{release: make(chan struct{})}
	a, b, c := newChannel(t, nw), newChannel(t, nw), newChannel(t, nw, hold)
	nodes := []*node{a, b, c}
	for _, n := range nodes {
		testutil.EventuallyTrue(t, testutil.WaitLimit, "channel members", func() bool { return len(n.ch.Members()) == 2 })
		newMap(t, n, cfg)
	}
	for _, n := range nodes {
		start(t, n)
	}
	waitMapMembers(t, nodes, 2)
	backedByB := 0
	for i := range entries {
		if _, err := a.m.Put(ctx(t), fmt.Sprint("k", i), int32(i)); err != nil {
			t.Fatal(err)
		}
		if replmap.Held(b.m, fmt.Sprint("k", i)) != nil {
			backedByB++
		}
	}
	if backedByB < 2 {
		t.Fatalf("b backs up %d of a's entries, want 2 at least", backedByB)
	}
	hold.n.Store(0)
	hold.armed.Store(true)
	released := false
	release := func() {
		if !released {
			released = true
			hold.armed.Store(false)
			close(hold.release)
		}
	}
	t.Cleanup(release)
	bStopped := make(chan error, 1)
	go func() { bStopped <- b.m.Stop(context.Background()) }()
	testutil.EventuallyTrue(t, testutil.WaitLimit, "a's pass sends to c", func() bool { return hold.n.Load() > 0 })

	again := make(chan struct{})
	go func() {
		replmap.MemberGone(a.m, b.ch.LocalMember())
		close(again)
	}()
	select {
	case <-again:
	case <-time.After(testutil.WaitLimit):
		t.Error("a second departure of b while its pass runs has not returned: it ran a pass of its own")
	}
	if got := hold.n.Load(); got != 1 {
		t.Errorf("c received %d MSG_BACKUPs while a's pass was held at its first, want 1", got)
	}
	release()
	<-again
	<-bStopped
	testutil.EventuallyTrue(t, testutil.WaitLimit, "c backs up every entry", func() bool { return c.m.Len() == entries })
	if got := hold.n.Load(); got != int32(backedByB) {
		t.Errorf("c received %d MSG_BACKUPs for the %d entries b backed up, want each once", got, backedByB)
	}
}
