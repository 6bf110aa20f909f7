package nio

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/wire"
)

// WaitAcks returns once the receiver wrote the ACK and FAIL_ACK frames asked for, on
// every engine, without polling: it returns at once for what was written already, not
// before the count is reached (one ACK of two), once a FAIL_ACK makes the count, and with
// the context's error when that ends first, leaving no waiter behind.
func TestWaitAcks(t *testing.T) {
	for _, e := range Engines() {
		t.Run(string(e), func(t *testing.T) {
			cfg := testConfig()
			cfg.Engine = e
			n := startNode(t, cfg, func(m *channel.Message) error {
				if string(m.Data) == "refuse" {
					return errors.New("refused")
				}
				return nil
			})
			ctx := context.Background()
			if err := n.t.WaitAcks(ctx, 0); err != nil {
				t.Fatalf("WaitAcks(0): %v", err)
			}
			done := make(chan error, 1)
			go func() { done <- n.t.WaitAcks(ctx, 2) }()
			notYet := func(after string) {
				t.Helper()
				select {
				case err := <-done:
					t.Fatalf("WaitAcks(2) returned %v after %s", err, after)
				default:
				}
			}
			notYet("no ACK")
			c := dialRaw(t, n)
			if _, err := c.Write(frame(n.wire, channel.OptUseAck|channel.OptSyncAck, []byte("hello"))); err != nil {
				t.Fatal(err)
			}
			if k := readAcks(t, c, 1); k[0] != wire.Ack {
				t.Fatalf("ACK %v", k[0])
			}
			notYet("one ACK")
			if _, err := c.Write(frame(n.wire, channel.OptUseAck|channel.OptSyncAck, []byte("refuse"))); err != nil {
				t.Fatal(err)
			}
			if k := readAcks(t, c, 1); k[0] != wire.FailAck {
				t.Fatalf("ACK %v, want a FAIL_ACK", k[0])
			}
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("WaitAcks(2) after an ACK and a FAIL_ACK: %v", err)
				}
			case <-time.After(waitTimeout):
				t.Fatalf("WaitAcks(2) still waiting with %+v", n.t.Stats())
			}
			if err := n.t.WaitAcks(ctx, 2); err != nil {
				t.Fatalf("WaitAcks(2) once written: %v", err)
			}

			cctx, cancel := context.WithCancel(ctx)
			go func() { done <- n.t.WaitAcks(cctx, 3) }()
			cancel()
			select {
			case err := <-done:
				if !errors.Is(err, context.Canceled) {
					t.Fatalf("WaitAcks(3) when its context ended: %v, want context.Canceled", err)
				}
			case <-time.After(waitTimeout):
				t.Fatal("WaitAcks(3) did not return when its context ended")
			}
			a := &n.t.st.ackWatch
			a.mu.Lock()
			left := len(a.w)
			a.mu.Unlock()
			if left != 0 || a.n.Load() != 0 {
				t.Fatalf("%d waiters left (fast path %d) after every WaitAcks returned", left, a.n.Load())
			}
		})
	}
}
