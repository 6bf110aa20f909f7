package nio

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gotribes/tribes/channel"
)

// netpoll is the TCP receiver of EngineGoroutine: a listener whose accept loop starts a
// goroutine per inbound connection (gconn.serve), which reads the socket through Go's
// network poller, decodes the frames and delivers them itself, and one sweeper goroutine
// that enforces the deadlines. Deadlines are per-connection timestamps of a coarse clock
// that the sweeper advances, so that no frame costs a system call for them.
type netpoll struct {
	r   *receiver
	ln  net.Listener
	cfg *Config

	// now is the coarse clock: unix ns, advanced by the sweeper each tick.
	now atomic.Int64

	mu     sync.Mutex
	conns  map[*gconn]struct{}
	closed bool // shutdown began: connections accepted from now on are closed

	wg sync.WaitGroup // the accept loop, the sweeper and every connection's goroutine

	// spare is a descriptor held in reserve (of /dev/null, nil if it could not be opened):
	// when accept fails because descriptors ran out, the accept loop closes it to accept
	// one pending connection and close it at once, instead of leaving the peer waiting in
	// the kernel's backlog. Only the accept loop uses it after bind.
	spare *os.File
}

// Accept back-off bounds: after a failed accept the receiver waits acceptMin, doubling up
// to acceptMax while accept keeps failing, as net/http does.
const (
	acceptMin = 5 * time.Millisecond
	acceptMax = time.Second
)

// bindNetpoll listens on the first free port of the autobind range and starts the accept
// loop and the sweeper. It returns the bound port.
func (t *Transport) bindNetpoll(ctx context.Context, r *receiver, ip netip.Addr) (int, error) {
	cfg := &t.cfg
	network := "tcp4"
	if ip.Is6() {
		network = "tcp6"
	}
	// No TCP keep-alive on inbound connections, as with gnet: idle pooled connections are
	// the sender's to close. The socket buffers are set on the listener, which accepted
	// connections inherit: set on a connection after its handshake, a smaller receive
	// buffer than the window it advertised stalls it (seen under gVisor).
	lc := net.ListenConfig{KeepAlive: -1, Control: func(_, _ string, rc syscall.RawConn) error {
		if err := listenBuffers(rc, cfg.RxBufSize, cfg.TxBufSize); err != nil {
			return err
		}
		var rcv, snd int
		var gerr error
		if err := rc.Control(func(fd uintptr) { rcv, snd, gerr = socketBuffers(fd) }); err == nil {
			r.st.rxBufs.note(cfg.Logger, "receiver", cfg.RxBufSize, cfg.TxBufSize, rcv, snd, gerr)
		}
		return nil
	}}
	var ln net.Listener
	err := autobind(ctx, "tcp", ip, cfg.Port, cfg.AutoBind, func(port int) (err error) {
		ln, err = lc.Listen(ctx, network, net.JoinHostPort(ip.String(), strconv.Itoa(port)))
		return err
	})
	if err != nil {
		return 0, err
	}
	if wrapListener != nil {
		ln = wrapListener(ln)
	}
	np := &netpoll{r: r, ln: ln, cfg: cfg, conns: make(map[*gconn]struct{})}
	np.spare, _ = os.Open(os.DevNull)
	np.now.Store(time.Now().UnixNano())
	r.np = np
	r.slots = make(chan struct{}, cfg.Workers)
	np.wg.Go(np.acceptLoop)
	np.wg.Go(np.sweep)
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// wrapListener, nil but in tests, wraps the listener bindNetpoll bound before the accept
// loop takes it: a test listener makes Accept fail with an error the kernel cannot be
// made to return on demand (TestAcceptErrorClassified).
var wrapListener func(net.Listener) net.Listener

// exhausted reports whether a failed accept means the process or the system ran out of
// descriptors (EMFILE, ENFILE) or of socket memory (ENOBUFS, ENOMEM): the receiver cannot
// take connections until that ends. Any other error (ECONNABORTED, EPERM from a firewall
// rule, ETIMEDOUT, EPROTO...) concerns one pending connection only.
func exhausted(err error) bool {
	var errno syscall.Errno
	if !errors.As(err, &errno) {
		return false
	}
	switch errno {
	case syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS, syscall.ENOMEM:
		return true
	}
	return false
}

// descriptorsExhausted reports whether err is exhausted's EMFILE or ENFILE, as opposed to
// its exhaustion of socket memory.
func descriptorsExhausted(err error) bool {
	return errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE)
}

