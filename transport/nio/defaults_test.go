package nio

import (
	"context"
	"errors"
	"math"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/wire"
)

// The defaults a zero Config gets are the ones docs/operations.md gives in its Sizing
// table and docs/security.md in its defences, and the thresholds the package
// documentation states in numbers: the literal values, not the constants, so that a
// changed constant fails here until the documents follow it.
func TestDefaultsAsDocumented(t *testing.T) {
	tr, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	c := tr.Config()
	for _, f := range []struct {
		name      string
		got, want any
	}{
		{"Engine", c.Engine, EngineGoroutine},
		{"Port of DefaultConfig", DefaultConfig().Port, 4000}, // a zero Config's 0 picks a free port
		{"AutoBind", c.AutoBind, 100},
		{"Workers", c.Workers, 15},
		{"MaxConnQueueBytes", c.MaxConnQueueBytes, 4 << 20},
		{"MaxQueuedBytes", c.MaxQueuedBytes, 16 << 20},
		{"MaxFrameSize", c.MaxFrameSize, 16 << 20},
		{"MaxPendingBytes", c.MaxPendingBytes, 256 << 20},
		{"MaxUntrustedPendingBytes", c.MaxUntrustedPendingBytes, 64 << 20},
		{"MaxPooledBytes", c.MaxPooledBytes, 16 << 20},
		{"MaxConnections", c.MaxConnections, 4096},
		{"MaxConnOutboundBytes", c.MaxConnOutboundBytes, 256 << 10},
		{"FirstFrameTimeout", c.FirstFrameTimeout, 10 * time.Second},
		{"FrameTimeout", c.FrameTimeout, 30 * time.Second},
		{"PoolSize", c.PoolSize, 25},
		{"MaxWait", c.MaxWait, 3 * time.Second},
		{"Timeout", c.Timeout, 3 * time.Second},
		{"MaxRetryAttempts", c.MaxRetryAttempts, 1},
		{"RxBufSize", c.RxBufSize, -1},
		{"TxBufSize", c.TxBufSize, 25188},
		{"SenderRxBufSize", c.SenderRxBufSize, 25188},
		{"SenderTxBufSize", c.SenderTxBufSize, 512 << 10},
		{"DialTimeout", c.DialTimeout, 3 * time.Second}, // Timeout's
		{"Address of DefaultConfig", DefaultConfig().Address, "127.0.0.1"},
		// The package documentation's thresholds: payloads over 16 KiB written from the
		// caller's slice; an idle connection peeked at after 100 ms; frames of 32 KiB or
		// more assembled on their own; a goroutine connection's read buffer of 4 KiB growing
		// to 64 KiB; gnet's pause waits 20 ms and overflows one read (256 KiB) past
		// MaxConnQueueBytes; queues keep arrays of 256; restarts back off from 20 ms to 2 s,
		// accepts from 5 ms to 1 s. (A goroutine connection keeps its array of decoded frames
		// up to 256 too: keptItems, TestGoroutineConnectionReleasesItsBatchArray.)
		{"inlineMax", inlineMax, 16 << 10},
		{"staleAfter", staleAfter, 100 * time.Millisecond},
		{"largeFrame", largeFrame, 32 << 10},
		{"connBufMin", connBufMin, 4 << 10},
		{"connBufMax", connBufMax, 64 << 10},
		{"pauseWait", pauseWait, 20 * time.Millisecond},
		{"readBufferCap", readBufferCap, 256 << 10},
		{"maxKeptItems", maxKeptItems, 256},
		{"restartMin", restartMin, 20 * time.Millisecond},
		{"restartMax", restartMax, 2 * time.Second},
		{"acceptMin", acceptMin, 5 * time.Millisecond},
		{"acceptMax", acceptMax, time.Second},
	} {
		if f.got != f.want {
			t.Errorf("%s = %v, documented %v", f.name, f.got, f.want)
		}
	}
	// MaxRetryAttempts: 0 is the default (1), negative none, as the Sizing table says.
	cfg := DefaultConfig()
	cfg.MaxRetryAttempts = -1
	if tr, err := New(cfg); err != nil {
		t.Errorf("MaxRetryAttempts -1: %v", err)
	} else if got := tr.Config().MaxRetryAttempts; got != 0 {
		t.Errorf("MaxRetryAttempts -1 became %d, want 0 (none)", got)
	}
}

