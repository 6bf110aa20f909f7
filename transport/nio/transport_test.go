package nio

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/wire"
)

func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i>>8)
	}
	return b
}

var ackModes = []struct {
	name string
	opts channel.SendOptions
}{
	{"none", 0},
	{"ack", channel.OptUseAck},
	{"sync", channel.OptUseAck | channel.OptSyncAck},
}

func TestSendReceive(t *testing.T) {
	forEachDelivery(t, func(t *testing.T, cfg Config) {
		rec := newRecorder(16)
		b := startNode(t, cfg, rec.rx)
		a := startNode(t, testConfig(), nil)
		for _, size := range []int{0, 1, 64 << 10, 8 << 20} {
			for _, mode := range ackModes {
				t.Run(fmt.Sprintf("size=%d/ack=%s", size, mode.name), func(t *testing.T) {
					data := pattern(size)
					msg := a.msg(mode.opts, data)
					if size == 1 {
						msg.SourceBytes = nil // the transport encodes Source itself
					}
					if err := a.t.Send(context.Background(), []channel.Member{b.member}, msg); err != nil {
						t.Fatalf("Send: %v", err)
					}
					got := rec.next(t)
					if !bytes.Equal(got.Data, data) {
						t.Fatalf("payload differs: got %d bytes, want %d", len(got.Data), len(data))
					}
					if got.Options != msg.Options || got.Timestamp != msg.Timestamp || !bytes.Equal(got.ID, msg.ID) {
						t.Fatalf("envelope differs: got %v/%d/%x, want %v/%d/%x",
							got.Options, got.Timestamp, got.ID, msg.Options, msg.Timestamp, msg.ID)
					}
					if !got.Source.Equal(a.member) || !bytes.Equal(got.SourceBytes, a.wire) {
						t.Fatalf("source = %v, want %v", got.Source.String(), a.member.String())
					}
				})
			}
		}
		// An ACK is counted once written, which can be just after its sender read it.
		testutil.EventuallyTrue(t, waitTimeout, "receiver stats", func() bool {
			st := b.t.Stats()
			return st.FramesReceived == 12 && st.MessagesDelivered == 12 && st.AcksSent == 8 && st.FramesRejected == 0
		})
		if s := a.t.Stats(); s.MessagesSent != 12 || s.SendErrors != 0 {
			t.Fatalf("sender stats: %+v", s)
		}
	})
}

// Small frames (written whole by the sender's raw write) through 4 KiB socket buffers: each
// takes several partial writes and waits for room, and arrives intact and in order.
func TestSmallFramesThroughSmallSocketBuffers(t *testing.T) {
	forEachEngine(t, func(t *testing.T, ecfg Config) {
		const n = 200
		rec := newRecorder(n)
		rcfg := ecfg
		rcfg.RxBufSize = 4 << 10
		b := startNode(t, rcfg, rec.rx)
		scfg := ecfg
		scfg.SenderTxBufSize = 4 << 10
		a := startNode(t, scfg, nil)
		payload := func(i int) []byte {
			p := bytes.Repeat([]byte{byte(i)}, 12<<10) // inline: under the 16 KiB writev threshold
			return append(seqPayload(i), p...)
		}
		for i := range n {
			if err := a.t.Send(context.Background(), []channel.Member{b.member}, a.msg(0, payload(i))); err != nil {
				t.Fatal(err)
			}
		}
		for i := range n {
			if got := rec.next(t); !bytes.Equal(got.Data, payload(i)) {
				t.Fatalf("message %d: %d bytes, not the %d sent", i, len(got.Data), len(payload(i)))
			}
		}
	})
}