// acceptLoop accepts connections until the listener closes. A failing accept does not
// end it. If resources are exhausted (see exhausted), the first failure of a run is
// counted (Stats.ReceiverFailures), logged rate-limited (a stranger churning connections
// at the descriptor limit makes runs at will) and reported to the channel (an error
// wrapping channel.ErrReceiverFailed); the pending connection is shed on the spare
// descriptor (or, without one, accept is retried with a back-off). The run ends once
// descriptors are free again (recovered): checked after each accept that works while
// failing, and, for a run of EMFILE or ENFILE only, every probeEvery while no connection
// arrives, so that a receiver whose last accept failed does not stay reported failing
// until the next peer connects; a run in which socket memory ran out (ENOBUFS, ENOMEM)
// ends only at an accept that works. The end is counted (Stats.ReceiverRestarts),
// reported as the recovery (nil) and logged if the run's failure was (not rate-limited
// on its own: the last line logged of a run that ended never says the receiver cannot
// accept). A spare that could not be
// taken is taken at the next accept that works. Any other accept error is counted
// (Stats.AcceptErrors), logged rate-limited and retried with the back-off: it neither
// sheds a connection nor marks the receiver failing.
func (np *netpoll) acceptLoop() {
	defer func() {
		if np.spare != nil {
			_ = np.spare.Close()
		}
	}()
	r := np.r
	wait := acceptMin
	failing := false
	// memRun: socket memory ran out in this run (ENOBUFS, ENOMEM), which a descriptor
	// opened beside the spare says nothing about: only an accept that works ends it.
	memRun := false
	// failLogged: the line of this run's failure was written (the limiter may count it
	// instead); its end is then written too, so that the last line logged of a run that
	// ended does not say the receiver cannot accept.
	failLogged := false
	dl, _ := np.ln.(interface{ SetDeadline(time.Time) error })
	endRun := func() {
		failing, memRun = false, false
		if dl != nil {
			_ = dl.SetDeadline(time.Time{})
		}
		r.st.receiverRestarts.Add(1)
		if failLogged {
			r.log.Warn("tribes nio receiver accepting connections again", "addr", np.ln.Addr().String(),
				"failures", r.st.receiverFailures.Load(), "refused", r.st.connsRefused.Load())
		}
		failLogged = false
		r.report(nil)
	}
	for {
		if failing && dl != nil {
			_ = dl.SetDeadline(time.Now().Add(probeEvery))
		}
		c, err := np.ln.Accept()
		if err != nil {
			if r.stopping.Load() || errors.Is(err, net.ErrClosed) {
				return
			}
			if failing && errors.Is(err, os.ErrDeadlineExceeded) {
				// No connection arrived for probeEvery: the run may have ended unseen.
				if !memRun && np.recovered() {
					endRun()
				}
				continue
			}
			ex := exhausted(err)
			if !ex {
				r.st.acceptErrors.Add(1)
				r.plog.Log(slog.LevelWarn, np.ln.Addr().String(), "accept-error",
					"tribes nio receiver: accept failed; retrying", "err", err, "retry_in", wait)
			} else {
				memRun = memRun || !descriptorsExhausted(err)
				if !failing {
					failing = true
					r.st.receiverFailures.Add(1)
					err = fmt.Errorf("%w: nio receiver on %s cannot accept: %w", channel.ErrReceiverFailed, np.ln.Addr(), err)
					failLogged = r.plog.Log(slog.LevelError, np.ln.Addr().String(), "accept-exhausted",
						"tribes nio receiver cannot accept connections; retrying", "err", err, "retry_in", wait)
					r.report(err)
				}
			}
			if ex && np.shed() {
				continue
			}
			t := time.NewTimer(wait)
			select {
			case <-r.quit:
				t.Stop()
				return
			case <-t.C:
			}
			wait = min(2*wait, acceptMax)
			continue
		}
		wait = acceptMin
		if np.spare == nil {
			// The reserve could not be taken (at bind, or after a shed whose freed
			// descriptor another goroutine took): take it now that accept works again.
			np.spare, _ = os.Open(os.DevNull)
		}
		if failing && np.recovered() {
			endRun()
		}
		np.open(c.(*net.TCPConn))
	}
}

// shedWait bounds shed's wait for a connection on the freed spare descriptor.
const shedWait = acceptMin

// probeEvery is how often a failing accept loop that receives no connection checks
// whether descriptors are free again (netpoll.recovered).
const probeEvery = 500 * time.Millisecond

// recovered reports whether a run of exhausted accepts is over: the spare is held (taken
// now if it was not) and one more descriptor can be opened beside it, as the next accept
// needs. A descriptor taken by the accept that just worked leaves the table full: not
// over yet, so that an attacker holding descriptors at the limit does not make the
// receiver report a failure and a recovery for every connection it lets through.
func (np *netpoll) recovered() bool {
	if np.spare == nil {
		if np.spare, _ = os.Open(os.DevNull); np.spare == nil {
			return false
		}
	}
	f, err := os.Open(os.DevNull)
	if err != nil {
		return false
	}
	_ = f.Close()
	return true
}

