package nio

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"

	"github.com/panjf2000/gnet/v2"

	"github.com/gotribes/tribes/channel"
)

// Lock order in this package (a → b: b may be taken while a is held):
//
//	rconn.mu → workerPool.mu      (queueing a connection's batch schedules it)
//	rconn.cmu → gnet's task queue (workers' AsyncWrite and Wake)
//	sender.mu → memberPool.mu     (Stop closes every pool)
//	Transport.life → everything   (Start and Stop)

// Transport is a channel.Transport over TCP (and optionally UDP) that speaks Java Tribes'
// wire protocol: a gnet receiver and a pooled net.Conn sender. Create it with New; nothing
// runs until Start. All methods are safe for concurrent use.
type Transport struct {
	cfg  Config
	bind hostSpec
	adv  hostSpec

	st counters

	// life serialises Start and Stop: a one-slot semaphore, so that one waiting for the
	// other (a Start waiting for the receiver a Stop left stopping) gives up when its own
	// ctx ends.
	life chan struct{}
	rcv  *receiver
	// ending is the receiver a Stop whose context ended left stopping in the background:
	// a later Stop, or a Start, waits for it to end (nil once one saw it end).
	ending *receiver
	snd    atomic.Pointer[sender]
	local  atomic.Pointer[channel.LocalAddress]
	health atomic.Pointer[func(error)]
	loss   atomic.Pointer[func(channel.LostMessage)]
	check  atomic.Pointer[func(*channel.Member) bool]
	arr    arrivals // large frames being assembled, per sender
}

var (
	_ channel.Transport       = (*Transport)(nil)
	_ channel.HealthReporter  = (*Transport)(nil)
	_ channel.LossReporter    = (*Transport)(nil)
	_ channel.ArrivalReporter = (*Transport)(nil)
	_ channel.MemberForgetter = (*Transport)(nil)
	_ channel.SenderChecker   = (*Transport)(nil)
)

// New validates cfg and returns a stopped Transport. Configuration errors wrap
// channel.ErrInvalidConfig.
func New(cfg Config) (*Transport, error) {
	cfg, err := cfg.normalize()
	if err != nil {
		return nil, err
	}
	if ignored := cfg.ignoredByEngine(); len(ignored) > 0 && cfg.Logger != nil {
		cfg.Logger.Warn("tribes nio: the receiver engine ignores settings that only the gnet engine uses",
			"engine", cfg.Engine, "ignored", strings.Join(ignored, ","))
	}
	t := &Transport{cfg: cfg, life: make(chan struct{}, 1)}
	t.bind, _ = parseHost(cfg.Address)
	t.adv, _ = parseHost(cfg.AdvertiseAddress)
	return t, nil
}

// Config returns the configuration in use, with defaults filled in.
func (t *Transport) Config() Config { return t.cfg }

// Start starts the levels of svc that concern a transport: channel.SvcReceiver binds the
// receiver and returns once it listens (LocalAddress is then valid); channel.SvcSender
// enables Send. Levels already running are left alone. rx receives every message; it is
// required with SvcReceiver. A receiver that an earlier Stop left stopping in the
// background (its context ended first) is waited for before the new one binds, and so is
// a Start or Stop under way, until ctx ends: Start then returns an error wrapping
// ctx.Err() and starts no receiver. A Start that fails half way (the TCP listener bound,
// then the UDP port taken) stops what it started before returning: nothing of the
// receiver runs, and its ports are free (TestStartFailingOnItsUDPPortLeavesNothingRunning).
func (t *Transport) Start(ctx context.Context, svc channel.Service, rx channel.ReceiveFunc) error {
	if err := t.lock(ctx); err != nil {
		return fmt.Errorf("nio: start: %w", err)
	}
	defer t.unlock()
	if svc.Has(channel.SvcReceiver) && t.rcv == nil {
		if rx == nil {
			return invalid("Start with the receiver level needs a ReceiveFunc")
		}
		if err := t.awaitEnding(ctx); err != nil {
			return fmt.Errorf("nio: start: the receiver an earlier Stop left stopping has not ended: %w", err)
		}
		if err := t.startReceiver(ctx, rx); err != nil {
			return err
		}
	}
	if svc.Has(channel.SvcSender) && t.snd.Load() == nil {
		t.snd.Store(newSender(&t.cfg, &t.st))
	}
	return nil
}

