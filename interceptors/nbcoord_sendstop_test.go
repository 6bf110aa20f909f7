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

// holdLocal is a layer whose LocalMember(true), once armed, holds its first caller until
// open is called, and which counts the coordination messages sent through it once
// stopped is set.
type holdLocal struct {
	channel.InterceptorBase
	armed   atomic.Bool
	stopped atomic.Bool
	late    atomic.Int32
	once    sync.Once
	free    sync.Once
	entered chan struct{}
	release chan struct{}
}

func (h *holdLocal) LocalMember(incAlive bool) channel.Member {
	if incAlive && h.armed.Load() {
		h.once.Do(func() {
			close(h.entered)
			<-h.release
		})
	}
	return h.Next().LocalMember(incAlive)
}

func (h *holdLocal) SendMessage(ctx context.Context, to []channel.Member, msg *channel.Message) error {
	if h.stopped.Load() && IsCoordinationMessage(msg.Data) {
		h.late.Add(1)
	}
	return h.Next().SendMessage(ctx, to, msg)
}

func (h *holdLocal) open() { h.free.Do(func() { close(h.release) }) }

// TestNonBlockingCoordinatorSendsNothingAfterItsStop: the goroutine checked that its run
// was still running before it sent a coordination message, then asked the layers below for
// the local member (the message's source) and sent; a Stop that began between the check
// and the send (here the local member's lookup is held) and returned (its ctx ended) was
// followed by the stopped run's send down the stack. The message is now built, its source
// included, before the check, which is the last step before the send: a stopped run's
// goroutine sends nothing.
func TestNonBlockingCoordinatorSendsNothingAfterItsStop(t *testing.T) {
	c := must(NewNonBlockingCoordinator(NonBlockingCoordinatorConfig{
		AliveCheck: func(context.Context, channel.Member) bool { return true },
	}))
	h := &holdLocal{entered: make(chan struct{}), release: make(chan struct{})}
	defer h.open()
	nw := channeltest.NewNetwork()
	n := newNode(t, nw, c, h)
	peer := newNode(t, nw)
	startNodes(t, n, peer)
	member := peer.member()
	cm := CoordinationMessage{Leader: unreachableMember, Source: member,
		View: []channel.Member{unreachableMember, member}, ID: newViewID(), Type: CoordRequest}
	msg := coordMessage(t, member, cm)
	h.armed.Store(true) // the next send's lookup of its source is held
	if err := n.tap.inject(msg); err != nil {
		t.Fatal(err)
	}
	select {
	case <-h.entered:
	case <-time.After(testutil.WaitLimit):
		t.Fatal("the coordinator sent nothing")
	}
	err := returnsWithin(t, "Stop", h.open, func() error {
		return n.ch.Stop(within(t, 100*time.Millisecond), channel.SvcAll)
	})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Stop with a send held: %v, want context.DeadlineExceeded", err)
	}
	h.stopped.Store(true)
	h.open()
	// A Stop that returns nil has waited for the goroutine: the send is over.
	if err := c.Stop(within(t, testutil.WaitLimit), channel.SvcAll); err != nil {
		t.Fatalf("Stop once the lookup returned: %v", err)
	}
	if got := h.late.Load(); got != 0 {
		t.Fatalf("the stopped run sent %d coordination messages after its Stop returned", got)
	}
}
