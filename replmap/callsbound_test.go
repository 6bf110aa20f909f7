package replmap_test

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/replmap"
)

// A member backs up entries on the target and removes them at once, over and over, while
// the application's Removed call for the first one takes its time (a listener waiting
// for a lock of its own). Each MSG_REMOVE queued its Removed call, holding the entry's
// key and value, behind the one under way, and its receive returned at once: the queue,
// and the values it held (dropped from the entries and from MaxStoredBytes), grew with
// every message for as long as the call lasted. A receive that finds more than the
// bound queued now waits for its own call, so that the transport stops reading that
// member and the queue stays within the bound plus one per receiving goroutine.
func TestRemovedCallsQueuedBounded(t *testing.T) {
	const bound, flood = 8, 200
	defer replmap.SetMaxQueuedCalls(bound)()
	entered, release := make(chan struct{}), make(chan struct{})
	var calls atomic.Int32
	var once sync.Once
	released := false
	defer func() {
		if !released {
			close(release)
		}
	}()
	removed := func(key, value any) {
		if calls.Add(1) == 1 {
			once.Do(func() { close(entered) })
			<-release
		}
	}
	target, peer := pair(t, replmap.Config{Removed: removed})
	from := peer.ch.LocalMember()
	value := strings.Repeat("v", 4096)

	first := make(chan error, 1)
	go func() {
		if err := replmap.ReceiveBackup(target.m, from, "k0", value); err != nil {
			first <- err
			return
		}
		first <- replmap.ReceiveRemove(target.m, from, "k0") // runs the queue: held in Removed
	}()
	select {
	case <-entered:
	case err := <-first:
		t.Fatalf("the first removal returned (%v) without calling Removed", err)
	}

	var returned atomic.Int32
	done := make(chan error, 1)
	go func() {
		for i := 1; i <= flood; i++ {
			key := fmt.Sprint("k", i)
			if err := replmap.ReceiveBackup(target.m, from, key, value); err != nil {
				done <- err
				return
			}
			if err := replmap.ReceiveRemove(target.m, from, key); err != nil {
				done <- err
				return
			}
			returned.Add(1)
		}
		done <- nil
	}()
	testutil.EventuallyTrue(t, testutil.WaitLimit, "the queue fills", func() bool {
		return replmap.QueuedCalls(target.m) >= bound
	})
	// A negative check: a flood that is not held back ends at once (in well under a
	// millisecond a message); give it a generous window.
	select {
	case err := <-done:
		t.Fatalf("all %d removals returned (err %v) with Removed held: %d calls queued, each holding its value",
			flood, err, replmap.QueuedCalls(target.m))
	case <-time.After(200 * time.Millisecond):
	}
	if n := replmap.QueuedCalls(target.m); n > bound+1 {
		t.Fatalf("%d calls queued, want at most %d", n, bound+1)
	}
	if n := returned.Load(); n > bound+1 {
		t.Fatalf("%d removals returned with Removed held, want at most %d", n, bound+1)
	}

	close(release)
	released = true
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(testutil.WaitLimit):
		t.Fatal("the flood did not end once Removed returned")
	}
	testutil.EventuallyTrue(t, testutil.WaitLimit, "every Removed called", func() bool {
		return calls.Load() == flood+1
	})
	if n := len(target.m.Keys()); n != 0 {
		t.Fatalf("%d keys left", n)
	}
}