// Stop stops the levels of svc that run. Stopping the receiver stops its engine, closes
// every inbound connection, lets the workers finish what is queued and joins every
// goroutine; if ctx ends first, what is still to deliver is dropped, the rest ends in the
// background and Stop returns an error wrapping ctx.Err() that names what still runs. A
// later Stop waits for that, until its own ctx ends, and so does a Start. A Stop waiting
// for a Start or Stop under way (a Start waiting for such a receiver) gives up when its
// ctx ends: it then returns an error wrapping ctx.Err() and stops nothing
// (TestStopHonoursContextWhileStartWaits). Stopping the sender closes every pooled
// connection, so that sends in flight fail promptly. Stopping a stopped level is a no-op.
func (t *Transport) Stop(ctx context.Context, svc channel.Service) error {
	if err := t.lock(ctx); err != nil {
		return fmt.Errorf("nio: stop: %w", err)
	}
	defer t.unlock()
	var errs []error
	if svc.Has(channel.SvcSender) {
		if s := t.snd.Swap(nil); s != nil {
			s.close()
		}
	}
	if svc.Has(channel.SvcReceiver) {
		if t.rcv != nil {
			errs = append(errs, t.stopReceiver(ctx))
		} else {
			errs = append(errs, t.awaitEnding(ctx))
		}
	}
	return errors.Join(errs...)
}

// lock waits for a Start or Stop under way to return, or for ctx: it then returns an
// error wrapping ctx.Err(). A free lock is taken even once ctx ended.
func (t *Transport) lock(ctx context.Context) error {
	select {
	case t.life <- struct{}{}:
		return nil
	default:
	}
	select {
	case t.life <- struct{}{}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("another Start or Stop still under way when the context ended: %w", ctx.Err())
	}
}

func (t *Transport) unlock() { <-t.life }

// LocalAddress reports the advertised host and the bound ports once the receiver runs.
func (t *Transport) LocalAddress() channel.LocalAddress {
	if a := t.local.Load(); a != nil {
		la := *a
		la.Host = bytes.Clone(la.Host)
		return la
	}
	return channel.LocalAddress{SecurePort: -1, UDPPort: -1}
}

// Send delivers msg to every member of to in parallel; see the package documentation. It
// returns nil or a *channel.SendError naming each member that failed.
func (t *Transport) Send(ctx context.Context, to []channel.Member, msg *channel.Message) error {
	s := t.snd.Load()
	if s == nil {
		return channel.NewSendError(msg.ID, channel.AppendFaulty(nil,
			fmt.Errorf("%w: nio sender is stopped", channel.ErrNotStarted), to))
	}
	return s.send(ctx, to, msg)
}

// Heartbeat closes sender connections that outlived KeepAliveTime and idle ones whose peer
// has closed them, and lets idle ones forget the context of their last send.
func (t *Transport) Heartbeat() {
	if s := t.snd.Load(); s != nil {
		s.heartbeat()
	}
}

// ForgetMember implements channel.MemberForgetter: the pooled connections to a member
// that disappeared are closed (lent ones once their send ends), so a node restarted at
// the same address is reached on new connections.
func (t *Transport) ForgetMember(m channel.Member) {
	if s := t.snd.Load(); s != nil {
		s.forget(m)
	}
}

// SetHealthFunc implements channel.HealthReporter: f learns when the receiver's engine
// stopped by itself (an error wrapping channel.ErrReceiverFailed) and when a restart made
// it listen again (nil).
func (t *Transport) SetHealthFunc(f func(err error)) { t.health.Store(&f) }

func (t *Transport) reportHealth(err error) {
	if f := t.health.Load(); f != nil {
		(*f)(err)
	}
}

// SetLossFunc implements channel.LossReporter: f learns of each frame the receiver dropped
// after its header named the sender (Stats.FramesLost): one larger than MaxFrameSize (the
// error wraps channel.ErrMessageTooLarge), or one its connection's close cut off
// (channel.ErrConnectionLost).
func (t *Transport) SetLossFunc(f func(channel.LostMessage)) { t.loss.Store(&f) }

