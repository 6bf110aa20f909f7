package interceptors

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
)

// relistSetup starts A (detector d, B never answering its check) and B, and has B's
// message "stop" list B and go up to inside, which A's listener runs in it, with x held
// behind it; B's removal is then queued behind them, as a failed check queues it, the
// events queue left for inside to run. It returns the results of the MessageReceived
// calls of "stop" and x.
func relistSetup(t *testing.T, inside func(d *TCPFailureDetector, a, b *mbNode)) (d *TCPFailureDetector, a, b *mbNode, res chan error) {
	t.Helper()
	return relistSetupWith(t, newAliveSet(), inside)
}

// relistSetupWith is relistSetup with the checks answered by alive (B must not answer
// until inside runs).
func relistSetupWith(t *testing.T, alive *aliveSet, inside func(d *TCPFailureDetector, a, b *mbNode)) (d *TCPFailureDetector, a, b *mbNode, res chan error) {
	t.Helper()
	d = newTestDetector(alive)
	nw := channeltest.NewNetwork()
	a = mbNew(t, nw, mbOpt{id: 1}, d)
	b = mbNew(t, nw, mbOpt{id: 2})
	hold, entered, open := holdOnce()
	t.Cleanup(open)
	a.ch.AddMessageListener(channel.MessageListenerFunc(func(m *channel.Message) error {
		if string(m.Data) == "stop" {
			hold()
			inside(d, a, b)
		}
		return nil
	}))
	mbStart(t, a, b)
	testutil.EventuallyTrue(t, testutil.WaitLimit, "B checked, not answering", func() bool {
		return d.Settled() && d.Stats().AddSuspects == 1
	})
	k := b.expected(2).Key()
	res = make(chan error, 3)
	go func() { res <- d.MessageReceived(&channel.Message{Source: b.ch.LocalMember(), Data: []byte("stop")}) }()
	waitClosed(t, entered, "stop did not go up")
	go func() { res <- d.MessageReceived(&channel.Message{Source: b.ch.LocalMember(), Data: []byte("x")}) }()
	testutil.EventuallyTrue(t, testutil.WaitLimit, "x held", func() bool {
		return slices.Equal(heldData(d, k), []string{"x"})
	})
	d.evMu.Lock()
	d.mu.Lock()
	d.dropLocked(d.run, k, d.view[k])
	d.mu.Unlock()
	d.evMu.Unlock()
	open()
	return d, a, b, res
}

// TestFailureDetectorRelistingWaitsForTheMessagesARemovalLeft: a removal run from inside
// the listener of one of its member's held messages (the listener stops the channel)
// leaves the messages held behind that one to their goroutine, which passes them up
// once the listener returned, after the removal
// (TestFailureDetectorRemovalRunInsideItsHeldMessagesListener). When the listener then
// started the channel again and a message of the member listed it again meanwhile, the
// new announcement went up at once, before those messages, which then went up as the new
// listing's: "+B stop -B +B x y". The announcement now waits for them: "+B stop -B x +B y".
func TestFailureDetectorRelistingWaitsForTheMessagesARemovalLeft(t *testing.T) {
	restarted, proceed := make(chan error, 1), make(chan struct{})
	d, a, b, res := relistSetup(t, func(_ *TCPFailureDetector, a, _ *mbNode) {
		ctx, cancel := context.WithTimeout(context.Background(), testutil.WaitLimit)
		defer cancel()
		err := a.ch.Stop(ctx, channel.SvcAll)
		restarted <- errors.Join(err, a.ch.Start(ctx, channel.SvcAll))
		<-proceed
	})
	var err error
	select {
	case err = <-restarted:
	case <-time.After(testutil.WaitLimit):
		t.Fatal("the listener did not stop and start the channel")
	}
	if err != nil {
		close(proceed)
		t.Fatalf("Stop and Start from the listener: %v", err)
	}
	k := b.expected(2).Key()
	testutil.EventuallyTrue(t, testutil.WaitLimit, "B listed below again", func() bool {
		_, below := d.Next().Member(k)
		return below
	})
	go func() { res <- d.MessageReceived(&channel.Message{Source: b.ch.LocalMember(), Data: []byte("y")}) }()
	testutil.EventuallyTrue(t, testutil.WaitLimit, "y listed B again, its announcement taken", func() bool {
		return slices.Equal(heldData(d, k), []string{"y"}) && d.events.Len() < 2
	})
	close(proceed)
	for range 3 {
		if err := <-res; err != nil {
			t.Errorf("MessageReceived: %v", err)
		}
	}
	testutil.EventuallyTrue(t, testutil.WaitLimit, "the detector settled", func() bool {
		return d.Settled() && len(a.received()) == 3
	})
	p := fmt.Sprint(b.port())
	if got, want := a.orderLog(), []string{"+" + p, "msg:" + p, "-" + p, "msg:" + p, "+" + p, "msg:" + p}; !slices.Equal(got, want) {
		t.Errorf("A saw %v, want %v", got, want)
	}
	var data []string
	for _, m := range a.received() {
		data = append(data, string(m.Data))
	}
	if !slices.Equal(data, []string{"stop", "x", "y"}) {
		t.Errorf("delivered %v, want [stop x y]", data)
	}
}

// TestFailureDetectorRelistingInsideAHeldListenerDropsWhatWasLeft: the member's new
// announcement, delivered on the goroutine that passes the messages a removal left
// (inside the listener of one of them), cannot wait for them: it drops them, counted and
// refused with ErrHeldSuperseded, so that none goes up after it as the new listing's.
// The test runs the announcement's step (settleHeld) from inside that listener, as a
// Stop made there runs the events queue.
func TestFailureDetectorRelistingInsideAHeldListenerDropsWhatWasLeft(t *testing.T) {
	var once sync.Once
	d, a, b, res := relistSetup(t, func(d *TCPFailureDetector, a, b *mbNode) {
		once.Do(func() {
			ctx, cancel := context.WithTimeout(context.Background(), testutil.WaitLimit)
			defer cancel()
			_ = a.ch.Stop(ctx, channel.SvcAll) // runs the removal here: x left to this goroutine
			d.mu.Lock()
			hs := d.held[b.expected(2).Key()]
			d.mu.Unlock()
			d.settleHeld(hs)
		})
	})
	var errs []error
	for range 2 {
		errs = append(errs, <-res)
	}
	if slices.IndexFunc(errs, func(err error) bool { return errors.Is(err, ErrHeldSuperseded) }) < 0 ||
		slices.IndexFunc(errs, func(err error) bool { return err == nil }) < 0 {
		t.Errorf("MessageReceived of stop and x: %v, want nil and an error wrapping ErrHeldSuperseded", errs)
	}
	testutil.EventuallyTrue(t, testutil.WaitLimit, "the detector settled", d.Settled)
	if n := d.Stats().HeldDropped; n != 1 {
		t.Errorf("HeldDropped %d, want 1", n)
	}
	p := fmt.Sprint(b.port())
	if got, want := a.orderLog(), []string{"+" + p, "msg:" + p, "-" + p}; !slices.Equal(got, want) {
		t.Errorf("A saw %v, want %v", got, want)
	}
}