// shed refuses one pending connection while descriptors are exhausted: it frees the
// spare descriptor, accepts on it, closes the connection (Stats.ConnsRefused) and takes
// the spare back. It reports whether a connection was shed; if not (no spare, the freed
// descriptor was taken meanwhile, or no connection came within shedWait), the accept
// loop backs off instead. Accept fails on a full descriptor table whether or not a
// connection is pending (Linux allocates the descriptor first), so shed's accept may find
// none: it waits shedWait at most (on a listener with deadlines), not until the next
// peer connects, so that the spare is not left released for another goroutine to take,
// and a peer connecting after the descriptors were freed is not shed
// (TestShedWaitsBriefly).
func (np *netpoll) shed() bool {
	if np.spare == nil {
		return false
	}
	if dl, ok := np.ln.(interface{ SetDeadline(time.Time) error }); ok {
		_ = dl.SetDeadline(time.Now().Add(shedWait)) // the accept loop sets its own again
	}
	_ = np.spare.Close()
	c, err := np.ln.Accept()
	if err == nil {
		np.r.st.connsAccepted.Add(1)
		np.r.st.connsRefused.Add(1)
		_ = c.Close()
	}
	np.spare, _ = os.Open(os.DevNull)
	return err == nil && np.spare != nil
}

// open starts serving an accepted connection, or refuses it (MaxConnections, or Stop).
func (np *netpoll) open(c *net.TCPConn) {
	r := np.r
	r.st.connsAccepted.Add(1)
	if r.st.connsOpen.Add(1) > r.maxConns {
		r.st.connsOpen.Add(-1)
		r.st.connsRefused.Add(1)
		remote := c.RemoteAddr().(*net.TCPAddr)
		r.plog.Log(slog.LevelWarn, remote.IP.String(), "max-connections",
			"tribes nio receiver refusing a connection: MaxConnections are open", "remote", remote.String(), "max", r.maxConns)
		_ = c.Close()
		return
	}
	if np.cfg.DisableTCPNoDelay {
		_ = c.SetNoDelay(false) // Go turns TCP_NODELAY on for every accepted connection
	}
	gc := newGconn(np, c)
	np.mu.Lock()
	if np.closed {
		np.mu.Unlock()
		r.st.connsOpen.Add(-1)
		_ = c.Close()
		return
	}
	np.conns[gc] = struct{}{}
	np.wg.Go(gc.serve)
	np.mu.Unlock()
}

// forget removes a connection whose goroutine ends.
func (np *netpoll) forget(gc *gconn) {
	np.mu.Lock()
	delete(np.conns, gc)
	np.mu.Unlock()
	np.r.st.connsOpen.Add(-1)
}

// sweep advances the coarse clock and closes connections past FirstFrameTimeout or
// FrameTimeout and those whose ACK write has been blocked (the peer does not read) for
// FrameTimeout; a write blocked for more than a tick counts as an ack pause.
func (np *netpoll) sweep() {
	r := np.r
	every := r.tickEvery()
	tick := time.NewTicker(every)
	defer tick.Stop()
	var conns []*gconn
	for {
		select {
		case <-r.quit:
			return
		case <-tick.C:
		}
		now := time.Now().UnixNano()
		np.now.Store(now)
		np.mu.Lock()
		conns = conns[:0]
		for gc := range np.conns {
			conns = append(conns, gc)
		}
		np.mu.Unlock()
		for _, gc := range conns {
			w := gc.writeSince.Load()
			switch {
			case r.firstFrame > 0 && !gc.started.Load() && now-gc.opened > int64(r.firstFrame):
				gc.expire(&r.st.connsTimedOut, "first-frame-timeout", "sent nothing within FirstFrameTimeout", r.firstFrame)
			case r.frameTime > 0 && since(gc.frameSince.Load(), now) > r.frameTime:
				gc.expire(&r.st.connsTimedOut, "frame-timeout", "did not complete a frame within FrameTimeout", r.frameTime)
			case r.frameTime > 0 && since(w, now) > r.frameTime:
				gc.expire(&r.st.connsStalled, "acks-unread", "did not read its ACKs within FrameTimeout", r.frameTime)
			case r.idleStranger(&gc.dec, gc.frameSince.Load(), now):
				gc.expire(&r.st.connsNonMember, "non-member-idle", "carried no member's frame and was idle for FirstFrameTimeout", r.firstFrame)
			case since(w, now) > every && gc.pausedAt != w:
				gc.pausedAt = w
				r.st.ackPauses.Add(1)
			}
		}
		clear(conns)
	}
}

// shutdown closes the listener and every connection; receiver.done is closed once every
// goroutine ended (a connection's once its ReceiveFunc returned).
func (np *netpoll) shutdown() {
	_ = np.ln.Close()
	np.mu.Lock()
	np.closed = true
	for gc := range np.conns {
		_ = gc.c.Close()
	}
	np.mu.Unlock()
	np.r.queue.wake() // connections waiting for the queue budget see Stop
	go func() {
		np.wg.Wait()
		close(np.r.done)
	}()
}
