//go:build linux

package nio

import (
	"fmt"
	"math/bits"
	"net"
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/internal/testutil"
)

// An EngineGoroutine connection waiting for the rest of a frame of which it holds 4 KiB
// or more kept its read buffer as a burst grew it (64 KiB) until the frame completed or
// FrameTimeout closed it, while only the frame's bytes counted in MaxPendingBytes (and,
// for a stranger, in its share): MaxConnections such connections held 256 MiB for 16 MiB
// counted. Now the bytes move to the smallest pooled buffer that holds them (at most
// twice their size) while it waits: the memory held stays within twice what the budgets
// count.
func TestGoroutinePartialFrameBufferBoundedByItsBytes(t *testing.T) {
	for _, tail := range []int{5000, 12000} {
		t.Run(fmt.Sprint(tail), func(t *testing.T) {
			const conns = 100
			var delivered atomic.Int64
			b := startNode(t, goroutineConfig(), func(*channel.Message) error {
				delivered.Add(1)
				return nil
			})
			// 128 KiB of frames of 1 KiB in one write, which grow the buffer to 64 KiB, and
			// the first tail bytes of a frame of 20 KiB.
			one := len(seqStream(t, b, 1, 1000))
			frames := (128 << 10) / one
			burst := append(seqStream(t, b, frames, 1000), seqStream(t, b, 1, 20<<10)[:tail]...)
			cs := make([]net.Conn, conns)
			for i := range cs {
				cs[i] = dialRaw(t, b)
			}
			testutil.EventuallyTrue(t, waitTimeout, "the connections accepted", func() bool { return b.t.Stats().ConnsOpen == conns })
			runtime.GC()
			before := heapInUse()
			for i, c := range cs {
				if _, err := c.Write(burst); err != nil {
					t.Fatal(err)
				}
				total := int64((i + 1) * frames)
				testutil.EventuallyTrue(t, waitTimeout, "the burst delivered", func() bool { return delivered.Load() == total })
			}
			// Every partial frame read and counted.
			testutil.EventuallyTrue(t, waitTimeout, "the partial frames counted", func() bool {
				return b.t.Stats().PendingBytes == int64(conns*tail)
			})
			counted := b.t.Stats().PendingBytes
			fit := 1 << bits.Len(uint(tail)) // the pooled size that holds tail
			want := int64(fit)               // at most twice tail (the 4 KiB buffer each had before is gone)
			testutil.Eventually(t, waitTimeout, func() error {
				runtime.GC()
				grew := heapInUse() - before
				perConn := grew / conns
				t.Logf("%d bytes of a frame waiting: heap in use grew by %d bytes per connection", tail, perConn)
				if perConn > want {
					return fmt.Errorf("heap in use grew by %d KiB per connection waiting with %d bytes of a frame "+
						"(%d KiB counted in PendingBytes in all); want at most %d KiB", perConn>>10, tail, counted>>10, want>>10)
				}
				return nil
			})
			if open := b.t.Stats().ConnsOpen; open != conns {
				t.Fatalf("%d connections open, want %d", open, conns)
			}
		})
	}
}
