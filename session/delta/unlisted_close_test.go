package delta_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/session/delta"
)

// A synchronized-ack request held before the Go node listed its sender, and taken by
// the drain of the sender's held messages once listed, keeps its receive (a transport
// worker, and the sender's synchronous send) waiting at most UnlistedRequestWait from
// when it was held, even while the drain does not come to it (here paused, as one
// waiting through a synchronous send for that very receive would be): the receive then
// answers FAIL_ACK and the drain, once it goes on, does not answer the request. Before,
// the receive waited for the drain with no limit.
func TestHeldAckedMessageWaitBoundedWhileDrained(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nw := channeltest.NewNetwork()
		view, cl, _, _ := startLaggingDonor(t, nw, 1)
		joiner := fakeMember(6100, 100)
		got := make(chan error, 1)
		go func() { got <- view.injectWith(joiner, getAll(t), channel.OptUseAck|channel.OptSyncAck) }()
		synctest.Wait() // held, its receive waiting
		paused, resume := make(chan struct{}), make(chan struct{})
		resumed := sync.OnceFunc(func() { close(resume) })
		defer resumed()
		delta.PauseUnlistedDrain(cl, func() { close(paused); <-resume })
		listed := make(chan struct{})
		go func() { view.list(joiner); close(listed) }()
		<-paused // taken by the drain, not handled
		time.Sleep(delta.DefaultUnlistedRequestWait)
		synctest.Wait()
		if len(got) == 0 {
			t.Fatal("the receive still waits for the stalled drain past UnlistedRequestWait")
		}
		if err := <-got; !errors.Is(err, channel.ErrNotMember) {
			t.Fatalf("the receive once the wait ended: %v, want ErrNotMember (FAIL_ACK)", err)
		}
		resumed()
		<-listed
		synctest.Wait()
		if n := len(view.sends()); n != 0 {
			t.Errorf("%d messages sent to the joiner, want none (its request refused with FAIL_ACK is not answered after)", n)
		}
		if st := cl.Stats(); st.UnlistedAnswered != 0 || st.UnlistedDropped != 1 {
			t.Errorf("answered %d held requests, dropped %d; want 0, 1", st.UnlistedAnswered, st.UnlistedDropped)
		}
		if p, d, q := delta.UnlistedPending(cl); p != 0 || d != 0 || q != 0 {
			t.Errorf("%d messages pending, %d senders draining, %d bytes queued; want none", p, d, q)
		}
	})
}

// The cluster's Close stops the drain of a sender's held messages: a synchronized-ack
// one's receive answers FAIL_ACK at once, Close waits for the drain (within its ctx:
// here it ends first, and Close says so), and the drain, once it goes on, handles none of
// them; a later Close returns once the drain ended, and no goroutine of the hold is left
// (goleak, synctest). Before, Close returned while the drain (on the membership's
// goroutine here, or a receive's) went on, and it answered the held request after.
func TestCloseStopsTheDrainOfHeldMessages(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nw := channeltest.NewNetwork()
		view, cl, _, _ := startLaggingDonor(t, nw, 1)
		joiner := fakeMember(6100, 100)
		acked := make(chan error, 1)
		go func() { acked <- view.injectWith(joiner, getAll(t), channel.OptUseAck|channel.OptSyncAck) }()
		synctest.Wait()
		_ = view.inject(joiner, getAll(t)) // the latest, the one answered
		synctest.Wait()                    // both held, the first's receive waiting
		paused, resume := make(chan struct{}), make(chan struct{})
		resumed := sync.OnceFunc(func() { close(resume) })
		defer resumed()
		delta.PauseUnlistedDrain(cl, func() { close(paused); <-resume })
		listed := make(chan struct{})
		go func() { view.list(joiner); close(listed) }()
		<-paused // both taken by the drain, not handled

		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		err := cl.Close(ctx)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Close while the drain runs: %v, want one wrapping context.DeadlineExceeded (it waits for the drain)", err)
		}
		synctest.Wait()
		if len(acked) == 0 {
			t.Fatal("the held synchronized-ack message's receive still waits for the drain once the cluster closed")
		}
		if err := <-acked; !errors.Is(err, channel.ErrNotMember) {
			t.Fatalf("its receive once the cluster closed: %v, want ErrNotMember (FAIL_ACK)", err)
		}
		resumed()
		if err := cl.Close(context.Background()); err != nil {
			t.Fatalf("Close once the drain went on: %v", err)
		}
		<-listed
		synctest.Wait()
		if n := len(view.sends()); n != 0 {
			t.Errorf("%d messages sent to the joiner, want none (no held request answered once the cluster closed)", n)
		}
		if st := cl.Stats(); st.UnlistedAnswered != 0 || st.UnlistedDropped != 2 {
			t.Errorf("answered %d held requests, dropped %d; want 0, 2", st.UnlistedAnswered, st.UnlistedDropped)
		}
		if p, d, q := delta.UnlistedPending(cl); p != 0 || d != 0 || q != 0 {
			t.Errorf("%d messages pending, %d senders draining, %d bytes queued; want none", p, d, q)
		}
	})
}
