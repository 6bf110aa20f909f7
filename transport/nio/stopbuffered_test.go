package nio

import (
	"context"
	"errors"
	"net"
	"sync/atomic"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/internal/testutil"
)

// heldBehindAWorker starts a receiver of cfg with one worker, whose ReceiveFunc blocks
// until release opens, has one connection's frame take that worker, and writes 3 frames
// of 600 bytes with opts on a second connection. With MaxConnQueueBytes 1024, gnet
// decodes two of them and pauses, the third left complete in the connection's inbound
// buffer; EngineGoroutine decodes the three and waits for the Workers slot. It returns
// once every byte sent is in the receiver's hands (BytesReceived, or PendingBytes for
// gnet's undecoded frame), with the connections.
func heldBehindAWorker(t *testing.T, cfg Config, opts channel.SendOptions) (tr *Transport, release *gate, delivered *atomic.Int32, conns []net.Conn) {
	t.Helper()
	cfg.Workers = 1
	cfg.MaxConnQueueBytes = 1024
	tr, release, started, delivered := startBlocked(t, cfg)
	t.Cleanup(func() { _ = tr.Stop(context.Background(), channel.SvcAll) })
	t.Cleanup(release.open)
	m := memberOf(tr)
	src, _ := m.MarshalBinary()
	n := &node{t: tr, member: m}
	first := frame(src, 0, []byte("holds the worker"))
	c1 := dialRaw(t, n)
	if _, err := c1.Write(first); err != nil {
		t.Fatal(err)
	}
	<-started
	var burst []byte
	for range 3 {
		burst = append(burst, frame(src, opts, make([]byte, 600))...)
	}
	c2 := dialRaw(t, n)
	if _, err := c2.Write(burst); err != nil {
		t.Fatal(err)
	}
	total := int64(len(first) + len(burst))
	testutil.EventuallyTrue(t, waitTimeout, "every byte sent held by the receiver", func() bool {
		st := tr.Stats()
		return int64(st.BytesReceived)+st.PendingBytes == total
	})
	return tr, release, delivered, []net.Conn{c1, c2}
}

// Frames fully received before a Stop whose context does not end are delivered, on both
// engines, as Java Tribes' workers deliver what they read: gnet's onClose dropped, while
// the receiver stopped, the complete frames a paused connection left in its inbound
// buffer, uncounted (neither in FramesReceived nor anywhere else), where EngineGoroutine,
// which had decoded them, delivered them.
func TestFramesBufferedAtAGracefulStopDelivered(t *testing.T) {
	forEachEngine(t, func(t *testing.T, cfg Config) {
		tr, release, delivered, conns := heldBehindAWorker(t, cfg, 0)
		stopped := make(chan error, 1)
		go func() { stopped <- tr.Stop(context.Background(), channel.SvcAll) }()
		for _, c := range conns {
			expectClosed(t, c)
		}
		release.open()
		if err := <-stopped; err != nil {
			t.Fatalf("Stop: %v", err)
		}
		if st := tr.Stats(); delivered.Load() != 4 || st.FramesReceived != 4 || st.MessagesDelivered != 4 ||
			st.FramesDroppedByStop != 0 || st.QueuedBytes != 0 || st.PendingBytes != 0 {
			t.Fatalf("delivered %d, FramesReceived %d, MessagesDelivered %d, FramesDroppedByStop %d, QueuedBytes %d, PendingBytes %d: want 4, 4, 4, 0, 0 and 0",
				delivered.Load(), st.FramesReceived, st.MessagesDelivered, st.FramesDroppedByStop, st.QueuedBytes, st.PendingBytes)
		}
	})
}

// The frames a Stop drops once its context ends are counted in Stats.FramesDroppedByStop,
// on both engines: here the 3 frames waiting behind the only worker's delivery, two
// decoded and queued and one (gnet) decoded as Stop closed its connection. Nothing
// counted them: they were in FramesReceived only, neither delivered nor abandoned.
func TestStopDropsAreCounted(t *testing.T) {
	forEachEngine(t, func(t *testing.T, cfg Config) {
		tr, release, delivered, conns := heldBehindAWorker(t, cfg, 0)
		ctx, cancel := context.WithCancel(context.Background())
		stopped := make(chan error, 1)
		go func() { stopped <- tr.Stop(ctx, channel.SvcAll) }()
		for _, c := range conns {
			expectClosed(t, c)
		}
		cancel()
		if err := <-stopped; !errors.Is(err, context.Canceled) {
			t.Fatalf("Stop = %v, want the context's error", err)
		}
		release.open()
		if err := tr.Stop(context.Background(), channel.SvcAll); err != nil {
			t.Fatalf("second Stop: %v", err)
		}
		if st := tr.Stats(); delivered.Load() != 1 || st.FramesReceived != 4 || st.MessagesDelivered != 1 ||
			st.FramesDroppedByStop != 3 || st.FramesAbandoned != 0 || st.QueuedBytes != 0 {
			t.Fatalf("delivered %d, FramesReceived %d, MessagesDelivered %d, FramesDroppedByStop %d, FramesAbandoned %d, QueuedBytes %d: want 1, 4, 1, 3, 0 and 0",
				delivered.Load(), st.FramesReceived, st.MessagesDelivered, st.FramesDroppedByStop, st.FramesAbandoned, st.QueuedBytes)
		}
	})
}

// The frames asking for an ACK that a paused connection left in its inbound buffer are
// delivered too by a graceful Stop (their ACKs reach no one), on both engines, as those
// queued for a worker are (TestAckFrameQueuedAtAGracefulStopDelivered): neither dropped
// as abandoned nor by Stop.
func TestAckFramesBufferedAtAGracefulStopDelivered(t *testing.T) {
	forEachEngine(t, func(t *testing.T, cfg Config) {
		tr, release, delivered, conns := heldBehindAWorker(t, cfg, channel.OptUseAck|channel.OptSyncAck)
		stopped := make(chan error, 1)
		go func() { stopped <- tr.Stop(context.Background(), channel.SvcAll) }()
		for _, c := range conns {
			expectClosed(t, c)
		}
		release.open()
		if err := <-stopped; err != nil {
			t.Fatalf("Stop: %v", err)
		}
		if st := tr.Stats(); delivered.Load() != 4 || st.FramesReceived != 4 || st.MessagesDelivered != 4 ||
			st.FramesAbandoned != 0 || st.FramesDroppedByStop != 0 || st.QueuedBytes != 0 || st.PendingBytes != 0 {
			t.Fatalf("delivered %d, FramesReceived %d, MessagesDelivered %d, FramesAbandoned %d, FramesDroppedByStop %d, QueuedBytes %d, PendingBytes %d: want 4, 4, 4, 0, 0, 0 and 0",
				delivered.Load(), st.FramesReceived, st.MessagesDelivered, st.FramesAbandoned, st.FramesDroppedByStop, st.QueuedBytes, st.PendingBytes)
		}
	})
}
