package delta_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/session/delta"
)

// A Tomcat member's changes held before the Go node listed it are applied before the
// change it sends once listed, even when that change comes while the held ones are being
// applied (on the membership's goroutine): it waits behind them. Before, it was applied
// at once, to a session not created yet, and the held changes after it left k = 2.
func TestChangeOfAMemberJustListedAppliedAfterItsHeldOnes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nw := channeltest.NewNetwork()
		sch, sm := startJavaSender(t, nw, "tc1", delta.ReplicateAsync)
		view, cl, m, _ := startLaggingDonor(t, nw, 0)

		s, err := changeAndReplicate(t, sm, nil, 1)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := changeAndReplicate(t, sm, s, 2); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if st := cl.Stats(); st.UnlistedHeld != 3 {
			t.Fatalf("%d held, want 3", st.UnlistedHeld)
		}

		paused, resume := make(chan struct{}), make(chan struct{})
		resumed := sync.OnceFunc(func() { close(resume) })
		defer resumed()
		delta.PauseUnlistedDrain(cl, func() { close(paused); <-resume })
		listed := make(chan struct{})
		go func() { view.list(sch.LocalMember()); close(listed) }()
		<-paused // the held messages are taken, none applied yet
		if _, err := changeAndReplicate(t, sm, s, 3); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		resumed()
		<-listed
		synctest.Wait()
		if v := valueOn(m, s.ID()); v != 3 {
			t.Fatalf("k = %v on the Go node, want 3 (the change sent once listed, applied after the held ones)", v)
		}
		if n, d, q := delta.UnlistedPending(cl); n != 0 || d != 0 || q != 0 {
			t.Errorf("%d messages pending, %d senders draining, %d bytes queued; want none", n, d, q)
		}
		if st := cl.Stats(); st.UnlistedApplied != 3 || st.UnlistedHeld != 0 || st.UnlistedDropped != 0 {
			t.Errorf("applied %d held messages, %d still held, %d dropped; want 3, 0, 0",
				st.UnlistedApplied, st.UnlistedHeld, st.UnlistedDropped)
		}
	})
}

// A synchronized-ack change that a member just listed sends while its held change is
// being applied waits behind it, and gets its ACK once applied itself; when the held
// ones are not applied within UnlistedRequestWait (a drain that waits for this very
// receive, through a synchronous send), the receive applies its change itself, out of
// its order, and the drain does not apply it again; the held change's wait has ended
// then too: its receive answers FAIL_ACK, the drain skips it, and its (Go) sender sends
// it again.
func TestAckedChangeOfAMemberJustListedWaitsForItsHeldOnes(t *testing.T) {
	for _, stall := range []bool{false, true} {
		t.Run(map[bool]string{false: "drained", true: "stalled"}[stall], func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				nw := channeltest.NewNetwork()
				sch, sm := startJavaSender(t, nw, "tc1", delta.ReplicateAcked)
				view, cl, m, _ := startLaggingDonor(t, nw, 0)

				sent := func(v int) <-chan error {
					out := make(chan error, 1)
					go func() { _, err := changeAndReplicate(t, sm, nil, v); out <- err }()
					return out
				}
				first := sent(1) // its creation held, its receive waiting
				synctest.Wait()
				paused, resume := make(chan struct{}), make(chan struct{})
				resumed := sync.OnceFunc(func() { close(resume) })
				defer resumed()
				delta.PauseUnlistedDrain(cl, func() { close(paused); <-resume })
				go view.list(sch.LocalMember())
				<-paused
				second := sent(2) // comes while the held creation is being applied
				synctest.Wait()
				if len(second) != 0 {
					t.Fatalf("the second send returned before the held change was applied: %v", <-second)
				}
				if stall {
					time.Sleep(delta.DefaultUnlistedRequestWait)
					if err := <-second; err != nil {
						t.Fatalf("the second send, once the wait ended: %v", err)
					}
				}
				resumed()
				if err := <-first; err != nil {
					t.Fatalf("the first send: %v", err)
				}
				if !stall {
					if err := <-second; err != nil {
						t.Fatalf("the second send: %v", err)
					}
				}
				synctest.Wait()
				var ks []any
				m.Range(func(s *delta.Session) bool {
					ks = append(ks, valueOn(m, s.ID()))
					return true
				})
				slices.SortFunc(ks, func(a, b any) int { return a.(int) - b.(int) })
				if !slices.Equal(ks, []any{1, 2}) {
					t.Fatalf("the Go node's sessions hold k = %v, want [1 2]", ks)
				}
				if n, d, q := delta.UnlistedPending(cl); n != 0 || d != 0 || q != 0 {
					t.Errorf("%d messages pending, %d senders draining, %d bytes queued; want none", n, d, q)
				}
				// Stalled, the held change's wait ended too: FAIL_ACK, not applied by the drain;
				// its sender sent it again, as a member.
				applied, dropped := uint64(1), uint64(0)
				if stall {
					applied, dropped = 0, 1
				}
				if st := cl.Stats(); st.UnlistedApplied != applied || st.UnlistedHeld != 0 || st.UnlistedDropped != dropped {
					t.Errorf("applied %d held messages, %d still held, %d dropped; want %d, 0, %d",
						st.UnlistedApplied, st.UnlistedHeld, st.UnlistedDropped, applied, dropped)
				}
			})
		})
	}
}