func TestPipelinedAndSplitFrames(t *testing.T) {
	forEachDelivery(t, func(t *testing.T, cfg Config) {
		rec := newRecorder(16)
		rec.setErr(func(m *channel.Message) error {
			if string(m.Data) == "fail" {
				return errors.New("fail")
			}
			return nil
		})
		b := startNode(t, cfg, rec.rx)
		src, _ := b.member.MarshalBinary()
		c := dialRaw(t, b)

		useAck, sync := channel.OptUseAck, channel.OptUseAck|channel.OptSyncAck
		f1 := frame(src, useAck, []byte("one"))
		f2 := frame(src, sync, []byte("fail"))
		f3 := frame(src, useAck, []byte("three"))
		f4 := frame(src, 0, []byte("four")) // no ack
		f5 := frame(src, sync, []byte("five"))
		stream := bytes.Join([][]byte{f1, f2, f3, f4, f5}, nil)
		cut := len(f1) + len(f2) + len(f3)/2
		if _, err := c.Write(stream[:cut]); err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"one", "fail"} {
			if got := rec.next(t); string(got.Data) != want {
				t.Fatalf("got %q, want %q", got.Data, want)
			}
		}
		if _, err := c.Write(stream[cut:]); err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"three", "four", "five"} {
			if got := rec.next(t); string(got.Data) != want {
				t.Fatalf("got %q, want %q", got.Data, want)
			}
		}
		kinds := readAcks(t, c, 4)
		want := []wire.AckKind{wire.Ack, wire.FailAck, wire.Ack, wire.Ack}
		for i := range want {
			if kinds[i] != want[i] {
				t.Fatalf("acks = %v, want %v", kinds, want)
			}
		}
	})
}

// Workers write ACKs to the socket themselves while it takes them; when it is full, the
// ACKs go through gnet's outbound buffer until that is written out. A peer that pipelines
// thousands of frames of every ack mode, some failing, and reads its ACKs only as fast as
// a small socket buffer lets them through, gets every ACK and FAIL_ACK in frame order.
func TestAckOrderWhenTheSocketFills(t *testing.T) {
	forEachDelivery(t, func(t *testing.T, cfg Config) {
		rx := func(m *channel.Message) error {
			if binary.BigEndian.Uint32(m.Data)%7 == 3 {
				return errors.New("fail")
			}
			return nil
		}
		cfg.TxBufSize = 4 << 10
		b := startNode(t, cfg, rx)
		src, _ := b.member.MarshalBinary()
		c := dialRaw(t, b)
		_ = c.(*net.TCPConn).SetReadBuffer(4 << 10)

		const frames = 5000 // far more ACK bytes than both socket buffers hold
		var stream []byte
		var want []wire.AckKind
		for i := range frames {
			opts, k := channel.OptUseAck|channel.OptSyncAck, wire.Ack
			switch {
			case i%3 == 0:
				opts = channel.OptUseAck // acknowledged before delivery: never a FAIL_ACK
			case i%5 == 2:
				opts, k = 0, wire.NotAck
			case i%7 == 3:
				k = wire.FailAck
			}
			stream = append(stream, frame(src, opts, seqPayload(i))...)
			if k != wire.NotAck {
				want = append(want, k)
			}
		}
		writeErr := make(chan error, 1)
		go func() {
			_, err := c.Write(stream)
			writeErr <- err
		}()
		got := readAcks(t, c, len(want))
		if err := <-writeErr; err != nil {
			t.Fatal(err)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("answer %d of %d is %v, want %v", i, len(want), got[i], want[i])
			}
		}
	})
}

