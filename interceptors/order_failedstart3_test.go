package interceptors

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
)

// gateStart is a layer whose next Start, once armed, says so, waits to be let go and
// fails without starting anything.
type gateStart struct {
	channel.InterceptorBase
	armed          chan struct{} // closed: the next Start is held and fails
	inStart, leave chan struct{}
	once           sync.Once
}

func (g *gateStart) Start(ctx context.Context, svc channel.Service) error {
	select {
	case <-g.armed:
		held := false
		g.once.Do(func() { held = true })
		if held {
			close(g.inStart)
			<-g.leave
			return errStartRefused
		}
	default:
	}
	return g.Next().Start(ctx, svc)
}

// TestOrderReleaseDuringAFailingStartStillRuns: Order's Stop releases the messages two
// senders have held for a gap, its delivery held by the listener of the first; a Start
// made from another goroutine returns that Stop, calls Order's Stop again (the receiver
// left stopping), and, a third Stop waiting for it and then giving up, goes on to start
// the levels, which fails below Order. Order counted that Start before the level below
// refused it, so the delivery, reaching the other sender while the Start was under way,
// and the release the Start's Stop queued took the receiver as running again and kept
// the other sender's message held; the Start taking its count back left it held on a
// stopped receiver, until the channel's next Stop or Start. A failed Start now releases
// what waits once it took its count back: the held message is delivered.
func TestOrderReleaseDuringAFailingStartStillRuns(t *testing.T) {
	o := newOrder(t, OrderConfig{})
	g := &gateStart{armed: make(chan struct{}), inStart: make(chan struct{}), leave: make(chan struct{})}
	n := newNode(t, channeltest.NewNetwork(), o, g)
	entered, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	n.wait = func(*channel.Message) { once.Do(func() { close(entered); <-release }) }
	startNodes(t, n)
	for _, m := range []*channel.Message{orderedMsg(fakeMember(1), 2, "a2"), orderedMsg(fakeMember(2), 2, "b2")} {
		if err := n.tap.inject(m); err != nil {
			t.Fatal(err)
		}
	}
	first := make(chan error, 1)
	go func() { first <- n.ch.Stop(context.Background(), channel.SvcAll) }()
	wait := func(c <-chan struct{}, what string) {
		t.Helper()
		select {
		case <-c:
		case <-time.After(testutil.WaitLimit):
			t.Fatal(what)
		}
	}
	wait(entered, "the released message did not reach the listener")
	close(g.armed)
	started := make(chan error, 1)
	go func() { started <- n.ch.Start(context.Background(), channel.SvcAll) }()
	if err := <-first; err != nil {
		t.Fatalf("the first Stop: %v", err)
	}
	// A third Stop waits for the Start (whose Stop of the receiver then returns) and
	// gives up.
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	third := make(chan error, 1)
	go func() { third <- n.ch.Stop(ctx, channel.SvcAll) }()
	wait(g.inStart, "the Start did not reach the layer below Order")
	if err := <-third; err == nil {
		t.Fatal("the third Stop returned nil, want its ctx's error")
	}
	close(release) // the delivery goes on while the Start is under way
	testutil.EventuallyTrue(t, testutil.WaitLimit, "the releases ran", o.releases.Idle)
	close(g.leave)
	if err := <-started; !errors.Is(err, errStartRefused) {
		t.Fatalf("the Start: %v, want %v", err, errStartRefused)
	}
	testutil.Eventually(t, testutil.WaitLimit, func() error {
		if got := n.payloads(); len(got) != 2 || !o.releases.Idle() {
			return fmt.Errorf("delivered %s once the Start failed, want both held messages", got)
		}
		return nil
	})
	if st := checkOrderHeld(t, o, "after the failed Start"); st.Waiting != 0 {
		t.Fatalf("stats %+v, want nothing waiting", st)
	}
}
