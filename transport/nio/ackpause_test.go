package nio

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/wire"
)

// An ACK write that the socket takes at once is no pause on unread ACKs, however late the
// connection's goroutine makes it (a loaded machine's scheduler runs it late). The
// sweeper took any write under way at a tick, stamped with its coarse clock (up to a tick
// old), for one blocked over a tick: a stranger's FAIL_ACK, the one answer a non-member
// gets before its connection is closed, counted in Stats.AckPauses under load
// (cmd/tribesattack's TestNoAckReaderFailsWithoutTheAckDefence saw one pause among 865
// strangers' connections). The hook holds the write across the sweeper's ticks.
func TestAckWriteHeldOverTicksIsNoPause(t *testing.T) {
	held := make(chan struct{})
	release := make(chan struct{})
	var once atomic.Bool
	ackWriteHook = func(*gconn) {
		if once.CompareAndSwap(false, true) {
			close(held)
			<-release
		}
	}
	t.Cleanup(func() { ackWriteHook = nil }) // after Stop (cleanups run last first)
	cfg := goroutineConfig()
	cfg.FrameTimeout = time.Second // ticks every 250 ms
	b := startNode(t, cfg, func(*channel.Message) error { return channel.ErrNotMember })
	var released atomic.Bool
	free := func() {
		if released.CompareAndSwap(false, true) {
			close(release)
		}
	}
	t.Cleanup(free)

	stranger := memberOf(b.t)
	src, _ := stranger.MarshalBinary()
	c := dialRaw(t, b)
	if _, err := c.Write(frame(src, channel.OptUseAck|channel.OptSyncAck, []byte("x"))); err != nil {
		t.Fatal(err)
	}
	select {
	case <-held:
	case <-time.After(waitTimeout):
		t.Fatal("the FAIL_ACK's write never began")
	}
	// Three ticks: the sweeper has scanned the connections at least twice since the write
	// began (it stores a tick's time before it scans).
	np := b.t.rcv.np
	for range 3 {
		seen := np.now.Load()
		testutil.EventuallyTrue(t, waitTimeout, "the sweeper to tick", func() bool { return np.now.Load() != seen })
	}
	free()
	if got := readAcks(t, c, 1); got[0] != wire.FailAck {
		t.Fatalf("answer %v, want a FAIL_ACK", got)
	}
	expectClosed(t, c)
	testutil.EventuallyTrue(t, waitTimeout, "the connection to close", func() bool { return b.t.Stats().ConnsOpen == 0 })
	st := b.t.Stats()
	if st.AckPauses != 0 || st.ConnsStalled != 0 {
		t.Fatalf("a FAIL_ACK the socket took at once counted as a pause on unread ACKs: AckPauses %d, ConnsStalled %d", st.AckPauses, st.ConnsStalled)
	}
	if st.FailAcksSent != 1 || st.ConnsNonMember != 1 || st.AcksSent != 0 {
		t.Fatalf("FailAcksSent %d, ConnsNonMember %d, AcksSent %d; want 1, 1, 0", st.FailAcksSent, st.ConnsNonMember, st.AcksSent)
	}
}