func TestInvalidFramesCloseTheConnection(t *testing.T) {
	forEachEngine(t, func(t *testing.T, ecfg Config) {
		cfg := ecfg
		cfg.MaxFrameSize = 1 << 20
		rec := newRecorder(16)
		b := startNode(t, cfg, rec.rx)
		src, _ := b.member.MarshalBinary()
		good := frame(src, channel.OptUseAck, []byte("ok"))

		negative := bytes.Clone(good)
		binary.BigEndian.PutUint32(negative[7:], 0xfffffff0)
		oversize := bytes.Clone(good)
		binary.BigEndian.PutUint32(oversize[7:], 2<<20)
		badEnd := bytes.Clone(good)
		badEnd[len(badEnd)-1] = 'X'
		// Inner lengths disagreeing with the frame: the message length claims one byte more.
		mismatch := bytes.Clone(good)
		binary.BigEndian.PutUint32(mismatch[len(mismatch)-7-2-4:], 3)
		cases := map[string][]byte{
			"garbage":       []byte("GET / HTTP/1.1\r\n\r\n"),
			"negative":      negative,
			"oversize":      oversize,
			"bad-end":       badEnd,
			"inner-lengths": mismatch,
			"ack-frame":     wire.AckFrame,
		}
		var rejected uint64
		for name, bad := range cases {
			t.Run(name, func(t *testing.T) {
				c := dialRaw(t, b)
				// A good frame first: it is processed and acknowledged before the bad one.
				if _, err := c.Write(append(bytes.Clone(good), bad...)); err != nil {
					t.Fatal(err)
				}
				if k := readAcks(t, c, 1); k[0] != wire.Ack {
					t.Fatalf("ack %v", k)
				}
				rec.next(t)
				expectClosed(t, c)
				rejected++
				testutil.EventuallyTrue(t, waitTimeout, "rejected counter", func() bool { return b.t.Stats().FramesRejected == rejected })

				// The node is still up.
				c2 := dialRaw(t, b)
				if _, err := c2.Write(good); err != nil {
					t.Fatal(err)
				}
				if k := readAcks(t, c2, 1); k[0] != wire.Ack {
					t.Fatalf("ack %v", k)
				}
				rec.next(t)
			})
		}
	})
}

func TestShortLivedConnection(t *testing.T) {
	forEachEngine(t, func(t *testing.T, ecfg Config) {
		rec := newRecorder(4)
		b := startNode(t, ecfg, rec.rx)
		src, _ := b.member.MarshalBinary()
		// TcpFailureDetector: connect, write one frame, close at once.
		probe := bytes.Repeat([]byte{0x4f}, 64)
		c, err := net.Dial("tcp", b.member.Addr())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Write(frame(src, channel.OptByteMessage, probe)); err != nil {
			t.Fatal(err)
		}
		_ = c.Close()
		if got := rec.next(t); !bytes.Equal(got.Data, probe) {
			t.Fatalf("got %x", got.Data)
		}
	})
}

func TestOrderPerConnection(t *testing.T) {
	forEachDelivery(t, func(t *testing.T, cfg Config) {
		const n = 1000
		rec := newRecorder(n)
		b := startNode(t, cfg, rec.rx)
		cfg = testConfig()
		cfg.PoolSize = 1 // one connection: Send order is wire order
		a := startNode(t, cfg, nil)
		for i := range n {
			if err := a.t.Send(context.Background(), []channel.Member{b.member}, a.msg(0, seqPayload(i))); err != nil {
				t.Fatal(err)
			}
		}
		for i := range n {
			if got := binary.BigEndian.Uint32(rec.next(t).Data); got != uint32(i) {
				t.Fatalf("message %d arrived as %d", i, got)
			}
		}
		if st := b.t.Stats(); st.ConnsAccepted != 1 {
			t.Fatalf("%d connections", st.ConnsAccepted)
		}
	})
}

func TestUDP(t *testing.T) {
	forEachEngine(t, func(t *testing.T, ecfg Config) {
		rec := newRecorder(8)
		cfg := ecfg
		cfg.UDP = true
		b := startNode(t, cfg, rec.rx)
		if b.member.UDPPort <= 0 {
			t.Fatalf("no udp port: %+v", b.t.LocalAddress())
		}
		a := startNode(t, ecfg, nil)
		for _, mode := range ackModes {
			data := pattern(1000)
			msg := a.msg(mode.opts|channel.OptUDP, data)
			if err := a.t.Send(context.Background(), []channel.Member{b.member}, msg); err != nil {
				t.Fatalf("%s: %v", mode.name, err)
			}
			if got := rec.next(t); !bytes.Equal(got.Data, data) || got.Options != msg.Options {
				t.Fatalf("%s: wrong message", mode.name)
			}
		}
		testutil.EventuallyTrue(t, waitTimeout, "receiver stats", func() bool { // an ACK counts once written
			st := b.t.Stats()
			return st.DatagramsReceived == 3 && st.AcksSent == 2 && st.ConnsAccepted == 0
		})

		// A failing listener gives FAIL_ACK over UDP too.
		rec.setErr(func(*channel.Message) error { return errors.New("no") })
		err := a.t.Send(context.Background(), []channel.Member{b.member}, a.msg(channel.OptUDP|channel.OptUseAck|channel.OptSyncAck, nil))
		if !errors.Is(err, channel.ErrAckFailed) {
			t.Fatalf("err = %v", err)
		}
		rec.next(t)
		rec.next(t) // retried once
		rec.setErr(nil)

		// Too large for a datagram.
		err = a.t.Send(context.Background(), []channel.Member{b.member}, a.msg(channel.OptUDP, make([]byte, 70000)))
		if !errors.Is(err, channel.ErrMessageTooLarge) {
			t.Fatalf("err = %v", err)
		}
		// A member without a UDP port.
		noUDP := b.member
		noUDP.UDPPort = -1
		err = a.t.Send(context.Background(), []channel.Member{noUDP}, a.msg(channel.OptUDP, nil))
		if !errors.Is(err, channel.ErrConnect) {
			t.Fatalf("err = %v", err)
		}
		rec.none(t)
	})
}

