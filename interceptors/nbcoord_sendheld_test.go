package interceptors

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
)

// blockSend is a layer whose first coordination SendMessage, once armed, blocks until
// released, ignoring its context, and then passes the message down; it counts the
// coordination messages passed down once stopped is set.
type blockSend struct {
	channel.InterceptorBase
	armed   atomic.Bool
	stopped atomic.Bool
	late    atomic.Int32
	once    sync.Once
	free    sync.Once
	entered chan struct{}
	release chan struct{}
}

func (b *blockSend) SendMessage(ctx context.Context, to []channel.Member, msg *channel.Message) error {
	if IsCoordinationMessage(msg.Data) && b.armed.Load() {
		b.once.Do(func() {
			close(b.entered)
			<-b.release
		})
	}
	if b.stopped.Load() && IsCoordinationMessage(msg.Data) {
		b.late.Add(1)
	}
	return b.Next().SendMessage(ctx, to, msg)
}

func (b *blockSend) open() { b.free.Do(func() { close(b.release) }) }

// TestNonBlockingCoordinatorStopWaitsForASendUnderWay: a coordination message the
// coordinator's goroutine is sending when Stop begins, held by a layer below that ignores
// the cancelled context, is waited for: Stop returns once the send returned, and nothing
// is sent after; a Stop whose context ends first returns its error.
func TestNonBlockingCoordinatorStopWaitsForASendUnderWay(t *testing.T) {
	c := must(NewNonBlockingCoordinator(NonBlockingCoordinatorConfig{
		AliveCheck: func(context.Context, channel.Member) bool { return true },
	}))
	b := &blockSend{entered: make(chan struct{}), release: make(chan struct{})}
	defer b.open()
	nw := channeltest.NewNetwork()
	n := newNode(t, nw, c, b)
	peer := newNode(t, nw)
	startNodes(t, n, peer)
	member := peer.member()
	cm := CoordinationMessage{Leader: unreachableMember, Source: member,
		View: []channel.Member{unreachableMember, member}, ID: newViewID(), Type: CoordRequest}
	b.armed.Store(true) // the next coordination message is held below
	if err := n.tap.inject(coordMessage(t, member, cm)); err != nil {
		t.Fatal(err)
	}
	waitClosed(t, b.entered, "the coordinator sent nothing")
	if err := c.Stop(within(t, 100*time.Millisecond), channel.SvcSender); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Stop with a send held below: %v, want context.DeadlineExceeded", err)
	}
	stopped := make(chan error, 1)
	go func() { stopped <- c.Stop(within(t, testutil.WaitLimit), channel.SvcSender) }()
	select {
	case err := <-stopped:
		t.Fatalf("Stop returned %v while the send was held below", err)
	case <-time.After(100 * time.Millisecond):
	}
	b.open()
	if err := <-stopped; err != nil {
		t.Fatalf("Stop once the send returned: %v", err)
	}
	b.stopped.Store(true)
	if got := b.late.Load(); got != 0 {
		t.Fatalf("the stopped run sent %d coordination messages after its Stop returned", got)
	}
}
