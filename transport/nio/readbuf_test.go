//go:build linux

package nio

import (
	"fmt"
	"net"
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/internal/testutil"
)

// An EngineGoroutine connection's read buffer grows to 64 KiB while reads fill it. Counted
// in no budget, it stayed that size for as long as the connection was open, idle or
// waiting for the rest of a small frame: MaxConnections (4096) connections that each once
// carried a burst held 256 MiB, and a sender (a member, or anyone writing a member's
// address in its frames) could keep them so. A connection that has nothing to read now
// gives a grown buffer back, or keeps one just large enough for the partial frame it holds.
func TestIdleGoroutineConnectionGivesBackItsReadBuffer(t *testing.T) {
	for _, tail := range []int{0, 100} {
		name := "idle"
		if tail > 0 {
			name = "partial-frame"
		}
		t.Run(name, func(t *testing.T) {
			const conns = 100
			var delivered atomic.Int64
			b := startNode(t, goroutineConfig(), func(*channel.Message) error {
				delivered.Add(1)
				return nil
			})
			// 128 KiB of frames of 1 KiB in one write: reads fill the buffer, which grows.
			one := len(seqStream(t, b, 1, 1000))
			frames := (128 << 10) / one
			burst := seqStream(t, b, frames+1, 1000)
			burst = burst[:frames*one+tail] // and the start of one more frame
			cs := make([]net.Conn, conns)
			for i := range cs {
				cs[i] = dialRaw(t, b)
			}
			testutil.EventuallyTrue(t, waitTimeout, "the connections accepted", func() bool { return b.t.Stats().ConnsOpen == conns })
			runtime.GC() // what sync.Pools hold goes at the next
			before := heapInUse()
			for i, c := range cs {
				if _, err := c.Write(burst); err != nil {
					t.Fatal(err)
				}
				total := int64((i + 1) * frames)
				testutil.EventuallyTrue(t, waitTimeout, "the burst delivered", func() bool { return delivered.Load() == total })
			}
			const want = connBufMin + 2<<10
			testutil.Eventually(t, waitTimeout, func() error {
				runtime.GC()
				if perConn := (heapInUse() - before) / conns; perConn > want {
					return fmt.Errorf("heap in use grew by %d KiB per idle connection after a burst (tail %d bytes); want at most %d KiB",
						perConn>>10, tail, want>>10)
				}
				return nil
			})
			if open := b.t.Stats().ConnsOpen; open != conns {
				t.Fatalf("%d connections open, want %d (idle connections stay open)", open, conns)
			}
		})
	}
}