func TestKeepAliveCount(t *testing.T) {
	forEachEngine(t, func(t *testing.T, ecfg Config) {
		rec := newRecorder(8)
		b := startNode(t, ecfg, rec.rx)
		cfg := ecfg
		cfg.KeepAliveCount = 2
		a := startNode(t, cfg, nil)
		for i := range 5 {
			if err := a.t.Send(context.Background(), []channel.Member{b.member}, a.msg(channel.OptUseAck, seqPayload(i))); err != nil {
				t.Fatal(err)
			}
			rec.next(t)
		}
		// 5 messages, 2 per connection: 3 connections, the last one still pooled.
		if st := a.t.Stats(); st.Dials != 3 || st.ConnsExpired != 2 || st.ConnsPooled != 1 {
			t.Fatalf("sender stats %+v", st)
		}
		testutil.EventuallyTrue(t, waitTimeout, "3 accepted connections", func() bool { return b.t.Stats().ConnsAccepted == 3 })
	})
}

func TestKeepAliveTimeAndHeartbeat(t *testing.T) {
	forEachEngine(t, func(t *testing.T, ecfg Config) {
		rec := newRecorder(8)
		b := startNode(t, ecfg, rec.rx)
		cfg := ecfg
		cfg.KeepAliveTime = time.Nanosecond
		a := startNode(t, cfg, nil)
		if err := a.t.Send(context.Background(), []channel.Member{b.member}, a.msg(channel.OptUseAck, nil)); err != nil {
			t.Fatal(err)
		}
		rec.next(t)
		if st := a.t.Stats(); st.ConnsPooled != 0 || st.ConnsExpired != 1 {
			t.Fatalf("stats %+v", st)
		}

		// Heartbeat drops an idle connection whose peer went away.
		c := startNode(t, ecfg, nil)
		if err := c.t.Send(context.Background(), []channel.Member{b.member}, c.msg(channel.OptUseAck, nil)); err != nil {
			t.Fatal(err)
		}
		rec.next(t)
		if err := b.t.Stop(context.Background(), channel.SvcReceiver); err != nil {
			t.Fatal(err)
		}
		testutil.EventuallyTrue(t, waitTimeout, "heartbeat to close the dead connection", func() bool {
			c.t.Heartbeat()
			return c.t.Stats().ConnsPooled == 0
		})
	})
}

func TestBackpressure(t *testing.T) {
	const n = 200
	cfg := gnetConfig() // gnet-only: its pause, overflow and event-loop mechanics
	cfg.MaxConnQueueBytes = 4 << 10
	g := newSeqGate(t, n)
	b := startNode(t, cfg, g.rx)
	stream := seqStream(t, b, n, 200)
	c := dialRaw(t, b)
	if _, err := c.Write(stream); err != nil {
		t.Fatal(err)
	}
	<-g.first
	testutil.EventuallyTrue(t, waitTimeout, "a read pause", func() bool { return b.t.Stats().ReadPauses > 0 })
	if q := b.t.Stats().QueuedBytes; q > int64(cfg.MaxConnQueueBytes)+1024 {
		t.Fatalf("queued %d bytes, limit %d", q, cfg.MaxConnQueueBytes)
	}
	g.release.open()
	g.inOrder(t)
	// A worker gives its batch's bytes back after the batch's last callback returned.
	testutil.EventuallyTrue(t, waitTimeout, "the queue drained", func() bool { return b.t.Stats().QueuedBytes == 0 })
}

