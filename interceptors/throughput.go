package interceptors

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/wire"
)

// DefaultThroughputInterval is ThroughputInterceptor's interval: report every so many
// messages.
const DefaultThroughputInterval = 10000

// ThroughputConfig configures a Throughput interceptor.
type ThroughputConfig struct {
	// Interval: every Interval messages sent and every Interval received, the statistics
	// are logged at Info (Tomcat interval, default 10000). Negative disables logging.
	Interval int
	// Logger receives the reports; nil discards them (Stats still works).
	Logger *slog.Logger
}

// ThroughputStats are a Throughput interceptor's counters. Bytes are frame bytes as
// Tomcat counts them: the message as it passes this interceptor, in its ChannelData and
// frame (XByteBuffer.getDataPackageLength), counted once per destination on send.
type ThroughputStats struct {
	MessagesTx  uint64        // messages sent (one per SendMessage, whatever the destinations)
	BytesTx     uint64        // frame bytes sent × destinations
	ErrorsTx    uint64        // sends that returned an error
	TimeInTx    time.Duration // time spent in the layers below, summed over the sends
	MessagesRx  uint64        // messages received
	BytesRx     uint64        // frame bytes received
	FirstTx     time.Time     // first send
	FirstRx     time.Time     // first receive
	SinceFirstT time.Duration // time since the first send (or receive), at the snapshot
}

// MBPerSecTx is the send throughput over the time spent sending (Tomcat "Tx Speed"), in
// MB (10^6 bytes) per second.
func (s ThroughputStats) MBPerSecTx() float64 { return mbps(s.BytesTx, s.TimeInTx) }

// MBPerSecRx is the receive throughput since the first message received.
func (s ThroughputStats) MBPerSecRx() float64 {
	if s.FirstRx.IsZero() {
		return 0
	}
	return mbps(s.BytesRx, time.Since(s.FirstRx))
}

func mbps(b uint64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(b) / 1e6 / d.Seconds()
}

// String formats the statistics for a log line.
func (s ThroughputStats) String() string {
	return fmt.Sprintf("tx %d msgs, %.2f MB, %.2f MB/s over %v in sends, %d errors; rx %d msgs, %.2f MB, %.2f MB/s",
		s.MessagesTx, float64(s.BytesTx)/1e6, s.MBPerSecTx(), s.TimeInTx.Round(time.Millisecond), s.ErrorsTx,
		s.MessagesRx, float64(s.BytesRx)/1e6, s.MBPerSecRx())
}

// Throughput is Tribes' ThroughputInterceptor: pure statistics, no bytes, no flags.
type Throughput struct {
	channel.InterceptorBase
	cfg ThroughputConfig
	log *slog.Logger

	msgTx, bytesTx, errTx, nanosTx atomic.Uint64
	msgRx, bytesRx                 atomic.Uint64
	firstMu                        sync.Mutex
	firstTx, firstRx               time.Time
}

// NewThroughput returns a Throughput interceptor.
func NewThroughput(cfg ThroughputConfig) (*Throughput, error) {
	if cfg.Interval == 0 {
		cfg.Interval = DefaultThroughputInterval
	}
	t := &Throughput{cfg: cfg, log: cfg.Logger}
	if t.log == nil {
		t.log = slog.New(slog.DiscardHandler)
	}
	return t, nil
}

func frameBytes(msg *channel.Message) uint64 {
	addr := len(msg.SourceBytes)
	if addr == 0 {
		addr = msg.Source.EncodedLen()
	}
	return uint64(wire.FrameLen(wire.ChannelDataLen(len(msg.ID), addr, len(msg.Data))))
}

func (t *Throughput) stampFirst(p *time.Time) {
	t.firstMu.Lock()
	if p.IsZero() {
		*p = time.Now()
	}
	t.firstMu.Unlock()
}

// SendMessage counts msg and times the layers below.
func (t *Throughput) SendMessage(ctx context.Context, to []channel.Member, msg *channel.Message) error {
	if t.msgTx.Load() == 0 {
		t.stampFirst(&t.firstTx)
	}
	start := time.Now()
	err := t.Next().SendMessage(ctx, to, msg)
	t.nanosTx.Add(uint64(time.Since(start)))
	n := t.msgTx.Add(1)
	t.bytesTx.Add(frameBytes(msg) * uint64(max(len(to), 1)))
	if err != nil {
		t.errTx.Add(1)
	}
	if t.cfg.Interval > 0 && n%uint64(t.cfg.Interval) == 0 {
		t.log.Info("tribes throughput", "stats", t.Stats().String())
	}
	return err
}

// MessageReceived counts msg.
func (t *Throughput) MessageReceived(msg *channel.Message) error {
	if t.msgRx.Load() == 0 {
		t.stampFirst(&t.firstRx)
	}
	n := t.msgRx.Add(1)
	t.bytesRx.Add(frameBytes(msg))
	if t.cfg.Interval > 0 && n%uint64(t.cfg.Interval) == 0 {
		t.log.Info("tribes throughput", "stats", t.Stats().String())
	}
	return t.Prev().MessageReceived(msg)
}

// Stats returns a snapshot of the counters.
func (t *Throughput) Stats() ThroughputStats {
	t.firstMu.Lock()
	ftx, frx := t.firstTx, t.firstRx
	t.firstMu.Unlock()
	s := ThroughputStats{
		MessagesTx: t.msgTx.Load(), BytesTx: t.bytesTx.Load(), ErrorsTx: t.errTx.Load(),
		TimeInTx: time.Duration(t.nanosTx.Load()), MessagesRx: t.msgRx.Load(), BytesRx: t.bytesRx.Load(),
		FirstTx: ftx, FirstRx: frx,
	}
	first := ftx
	if first.IsZero() || (!frx.IsZero() && frx.Before(first)) {
		first = frx
	}
	if !first.IsZero() {
		s.SinceFirstT = time.Since(first)
	}
	return s
}

// Reset zeroes the counters.
func (t *Throughput) Reset() {
	t.msgTx.Store(0)
	t.bytesTx.Store(0)
	t.errTx.Store(0)
	t.nanosTx.Store(0)
	t.msgRx.Store(0)
	t.bytesRx.Store(0)
	t.firstMu.Lock()
	t.firstTx, t.firstRx = time.Time{}, time.Time{}
	t.firstMu.Unlock()
}

func init() {
	Register("throughput", func(p *Props) (channel.Interceptor, error) {
		return NewThroughput(ThroughputConfig{Interval: p.Int("interval", DefaultThroughputInterval), Logger: p.Logger()})
	})
}
