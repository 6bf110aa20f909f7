package nio

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/internal/freeport"
)

// stopHold is a way a receiver's stop can outlast a Stop's context: a ReceiveFunc that
// does not return (on a worker, on an event loop, on a connection's goroutine), or gnet's
// engine itself slow to stop (held by engineShutdownHook, no ReceiveFunc running).
type stopHold struct {
	name string
	cfg  func() Config
	hook bool // hold gnet's engine as it begins to stop, not a ReceiveFunc
}

var stopHolds = []stopHold{
	{"workers", gnetConfig, false},
	{"event-loop", func() Config { c := gnetConfig(); c.DeliverOnEventLoop = true; return c }, false},
	{"goroutine", func() Config { c := testConfig(); c.Engine = EngineGoroutine; return c }, false},
	{"gnet-engine-slow", gnetConfig, true},
}

// heldReceiver starts a transport's receiver on cfg whose stop is held as h says until
// the returned function is called; a cleanup releases it and stops the transport.
func heldReceiver(t *testing.T, cfg Config, h stopHold) (*Transport, func()) {
	t.Helper()
	release := newGate()
	entered := make(chan struct{})
	var once sync.Once
	rx := func(*channel.Message) error {
		if !h.hook {
			once.Do(func() { close(entered) })
			release.wait()
		}
		return nil
	}
	if h.hook {
		var held atomic.Bool
		engineShutdownHook = func() {
			if held.CompareAndSwap(false, true) {
				release.wait()
			}
		}
		t.Cleanup(func() { engineShutdownHook = nil }) // after the Stop below (cleanups run last first)
	}
	tr, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.Start(context.Background(), channel.SvcReceiver, rx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		release.open()
		if err := tr.Stop(context.Background(), channel.SvcAll); err != nil {
			t.Errorf("final Stop: %v", err)
		}
	})
	if !h.hook {
		m := memberOf(tr)
		src, _ := m.MarshalBinary()
		c, err := net.DialTimeout("tcp", m.Addr(), waitTimeout)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		if _, err := c.Write(frame(src, 0, []byte("held"))); err != nil {
			t.Fatal(err)
		}
		select {
		case <-entered:
		case <-time.After(waitTimeout):
			t.Fatal("the frame never reached the ReceiveFunc")
		}
	}
	return tr, release.open
}

// stopEnded stops tr's receiver with a context that has ended: the hold keeps it from
// finishing, so Stop must return the context's error.
func stopEnded(t *testing.T, tr *Transport, h stopHold) {
	t.Helper()
	ended, cancel := context.WithCancel(context.Background())
	cancel()
	err := tr.Stop(ended, channel.SvcAll)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Stop with the receiver's stop held and an ended context = %v, want context.Canceled", err)
	}
	t.Logf("Stop: %v", err)
	if h.hook && strings.Contains(err.Error(), "ReceiveFunc") {
		t.Errorf("Stop's error %q blames a ReceiveFunc; none runs (gnet's engine is slow to stop)", err)
	}
}

// Once a Stop had returned its context's error with the receiver still stopping (gnet's
// engine, its workers or the goroutine engine's connections), a later Stop returned nil at
// once (stopReceiver had forgotten the receiver): a caller could not wait for the
// transport to be done. A later Stop now waits for that stop, or for its own context.
func TestLaterStopWaitsForTheReceiver(t *testing.T) {
	for _, h := range stopHolds {
		t.Run(h.name, func(t *testing.T) {
			tr, release := heldReceiver(t, h.cfg(), h)
			r := tr.rcv
			stopEnded(t, tr, h)
			ended, cancel := context.WithCancel(context.Background())
			cancel()
			if err := tr.Stop(ended, channel.SvcReceiver); !errors.Is(err, context.Canceled) {
				t.Fatalf("a later Stop with an ended context, the receiver still stopping: %v, want context.Canceled", err)
			}
			short, cancelShort := context.WithTimeout(context.Background(), 50*time.Millisecond)
			defer cancelShort()
			if err := tr.Stop(short, channel.SvcAll); !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("a later Stop with a short deadline, the receiver still stopping: %v, want context.DeadlineExceeded", err)
			}
			release()
			if err := tr.Stop(context.Background(), channel.SvcAll); err != nil {
				t.Fatalf("a later Stop once released: %v", err)
			}
			if !isClosed(r.done) || !isClosed(r.pool.done) || tr.Stats().ConnsOpen != 0 {
				t.Fatalf("a later Stop returned with the receiver still stopping: engine ended %v, workers ended %v, %d connections open",
					isClosed(r.done), isClosed(r.pool.done), tr.Stats().ConnsOpen)
			}
			if err := tr.Stop(ended, channel.SvcAll); err != nil {
				t.Fatalf("Stop of a stopped transport: %v", err)
			}
		})
	}
}

// A Start after a Stop that returned its context's error ran a second receiver beside the
// one still stopping: on gnet, whose stopping engine still listened, on the next port of
// the autobind range (two engines, the local member's port changed); on the goroutine
// engine, on the same port while the old connections' goroutines still ran. A Start now
// waits for the earlier stop, or for its own context (its error then wrapping it), and
// listens again on the same port.
func TestStartAfterATimedOutStopWaits(t *testing.T) {
	for _, h := range stopHolds {
		t.Run(h.name, func(t *testing.T) {
			ports, free, err := freeport.Pick(1, freeport.TCP, "127.0.0.1")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(free)
			port := ports[0]
			cfg := h.cfg()
			cfg.Port, cfg.AutoBind = port, 10
			tr, release := heldReceiver(t, cfg, h)
			stopEnded(t, tr, h)
			rx := func(*channel.Message) error { return nil }
			short, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			defer cancel()
			if err := tr.Start(short, channel.SvcReceiver, rx); !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Start with the earlier stop unfinished = %v (listening on %d), want context.DeadlineExceeded",
					err, tr.LocalAddress().Port)
			}
			if p := tr.LocalAddress().Port; p != 0 {
				t.Fatalf("a failed Start left the receiver listening on %d", p)
			}
			release()
			if err := tr.Start(context.Background(), channel.SvcReceiver, rx); err != nil {
				t.Fatalf("Start once the earlier stop could finish: %v", err)
			}
			if p := int(tr.LocalAddress().Port); p != port {
				t.Fatalf("restarted on port %d, want %d", p, port)
			}
		})
	}
}
