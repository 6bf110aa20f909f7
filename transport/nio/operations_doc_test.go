package nio

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
)

// MaxPooledBytes -1 keeps no buffer (docs/operations.md, "Sizing a node"): a large
// message's buffer that its listener released is not lent to the next large frame, which
// gets memory of its own, and the configuration keeps the -1 rather than the default.
func TestNegativeMaxPooledBytesKeepsNone(t *testing.T) {
	forEachDelivery(t, func(t *testing.T, cfg Config) {
		cfg.MaxPooledBytes = -1
		rec := newRecorder(4)
		b := startNode(t, cfg, rec.rx)
		if got := b.t.Config().MaxPooledBytes; got != -1 {
			t.Fatalf("MaxPooledBytes -1 became %d", got)
		}
		a := startNode(t, testConfig(), nil)
		send := func(data []byte) *channel.Message {
			t.Helper()
			if err := a.t.Send(context.Background(), []channel.Member{b.member}, a.msg(channel.OptUseAck|channel.OptSyncAck, data)); err != nil {
				t.Fatalf("Send: %v", err)
			}
			return rec.next(t)
		}
		const size = 200 << 10 // a large frame (largeFrame and more), as TestReleasedBufferIsReused's
		var kept [][]byte
		for i := range 3 {
			want := bytes.Repeat([]byte{byte(1 + i)}, size)
			m := send(want)
			if !bytes.Equal(m.Data, want) {
				t.Fatal("payload differs")
			}
			for _, k := range kept {
				if &m.Data[0] == &k[0] {
					t.Fatal("a released buffer was lent to the next frame with MaxPooledBytes -1")
				}
			}
			kept = append(kept, m.Data[:1])
			m.Release()
		}
		if b.t.rcv.bufs != nil {
			t.Fatalf("the receiver has a buffer pool (%d bytes held)", b.t.rcv.bufs.held)
		}
	})
}

// The descriptor-exhaustion timings docs/security.md and docs/operations.md give that
// TestDefaultsAsDocumented does not hold: the default engine checks for free descriptors
// every 500 ms while no connection arrives (so a recovery is reported within half a
// second), and its accept on the reserve descriptor waits 5 ms at most.
func TestDescriptorTimingsAsDocumented(t *testing.T) {
	if probeEvery != 500*time.Millisecond || shedWait != 5*time.Millisecond {
		t.Errorf("probeEvery %v, shedWait %v; documented 500ms and 5ms", probeEvery, shedWait)
	}
}