// With the defaults, MaxPendingBytes (256 MiB) holds the reservations of 15 frames of the
// largest size, each MaxFrameSize (16 MiB) plus its 18 bytes of framing, as a member's
// connection reserves them when they start (TestPendingBudgetBoundsPartialFrames, with
// smaller sizes): the 16th is refused (docs/security.md).
func TestDefaultBudgetHoldsFifteenLargestFrames(t *testing.T) {
	tr, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	c := tr.Config()
	var pending atomic.Int64
	fits := 0
	for range 17 {
		d := decoder{maxBody: c.MaxFrameSize, pending: &pending, limit: int64(c.MaxPendingBytes)}
		if err := d.reserve(wire.FrameLen(c.MaxFrameSize)); err != nil {
			if !errors.Is(err, errOverBudget) {
				t.Fatalf("reservation %d: %v", fits+1, err)
			}
			break
		}
		fits++
	}
	if fits != 15 {
		t.Fatalf("%d frames of %d bytes reserved in a budget of %d, want 15", fits, wire.FrameLen(c.MaxFrameSize), c.MaxPendingBytes)
	}
}

// KeepAliveCount and KeepAliveTime of 0 or below, as Tomcat's -1, leave a connection
// open however many messages it carried and however old it is (docs/operations.md).
func TestKeepAliveNegativeIsUnlimited(t *testing.T) {
	forEachEngine(t, func(t *testing.T, ecfg Config) {
		rec := newRecorder(8)
		b := startNode(t, ecfg, rec.rx)
		cfg := ecfg
		cfg.KeepAliveCount, cfg.KeepAliveTime = -1, -1
		a := startNode(t, cfg, nil)
		for i := range 5 {
			if err := a.t.Send(context.Background(), []channel.Member{b.member}, a.msg(channel.OptUseAck, seqPayload(i))); err != nil {
				t.Fatal(err)
			}
			rec.next(t)
			a.t.Heartbeat() // where an aged connection would be closed
		}
		if st := a.t.Stats(); st.Dials != 1 || st.ConnsExpired != 0 || st.ConnsPooled != 1 {
			t.Fatalf("5 messages with KeepAliveCount and KeepAliveTime -1: sender stats %+v, want 1 dial, none expired", st)
		}
	})
}

// TestNewRefusesSocketBufferSizesPastCInt: a socket buffer size above 2147483647 is
// refused by New, not passed to setsockopt, whose C int would take it cut to 32 bits with
// no error (4 GiB set as 0, the kernel's minimum, then reported as a cut by rmem_max or
// wmem_max), and 2147483647 itself is taken.
func TestNewRefusesSocketBufferSizesPastCInt(t *testing.T) {
	for name, f := range map[string]func(*Config) *int{
		"RxBufSize":       func(c *Config) *int { return &c.RxBufSize },
		"TxBufSize":       func(c *Config) *int { return &c.TxBufSize },
		"SenderRxBufSize": func(c *Config) *int { return &c.SenderRxBufSize },
		"SenderTxBufSize": func(c *Config) *int { return &c.SenderTxBufSize },
	} {
		for _, v := range []int{math.MaxInt32 + 1, 1 << 32} {
			cfg := DefaultConfig()
			*f(&cfg) = v
			if _, err := New(cfg); !errors.Is(err, channel.ErrInvalidConfig) {
				t.Errorf("%s %d: err = %v, want ErrInvalidConfig", name, v, err)
			}
		}
		cfg := DefaultConfig()
		*f(&cfg) = math.MaxInt32
		if _, err := New(cfg); err != nil {
			t.Errorf("%s %d: %v", name, math.MaxInt32, err)
		}
	}
}
