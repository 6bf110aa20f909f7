package interceptors

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/internal/testutil"
)

// TestFailureDetectorRelistingByACheckWaitsForTheMessagesARemovalLeft: as
// TestFailureDetectorRelistingWaitsForTheMessagesARemovalLeft, but B is listed again by
// the check of the restarted membership's addition, not by a message. That announcement
// went up at once, before the message x the removal left to its goroutine, which then
// went up as the new listing's: "+B stop -B +B x". It now waits for x, as an announcement
// made on a message does: "+B stop -B x +B".
func TestFailureDetectorRelistingByACheckWaitsForTheMessagesARemovalLeft(t *testing.T) {
	alive := newAliveSet()
	restarted, proceed := make(chan error, 1), make(chan struct{})
	d, a, b, res := relistSetupWith(t, alive, func(_ *TCPFailureDetector, a, b *mbNode) {
		ctx, cancel := context.WithTimeout(context.Background(), testutil.WaitLimit)
		defer cancel()
		err := a.ch.Stop(ctx, channel.SvcAll)
		alive.set(b.port(), true) // B answers the restarted run's check
		restarted <- errors.Join(err, a.ch.Start(ctx, channel.SvcAll))
		<-proceed
	})
	pb := b.port()
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
	testutil.EventuallyTrue(t, testutil.WaitLimit, "B listed again by its check, its announcement taken", func() bool {
		d.mu.Lock()
		_, listed := d.view[k]
		d.mu.Unlock()
		ev, _ := d.queuedEvents()
		return listed && ev == 0
	})
	close(proceed)
	for range 2 {
		if err := <-res; err != nil {
			t.Errorf("MessageReceived: %v", err)
		}
	}
	testutil.EventuallyTrue(t, testutil.WaitLimit, "the detector settled", func() bool {
		return d.Settled() && len(a.received()) == 2 && len(a.evs()) == 3
	})
	p := fmt.Sprint(pb)
	if got, want := a.orderLog(), []string{"+" + p, "msg:" + p, "-" + p, "msg:" + p, "+" + p}; !slices.Equal(got, want) {
		t.Errorf("A saw %v, want %v", got, want)
	}
	checkView(t, d, a)
}
