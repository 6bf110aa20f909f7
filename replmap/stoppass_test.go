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
