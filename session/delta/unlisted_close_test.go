package delta_test

import (
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
