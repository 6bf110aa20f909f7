package static_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/membership/static"
	"github.com/gotribes/tribes/wire"
)

// blockingListener blocks in MemberAdded of the member on port hold until released, and
// records overlapping calls and the last event of each member.
type blockingListener struct {
	hold    int32
	entered chan struct{}
	release chan struct{}

	mu      sync.Mutex
	inside  int
	overlap bool
	last    map[int32]string
}

func (l *blockingListener) enter() {
	l.mu.Lock()
	l.inside++
	if l.inside > 1 {
		l.overlap = true
	}
	l.mu.Unlock()
}

func (l *blockingListener) leave(m channel.Member, ev string) {
	l.mu.Lock()
	l.inside--
	l.last[m.Port] = ev
	l.mu.Unlock()
}

func (l *blockingListener) MemberAdded(m channel.Member) {
	l.enter()
	if m.Port == l.hold {
		close(l.entered)
		<-l.release
	}
	l.leave(m, "added")
}

func (l *blockingListener) MemberDisappeared(m channel.Member) {
	l.enter()
	l.leave(m, "gone")
}

// TestAddConcurrentWithStopKeepsEventsInOrder: MembershipService promises events "one at
// a time and in order". A member is added with Add, and while the listener is still being
// told about it, Stop is called: Stop must not deliver MemberDisappeared for it during
// that MemberAdded, nor return before, or the listener's last word about the member would
// be "added" although the service is stopped and lists nobody.
func TestAddConcurrentWithStopKeepsEventsInOrder(t *testing.T) {
	am, _ := wire.ParseMemberText("127.0.0.1:4001")
	bm, _ := wire.ParseMemberText("127.0.0.1:4002")
	local, _ := wire.ParseMemberText("127.0.0.1:4000")
	s := static.New(am)
	l := &blockingListener{hold: bm.Port, entered: make(chan struct{}), release: make(chan struct{}), last: map[int32]string{}}
	ctx := context.Background()
	if err := s.Start(ctx, channel.SvcMembership, local, l); err != nil {
		t.Fatal(err)
	}
	added := make(chan struct{})
	go func() { defer close(added); _ = s.Add(context.Background(), bm) }()
	select {
	case <-l.entered:
	case <-time.After(10 * time.Second):
		t.Fatal("MemberAdded of the added member not called")
	}
	stopped := make(chan struct{})
	go func() { defer close(stopped); _ = s.Stop(ctx, channel.SvcMembership) }()
	// A Stop that keeps events in order cannot finish while MemberAdded runs: wait a
	// bounded time for it, then let MemberAdded finish in any case.
	stopReturnedEarly := false
	select {
	case <-stopped:
		stopReturnedEarly = true
	case <-time.After(500 * time.Millisecond):
	}
	close(l.release)
	<-added
	select {
	case <-stopped:
	case <-time.After(10 * time.Second):
		t.Fatal("Stop did not return")
	}
	if stopReturnedEarly {
		t.Errorf("Stop returned while the listener was still in MemberAdded of %v", bm)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.overlap {
		t.Errorf("membership events delivered concurrently")
	}
	if len(s.Members()) != 0 || l.last[bm.Port] != "gone" {
		t.Errorf("after Stop: service lists %v, listener's last event about %v is %q, want gone",
			s.Members(), bm, l.last[bm.Port])
	}
}
