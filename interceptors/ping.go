package interceptors

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/wire"
)

// tcpPingData is TcpPingInterceptor.TCP_PING_DATA: the payload of a ping.
var tcpPingData = []byte{
	0x4f, 0xa7, 0x73, 0x48, 0x79, 0xdf, 0x43, 0xc9, 0x9f, 0x6f, 0x89, 0x80, 0xa1, 0x5b, 0x07, 0x14,
	0x7d, 0xd9, 0x52, 0x5b, 0xeb, 0xdf, 0x43, 0x9a, 0xb7, 0x7e, 0xbe, 0x8f, 0x81, 0x67, 0x1e, 0xb6,
	0x37, 0x15, 0xbe, 0x87, 0x45, 0x21, 0x4c, 0xa8, 0xbf, 0x0a, 0x4d, 0x13, 0x53, 0x38, 0x15, 0x32,
	0x55, 0xf6, 0x94, 0xb7, 0x3a, 0xdf, 0x21, 0x78, 0x91, 0x04, 0x7d, 0xd7, 0x72, 0x84, 0xc0, 0xd5,
}

// PingPayload returns the 64 bytes of a TCP ping message (Tribes'
// TcpPingInterceptor.TCP_PING_DATA).
func PingPayload() []byte { return bytes.Clone(tcpPingData) }

// DefaultPingInterval is Tomcat's TcpPingInterceptor interval.
const DefaultPingInterval = 1000 * time.Millisecond

// TCPPingConfig configures a TCPPing. The zero value is Tomcat's default.
type TCPPingConfig struct {
	// Interval is the ping period with UseThread (Tomcat interval, default 1000 ms).
	Interval time.Duration
	// UseThread pings every Interval on its own goroutine instead of on each channel
	// heartbeat (Tomcat useThread, default false).
	UseThread bool
	// StaticOnly pings only the members of a StaticMembership interceptor below (Tomcat
	// staticOnly, default false).
	StaticOnly bool
	// Flag is the option bit of pings, and of the messages the interceptor swallows
	// (Tomcat optionFlag, default 0).
	Flag channel.SendOptions
	// Logger receives failed pings. Nil discards them.
	Logger *slog.Logger
}

// TCPPing keeps connections to the members busy and checked (Tribes' TcpPingInterceptor).
// On every channel heartbeat (or every Interval on a goroutine of its own, with UseThread)
// it pings: if a TCPFailureDetector sits below it, a ping is a forced check of every
// member by the detector; otherwise a small message (options = Flag, payload
// PingPayload) is sent to every member, or only to the StaticMembership members below
// when StaticOnly. Pings received are swallowed (when OKToProcess).
//
// A ping never blocks the heartbeat: it runs on its own goroutine, one at a time.
type TCPPing struct {
	channel.InterceptorBase
	cfg TCPPingConfig
	log *slog.Logger

	sent, failed, swallowed atomic.Uint64

	mu       sync.Mutex
	levels   channel.Service
	stop     context.CancelFunc
	run      *runGroup // the ping goroutines of this run
	stopping stoppingRuns
	pinging  atomic.Bool
	life     context.Context
}

// PingStats are a TCPPing's counters.
type PingStats struct {
	Pings     uint64 // pings sent (or forced checks asked of the failure detector)
	Failed    uint64 // ping sends that failed for some member
	Swallowed uint64 // pings received and not delivered
}

// NewTCPPing returns a ping interceptor; zero fields of cfg get Tomcat's defaults.
func NewTCPPing(cfg TCPPingConfig) (*TCPPing, error) {
	if cfg.Interval == 0 {
		cfg.Interval = DefaultPingInterval
	}
	if cfg.Interval < 0 {
		return nil, configError("ping: Interval must not be negative")
	}
	p := &TCPPing{cfg: cfg, log: cfg.Logger}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	p.Flag = cfg.Flag
	return p, nil
}

// Config returns the configuration in use (defaults filled in).
func (p *TCPPing) Config() TCPPingConfig { return p.cfg }

