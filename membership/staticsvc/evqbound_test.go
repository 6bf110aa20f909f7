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

// TestHeldListenerEventQueueStaysBounded: while the membership listener was held, the
// view's changes queued for it grew by one per change, without bound: a member that
// flapped, or a stranger announcing new unique ids and stopping them, made a node's
// memory grow for as long as the listener was held. The queue is now coalesced per member
// once it is full: it stays within a bound set by MaxMembers, and once the listener
// returns it is told each member's changes consistently (never one added twice, nor gone
// without being added), ends up with the service's view, and is told a member it knew
// of that left and came back meanwhile gone, then added.
func TestHeldListenerEventQueueStaysBounded(t *testing.T) {
	ctx := context.Background()
	p := testutil.FreePorts(t, 4)
	const maxMembers = 8
	a := newNode(t, p[0], staticsvc.Config{Members: members(t, p[0]), ExpirationTime: time.Hour,
		PingInterval: time.Hour, MaxMembers: maxMembers})
	holder := members(t, p[1])[0]
	holder.UniqueID = channel.UniqueID{1}
	back := members(t, p[2])[0] // known to the listener, then leaves and comes back many times
	back.UniqueID = channel.UniqueID{2}
	flap := members(t, p[3])[0] // unknown to the listener, flaps, and is gone at the end
	flap.UniqueID = channel.UniqueID{3}

	entered, release := make(chan struct{}), make(chan struct{})
	var once, releaseOnce sync.Once
	t.Cleanup(func() { releaseOnce.Do(func() { close(release) }) })
	a.ch.AddMembershipListener(channel.MembershipFuncs{Added: func(m channel.Member) {
		if m.Port != holder.Port {
			return
		}
		once.Do(func() {
			close(entered)
			<-release
		})
	}})
	if err := a.ch.Start(ctx, channel.SvcAll); err != nil {
		t.Fatal(err)
	}
	staticsvc.Hear(a.svc, back, true)
	testutil.EventuallyTrue(t, testutil.WaitLimit, "the listener is told of back", func() bool {
		_, ok := a.ev.find(true, back.Port)
		return ok
	})
	staticsvc.Hear(a.svc, holder, true)
	select {
	case <-entered:
	case <-time.After(testutil.WaitLimit):
		t.Fatal("the listener was not called for the holder")
	}

	const rounds = 5000
	maxQueued := 0
	for i := range rounds {
		staticsvc.Leave(a.svc, back)
		staticsvc.Hear(a.svc, back, true)
		staticsvc.Hear(a.svc, flap, true)
		staticsvc.Leave(a.svc, flap)
		stranger := flap
		stranger.UniqueID = channel.UniqueID{4, byte(i >> 8), byte(i)}
		staticsvc.Hear(a.svc, stranger, true)
		staticsvc.Leave(a.svc, stranger)
		maxQueued = max(maxQueued, staticsvc.QueuedEvents(a.svc))
	}
	// Within 4 × MaxMembers, with room for the events the Start queued.
	if limit := 4*maxMembers + 64; maxQueued > limit {
		t.Errorf("%d events queued for the held listener after %d rounds of changes, want at most %d", maxQueued, rounds, limit)
	}
	releaseOnce.Do(func() { close(release) })

	testutil.EventuallyTrue(t, testutil.WaitLimit, "the queue is delivered", func() bool {
		return staticsvc.QueuedEvents(a.svc) == 0
	})
	// Once delivered, the listener's view is the service's, and each member's events
	// alternate, starting with its addition.
	var got []event
	testutil.EventuallyTrue(t, testutil.WaitLimit, "the listener's view is the service's", func() bool {
		a.ev.mu.Lock()
		got = append(got[:0], a.ev.got...)
		a.ev.mu.Unlock()
		view := map[channel.MemberKey]bool{}
		for _, e := range got {
			view[e.m.Key()] = e.added
		}
		n := 0
		for _, present := range view {
			if present {
				n++
			}
		}
		if n != len(a.svc.Members()) {
			return false
		}
		for _, m := range a.svc.Members() {
			if !view[m.Key()] {
				return false
			}
		}
		return true
	})
	told := map[channel.MemberKey]bool{}
	backEvents := 0
	for i, e := range got {
		k := e.m.Key()
		if told[k] == e.added {
			t.Fatalf("event %d: %v added=%v, but the listener was told added=%v before", i, e.m, e.added, told[k])
		}
		told[k] = e.added
		if k == back.Key() {
			backEvents++
		}
	}
	if !told[back.Key()] || told[flap.Key()] {
		t.Errorf("the listener ends with back %v and flap %v, want true and false", told[back.Key()], told[flap.Key()])
	}
	if backEvents < 3 {
		t.Errorf("the listener was told %d events of back, which it knew and which left and came back: want added, gone, added", backEvents)
	}
}