// SetSenderCheck implements channel.SenderChecker: f reports whether a received message's
// source is a member, as the channel's sender check does. Set before the receiver starts,
// it makes the receiver tell connections that carried a member's frame from the others:
// an inbound connection whose frames all came from non-members (frames that interceptors
// below the channel's check consumed, so the channel never refused them) is closed once it
// stayed idle for FirstFrameTimeout (Stats.ConnsNonMember), and its large frames reserve
// MaxPendingBytes as their bytes arrive instead of whole at their header. A frame whose
// header is still arriving may be checked before its sender's payload arrived: f is then
// given only the member's identity (its host, port and unique id, Member.Key, all the
// channel's check looks up), in a member the receiver reuses, so f must not keep src past
// its call. Without it (a
// channel with AcceptNonMembers or without a membership) every connection is treated as a
// member's.
func (t *Transport) SetSenderCheck(f func(src *channel.Member) bool) { t.check.Store(&f) }

// Arriving implements channel.ArrivalReporter: it reports whether a frame of 32 KiB or
// more from the member is arriving: its header, naming the member, was received, and the
// frame is not yet delivered (the receive function returned) or reported lost
// (SetLossFunc).
func (t *Transport) Arriving(from channel.MemberKey) bool { return t.arr.has(from) }

func (t *Transport) reportLoss(l channel.LostMessage) {
	if f := t.loss.Load(); f != nil {
		(*f)(l)
	}
}

// Stats returns a snapshot of the counters.
func (t *Transport) Stats() Stats { return t.st.snapshot() }

func (t *Transport) startReceiver(ctx context.Context, rx channel.ReceiveFunc) (err error) {
	cfg := &t.cfg
	bindIP, err := t.bind.resolve(ctx)
	if err != nil {
		return err
	}
	advIP := bindIP
	if !t.adv.auto {
		if advIP, err = t.adv.resolve(ctx); err != nil {
			return err
		}
	}
	if advIP.IsUnspecified() {
		return invalid("bind address %s is a wildcard and no AdvertiseAddress is set", bindIP)
	}

	r := newReceiver(cfg, &t.st, rx, t.reportHealth, t.reportLoss)
	if f := t.check.Load(); f != nil {
		r.isMember = *f
	}
	t.arr.reset() // what an earlier run left counted (messages it never delivered)
	r.arriving = &t.arr
	bind := t.bindTCP
	workers := cfg.Workers
	if cfg.Engine == EngineGoroutine {
		bind, workers = t.bindNetpoll, 0 // connections deliver on their own goroutines
	}
	r.pool = newWorkerPool(workers)
	defer func() {
		if err != nil {
			<-r.pool.close()
		}
	}()

	port, err := bind(ctx, r, bindIP)
	if err != nil {
		return err
	}
	local := channel.LocalAddress{Host: advIP.AsSlice(), Port: int32(port), SecurePort: -1, UDPPort: -1}
	if cfg.UDP {
		var u *udpReceiver
		var uport int
		if u, uport, err = t.bindUDP(ctx, r, bindIP); err != nil {
			r.shutdown()
			<-r.done
			return err
		}
		local.UDPPort = int32(uport)
		r.udp = u
		go u.loop()
	}
	t.rcv = r
	t.local.Store(&local)
	cfg.Logger.Info("tribes nio receiver listening", "bind", netip.AddrPortFrom(bindIP, uint16(port)).String(),
		"advertise", advIP.String(), "udp_port", local.UDPPort)
	return nil
}

