package nio

import (
	"context"
	"fmt"
	"io"
	"net"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
)

// countingRx counts received messages and signals when a target is reached.
type countingRx struct {
	n      atomic.Int64
	target atomic.Int64
	done   chan struct{}
}

func newCountingRx() *countingRx { return &countingRx{done: make(chan struct{}, 1)} }

func (c *countingRx) rx(m *channel.Message) error {
	m.Release() // an application done with Data: large buffers are reused
	if c.n.Add(1) == c.target.Load() {
		c.done <- struct{}{}
	}
	return nil
}

// expect arms the counter for n more messages and returns a function waiting for them.
func (c *countingRx) expect(n int) func(testing.TB) {
	c.target.Store(c.n.Load() + int64(n))
	return func(tb testing.TB) {
		if n == 0 {
			return
		}
		select {
		case <-c.done:
		case <-time.After(time.Minute):
			tb.Fatalf("receiver got %d of %d", c.n.Load(), c.target.Load())
		}
	}
}

func benchConfig() Config {
	cfg := DefaultConfig()
	cfg.Port = 0
	cfg.Engine = EngineGnet
	return cfg
}

var benchSizes = []struct {
	name string
	n    int
}{{"64B", 64}, {"1KiB", 1 << 10}, {"64KiB", 64 << 10}, {"1MiB", 1 << 20}}

// BenchmarkThroughput measures Go→Go over loopback with one sending goroutine, one message
// in flight at a time (the Java comparison: one sender thread). For ack=none the time
// includes waiting until the receiver got every message.
func BenchmarkThroughput(b *testing.B) { benchThroughput(b, benchConfig()) }

// BenchmarkThroughputDeliverOnLoop is BenchmarkThroughput with the receiver delivering on
// its event loops (Config.DeliverOnEventLoop).
func BenchmarkThroughputDeliverOnLoop(b *testing.B) {
	cfg := benchConfig()
	cfg.DeliverOnEventLoop = true
	benchThroughput(b, cfg)
}

// BenchmarkThroughputGoroutine is BenchmarkThroughput with the receiver on EngineGoroutine.
func BenchmarkThroughputGoroutine(b *testing.B) {
	cfg := benchConfig()
	cfg.Engine = EngineGoroutine
	benchThroughput(b, cfg)
}

func benchThroughput(b *testing.B, rcfg Config) {
	cnt := newCountingRx()
	recv := startNode(b, rcfg, cnt.rx)
	send := startNode(b, benchConfig(), nil)
	to := []channel.Member{recv.member}
	for _, size := range benchSizes {
		for _, mode := range ackModes {
			b.Run(fmt.Sprintf("size=%s/ack=%s", size.name, mode.name), func(b *testing.B) {
				msg := send.msg(mode.opts, make([]byte, size.n))
				ctx := context.Background()
				b.SetBytes(int64(size.n))
				b.ReportAllocs()
				wait := cnt.expect(b.N)
				b.ResetTimer()
				for range b.N {
					if err := send.t.Send(ctx, to, msg); err != nil {
						b.Fatal(err)
					}
				}
				wait(b)
				b.StopTimer()
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
			})
		}
	}
}

// BenchmarkThroughputParallel is BenchmarkThroughput with GOMAXPROCS×4 concurrent
// senders (b.SetParallelism(4)) sharing one Transport: they spread over the member's
// connection pool, several messages in flight at once.
func BenchmarkThroughputParallel(b *testing.B) {
	cnt := newCountingRx()
	recv := startNode(b, benchConfig(), cnt.rx)
	send := startNode(b, benchConfig(), nil)
	to := []channel.Member{recv.member}
	for _, size := range benchSizes[:3] {
		for _, mode := range ackModes {
			b.Run(fmt.Sprintf("size=%s/ack=%s", size.name, mode.name), func(b *testing.B) {
				msg := send.msg(mode.opts, make([]byte, size.n))
				b.SetBytes(int64(size.n))
				b.ReportAllocs()
				b.SetParallelism(4)
				wait := cnt.expect(b.N)
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if err := send.t.Send(context.Background(), to, msg); err != nil {
							b.Error(err)
							return
						}
					}
				})
				wait(b)
				b.StopTimer()
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
			})
		}
	}
}

