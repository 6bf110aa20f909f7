package interceptors

import (
	"errors"
	"fmt"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
)

// TestFailureDetectorHeldCapsConfig: the caps on held messages default to 4 sets of 256
// messages, are set by MaxHeldSets and MaxHeldMessages (maxHeldSets, maxHeldMessages in a
// spec), and a negative one is refused with channel.ErrInvalidConfig.
func TestFailureDetectorHeldCapsConfig(t *testing.T) {
	d := must(NewTCPFailureDetector(TCPFailureDetectorConfig{}))
	if c := d.Config(); c.MaxHeldSets != 4 || c.MaxHeldMessages != 256 {
		t.Errorf("defaults MaxHeldSets %d, MaxHeldMessages %d, want 4 and 256", c.MaxHeldSets, c.MaxHeldMessages)
	}
	ics, err := Build("tcpfailure(maxHeldSets=2;maxHeldMessages=3)", nil)
	if err != nil {
		t.Fatal(err)
	}
	if c := ics[0].(*TCPFailureDetector).Config(); c.MaxHeldSets != 2 || c.MaxHeldMessages != 3 {
		t.Errorf("from a spec MaxHeldSets %d, MaxHeldMessages %d, want 2 and 3", c.MaxHeldSets, c.MaxHeldMessages)
	}
	ics, err = Build("tcpfailure", nil)
	if err != nil {
		t.Fatal(err)
	}
	if c := ics[0].(*TCPFailureDetector).Config(); c.MaxHeldSets != 4 || c.MaxHeldMessages != 256 {
		t.Errorf("from a spec without them MaxHeldSets %d, MaxHeldMessages %d, want 4 and 256", c.MaxHeldSets, c.MaxHeldMessages)
	}
	for _, cfg := range []TCPFailureDetectorConfig{{MaxHeldSets: -1}, {MaxHeldMessages: -1}} {
		if _, err := NewTCPFailureDetector(cfg); !errors.Is(err, channel.ErrInvalidConfig) {
			t.Errorf("NewTCPFailureDetector(%+v): %v, want an error wrapping ErrInvalidConfig", cfg, err)
		}
	}
	if _, err := Build("tcpfailure(maxHeldMessages=-1)", nil); !errors.Is(err, channel.ErrInvalidConfig) {
		t.Errorf("Build with maxHeldMessages=-1: %v, want an error wrapping ErrInvalidConfig", err)
	}
}

// TestFailureDetectorHeldCapsConfigurable: with MaxHeldMessages 2, a member listed on its
// message x0, which a listener blocks on, holds x1 and x2 behind it, and x3 (no ACK), x4
// (OptUseAck) and x5 (synchronized-ack) are dropped with ErrHeldLimit; x4 alone counts in
// HeldDroppedAcked, its sender having had its ACK on receipt. With MaxHeldSets 1, a message
// of the member after its removal, which would start a second set, is dropped and does not
// list the member.
func TestFailureDetectorHeldCapsConfigurable(t *testing.T) {
	d := must(NewTCPFailureDetector(TCPFailureDetectorConfig{Probe: newAliveSet().probe, MaxHeldSets: 1, MaxHeldMessages: 2}))
	nw := channeltest.NewNetwork()
	a := mbNew(t, nw, mbOpt{id: 1}, d)
	b := mbNew(t, nw, mbOpt{id: 2})
	hold, held, open := holdOnce()
	a.ch.AddMessageListener(channel.MessageListenerFunc(func(m *channel.Message) error {
		if string(m.Data) == "x0" {
			hold()
		}
		return nil
	}))
	mbStart(t, a, b)
	t.Cleanup(open)
	testutil.EventuallyTrue(t, testutil.WaitLimit, "B checked, not answering", func() bool {
		return d.Settled() && d.Stats().AddSuspects == 1
	})
	k := b.expected(2).Key()
	receive := func(i int, opts channel.SendOptions) error {
		return d.MessageReceived(&channel.Message{Source: b.ch.LocalMember(), Options: opts, Data: fmt.Appendf(nil, "x%d", i)})
	}
	res := make(chan error, 3)
	go func() { res <- receive(0, 0) }()
	waitClosed(t, held, "x0 did not go up")
	for i := 1; i <= 2; i++ {
		go func() { res <- receive(i, channel.OptUseAck) }()
		testutil.EventuallyTrue(t, testutil.WaitLimit, fmt.Sprintf("x%d held", i), func() bool {
			return len(heldData(d, k)) == i
		})
	}
	for i, c := range []struct {
		opts           channel.SendOptions
		dropped, acked uint64
	}{{0, 1, 0}, {channel.OptUseAck, 2, 1}, {channel.OptUseAck | channel.OptSyncAck, 3, 1}} {
		if err := receive(3+i, c.opts); !errors.Is(err, ErrHeldLimit) {
			t.Errorf("x%d (%v) over the cap: %v, want an error wrapping ErrHeldLimit", 3+i, c.opts, err)
		}
		if st := d.Stats(); st.HeldDropped != c.dropped || st.HeldDroppedAcked != c.acked {
			t.Errorf("after x%d (%v): HeldDropped %d, HeldDroppedAcked %d, want %d and %d",
				3+i, c.opts, st.HeldDropped, st.HeldDroppedAcked, c.dropped, c.acked)
		}
	}
	dropHeard(t, d, b) // its removal waits for x0, x1 and x2: the one set stays
	if err := receive(6, 0); !errors.Is(err, ErrHeldLimit) {
		t.Errorf("x6, which would start a second set: %v, want an error wrapping ErrHeldLimit", err)
	}
	if _, ok := d.Member(k); !ok {
		t.Error("B not found while its removal waits for its messages")
	}
	d.mu.Lock()
	sets := d.heldSets[k]
	_, listed := d.view[k]
	d.mu.Unlock()
	if sets != 1 || listed {
		t.Errorf("after x6: %d sets held, B listed %v; want 1 set, B not listed", sets, listed)
	}
	open()
	for range 3 {
		if err := <-res; err != nil {
			t.Errorf("MessageReceived: %v", err)
		}
	}
	testutil.EventuallyTrue(t, testutil.WaitLimit, "the detector settled", func() bool {
		return d.Settled() && len(a.received()) == 3
	})
	for i, m := range a.received() {
		if want := fmt.Sprintf("x%d", i); string(m.Data) != want {
			t.Errorf("message %d is %s, want %s", i, m.Data, want)
		}
	}
	if st := d.Stats(); st.HeldDropped != 4 || st.HeldDroppedAcked != 1 {
		t.Errorf("HeldDropped %d, HeldDroppedAcked %d, want 4 and 1", st.HeldDropped, st.HeldDroppedAcked)
	}
}