// bindTCP starts gnet on the first free port of the autobind range and returns the port.
func (t *Transport) bindTCP(ctx context.Context, r *receiver, ip netip.Addr) (int, error) {
	cfg := &t.cfg
	network := "tcp4"
	if ip.Is6() {
		network = "tcp6"
	}
	nodelay := gnet.TCPNoDelay
	if cfg.DisableTCPNoDelay {
		nodelay = gnet.TCPDelay
	}
	opts := []gnet.Option{
		gnet.WithLogger(gnetLogger{l: cfg.Logger, rl: r.plog}),
		gnet.WithNumEventLoop(cfg.EventLoops),
		gnet.WithReuseAddr(true),
		gnet.WithReusePort(false), // one listener, so that autobind and port 0 mean one port
		gnet.WithTCPNoDelay(nodelay),
		gnet.WithReadBufferCap(readBufferCap),
		gnet.WithWriteBufferCap(4 << 10),
		gnet.WithTicker(true),
	}
	if cfg.RxBufSize > 0 {
		opts = append(opts, gnet.WithSocketRecvBuffer(cfg.RxBufSize))
	}
	if cfg.TxBufSize > 0 {
		opts = append(opts, gnet.WithSocketSendBuffer(cfg.TxBufSize))
	}
	r.opts = opts
	var addr string
	err := autobind(ctx, "tcp", ip, cfg.Port, cfg.AutoBind, func(port int) error {
		addr = network + "://" + net.JoinHostPort(ip.String(), strconv.Itoa(port))
		return r.boot(addr)
	})
	if err != nil {
		return 0, err
	}
	go r.supervise()
	port, err := r.port, r.portErr
	if err != nil {
		r.shutdown()
		<-r.done
		return 0, fmt.Errorf("nio: cannot read the bound port: %w", err)
	}
	// A restart must listen on the port the local member advertises.
	r.emu.Lock()
	r.addr = network + "://" + net.JoinHostPort(ip.String(), strconv.Itoa(port))
	r.emu.Unlock()
	return port, nil
}

// autobind calls listen with first, first+1, … (tries ports, first only when it is 0 for an
// ephemeral port, never past 65535) until one is not in use (Tomcat's autoBind).
func autobind(ctx context.Context, network string, ip netip.Addr, first, tries int, listen func(port int) error) error {
	if first == 0 {
		tries = 1
	}
	var lastErr error
	for i := range tries {
		port := first + i
		if port > 65535 {
			break
		}
		err := listen(port)
		if err == nil {
			return nil
		}
		if !errors.Is(err, syscall.EADDRINUSE) || ctx.Err() != nil {
			return fmt.Errorf("nio: listen on %s %s: %w", network, netip.AddrPortFrom(ip, uint16(port)), err)
		}
		lastErr = err
	}
	return fmt.Errorf("nio: no free %s port in %d…%d on %s: %w", network, first, first+tries-1, ip, lastErr)
}

func (t *Transport) bindUDP(ctx context.Context, r *receiver, ip netip.Addr) (*udpReceiver, int, error) {
	cfg := &t.cfg
	var conn *net.UDPConn
	err := autobind(ctx, "udp", ip, cfg.UDPPort, cfg.AutoBind, func(port int) (err error) {
		conn, err = net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip, uint16(port))))
		return err
	})
	if err != nil {
		return nil, 0, err
	}
	setBuffers(conn, cfg.RxBufSize, cfg.TxBufSize)
	bound := conn.LocalAddr().(*net.UDPAddr).Port
	return &udpReceiver{r: r, conn: conn, done: make(chan struct{})}, bound, nil
}

// stopReceiver stops the running receiver and waits for it to end, or for ctx: then what
// is still queued or waits for a Workers slot is dropped (receiver.dropping), the UDP
// socket is closed at once, and the receiver, left to end in the background, is kept for
// a later Stop or Start to wait for (awaitEnding).
func (t *Transport) stopReceiver(ctx context.Context) error {
	r := t.rcv
	t.rcv = nil
	t.local.Store(nil)
	r.shutdown()
	go r.finish()
	err := r.wait(ctx)
	if err != nil {
		r.dropping.Store(true)
		r.queue.wake() // EngineGoroutine's connections waiting for room give up now
		if r.udp != nil {
			_ = r.udp.conn.Close()
		}
		t.ending = r
	}
	return err
}

// awaitEnding waits for the receiver an earlier Stop left stopping to end, or for ctx; it
// returns nil at once if there is none.
func (t *Transport) awaitEnding(ctx context.Context) error {
	r := t.ending
	if r == nil {
		return nil
	}
	if err := r.wait(ctx); err != nil {
		return err
	}
	t.ending = nil
	return nil
}
