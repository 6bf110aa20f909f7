package nio

import (
	"bytes"
	"context"
	"errors"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/internal/testutil"
)

func TestAutoBind(t *testing.T) {
	forEachEngine(t, func(t *testing.T, ecfg Config) {
		ln, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		taken := ln.Addr().(*net.TCPAddr).Port
		cfg := ecfg
		cfg.Port = taken
		cfg.AutoBind = 20
		b := startNode(t, cfg, nil)
		got := int(b.member.Port)
		if got == taken || got < taken || got >= taken+20 {
			t.Fatalf("bound %d, want in (%d, %d)", got, taken, taken+20)
		}

		cfg.AutoBind = 1
		tr, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if err := tr.Start(context.Background(), channel.SvcReceiver, func(*channel.Message) error { return nil }); err == nil {
			_ = tr.Stop(context.Background(), channel.SvcAll)
			t.Fatal("bound a taken port with AutoBind 1")
		} else if !errors.Is(err, syscall.EADDRINUSE) {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestStartStopStart(t *testing.T) {
	forEachEngine(t, func(t *testing.T, ecfg Config) {
		rec := newRecorder(4)
		cfg := ecfg
		cfg.UDP = true
		tr, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		a := startNode(t, ecfg, nil)
		ctx := context.Background()
		for round := range 2 {
			if err := tr.Start(ctx, channel.SvcTransport, rec.rx); err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
			if err := tr.Start(ctx, channel.SvcTransport, rec.rx); err != nil { // already running: no-op
				t.Fatalf("round %d second Start: %v", round, err)
			}
			m := memberOf(tr)
			if m.Port == 0 || m.UDPPort <= 0 {
				t.Fatalf("local address %+v", tr.LocalAddress())
			}
			if err := a.t.Send(ctx, []channel.Member{m}, a.msg(channel.OptUseAck, []byte("r"+strconv.Itoa(round)))); err != nil {
				t.Fatalf("round %d send: %v", round, err)
			}
			rec.next(t)
			if err := tr.Send(ctx, []channel.Member{a.member}, a.msg(channel.OptUseAck, nil)); err != nil {
				t.Fatalf("round %d send back: %v", round, err)
			}
			if err := tr.Stop(ctx, channel.SvcTransport); err != nil {
				t.Fatalf("round %d stop: %v", round, err)
			}
			if err := tr.Stop(ctx, channel.SvcTransport); err != nil {
				t.Fatalf("round %d second stop: %v", round, err)
			}
			if la := tr.LocalAddress(); la.Port != 0 {
				t.Fatalf("local address after stop: %+v", la)
			}
			err := tr.Send(ctx, []channel.Member{a.member}, a.msg(channel.OptUseAck, nil))
			if !errors.Is(err, channel.ErrNotStarted) {
				t.Fatalf("send after stop: %v", err)
			}
		}
	})
}

func TestWildcardBindAdvertises(t *testing.T) {
	forEachEngine(t, func(t *testing.T, ecfg Config) {
		cfg := ecfg
		cfg.Address, cfg.AdvertiseAddress = "0.0.0.0", "127.0.0.1"
		rec := newRecorder(1)
		b := startNode(t, cfg, rec.rx)
		if !bytes.Equal(b.member.Host, []byte{127, 0, 0, 1}) {
			t.Fatalf("advertised host %v", b.member.Host)
		}
		a := startNode(t, ecfg, nil)
		if err := a.t.Send(context.Background(), []channel.Member{b.member}, a.msg(channel.OptUseAck, nil)); err != nil {
			t.Fatal(err)
		}
		rec.next(t)
	})
}

func TestAutoAddress(t *testing.T) {
	cfg := testConfig()
	cfg.Address = "auto"
	tr, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.Start(context.Background(), channel.SvcReceiver, func(*channel.Message) error { return nil }); err != nil {
		t.Fatal(err)
	}
	defer tr.Stop(context.Background(), channel.SvcAll)
	if la := tr.LocalAddress(); len(la.Host) != 4 && len(la.Host) != 16 || la.Port == 0 {
		t.Fatalf("local address %+v", la)
	}
}

func TestIPv6Loopback(t *testing.T) {
	forEachEngine(t, func(t *testing.T, ecfg Config) {
		if ln, err := net.Listen("tcp6", "[::1]:0"); err != nil {
			t.Skipf("no IPv6 loopback: %v", err)
		} else {
			_ = ln.Close()
		}
		cfg := ecfg
		cfg.Address = "::1"
		cfg.UDP = true
		rec := newRecorder(2)
		b := startNode(t, cfg, rec.rx)
		if len(b.member.Host) != 16 {
			t.Fatalf("host %v", b.member.Host)
		}
		a := startNode(t, cfg, nil)
		for _, opts := range []channel.SendOptions{channel.OptUseAck | channel.OptSyncAck, channel.OptUseAck | channel.OptUDP} {
			if err := a.t.Send(context.Background(), []channel.Member{b.member}, a.msg(opts, []byte("v6"))); err != nil {
				t.Fatal(err)
			}
			if got := rec.next(t); !got.Source.Equal(a.member) {
				t.Fatalf("source %s", got.Source.String())
			}
		}
	})
}

func TestUDPPortTaken(t *testing.T) {
	forEachEngine(t, func(t *testing.T, ecfg Config) {
		pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer pc.Close()
		cfg := ecfg
		cfg.UDP = true
		cfg.UDPPort = pc.LocalAddr().(*net.UDPAddr).Port
		cfg.AutoBind = 1
		tr, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		err = tr.Start(context.Background(), channel.SvcReceiver, func(*channel.Message) error { return nil })
		if !errors.Is(err, syscall.EADDRINUSE) {
			t.Fatalf("err = %v", err)
		}
		// The TCP side was undone: starting again with autobind works.
		cfg.AutoBind = 10
		b := startNode(t, cfg, nil)
		if p := int(b.member.UDPPort); p == cfg.UDPPort || p < cfg.UDPPort || p >= cfg.UDPPort+10 {
			t.Fatalf("udp port %d", p)
		}
	})
}

// withQueued starts a receiver with one worker whose deliveries block until release is
// opened, and sends it n frames: it returns once the first delivery started and all n
// were decoded.
func withQueued(t *testing.T, cfg Config, n int) (*Transport, *gate, *atomic.Int32) {
	t.Helper()
	cfg.Workers = 1
	tr, release, started, delivered := startBlocked(t, cfg)
	t.Cleanup(func() {
		release.open()
		_ = tr.Stop(context.Background(), channel.SvcAll)
	})
	m := memberOf(tr)
	src, _ := m.MarshalBinary()
	c, err := net.Dial("tcp", m.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	var stream []byte
	for i := range n {
		stream = append(stream, frame(src, 0, seqPayload(i))...)
	}
	if _, err := c.Write(stream); err != nil {
		t.Fatal(err)
	}
	<-started
	testutil.EventuallyTrue(t, waitTimeout, "all frames decoded", func() bool { return tr.Stats().FramesReceived == uint64(n) })
	return tr, release, delivered
}

func TestStopReceiverFinishesQueuedMessages(t *testing.T) {
	forEachEngine(t, func(t *testing.T, cfg Config) {
		const n = 20
		tr, release, delivered := withQueued(t, cfg, n)
		stopped := make(chan error, 1)
		go func() { stopped <- tr.Stop(context.Background(), channel.SvcAll) }()
		release.open()
		if err := <-stopped; err != nil {
			t.Fatal(err)
		}
		if got := delivered.Load(); got != n {
			t.Fatalf("%d of %d queued messages delivered before Stop returned", got, n)
		}
	})
}

// With DeliverOnEventLoop a ReceiveFunc that does not return holds its event loop, and so
// the engine: Stop still returns once its context ends, with the context's error, and the
// engine ends in the background when the ReceiveFunc returns.
func TestStopWhileDeliveringOnTheEventLoop(t *testing.T) {
	release := newGate()
	cfg := gnetConfig() // gnet-only: its pause, overflow and event-loop mechanics
	cfg.DeliverOnEventLoop = true
	tr, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	started := make(chan struct{})
	var once sync.Once
	if err := tr.Start(context.Background(), channel.SvcReceiver, func(*channel.Message) error {
		once.Do(func() { close(started) })
		release.wait()
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	r := tr.rcv
	m := memberOf(tr)
	src, _ := m.MarshalBinary()
	c, err := net.DialTimeout("tcp", m.Addr(), waitTimeout)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write(frame(src, 0, []byte("x"))); err != nil {
		t.Fatal(err)
	}
	<-started
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := tr.Stop(ctx, channel.SvcAll); !errors.Is(err, context.Canceled) {
		t.Fatalf("Stop = %v, want the context's error", err)
	}
	release.open()
	select {
	case <-r.done:
	case <-time.After(waitTimeout):
		t.Fatal("the engine did not end after the ReceiveFunc returned")
	}
}