// With DeliverOnEventLoop, and with EngineGoroutine, a peer streaming ahead of a slow
// application is slowed down by TCP instead of queued: nothing pauses, nothing overflows,
// every message arrives in order once the application catches up, on the same connection.
func TestDeliverOnEventLoopLeavesBytesInTheSocket(t *testing.T) {
	for name, engine := range map[string]Engine{"gnet-event-loop": EngineGnet, "goroutine": EngineGoroutine} {
		t.Run(name, func(t *testing.T) {
			cfg := testConfig()
			cfg.Engine, cfg.DeliverOnEventLoop = engine, engine == EngineGnet
			const n = 2000
			cfg.MaxFrameSize = 1024
			cfg.MaxConnQueueBytes = 2048 // what the workers' path would close the connection at (TestOverflowClosesConnection)
			cfg.RxBufSize = 4 << 10
			g := newSeqGate(t, n)
			b := startNode(t, cfg, g.rx)
			stream := seqStream(t, b, n, 500)
			c := dialRaw(t, b)
			_ = c.(*net.TCPConn).SetWriteBuffer(4 << 10)
			var written atomic.Int64
			wrote := make(chan error, 1)
			go func() {
				var err error
				for off := 0; off < len(stream) && err == nil; off += 4 << 10 {
					var k int
					k, err = c.Write(stream[off:min(off+4<<10, len(stream))])
					written.Add(int64(k))
				}
				wrote <- err
			}()
			<-g.first
			testutil.EventuallyTrue(t, waitTimeout, "the peer wrote more than the receiver would queue", func() bool {
				return written.Load() > int64(4*cfg.MaxConnQueueBytes)
			})
			g.release.open()
			g.inOrder(t)
			if err := <-wrote; err != nil {
				t.Fatalf("the peer's write failed: %v", err)
			}
			// EngineGoroutine counts a batch out of QueuedBytes once its last ReceiveFunc returned.
			testutil.Eventually(t, waitTimeout, func() error {
				if st := b.t.Stats(); st.ConnsOverflowed != 0 || st.ReadPauses != 0 || st.ConnsOpen != 1 || st.QueuedBytes != 0 {
					return fmt.Errorf("receiver stats %+v", st)
				}
				return nil
			})
		})
	}
}

func TestOverflowClosesConnection(t *testing.T) {
	cfg := gnetConfig() // gnet-only: its pause, overflow and event-loop mechanics
	cfg.MaxFrameSize = 1024
	cfg.MaxConnQueueBytes = 2048
	release := newGate()
	b := startNode(t, cfg, func(*channel.Message) error { release.wait(); return nil })
	t.Cleanup(release.open)
	src, _ := b.member.MarshalBinary()
	f := frame(src, 0, make([]byte, 500))
	var stream []byte
	for len(stream) < 1<<20 {
		stream = append(stream, f...)
	}
	c := dialRaw(t, b)
	wrote := make(chan struct{})
	go func() { // blocks once the receiver stops reading, fails once it closed
		defer close(wrote)
		_, _ = c.Write(stream)
	}()
	expectClosed(t, c)
	testutil.EventuallyTrue(t, waitTimeout, "overflow counter", func() bool { return b.t.Stats().ConnsOverflowed == 1 })
	_ = c.Close()
	<-wrote
}

