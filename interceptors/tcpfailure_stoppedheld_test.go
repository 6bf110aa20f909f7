package interceptors

import (
	"context"
	"slices"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
)

// stopHolder is a layer whose Stop is held until open: the layers above it stopped, those
// below it still run (their membership lists its members).
type stopHolder struct {
	channel.InterceptorBase
	hold func()
}

func (s *stopHolder) Stop(ctx context.Context, svc channel.Service) error {
	s.hold()
	return s.Next().Stop(ctx, svc)
}

// TestFailureDetectorStoppedDetectorPassesHeldMessagesOnTheReceiveGoroutine: a message of
// a member the detector had not verified lists the member and is held behind its
// announcement, passed up from a goroutine of the run. Once the detector was stopped (its
// Stop under way, the layers below still running and listing the member), that goroutine
// belonged to no run: MessageReceived returned nil after heardFromWait while the goroutine
// still waited for a listener, and it outlived the channel's Stop, calling the application
// after Stop returned, from a goroutine neither the transport nor the detector waited for
// (goleak). A stopped detector now passes the member's announcement and its held messages
// up on the receive goroutine, as it passes every other message: MessageReceived returns
// once its message went up, and no goroutine of the detector is left.
func TestFailureDetectorStoppedDetectorPassesHeldMessagesOnTheReceiveGoroutine(t *testing.T) {
	nw := channeltest.NewNetwork()
	alive := newAliveSet() // B does not answer the check: it is not listed
	d := newTestDetector(alive)
	holdStop, stopHeld, openStop := holdOnce()
	defer openStop()
	a := mbNew(t, nw, mbOpt{id: 1}, d, &stopHolder{hold: holdStop})
	b := mbNew(t, nw, mbOpt{id: 2})
	hold, held, open := holdOnce()
	defer open()
	a.ch.AddMessageListener(blockingListener{hold: hold})
	mbStart(t, a, b)
	testutil.EventuallyTrue(t, testutil.WaitLimit, "B not answering", func() bool {
		return d.Settled() && d.Stats().AddSuspects == 1
	})
	ignore := goleak.IgnoreCurrent()

	stopped := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), testutil.WaitLimit)
		defer cancel()
		stopped <- a.ch.Stop(ctx, channel.SvcAll)
	}()
	waitClosed(t, stopHeld, "the Stop did not reach the layer below the detector")
	res := make(chan error, 1)
	go func() { res <- d.MessageReceived(&channel.Message{Source: b.ch.LocalMember(), Data: []byte("slow")}) }()
	waitClosed(t, held, "B's message did not go up")
	openStop()
	if err := <-stopped; err != nil {
		t.Fatalf("Stop: %v", err)
	}
	select {
	case err := <-res:
		left := goleak.Find(append(testutil.IgnoreGnetPool(), ignore)...)
		open()
		t.Fatalf("MessageReceived returned %v after the channel's Stop while its message is still in a listener, on a goroutine of the stopped detector: %v", err, left)
	case <-time.After(2 * heardFromWait):
	}
	open()
	if err := <-res; err != nil {
		t.Fatalf("MessageReceived: %v", err)
	}
	testutil.EventuallyTrue(t, testutil.WaitLimit, "the detector settled", d.Settled)
	if !slices.ContainsFunc(a.received(), func(m *channel.Message) bool { return string(m.Data) == "slow" }) {
		t.Fatal("B's message did not go up")
	}
	goleak.VerifyNone(t, append(testutil.IgnoreGnetPool(), ignore)...)
}
