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

// TestStopWaitsForEarlierEvents: a Stop with no member to report gone returned at once,
// while the events queued before it (a sender's MemberAdded, held in the listener, and
// the MemberDisappeared of its expiry) had still to go up, so the listener was called
// after Stop returned. Stop now waits for every event queued before it, whether or not it
// reports members gone: until its ctx ends (its error, wrapped, then), or until they went
// up.
func TestStopWaitsForEarlierEvents(t *testing.T) {
	p := &listProvider{}
	// Every member not in a listing expires at the next heartbeat.
	s, err := New(Config{Custom: p, LookupEnv: NoEnv, LocalIP: "10.0.0.1", ExpirationTime: time.Nanosecond})
	if err != nil {
		t.Fatal(err)
	}
	entered, release := make(chan struct{}), make(chan struct{})
	released := false
	defer func() {
		if !released {
			close(release)
		}
	}()
	rec := &recorder{}
	l := channel.MembershipFuncs{
		Added: func(m channel.Member) {
			close(entered)
			<-release
			rec.MemberAdded(m)
		},
		Disappeared: rec.MemberDisappeared,
	}
	local := localMember("10.0.0.1", 4000, [16]byte{1})
	if err := s.Start(context.Background(), channel.SvcMembership, local, l); err != nil {
		t.Fatal(err)
	}
	// A sender becomes a member; its MemberAdded is held on a goroutine of the service.
	senderWatcher{s}.AcceptNonMember(&channel.Message{Source: localMember("10.0.0.3", 4000, [16]byte{3})})
	select {
	case <-entered:
	case <-time.After(testutil.WaitLimit):
		t.Fatal("MemberAdded of the sender not called")
	}
	// A heartbeat's listing leaves it out: it expires, its MemberDisappeared queued behind.
	beat := make(chan struct{})
	go func() { defer close(beat); s.Heartbeat() }()
	testutil.EventuallyTrue(t, testutil.WaitLimit, "the heartbeat expires the sender", func() bool {
		return len(s.Members()) == 0
	})

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := s.Stop(ctx, channel.SvcMembership); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Stop with nothing to report gone, behind the held listener: %v, want an error wrapping its ctx's", err)
	}
	select {
	case <-beat:
	case <-time.After(testutil.WaitLimit):
		t.Fatal("Heartbeat did not return after Stop")
	}

	// A Stop made again waits for the events as well, and returns once they went up.
	type result struct {
		err    error
		events []string // what the listener had been told when Stop returned
	}
	stopped := make(chan result, 1)
	go func() {
		err := s.Stop(context.Background(), channel.SvcMembership)
		stopped <- result{err, rec.get()}
	}()
	select {
	case r := <-stopped:
		t.Fatalf("Stop returned (%v) while the listener was held, with the listener told %v", r.err, r.events)
	case <-time.After(50 * time.Millisecond): // bounded check that it waits; its end is asserted below
	}
	released = true
	close(release)
	var r result
	select {
	case r = <-stopped:
	case <-time.After(testutil.WaitLimit):
		t.Fatal("Stop did not return once the listener was released")
	}
	if r.err != nil {
		t.Fatalf("Stop after the listener was released: %v", r.err)
	}
	if len(r.events) != 2 || !strings.HasPrefix(r.events[0], "+10.0.0.3:4000") || !strings.HasPrefix(r.events[1], "-10.0.0.3:4000") {
		t.Fatalf("when Stop returned the listener had been told %v, want the sender added then gone", r.events)
	}
}
