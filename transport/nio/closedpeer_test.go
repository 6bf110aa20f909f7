package nio

import (
	"context"
	"runtime"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/internal/testutil"
)

// A frame asking for an ACK whose peer closed the connection while the frame waited for
// its delivery is dropped, neither delivered nor acknowledged, and counted in
// Stats.FramesAbandoned, on both engines: its ACK cannot reach the peer, whose sender gave
// up on it (its Timeout, or ErrConnectionLost) and may send it again. A frame without ACK
// is delivered: its sender took it for sent. Here both wait for the only worker (gnet:
// its connection queued for the pool's worker; EngineGoroutine: for the Workers slot).
// EngineGnet delivered both, as Java Tribes does (EngineGoroutine dropped the first since
// TestGoroutineAckFramesOfAClosedPeerDropped).
func TestAckFramesOfAClosedPeerDropped(t *testing.T) {
	forEachEngine(t, func(t *testing.T, cfg Config) {
		if cfg.Engine == EngineGoroutine && runtime.GOOS != "linux" {
			t.Skip("a peer's close is seen while a frame waits on Linux only")
		}
		cfg.Workers = 1
		tr, release, started, delivered := startBlocked(t, cfg)
		t.Cleanup(func() { _ = tr.Stop(context.Background(), channel.SvcAll) })
		t.Cleanup(release.open)
		m := memberOf(tr)
		src, _ := m.MarshalBinary()
		n := &node{t: tr, member: m}
		if _, err := dialRaw(t, n).Write(frame(src, 0, []byte("holds the worker"))); err != nil {
			t.Fatal(err)
		}
		<-started
		synced := dialRaw(t, n)
		if _, err := synced.Write(frame(src, channel.OptUseAck|channel.OptSyncAck, []byte("synchronized"))); err != nil {
			t.Fatal(err)
		}
		testutil.EventuallyTrue(t, waitTimeout, "the synchronized-ack frame decoded", func() bool { return tr.Stats().FramesReceived == 2 })
		plain := dialRaw(t, n)
		if _, err := plain.Write(frame(src, 0, []byte("without ACK"))); err != nil {
			t.Fatal(err)
		}
		testutil.EventuallyTrue(t, waitTimeout, "the frame without ACK decoded", func() bool { return tr.Stats().FramesReceived == 3 })
		_ = synced.Close()
		_ = plain.Close()
		testutil.EventuallyTrue(t, waitTimeout, "the receiver sees both peers closed", func() bool { return peersSeenClosed(tr) == 2 })
		release.open()
		testutil.EventuallyTrue(t, waitTimeout, "every frame delivered or dropped", func() bool {
			return delivered.Load()+int32(tr.Stats().FramesAbandoned) == 3
		})
		if st := tr.Stats(); delivered.Load() != 2 || st.MessagesDelivered != 2 || st.FramesAbandoned != 1 || st.AcksSent != 0 || st.FailAcksSent != 0 {
			t.Fatalf("delivered %d, MessagesDelivered %d, FramesAbandoned %d, AcksSent %d, FailAcksSent %d: want 2 (the first, the one without ACK), 2, 1, 0 and 0",
				delivered.Load(), st.MessagesDelivered, st.FramesAbandoned, st.AcksSent, st.FailAcksSent)
		}
	})
}

// On EngineGnet, frames left in a connection's inbound buffer while its decoding paused
// (MaxConnQueueBytes) are decoded when the connection closes, as Java Tribes does at EOF:
// those asking for an ACK, as the ones queued before them, are dropped once their peer
// closed (Stats.FramesAbandoned); they were delivered, their ACK unwritten.
func TestGnetAckFramesLeftAtCloseDropped(t *testing.T) {
	cfg := gnetConfig()
	cfg.Workers = 1
	cfg.MaxConnQueueBytes = 1024
	tr, release, started, delivered := startBlocked(t, cfg)
	t.Cleanup(func() { _ = tr.Stop(context.Background(), channel.SvcAll) })
	t.Cleanup(release.open)
	m := memberOf(tr)
	src, _ := m.MarshalBinary()
	n := &node{t: tr, member: m}
	if _, err := dialRaw(t, n).Write(frame(src, 0, []byte("holds the worker"))); err != nil {
		t.Fatal(err)
	}
	<-started
	// Two frames fill the connection's queue; the third waits undecoded.
	var burst []byte
	for range 3 {
		burst = append(burst, frame(src, channel.OptUseAck|channel.OptSyncAck, make([]byte, 600))...)
	}
	c := dialRaw(t, n)
	if _, err := c.Write(burst); err != nil {
		t.Fatal(err)
	}
	testutil.EventuallyTrue(t, waitTimeout, "the connection paused with two frames decoded", func() bool {
		st := tr.Stats()
		return st.ReadPauses >= 1 && st.FramesReceived == 3
	})
	_ = c.Close()
	testutil.EventuallyTrue(t, waitTimeout, "the receiver sees the peer closed and decodes the third frame", func() bool {
		st := tr.Stats()
		return st.ConnsOpen == 1 && st.FramesReceived == 4
	})
	release.open()
	testutil.EventuallyTrue(t, waitTimeout, "every frame delivered or dropped", func() bool {
		return delivered.Load()+int32(tr.Stats().FramesAbandoned) == 4
	})
	if st := tr.Stats(); delivered.Load() != 1 || st.FramesAbandoned != 3 || st.AcksSent != 0 || st.FailAcksSent != 0 || st.QueuedBytes != 0 {
		t.Fatalf("delivered %d, FramesAbandoned %d, AcksSent %d, FailAcksSent %d, QueuedBytes %d: want 1 (the first), 3, 0, 0 and 0",
			delivered.Load(), st.FramesAbandoned, st.AcksSent, st.FailAcksSent, st.QueuedBytes)
	}
}

// peersSeenClosed counts the inbound connections of tr whose peer closed, as far as the
// receiver knows: on EngineGoroutine those whose socket reports it (their goroutines wait
// to deliver), on gnet those closed (onClose ran), which leave ConnsOpen.
func peersSeenClosed(tr *Transport) int {
	r := tr.rcv
	if r.np == nil {
		r.cmu.Lock()
		defer r.cmu.Unlock()
		return int(tr.Stats().ConnsAccepted) - len(r.conns)
	}
	r.np.mu.Lock()
	defer r.np.mu.Unlock()
	gone := 0
	for gc := range r.np.conns {
		if gc.sock.peerGone() {
			gone++
		}
	}
	return gone
}