// BenchmarkFanout4 sends each message (1 KiB; 17 KiB and 64 KiB, above inlineMax, which
// the sender writes with writev from a goroutine per member) to 4 receivers (one Transport
// each) from one goroutine: the sender writes the frame to every member, then reads their
// ACKs, and returns when all answered as the ack mode asks. allocs/op counts the sender's
// and the 4 receivers' (12 of them the receivers' messages at 1 KiB).
func BenchmarkFanout4(b *testing.B) {
	cnt := newCountingRx()
	send := startNode(b, benchConfig(), nil)
	var to []channel.Member
	for range 4 {
		to = append(to, startNode(b, benchConfig(), cnt.rx).member)
	}
	for _, size := range []struct {
		name string
		n    int
	}{{"1KiB", 1 << 10}, {"17KiB", 17 << 10}, {"64KiB", 64 << 10}} {
		for _, mode := range ackModes {
			benchFanout(b, send, to, cnt, size.name, size.n, mode.name, mode.opts)
		}
	}
}

func benchFanout(b *testing.B, send *node, to []channel.Member, cnt *countingRx, size string, n int, mode string, opts channel.SendOptions) {
	b.Run("size="+size+"/ack="+mode, func(b *testing.B) {
		msg := send.msg(opts, make([]byte, n))
		ctx := context.Background()
		b.SetBytes(int64(len(to) * n))
		b.ReportAllocs()
		wait := cnt.expect(len(to) * b.N)
		b.ResetTimer()
		for range b.N {
			if err := send.t.Send(ctx, to, msg); err != nil {
				b.Fatal(err)
			}
		}
		wait(b)
		b.StopTimer()
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
	})
}

// BenchmarkSyncAckRTT measures the round trip of a 1 KiB synchronized-ack message: write,
// receiver decodes, a worker (deliver=workers) or the event loop (deliver=loop,
// Config.DeliverOnEventLoop) or the connection's goroutine (engine=goroutine,
// EngineGoroutine) runs the (empty) ReceiveFunc, ACK back.
func BenchmarkSyncAckRTT(b *testing.B) {
	for _, v := range []struct {
		name   string
		engine Engine
		onLoop bool
	}{{"deliver=workers", EngineGnet, false}, {"deliver=loop", EngineGnet, true}, {"engine=goroutine", EngineGoroutine, false}} {
		b.Run(v.name, func(b *testing.B) {
			cfg := benchConfig()
			cfg.Engine, cfg.DeliverOnEventLoop = v.engine, v.onLoop
			benchSyncAckRTT(b, cfg)
		})
	}
}

func benchSyncAckRTT(b *testing.B, rcfg Config) {
	recv := startNode(b, rcfg, nil)
	send := startNode(b, benchConfig(), nil)
	to := []channel.Member{recv.member}
	msg := send.msg(channel.OptUseAck|channel.OptSyncAck, make([]byte, 1<<10))
	ctx := context.Background()
	lat := make([]time.Duration, 0, 1<<16)
	b.ReportAllocs()
	for b.Loop() {
		start := time.Now()
		if err := send.t.Send(ctx, to, msg); err != nil {
			b.Fatal(err)
		}
		if len(lat) < cap(lat) {
			lat = append(lat, time.Since(start))
		}
	}
	slices.Sort(lat)
	pct := func(p float64) float64 {
		return float64(lat[int(p*float64(len(lat)-1))].Nanoseconds()) / 1e3
	}
	b.ReportMetric(pct(0.50), "p50-µs")
	b.ReportMetric(pct(0.99), "p99-µs")
}

// BenchmarkRawTCP1MiB is the baseline for 1 MiB messages: a plain net.Conn over loopback
// writing 1 MiB per operation to a reader that reads it fully, with the OS's default
// socket buffers.
func BenchmarkRawTCP1MiB(b *testing.B) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	const size = 1 << 20
	readDone := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			readDone <- err
			return
		}
		defer c.Close()
		_, err = io.Copy(io.Discard, c)
		readDone <- err
	}()
	c, err := net.Dial("tcp4", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, size)
	b.SetBytes(size)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := c.Write(buf); err != nil {
			b.Fatal(err)
		}
	}
	_ = c.(*net.TCPConn).CloseWrite()
	if err := <-readDone; err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	_ = c.Close()
}
