package nio

import (
	"encoding/binary"
	"net"
	"sync/atomic"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/internal/testutil"
)

// With EngineGnet a connection whose queue held many small frames (a burst its worker
// took a while to drain) keeps no queue arrays sized for that burst once it is drained:
// an open connection holds what its steady traffic needs. It kept two (the drained queue
// as the next one's spare, and the event loop's batch), about 80 bytes per frame of its
// largest burst, for as long as it stayed open: 25 000 frames of 130 bytes, 3 MiB within
// MaxConnQueueBytes, left about 2.5 MB on the connection, so that connections bursting in
// turn (pooled, or kept open by frames an interceptor consumes below the channel's sender
// check) held that much each.
func TestDrainedQueueReleasesItsArrays(t *testing.T) {
	const (
		conns  = 12
		frames = 25000
	)
	cfg := gnetConfig()
	cfg.Workers = 1
	// The connections are dialled first and written to in turn: on a loaded machine the
	// last ones stay silent longer than the default FirstFrameTimeout, which closed them
	// ("broken pipe", twice in three runs under the race detector).
	cfg.FirstFrameTimeout = -1
	var delivered atomic.Int64
	proceed := make(chan struct{})
	b := startNode(t, cfg, func(m *channel.Message) error {
		if binary.BigEndian.Uint32(m.Data) == 0 {
			<-proceed // the first frame of each burst waits until all of it is queued
		}
		delivered.Add(1)
		return nil
	})
	burst := seqStream(t, b, frames, 0)
	cs := make([]net.Conn, conns)
	for i := range cs {
		cs[i] = dialRaw(t, b)
	}
	before := heapInUse()
	for i, c := range cs {
		if _, err := c.Write(burst); err != nil {
			t.Fatal(err)
		}
		total := uint64((i + 1) * frames)
		testutil.EventuallyTrue(t, waitTimeout, "the burst queued", func() bool { return b.t.Stats().FramesReceived == total })
		proceed <- struct{}{}
		testutil.EventuallyTrue(t, waitTimeout, "the burst delivered", func() bool { return delivered.Load() == int64(total) })
		testutil.EventuallyTrue(t, waitTimeout, "the queue drained", func() bool { return b.t.Stats().QueuedBytes == 0 })
	}
	grown := heapInUse() - before
	t.Logf("heap in use grew by %d KiB after %d drained bursts of %d frames (%d KiB each)", grown>>10, conns, frames, len(burst)>>10)
	if limit := int64(conns) * 256 << 10; grown > limit {
		t.Fatalf("heap in use grew by %d KiB after %d connections each drained a burst of %d frames; want at most %d KiB (what steady traffic needs)",
			grown>>10, conns, frames, limit>>10)
	}
}

// With EngineGoroutine an idle connection keeps a read buffer (4 KiB on Linux, 64 KiB at
// most elsewhere, documented) and no batch array sized for the most frames one read ever carried: a read of 64 KiB of
// small frames decodes some 500 of them, and their array (about 80 bytes a frame) stayed
// with the idle connection for its life, next to its read buffer.
func TestGoroutineConnectionReleasesItsBatchArray(t *testing.T) {
	const conns = 200
	cfg := goroutineConfig()
	// The connections are dialled first and written to in turn: on a loaded machine the
	// last ones stay silent longer than the default FirstFrameTimeout, which closed them
	// ("broken pipe", seen once).
	cfg.FirstFrameTimeout = -1
	var delivered atomic.Int64
	b := startNode(t, cfg, func(*channel.Message) error {
		delivered.Add(1)
		return nil
	})
	// Small frames filling 64 KiB: one read of the grown buffer decodes hundreds.
	one := len(seqStream(t, b, 1, 0))
	frames := (64 << 10) / one
	burst := seqStream(t, b, frames, 0)
	cs := make([]net.Conn, conns)
	for i := range cs {
		cs[i] = dialRaw(t, b)
	}
	before := heapInUse()
	// Several bursts per connection, so that its read buffer grows to 64 KiB and reads
	// carry hundreds of frames.
	const rounds = 4
	for i, c := range cs {
		for range rounds {
			if _, err := c.Write(burst); err != nil {
				t.Fatal(err)
			}
		}
		total := int64((i + 1) * rounds * frames)
		testutil.EventuallyTrue(t, waitTimeout, "the bursts delivered", func() bool { return delivered.Load() == total })
	}
	grown := heapInUse() - before
	perConn := grown / conns
	t.Logf("heap in use grew by %d KiB, %d KiB per connection (frames of %d bytes)", grown>>10, perConn>>10, one)
	if limit := int64(connBufMax + 24<<10); perConn > limit {
		t.Fatalf("each idle connection holds %d KiB after bursts of %d-byte frames; want its read buffer (64 KiB) and little more (at most %d KiB)",
			perConn>>10, one, limit>>10)
	}
}
