package nio

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/internal/testutil"
)

// Stats.QueuedBytes, PendingBytes and UntrustedBytes are gauges of what connections hold
// now: after a mixed load (8 members sending small and large messages without ACK, with
// ACK and SYNC, waiting for a blocked listener and, on EngineGoroutine, for the queue
// budget), then a Stop that times out while connections still hold decoded frames, frames
// waiting for the budget and partial small and large frames, each returns to 0 once the
// listener lets go: no path (delivered, dropped, refused, a wait given up, a connection
// closed) leaves bytes counted.
func TestByteCountersReturnToZeroAfterLoadAndStop(t *testing.T) {
	forEachEngine(t, func(t *testing.T, cfg Config) {
		const members = 8
		sizes := []int{100, 20 << 10, 200 << 10, 1 << 20}
		optsOf := []channel.SendOptions{0, channel.OptUseAck, channel.OptUseAck | channel.OptSyncAck}
		cfg.Workers = 2
		cfg.MaxQueuedBytes = 512 << 10 // under the load: connections wait for it
		var delivered atomic.Int64
		var mu sync.Mutex
		block := newGate()
		block.open() // phase 1 runs unblocked once started
		rx := func(*channel.Message) error {
			mu.Lock()
			g := block
			mu.Unlock()
			g.wait()
			delivered.Add(1)
			return nil
		}
		tr, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if err := tr.Start(context.Background(), channel.SvcTransport, rx); err != nil {
			t.Fatal(err)
		}
		b := &node{t: tr, member: memberOf(tr)}
		b.wire, _ = b.member.MarshalBinary()
		senders := make([]*node, members)
		for i := range senders {
			senders[i] = startNode(t, testConfig(), nil)
		}
		load := func(wantOK bool) *sync.WaitGroup {
			var wg sync.WaitGroup
			for i, a := range senders {
				for j, size := range sizes {
					wg.Add(1)
					go func() {
						defer wg.Done()
						ctx, cancel := context.WithTimeout(context.Background(), 2*waitTimeout)
						defer cancel()
						opts := optsOf[(i+j)%len(optsOf)]
						err := a.t.Send(ctx, []channel.Member{b.member}, a.msg(opts, make([]byte, size)))
						if wantOK && err != nil {
							t.Errorf("member %d, %d bytes, options %v: %v", i, size, opts, err)
						}
					}()
				}
			}
			return &wg
		}

		// Phase 1: the whole load gets through with the default budgets but MaxQueuedBytes.
		load(true).Wait()
		testutil.EventuallyTrue(t, waitTimeout, "the load delivered", func() bool {
			return delivered.Load() == members*int64(len(sizes)) || tr.Stats().FramesRefused > 0
		})
		if st := tr.Stats(); st.FramesRefused != 0 || st.ConnsOverflowed != 0 || st.FramesRejected != 0 {
			t.Fatalf("a member's message refused under load: %+v", st)
		}

		// Phase 2: the listener blocks; the load again, and partial frames held open.
		mu.Lock()
		block = newGate()
		mu.Unlock()
		t.Cleanup(block.open)
		wg := load(false)
		small := frame(b.wire, 0, make([]byte, 20<<10))
		large := frame(b.wire, 0, make([]byte, 1<<20))
		var partial []net.Conn
		for _, part := range [][]byte{small[:10<<10], large[:200<<10]} {
			c := dialRaw(t, b)
			if _, err := c.Write(part); err != nil {
				t.Fatal(err)
			}
			partial = append(partial, c)
		}
		testutil.EventuallyTrue(t, waitTimeout, "the load queued and the partial frames held", func() bool {
			st := tr.Stats()
			waiting := st.QueuedBytes > 0 && st.PendingBytes >= 10<<10
			if cfg.Engine == EngineGoroutine {
				waiting = waiting && st.ReadPauses > 0
			}
			return waiting
		})
		st := tr.Stats()
		t.Logf("before Stop: %d bytes queued, %d pending, %d untrusted, %d read pauses", st.QueuedBytes, st.PendingBytes, st.UntrustedBytes, st.ReadPauses)
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		err = tr.Stop(ctx, channel.SvcTransport) // the listener holds it: ends with ctx
		cancel()
		t.Logf("Stop with the listener blocked: %v", err)
		block.open()
		wg.Wait()
		for _, c := range partial {
			_ = c.Close()
		}
		testutil.EventuallyTrue(t, waitTimeout, "every counter back to 0", func() bool {
			st := tr.Stats()
			return st.ConnsOpen == 0 && st.QueuedBytes == 0 && st.PendingBytes == 0 && st.UntrustedBytes == 0
		})
		if err := tr.Stop(context.Background(), channel.SvcTransport); err != nil {
			t.Fatalf("Stop again once the listener let go: %v", err)
		}
	})
}
