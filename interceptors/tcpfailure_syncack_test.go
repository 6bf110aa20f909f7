package interceptors

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
)

// TestFailureDetectorSyncAckWaitsForItsHeldMessage: a message that lists its member again
// goes up behind the member's announcement from a goroutine of its own, and the receive
// goroutine waited for it at most heardFromWait and then returned nil, also for a
// synchronized-ack message: its sender had its ACK before the message reached the
// application, and an error the application returned for it was lost, breaking the
// promise that an acknowledged write was applied. A synchronized-ack message is now waited
// for until it went up, and the error its listener returned after heardFromWait is
// returned ("slow listener"); if the detector stops first,
// MessageReceived returns an error wrapping channel.ErrNotStarted (a FAIL_ACK, never a
// silent ACK): a message still held behind a blocked announcement then never goes up
// ("stop before it went up"), and one under way in a listener that blocks is reported
// failed all the same ("stop while it goes up").
func TestFailureDetectorSyncAckWaitsForItsHeldMessage(t *testing.T) {
	syncAck := channel.OptUseAck | channel.OptSyncAck
	t.Run("slow listener", func(t *testing.T) {
		d, a, b, held, open := syncAckSetup(t, false)
		defer open()
		res := make(chan error, 1)
		go func() {
			res <- d.MessageReceived(&channel.Message{Source: b.ch.LocalMember(), Data: []byte("slow"), Options: syncAck})
		}()
		waitClosed(t, held, "B's message did not go up")
		select {
		case err := <-res:
			t.Fatalf("MessageReceived of a synchronized-ack message returned %v while its listener still holds it", err)
		case <-time.After(2 * heardFromWait):
		}
		open()
		if err := <-res; err == nil || err.Error() != "refused late" {
			t.Fatalf("MessageReceived = %v, want the listener's error", err)
		}
		testutil.EventuallyTrue(t, testutil.WaitLimit, "the detector settled", d.Settled)
		p := fmt.Sprint(b.port())
		if got, want := a.orderLog(), []string{"+" + p, "msg:" + p}; !slices.Equal(got, want) {
			t.Fatalf("A saw %v, want %v", got, want)
		}
	})
	t.Run("stop before it went up", func(t *testing.T) {
		d, a, b, held, open := syncAckSetup(t, true)
		defer open()
		res := make(chan error, 1)
		go func() {
			res <- d.MessageReceived(&channel.Message{Source: b.ch.LocalMember(), Data: []byte("held"), Options: syncAck})
		}()
		waitClosed(t, held, "B's announcement did not go up")
		select {
		case err := <-res:
			t.Fatalf("MessageReceived returned %v while B's announcement is under way", err)
		case <-time.After(2 * heardFromWait):
		}
		mbStop(t, a)
		var err error
		select {
		case err = <-res:
		case <-time.After(testutil.WaitLimit):
			open()
			t.Fatal("MessageReceived still waits after the detector stopped")
		}
		if !errors.Is(err, channel.ErrNotStarted) {
			t.Fatalf("MessageReceived after the detector stopped = %v, want channel.ErrNotStarted", err)
		}
		open()
		testutil.EventuallyTrue(t, testutil.WaitLimit, "the detector settled", d.Settled)
		for _, m := range a.received() {
			if string(m.Data) == "held" {
				t.Fatal("the message a FAIL_ACK was answered for went up")
			}
		}
	})
	t.Run("stop while it goes up", func(t *testing.T) {
		d, a, b, held, open := syncAckSetup(t, false)
		defer open()
		res := make(chan error, 1)
		go func() {
			res <- d.MessageReceived(&channel.Message{Source: b.ch.LocalMember(), Data: []byte("slow"), Options: syncAck})
		}()
		waitClosed(t, held, "B's message did not go up")
		mbStop(t, a)
		var err error
		select {
		case err = <-res:
		case <-time.After(testutil.WaitLimit):
			open()
			t.Fatal("MessageReceived still waits after the detector stopped")
		}
		if !errors.Is(err, channel.ErrNotStarted) {
			t.Fatalf("MessageReceived after the detector stopped = %v, want channel.ErrNotStarted", err)
		}
		open()
		testutil.EventuallyTrue(t, testutil.WaitLimit, "the detector settled", d.Settled)
	})
}

// holdingFailer takes the messages whose data is "slow", holds them until open is
// called, and then fails them.
type holdingFailer struct{ hold func() }

func (holdingFailer) Accept(m *channel.Message) bool { return string(m.Data) == "slow" }

func (l holdingFailer) MessageReceived(*channel.Message) error {
	l.hold()
	return errors.New("refused late")
}

// syncAckSetup starts A (with the detector) and B, which does not answer the check, and
// holds, once, either B's announcement (announce) or a message "slow" in a listener
// that fails it.
func syncAckSetup(t *testing.T, announce bool) (d *TCPFailureDetector, a, b *mbNode, held chan struct{}, open func()) {
	t.Helper()
	nw := channeltest.NewNetwork()
	alive := newAliveSet() // B does not answer the check: it is not listed
	d = newTestDetector(alive)
	a = mbNew(t, nw, mbOpt{id: 1}, d)
	b = mbNew(t, nw, mbOpt{id: 2})
	hold, held, open := holdOnce()
	if announce {
		a.ch.AddMembershipListener(channel.MembershipFuncs{
			Added:       func(channel.Member) { hold() },
			Disappeared: func(channel.Member) {},
		})
	} else {
		a.ch.AddMessageListener(holdingFailer{hold: hold})
	}
	mbStart(t, a, b)
	testutil.EventuallyTrue(t, testutil.WaitLimit, "B not answering", func() bool {
		return d.Settled() && d.Stats().AddSuspects == 1
	})
	return d, a, b, held, open
}
