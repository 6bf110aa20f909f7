package interceptors

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
)

// TestDispatchStopFromOnComplete: the OnComplete callbacks of queued messages run on the
// dispatcher's workers, and a Stop waited for every worker, the one calling it included,
// so an OnComplete that stopped the channel with context.Background() waited for itself
// for ever. Such a Stop now does not wait for a worker inside an OnComplete call, as the
// channel's Stop does not wait for a listener that calls it; what is still queued is sent
// first (here by a worker started in place of the one held), and its callback has
// returned when Stop returns nil with the channel stopped; the worker ends once its
// callback returned (goleak).
func TestDispatchStopFromOnComplete(t *testing.T) {
	nw := channeltest.NewNetwork()
	d := newDispatch(t, DispatchConfig{MaxThreads: 1})
	a, b := newNode(t, nw, d), newNode(t, nw)
	startNodes(t, a, b)
	queued := make(chan struct{})
	stopped := make(chan error, 1)
	first := func(err error) {
		if err != nil {
			stopped <- err
			return
		}
		<-queued // the second message waits in the queue behind this callback
		stopped <- a.ch.Stop(context.Background(), channel.SvcAll)
	}
	if err := sendAsync(t, a, b, []byte("first"), first); err != nil {
		t.Fatal(err)
	}
	var out outcomes
	if err := sendAsync(t, a, b, []byte("second"), out.cb()); err != nil {
		t.Fatal(err)
	}
	close(queued)
	select {
	case err := <-stopped:
		if err != nil {
			t.Fatalf("Stop from OnComplete: %v, want nil", err)
		}
	case <-time.After(testutil.WaitLimit):
		t.Fatal("Stop called from an OnComplete callback did not return: it waits for its own worker")
	}
	// Sent before Stop returned, and its callback, which began while Stop ran, waited for.
	if errs := out.get(); len(errs) != 1 || errs[0] != nil {
		t.Fatalf("the queued message's completions: %v, want one nil", errs)
	}
	if got := len(b.messages()); got != 2 {
		t.Fatalf("%d messages delivered, want 2", got)
	}
	if s := a.ch.Started(); s != 0 {
		t.Fatalf("running %v after the Stop from OnComplete", s)
	}
	if err := sendAsync(t, a, b, []byte("late"), out.cb()); !errors.Is(err, ErrDispatchStopped) {
		t.Fatalf("send after the Stop: %v, want ErrDispatchStopped", err)
	}
	if err := d.Stop(within(t, testutil.WaitLimit), channel.SvcAll); err != nil {
		t.Fatalf("Stop again once the callback returned: %v", err)
	}
}

// gateSend holds the send of the message whose data is hold until release is closed, and
// counts the other sends made meanwhile.
type gateSend struct {
	channel.InterceptorBase
	hold    []byte
	entered chan struct{}
	release chan struct{}
	beside  atomic.Int32
}

func (g *gateSend) SendMessage(ctx context.Context, to []channel.Member, msg *channel.Message) error {
	if bytes.Equal(msg.Data, g.hold) {
		close(g.entered)
		<-g.release
	} else {
		select {
		case <-g.entered:
			select {
			case <-g.release:
			default:
				g.beside.Add(1)
			}
		default:
		}
	}
	return g.Next().SendMessage(ctx, to, msg)
}

// TestDispatchRestartFromOnComplete: an OnComplete that stops and starts the channel
// again returns, and the worker it ran on, once its callback returned, takes none of the
// new run's messages (its run was stopped: its sends would be cancelled), though they
// wait in the queue then, the new run's only worker being held: none is sent until that
// worker goes on, and every message sent after the restart completes with nil.
func TestDispatchRestartFromOnComplete(t *testing.T) {
	nw := channeltest.NewNetwork()
	d := newDispatch(t, DispatchConfig{MaxThreads: 1})
	g := &gateSend{hold: []byte("hold"), entered: make(chan struct{}), release: make(chan struct{})}
	a, b := newNode(t, nw, d, g), newNode(t, nw)
	startNodes(t, a, b)
	restarted := make(chan error, 1)
	back := make(chan struct{})
	if err := sendAsync(t, a, b, []byte("first"), func(error) {
		err := a.ch.Stop(context.Background(), channel.SvcAll)
		restarted <- errors.Join(err, a.ch.Start(context.Background(), channel.SvcAll))
		<-back // the new run's messages are queued meanwhile
	}); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-restarted:
		if err != nil {
			close(back)
			t.Fatalf("restart from OnComplete: %v", err)
		}
	case <-time.After(testutil.WaitLimit):
		t.Fatal("Stop called from an OnComplete callback did not return: it waits for its own worker")
	}
	var out outcomes
	if err := sendAsync(t, a, b, g.hold, out.cb()); err != nil { // holds the new worker
		t.Fatal(err)
	}
	<-g.entered
	const n = 20
	for i := range n {
		if err := sendAsync(t, a, b, seqData(i, 8), out.cb()); err != nil {
			t.Fatal(err)
		}
	}
	close(back)
	// The old worker could take the queued messages now; the held one lets it be seen.
	testutil.EventuallyTrue(t, testutil.WaitLimit, "the old worker ended", func() bool {
		return d.stopping.ended()
	})
	if c := g.beside.Load(); c != 0 {
		close(g.release)
		t.Fatalf("%d of the new run's messages sent by the old run's worker, want 0", c)
	}
	close(g.release)
	testutil.EventuallyTrue(t, testutil.WaitLimit, "the messages sent after the restart completed", func() bool { return len(out.get()) == n+1 })
	for i, err := range out.get() {
		if err != nil {
			t.Fatalf("completion %d after the restart: %v, want nil", i, err)
		}
	}
	if got := len(b.messages()); got != n+2 {
		t.Fatalf("%d messages delivered, want %d", got, n+2)
	}
}