func TestNewValidates(t *testing.T) {
	for name, mod := range map[string]func(*Config){
		"wildcard-no-advertise": func(c *Config) { c.Address = "0.0.0.0" },
		"advertise-wildcard":    func(c *Config) { c.AdvertiseAddress = "::" },
		"port":                  func(c *Config) { c.Port = 70000 },
		"udp-port":              func(c *Config) { c.UDPPort = -1 },
		"autobind":              func(c *Config) { c.AutoBind = -1 },
		"frame":                 func(c *Config) { c.MaxFrameSize = 10 },
		"workers":               func(c *Config) { c.Workers = -2 },
		"timeout":               func(c *Config) { c.Timeout = -time.Second },
		"address":               func(c *Config) { c.Address = "not an address" },
		"engine":                func(c *Config) { c.Engine = "epoll" },
	} {
		cfg := DefaultConfig()
		mod(&cfg)
		if _, err := New(cfg); !errors.Is(err, channel.ErrInvalidConfig) {
			t.Errorf("%s: err = %v", name, err)
		}
	}
	tr, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	c := tr.Config()
	if c.AutoBind != 100 || c.Workers != 15 || c.PoolSize != 25 || c.Timeout != 3*time.Second ||
		c.DialTimeout != 3*time.Second || c.MaxRetryAttempts != 1 || c.MaxWait != 3*time.Second ||
		c.MaxFrameSize != DefaultMaxFrameSize || c.RxBufSize != -1 || c.SenderTxBufSize != 512<<10 || c.TxBufSize != 25188 || c.SenderRxBufSize != 25188 ||
		c.Engine != DefaultEngine {
		t.Fatalf("defaults not filled: %+v", c)
	}
	// A wildcard bind with an advertised address is fine.
	cfg := DefaultConfig()
	cfg.Address, cfg.AdvertiseAddress = "0.0.0.0", "127.0.0.1"
	if _, err := New(cfg); err != nil {
		t.Fatal(err)
	}
}

func TestChannelEndToEnd(t *testing.T) {
	forEachEngine(t, func(t *testing.T, ecfg Config) {
		newChannel := func() *channel.Channel {
			tr, err := New(ecfg)
			if err != nil {
				t.Fatal(err)
			}
			ch, err := channel.New(channel.Config{Transport: tr, HeartbeatInterval: -1})
			if err != nil {
				t.Fatal(err)
			}
			if err := ch.Start(context.Background(), channel.SvcTransport); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = ch.Stop(context.Background(), channel.SvcAll) })
			return ch
		}
		a, b := newChannel(), newChannel()
		got := make(chan *channel.Message, 4)
		b.AddMessageListener(channel.MessageListenerFunc(func(m *channel.Message) error {
			got <- m
			if string(m.Data) == "bad" {
				return errors.New("bad")
			}
			return nil
		}))
		if err := a.Send(context.Background(), []channel.Member{b.LocalMember()}, []byte("hello"), channel.OptUseAck|channel.OptSyncAck); err != nil {
			t.Fatal(err)
		}
		select {
		case m := <-got:
			if string(m.Data) != "hello" || !m.Source.Equal(a.LocalMember()) {
				t.Fatalf("got %q from %s", m.Data, m.Source.String())
			}
		case <-time.After(waitTimeout):
			t.Fatal("no message")
		}
		err := a.Send(context.Background(), []channel.Member{b.LocalMember()}, []byte("bad"), channel.OptUseAck|channel.OptSyncAck)
		if !errors.Is(err, channel.ErrAckFailed) {
			t.Fatalf("err = %v", err)
		}
		<-got
		<-got
	})
}

func TestPausedConnectionClosedByPeer(t *testing.T) {
	const n = 100
	cfg := gnetConfig() // gnet-only: its pause, overflow and event-loop mechanics
	cfg.MaxConnQueueBytes = 2 << 10
	release := newGate()
	rec := newRecorder(n)
	first := make(chan struct{})
	var once sync.Once
	b := startNode(t, cfg, func(m *channel.Message) error {
		once.Do(func() { close(first) })
		release.wait()
		return rec.rx(m)
	})
	t.Cleanup(release.open)
	stream := seqStream(t, b, n, 300)
	c := dialRaw(t, b)
	if _, err := c.Write(stream); err != nil {
		t.Fatal(err)
	}
	_ = c.Close() // EOF while most frames wait in gnet's buffer
	<-first
	testutil.EventuallyTrue(t, waitTimeout, "the connection to close", func() bool { return b.t.Stats().ConnsOpen == 0 })
	release.open()
	for i := range n {
		if got := binary.BigEndian.Uint32(rec.next(t).Data); got != uint32(i) {
			t.Fatalf("message %d arrived as %d", i, got)
		}
	}
	if st := b.t.Stats(); st.ReadPauses == 0 {
		t.Fatalf("the connection never paused: %+v", st)
	}
}

