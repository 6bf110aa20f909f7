package replmap_test

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/replmap"
)

// holdBackups is an interceptor that counts the MSG_BACKUP messages it receives and,
// while armed, holds each until release is closed.
type holdBackups struct {
	channel.InterceptorBase
	n       atomic.Int32
	armed   atomic.Bool
	release chan struct{}
}

func (h *holdBackups) MessageReceived(msg *channel.Message) error {
	if replmap.MessageType(msg.Data) == msgBackup {
		h.n.Add(1)
		if h.armed.Load() {
			<-h.release
		}
	}
	return h.InterceptorBase.MessageReceived(msg)
}

// A map member that repeats its MSG_START (50 times here, B the backup of A's 100
// entries) had A publish every entry naming it anew, in full, for each one: 5 000
// MSG_BACKUPs, and each in the reply path, so that B's MSG_START had its answer only
// once A's sends were done (here never, B holding them: up to RPCTimeout). A's
// republish now runs after its answer, and a member's MSG_STARTs are gathered into one
// pass a startPassInterval at most: two passes here, the values all on B still.
func TestRepeatedStartRepublishesBounded(t *testing.T) {
	const entries, starts = 100, 50
	nw := channeltest.NewNetwork()
	cfg := replmap.Config{SendOptions: syncAck, RPCTimeout: time.Minute}
	hold := &holdBackups{release: make(chan struct{})}
	a := newChannel(t, nw)
	b := newChannel(t, nw, hold)
	for _, n := range []*node{a, b} {
		testutil.EventuallyTrue(t, testutil.WaitLimit, "channel members", func() bool { return len(n.ch.Members()) == 1 })
		newMap(t, n, cfg)
	}
	start(t, a)
	start(t, b)
	waitMapMembers(t, []*node{a, b}, 1)
	for i := range entries {
		if _, err := a.m.Put(ctx(t), fmt.Sprint("k", i), int32(i)); err != nil {
			t.Fatal(err)
		}
	}
	if got := hold.n.Load(); got != entries {
		t.Fatalf("B received %d MSG_BACKUPs for A's puts, want %d", got, entries)
	}
	hold.n.Store(0)

	// B's first MSG_START, A's MSG_BACKUPs to B held: its answer comes all the same.
	hold.armed.Store(true)
	type result struct {
		replied []channel.Member
		err     error
	}
	done := make(chan result, 1)
	c := ctx(t)
	go func() {
		r, err := replmap.AnnounceStart(c, b.m)
		done <- result{r, err}
	}()
	var first result
	answered := false
	select {
	case first = <-done:
		answered = true
	case <-time.After(testutil.WaitLimit):
		t.Errorf("B's MSG_START had no answer within %v while A's MSG_BACKUPs to it were held: A republished first", testutil.WaitLimit)
	}
	hold.armed.Store(false)
	close(hold.release)
	if !answered {
		first = <-done
	}
	if first.err != nil || len(first.replied) != 1 {
		t.Errorf("B's MSG_START while A's MSG_BACKUPs to it were held: replies from %v, %v; want A's", first.replied, first.err)
	}
	for range starts - 1 {
		if _, err := replmap.AnnounceStart(ctx(t), b.m); err != nil {
			t.Fatal(err)
		}
	}
	testutil.EventuallyTrue(t, testutil.WaitLimit, "A's passes done", func() bool { return !replmap.StartPassesRunning(a.m) })
	if got := hold.n.Load(); got > 2*entries {
		t.Errorf("B received %d MSG_BACKUPs for its %d MSG_STARTs, want %d at most (two passes)", got, starts, 2*entries)
	}
	for i := range entries {
		if v := replmap.Held(b.m, fmt.Sprint("k", i)); v != int32(i) {
			t.Fatalf("B holds %v under k%d, want %d", v, i, i)
		}
	}
}