// Start starts the layers below, then (with UseThread) the ping goroutine. A ping of a
// run whose Stop returned before it ended (see Stop) is waited for first, within ctx:
// if ctx ends first, Start returns an error wrapping ctx.Err() and starts nothing.
func (p *TCPPing) Start(ctx context.Context, svc channel.Service) error {
	if err := p.stopping.await(ctx, "ping: start"); err != nil {
		return err
	}
	if err := p.Next().Start(ctx, svc); err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.levels == 0 {
		life, stop := context.WithCancel(context.Background())
		p.life, p.stop, p.run = life, stop, newRunGroup()
		if p.cfg.UseThread {
			p.run.Go(func() {
				t := time.NewTicker(p.cfg.Interval)
				defer t.Stop()
				for {
					select {
					case <-life.Done():
						return
					case <-t.C:
						p.ping(life)
					}
				}
			})
		}
	}
	p.levels |= svc
	return nil
}

// Stop ends the pinging once no level is left, then stops the layers below. It waits
// for a ping under way (a send the layers below hold) until ctx ends: it then returns an
// error wrapping ctx.Err() (joined with the layers below's), the layers below stopped all
// the same, and the ping ends in the background; a later Stop waits for it again within
// its own ctx, and so does a Start (TestPingStopHonoursItsContext).
func (p *TCPPing) Stop(ctx context.Context, svc channel.Service) error {
	p.mu.Lock()
	p.levels &^= svc
	var stop context.CancelFunc
	var run *runGroup
	if p.levels == 0 {
		stop, p.stop = p.stop, nil
		run, p.run = p.run, nil
	}
	p.mu.Unlock()
	if stop != nil {
		stop()
	}
	err := p.stopping.stop(ctx, "ping", run)
	return errors.Join(err, p.Next().Stop(ctx, svc))
}

// Heartbeat pings (unless UseThread) and passes the heartbeat down.
func (p *TCPPing) Heartbeat() {
	if !p.cfg.UseThread {
		p.mu.Lock()
		if p.stop != nil && p.pinging.CompareAndSwap(false, true) {
			life := p.life
			p.run.Go(func() {
				defer p.pinging.Store(false)
				p.ping(life)
			})
		}
		p.mu.Unlock()
	}
	p.Next().Heartbeat()
}

// MessageReceived swallows pings and passes everything else up.
func (p *TCPPing) MessageReceived(msg *channel.Message) error {
	if p.OKToProcess(msg.Options) && bytes.Equal(msg.Data, tcpPingData) {
		p.swallowed.Add(1)
		return nil
	}
	return p.Prev().MessageReceived(msg)
}

// Ping pings now, as the heartbeat does, and waits for it.
func (p *TCPPing) Ping(ctx context.Context) { p.ping(ctx) }

func (p *TCPPing) ping(ctx context.Context) {
	var fd memberChecker
	var sm staticMemberLister
	for _, ic := range chainBelow(p) {
		if v, ok := ic.(memberChecker); ok && fd == nil {
			fd = v
		}
		if v, ok := ic.(staticMemberLister); ok && sm == nil {
			sm = v
		}
	}
	p.sent.Add(1)
	if fd != nil {
		fd.CheckMembers(true)
		return
	}
	var to []channel.Member
	if p.cfg.StaticOnly && sm != nil {
		to = sm.StaticMembers()
	} else {
		to = p.Members()
	}
	if len(to) == 0 {
		return
	}
	local := p.LocalMember(false)
	msg := &channel.Message{Options: p.Flag, Timestamp: time.Now().UnixMilli(), ID: channel.NewMessageID(),
		Source: local, SourceBytes: wire.AppendMember(nil, &local), Data: bytes.Clone(tcpPingData)}
	if err := p.Next().SendMessage(ctx, to, msg); err != nil {
		p.failed.Add(1)
		p.log.Warn("tcp ping failed", "err", err)
	}
}

// Stats returns the counters.
func (p *TCPPing) Stats() PingStats {
	return PingStats{Pings: p.sent.Load(), Failed: p.failed.Load(), Swallowed: p.swallowed.Load()}
}

func init() {
	Register("ping", func(p *Props) (channel.Interceptor, error) {
		return NewTCPPing(TCPPingConfig{
			Interval:   p.Duration("interval", DefaultPingInterval),
			UseThread:  p.Bool("useThread", false),
			StaticOnly: p.Bool("staticOnly", false),
			Flag:       channel.SendOptions(p.Int("optionFlag", 0)),
			Logger:     p.Logger(),
		})
	})
}