func TestConcurrentSenders(t *testing.T) {
	forEachEngine(t, func(t *testing.T, ecfg Config) {
		const goroutines, each = 8, 50
		r1, r2 := newRecorder(goroutines*each), newRecorder(goroutines*each)
		b1 := startNode(t, ecfg, r1.rx)
		b2 := startNode(t, ecfg, r2.rx)
		cfg := ecfg
		cfg.PoolSize = 3
		a := startNode(t, cfg, nil)
		to := []channel.Member{b1.member, b2.member}
		var wg sync.WaitGroup
		errc := make(chan error, goroutines)
		for g := range goroutines {
			wg.Go(func() {
				for i := range each {
					opts := ackModes[(g+i)%len(ackModes)].opts
					if err := a.t.Send(context.Background(), to, a.msg(opts, seqPayload(i))); err != nil {
						errc <- err
						return
					}
				}
			})
		}
		wg.Wait()
		close(errc)
		for err := range errc {
			t.Fatal(err)
		}
		for range goroutines * each {
			r1.next(t)
			r2.next(t)
		}
		if st := a.t.Stats(); st.ConnsPooled > 6 || st.MessagesSent != 2*goroutines*each {
			t.Fatalf("stats %+v", st)
		}
	})
}

func TestUDPReceiverDropsInvalidDatagrams(t *testing.T) {
	rec := newRecorder(4)
	cfg := testConfig()
	cfg.UDP = true
	b := startNode(t, cfg, rec.rx)
	src, _ := b.member.MarshalBinary()
	c, err := net.Dial("udp", net.JoinHostPort("127.0.0.1", strconv.Itoa(int(b.member.UDPPort))))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	good := frame(src, 0, []byte("good"))
	for _, d := range [][]byte{[]byte("garbage"), good[:len(good)-3], good} {
		if _, err := c.Write(d); err != nil {
			t.Fatal(err)
		}
	}
	if got := rec.next(t); string(got.Data) != "good" {
		t.Fatalf("got %q", got.Data)
	}
	if st := b.t.Stats(); st.FramesRejected != 2 || st.DatagramsReceived != 3 {
		t.Fatalf("stats %+v", st)
	}
}

// A member that disappeared loses its pooled connections: the next send to its address (a
// restarted node there) opens a new one instead of writing into the old process's.
func TestForgetMemberClosesPooledConnections(t *testing.T) {
	forEachEngine(t, func(t *testing.T, ecfg Config) {
		rec := newRecorder(8)
		b := startNode(t, ecfg, rec.rx)
		a := startNode(t, ecfg, nil)
		send := func(i int) {
			t.Helper()
			if err := a.t.Send(context.Background(), []channel.Member{b.member}, a.msg(channel.OptUseAck, seqPayload(i))); err != nil {
				t.Fatal(err)
			}
			rec.next(t)
		}
		send(0)
		send(1)
		if st := a.t.Stats(); st.Dials != 1 || st.ConnsPooled != 1 {
			t.Fatalf("before: sender stats %+v", st)
		}
		other := b.member
		other.Port++ // another member: nothing of b's is touched
		a.t.ForgetMember(other)
		if st := a.t.Stats(); st.ConnsPooled != 1 {
			t.Fatalf("forgetting another member closed b's connection: %+v", st)
		}
		a.t.ForgetMember(b.member)
		if st := a.t.Stats(); st.ConnsPooled != 0 {
			t.Fatalf("after ForgetMember: sender stats %+v", st)
		}
		send(2)
		if st := a.t.Stats(); st.Dials != 2 || st.ConnsPooled != 1 {
			t.Fatalf("after: sender stats %+v", st)
		}
		testutil.EventuallyTrue(t, waitTimeout, "b accepted the new connection", func() bool { return b.t.Stats().ConnsAccepted == 2 })
	})
}
