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