// TestDispatchStopFromTheCallbackOfAMessageItFailed: when Stop's ctx ended with messages
// still queued, Stop completed them with ErrDispatchStopped on its own goroutine, under
// the channel's lifecycle, so a callback that stopped the channel there (Channel.Stop with
// context.Background()) waited for that lifecycle, held by its own goroutine, for ever,
// and Stop with it. Those callbacks now run on a goroutine of their own, which Stop does
// not wait for: Stop returns its ctx's error, the callback's Stop returns nil once the
// held send returned, and every message completes once.
func TestDispatchStopFromTheCallbackOfAMessageItFailed(t *testing.T) {
	nw := channeltest.NewNetwork()
	d := newDispatch(t, DispatchConfig{MaxThreads: 1})
	h := newHoldSend()
	defer h.open()
	a, b := newNode(t, nw, d, h), newNode(t, nw)
	startNodes(t, a, b)
	var out outcomes
	if err := sendAsync(t, a, b, seqData(0, 8), out.cb()); err != nil { // held below
		t.Fatal(err)
	}
	select {
	case <-h.entered:
	case <-time.After(testutil.WaitLimit):
		t.Fatal("no send reached the layer below")
	}
	// cbCtx is context.Background() but for a failing test, which ends it to get its
	// goroutines back.
	cbCtx, cancel := context.WithCancel(context.Background())
	defer cancel()
	inner := make(chan error, 2)
	if err := sendAsync(t, a, b, seqData(1, 8), func(err error) { // stays queued
		if !errors.Is(err, ErrDispatchStopped) {
			inner <- fmt.Errorf("completion %v, want ErrDispatchStopped", err)
			return
		}
		inner <- a.ch.Stop(cbCtx, channel.SvcAll)
	}); err != nil {
		t.Fatal(err)
	}
	outer := make(chan error, 1)
	go func() { outer <- a.ch.Stop(within(t, 100*time.Millisecond), channel.SvcAll) }()
	select {
	case err := <-outer:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Stop with a send held: %v, want context.DeadlineExceeded", err)
		}
	case <-time.After(testutil.WaitLimit):
		cancel()
		h.open()
		<-outer
		t.Fatal("Stop whose ctx ended did not return: the callback of a message it failed stops the channel on Stop's goroutine")
	}
	h.open() // the callback's Stop waits for the held send, its level left stopping
	select {
	case err := <-inner:
		if err != nil {
			t.Fatalf("Stop from the callback of a message failed by Stop: %v, want nil", err)
		}
	case <-time.After(testutil.WaitLimit):
		t.Fatal("the callback of the message Stop failed did not return")
	}
	testutil.EventuallyTrue(t, testutil.WaitLimit, "the held message completed", func() bool { return len(out.get()) == 1 })
	if s := d.Stats(); s.PendingCount != 0 || s.QueuedBytes != 0 || s.Failed+s.Sent != 2 {
		t.Fatalf("stats %+v, want nothing pending and two messages completed", s)
	}
	if err := d.Stop(within(t, testutil.WaitLimit), channel.SvcAll); err != nil {
		t.Fatalf("Stop again once the callbacks returned: %v", err)
	}
	if len(inner) != 0 || len(out.get()) != 1 {
		t.Fatalf("a message completed twice: callback %d more, held message %d", len(inner), len(out.get()))
	}
}

// TestDispatchStopFromTheCallbackOfAMessageItSends: Stop did not wait for a worker inside
// an OnComplete call begun before it, but waited for the callbacks of the messages it
// sent itself, so when the callback of a message still queued as the channel stopped
// stopped the channel too (every callback here does, as one that stops the channel on the
// first outcome), its Stop waited for the first Stop, which waited for that callback, for
// ever. Stop now waits for the callbacks of the messages it sends only until another
// Start or Stop of the channel waits for it (channel.LifecycleContended), here the
// callback's: both Stops return nil once the queued message went out, and every message
// completes once.
func TestDispatchStopFromTheCallbackOfAMessageItSends(t *testing.T) {
	nw := channeltest.NewNetwork()
	d := newDispatch(t, DispatchConfig{MaxThreads: 1})
	a, b := newNode(t, nw, d), newNode(t, nw)
	startNodes(t, a, b)
	// cbCtx is context.Background() but for a failing test, which ends it to get its
	// goroutines back.
	cbCtx, cancel := context.WithCancel(context.Background())
	defer cancel()
	queued := make(chan struct{})
	stops := make(chan error, 3)
	var calls atomic.Int32
	stop := func(err error) {
		if calls.Add(1) == 1 {
			<-queued // the second message waits in the queue behind this callback
		}
		stops <- errors.Join(err, a.ch.Stop(cbCtx, channel.SvcAll))
	}
	for i := range 2 {
		if err := sendAsync(t, a, b, seqData(i, 8), stop); err != nil {
			t.Fatal(err)
		}
	}
	close(queued)
	for i := range 2 {
		select {
		case err := <-stops:
			if err != nil {
				t.Fatalf("Stop from OnComplete: %v, want nil", err)
			}
		case <-time.After(testutil.WaitLimit):
			cancel()
			t.Fatalf("%d of the 2 Stops called from OnComplete returned: the callback of a message the first sent waits for it, and it for the callback", i)
		}
	}
	if got := len(b.messages()); got != 2 {
		t.Fatalf("%d messages delivered, want 2", got)
	}
	if err := d.Stop(within(t, testutil.WaitLimit), channel.SvcAll); err != nil {
		t.Fatalf("Stop again once the callbacks returned: %v", err)
	}
	if len(stops) != 0 || calls.Load() != 2 {
		t.Fatalf("%d callbacks, want 2", calls.Load())
	}
}