// The synchronized-ack messages held for a sender just listed keep their receives
// waiting until they are applied: while they are, they still take the 4 waiting places,
// so that a stranger's synchronized-ack messages then get FAIL_ACK at once instead of
// keeping 4 more of the transport's workers. Before, the places were freed as the drain
// took the messages, and 8 receives waited.
func TestUnlistedWaitingBoundHoldsWhileHeldAreApplied(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nw := channeltest.NewNetwork()
		view, cl, _, _ := startLaggingDonor(t, nw, 0)
		req := getAll(t)
		acked := channel.OptUseAck | channel.OptSyncAck

		joiner := fakeMember(6100, 100)
		mine := make(chan error, 4)
		for range 4 {
			go func() { mine <- view.injectWith(joiner, req, acked) }()
		}
		synctest.Wait()
		paused, resume := make(chan struct{}), make(chan struct{})
		resumed := sync.OnceFunc(func() { close(resume) })
		defer resumed()
		delta.PauseUnlistedDrain(cl, func() { close(paused); <-resume })
		go view.list(joiner)
		<-paused // the joiner's 4 taken, their receives waiting until they are handled

		strangers := make(chan error, 4)
		for i := range 4 {
			go func() { strangers <- view.injectWith(fakeMember(int32(6200+i), byte(i)), req, acked) }()
		}
		synctest.Wait()
		if n := len(strangers); n != 4 || len(mine) != 0 {
			t.Fatalf("%d of the strangers' 4 receives and %d of the joiner's 4 returned; want 4 and 0 (4 waiting at most)",
				n, len(mine))
		}
		for range 4 {
			if err := <-strangers; !errors.Is(err, channel.ErrNotMember) {
				t.Fatalf("a stranger's receive: %v, want ErrNotMember", err)
			}
		}
		resumed()
		for range 4 {
			if err := <-mine; err != nil {
				t.Fatalf("the joiner's receive once handled: %v, want nil (ACK)", err)
			}
		}
		synctest.Wait() // the drain ends
		if n, d, q := delta.UnlistedPending(cl); n != 0 || d != 0 || q != 0 {
			t.Errorf("%d messages pending, %d senders draining, %d bytes queued; want none", n, d, q)
		}
	})
}

// The messages a member just listed sends while its held ones are being applied, and
// whose receives return at once, take at most 1 MiB queued behind them: a later one
// waits for its turn with its receive, as the transport's workers bound. Before, 64 of
// them were queued, each up to the transport's frame limit (16 MiB).
func TestQueuedBehindHeldBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nw := channeltest.NewNetwork()
		view, cl, _, _ := startLaggingDonor(t, nw, 0)
		req := getAll(t)
		joiner := fakeMember(6100, 100)
		if err := view.inject(joiner, req); err != nil && !errors.Is(err, channel.ErrNotMember) {
			t.Fatal(err)
		}
		paused, resume := make(chan struct{}), make(chan struct{})
		resumed := sync.OnceFunc(func() { close(resume) })
		defer resumed()
		delta.PauseUnlistedDrain(cl, func() { close(paused); <-resume })
		go view.list(joiner)
		<-paused

		big := append(slices.Clone(req), make([]byte, 400<<10)...)
		returned := make(chan error, 4)
		for range 4 {
			go func() { returned <- view.inject(joiner, big) }()
		}
		synctest.Wait()
		if n := len(returned); n != 2 {
			t.Fatalf("%d of 4 receives of 400 KiB returned at once, want 2 (at most 1 MiB queued)", n)
		}
		resumed()
		for range 4 {
			<-returned
		}
		synctest.Wait() // the drain ends
		if n, d, q := delta.UnlistedPending(cl); n != 0 || d != 0 || q != 0 {
			t.Errorf("%d messages pending, %d senders draining, %d bytes queued; want none", n, d, q)
		}
	})
}

// Close ends the wait of a synchronized-ack message queued behind the drain of its
// sender's held ones: its receive answers FAIL_ACK at once, and the drain, once it goes
// on, does not apply it. Before, the receive waited for the drain or UnlistedRequestWait.
func TestCloseEndsTheWaitBehindHeld(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nw := channeltest.NewNetwork()
		view, cl, _, _ := startLaggingDonor(t, nw, 0)
		req := getAll(t)
		joiner := fakeMember(6100, 100)
		_ = view.inject(joiner, req)
		paused, resume := make(chan struct{}), make(chan struct{})
		resumed := sync.OnceFunc(func() { close(resume) })
		defer resumed()
		delta.PauseUnlistedDrain(cl, func() { close(paused); <-resume })
		go view.list(joiner)
		<-paused

		queued := make(chan error, 1)
		go func() { queued <- view.injectWith(joiner, req, channel.OptUseAck|channel.OptSyncAck) }()
		synctest.Wait()
		if len(queued) != 0 {
			t.Fatalf("the queued receive returned before Close: %v", <-queued)
		}
		// Close waits for the drain, within its ctx (TestCloseStopsTheDrainOfHeldMessages).
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if err := cl.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Close while the drain is paused: %v, want one wrapping context.DeadlineExceeded", err)
		}
		synctest.Wait()
		if len(queued) != 1 {
			t.Fatal("the queued receive still waits once the cluster closed")
		}
		if err := <-queued; err == nil {
			t.Fatal("the queued receive once the cluster closed: nil (ACK), want an error (FAIL_ACK)")
		}
		resumed()
		if err := cl.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if n, d, q := delta.UnlistedPending(cl); n != 0 || d != 0 || q != 0 {
			t.Errorf("%d messages pending, %d senders draining, %d bytes queued; want none", n, d, q)
		}
	})
}
