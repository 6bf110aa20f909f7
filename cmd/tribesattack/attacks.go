package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/wire"
)

// attack is one row of the suite: it runs against c.nodes[0] until ctx ends and returns
// what it observed.
type attack struct {
	name string
	opts clusterOpts
	run  func(ctx context.Context, c *cluster) (outcome, error)
}

// outcome is what an attack observed: a line for the table and the number of times the
// defence it tests let something through (0 when it held), in the attack's own unit. An
// attack that could not show its defence acting (the target shows no sign of it) counts
// that as a breach too; one that reached no target at all returns an error. Every attack
// has a way to fail: proof_test.go runs them against targets without their defence.
type outcome struct {
	note     string
	breaches int64
}

var attacks = []attack{
	{name: "garbage", run: garbage},
	{name: "lying-length", run: lyingLength},
	{name: "slowloris", run: slowloris},
	{name: "idle-2000", run: idle},
	{name: "oversize", run: oversize},
	{name: "partial-100", run: partial},
	{name: "no-ack-reader-4", run: noAckReader(4)},
	{name: "no-ack-reader-100", run: noAckReader(100)},
	{name: "fd-exhaustion", opts: clusterOpts{targetNofile: 256}, run: fdExhaustion},
	{name: "fd-churn", opts: clusterOpts{targetNofile: 256}, run: fdChurn},
	{name: "forged-heartbeats", opts: clusterOpts{mcast: true}, run: forgedHeartbeats},
	{name: "stranger-sessions", run: stranger},
	{name: "forged-stop", opts: clusterOpts{staticProtocol: true}, run: forgedStop},
	{name: "replay", opts: clusterOpts{encrypt: true}, run: replay},
}

// maxFrame is the nodes' largest frame body (nio.DefaultMaxFrameSize).
const maxFrame = 16 << 20

// workers runs f on n goroutines until ctx ends and waits for them.
func workers(ctx context.Context, n int, f func(ctx context.Context, i int)) {
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { f(ctx, i) })
	}
	wg.Wait()
}

// dial opens a connection to addr bounded by ctx.
func dial(ctx context.Context, addr string) (net.Conn, error) {
	return dialRcvBuf(ctx, addr, 0)
}

// dialRcvBuf is dial with the socket's SO_RCVBUF set to rcvbuf (0: the system's) before
// it connects, so that the window it advertises is that small from the start.
func dialRcvBuf(ctx context.Context, addr string, rcvbuf int) (net.Conn, error) {
	var d net.Dialer
	if rcvbuf > 0 {
		d.Control = func(_, _ string, rc syscall.RawConn) error {
			var err error
			if cerr := rc.Control(func(fd uintptr) { err = setRcvBuf(fd, rcvbuf) }); cerr != nil {
				return cerr
			}
			return err
		}
	}
	return d.DialContext(ctx, "tcp", addr)
}

// closedByPeer reads from c until it fails, and reports whether the peer closed it (as
// opposed to ctx ending first, or linger after that). The connection is closed when it
// returns.
func closedByPeer(ctx context.Context, c net.Conn, linger time.Duration) bool {
	stop := context.AfterFunc(ctx, func() { _ = c.SetReadDeadline(time.Now().Add(linger)) })
	defer stop()
	defer c.Close()
	_, err := io.Copy(io.Discard, c)
	var ne net.Error
	return ctx.Err() == nil || !errors.As(err, &ne) || !ne.Timeout()
}

// streamed is what stream did: connections made, bytes written, and connections the
// target kept (see stream).
type streamed struct{ conns, written, kept atomic.Int64 }

// stream writes first, then chunk again and again, to a new connection until the target
// closes it or ctx ends, and reconnects. A connection still open when ctx ended although
// it was older than grace then, and not closed by the target within heldLinger after
// either, is kept: the target did not close it in time.
func stream(ctx context.Context, addr string, first, chunk []byte, grace time.Duration, st *streamed) {
	for ctx.Err() == nil {
		c, err := dial(ctx, addr)
		if err != nil {
			sleep(ctx, 10*time.Millisecond)
			continue
		}
		st.conns.Add(1)
		since := time.Now()
		done := make(chan bool, 1)
		go func() { done <- closedByPeer(ctx, c, heldLinger) }()
		stop := context.AfterFunc(ctx, func() { _ = c.SetWriteDeadline(time.Now()) })
		buf := first
		for err == nil {
			var n int
			n, err = c.Write(buf)
			st.written.Add(int64(n))
			buf = chunk
		}
		stop()
		age := time.Since(since)
		if byPeer := <-done; !byPeer && age > grace {
			st.kept.Add(1)
		}
	}
}

// streamOutcome is the outcome of an attack made of streams: a breach for each
// connection the target kept, an error if not one connection was made.
func streamOutcome(st *streamed, grace time.Duration, format string, args ...any) (outcome, error) {
	out := outcome{note: fmt.Sprintf(format, args...) + fmt.Sprintf("; %d of %d connections still open past %v and 1 s after the attack",
		st.kept.Load(), st.conns.Load(), grace), breaches: st.kept.Load()}
	if st.conns.Load() == 0 {
		return out, errors.New("not one connection reached the target")
	}
	return out, nil
}

// garbage streams random bytes on 8 connections. The target must close each at once
// (the decoder checks FLT2002 first): one open past FirstFrameTimeout is a breach.
func garbage(ctx context.Context, c *cluster) (outcome, error) {
	var st streamed
	junk := make([]byte, 64<<10)
	_, _ = rand.Read(junk)
	grace := c.cfg.firstFrame
	workers(ctx, 8, func(ctx context.Context, _ int) {
		stream(ctx, c.nodes[0].addr, junk, junk, grace, &st)
	})
	return streamOutcome(&st, grace, "%d connections, %d MiB of random bytes", st.conns.Load(), st.written.Load()>>20)
}

// lyingLength sends frame headers claiming bodies from the cap up to 2 GiB, and negative.
// The target must refuse each header: a connection open past FrameTimeout is a breach.
func lyingLength(ctx context.Context, c *cluster) (outcome, error) {
	var st streamed
	lengths := []uint32{maxFrame + 1, 1 << 30, 0x7fffffff, 0xffffffff}
	grace := c.cfg.frame
	workers(ctx, 4, func(ctx context.Context, i int) {
		head := []byte("FLT2002\x00\x00\x00\x00")
		binary.BigEndian.PutUint32(head[7:], lengths[i%len(lengths)])
		filler := make([]byte, 32<<10)
		stream(ctx, c.nodes[0].addr, head, filler, grace, &st)
	})
	return streamOutcome(&st, grace, "%d connections, %d KiB written", st.conns.Load(), st.written.Load()>>10)
}

// held runs n workers that each open a connection, hold it with hold (which returns when
// the connection fails or ctx ends) and open another when the target closed it. A
// connection still open at the end although older than grace, and not closed by the
// target within heldLinger after the end either, is a breach; so is every connection if
// the target closed none. Not one connection opened is an error: nothing was shown.
func held(ctx context.Context, c *cluster, n int, grace time.Duration, what string,
	hold func(ctx context.Context, conn net.Conn, closed chan bool)) (outcome, error) {
	var opened, closed, survivors atomic.Int64
	workers(ctx, n, func(ctx context.Context, _ int) {
		for ctx.Err() == nil {
			conn, err := dial(ctx, c.nodes[0].addr)
			if err != nil {
				sleep(ctx, 10*time.Millisecond)
				continue
			}
			opened.Add(1)
			since := time.Now()
			done := make(chan bool, 1)
			go func() { done <- closedByPeer(ctx, conn, heldLinger) }()
			hold(ctx, conn, done)
			switch byPeer := <-done; {
			case byPeer:
				closed.Add(1)
			case time.Since(since) > grace:
				survivors.Add(1)
			}
		}
	})
	out := outcome{note: fmt.Sprintf("%d %s connections, %d closed by the target, %d open past %v",
		opened.Load(), what, closed.Load(), survivors.Load(), grace), breaches: survivors.Load()}
	if closed.Load() == 0 {
		out.breaches = opened.Load()
	}
	if opened.Load() == 0 {
		return out, errors.New("not one connection reached the target")
	}
	return out, nil
}

// heldLinger is how long held's connections still wait for the target to close them
// once the attack ended: on a loaded machine the target's check of its deadlines and the
// attacker's 2 000 goroutines run late, and a close that arrived as the attack ended
// must not count as a connection held open.
const heldLinger = time.Second

// slowloris keeps 100 connections that each start a frame of 1 000 bytes and send one
// byte of it every 200 ms.
func slowloris(ctx context.Context, c *cluster) (outcome, error) {
	return held(ctx, c, 100, c.cfg.frame+time.Second, "dribbling", func(ctx context.Context, conn net.Conn, done chan bool) {
		if _, err := conn.Write(wire.AppendFrameHeader(nil, 1000)); err != nil {
			return
		}
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case byPeer := <-done:
				done <- byPeer
				return
			case <-tick.C:
				_, _ = conn.Write([]byte{'x'})
			}
		}
	})
}

// idle keeps 2 000 connections open that send nothing.
func idle(ctx context.Context, c *cluster) (outcome, error) {
	return held(ctx, c, 2000, c.cfg.firstFrame+time.Second, "idle", func(context.Context, net.Conn, chan bool) {})
}

// oversize streams frames of 64 MiB, four times the target's cap. The target must refuse
// each frame: a connection open past FrameTimeout is a breach.
func oversize(ctx context.Context, c *cluster) (outcome, error) {
	var st streamed
	chunk := make([]byte, 1<<20)
	grace := c.cfg.frame
	workers(ctx, 4, func(ctx context.Context, _ int) {
		stream(ctx, c.nodes[0].addr, wire.AppendFrameHeader(nil, 64<<20), chunk, grace, &st)
	})
	return streamOutcome(&st, grace, "%d frames of 64 MiB, %d MiB written in all", st.conns.Load(), st.written.Load()>>20)
}

// partial opens 100 connections that each send the first 8 MiB of a frame of the largest
// size the target accepts, and wait. The target must close each, refused by
// MaxPendingBytes or by FrameTimeout: one open at the end, older than FrameTimeout, and
// not closed within heldLinger after the end either, is a breach.
func partial(ctx context.Context, c *cluster) (outcome, error) {
	var closed, opened, kept atomic.Int64
	var written atomic.Int64
	half := make([]byte, 8<<20)
	grace := c.cfg.frame
	workers(ctx, 100, func(ctx context.Context, _ int) {
		conn, err := dial(ctx, c.nodes[0].addr)
		if err != nil {
			return
		}
		opened.Add(1)
		since := time.Now()
		done := make(chan bool, 1)
		go func() { done <- closedByPeer(ctx, conn, heldLinger) }()
		stop := context.AfterFunc(ctx, func() { _ = conn.SetWriteDeadline(time.Now()) })
		defer stop()
		n1, _ := conn.Write(wire.AppendFrameHeader(nil, maxFrame))
		n2, _ := conn.Write(half)
		written.Add(int64(n1 + n2))
		var byPeer, old bool
		select {
		case byPeer = <-done:
		case <-ctx.Done():
			old = time.Since(since) > grace
			byPeer = <-done
		}
		switch {
		case byPeer:
			closed.Add(1)
		case old:
			kept.Add(1)
		}
	})
	out := outcome{note: fmt.Sprintf("%d/%d connections closed by the target, %d open past %v and 1 s after the attack, %d MiB written",
		closed.Load(), opened.Load(), kept.Load(), grace, written.Load()>>20), breaches: kept.Load()}
	if opened.Load() == 0 {
		return out, errors.New("not one connection reached the target")
	}
	return out, nil
}

// strangerMember is a member record no node has in its membership.
func strangerMember(port int, id byte) wire.Member {
	m := wire.Member{Host: []byte{127, 0, 0, 1}, Port: int32(port), SecurePort: -1, UDPPort: -1, AliveTime: 1}
	m.UniqueID[0], m.UniqueID[15] = id, 0x66
	return m
}

// frame is a ChannelData frame from src carrying data.
func frame(src wire.Member, opts channel.SendOptions, data []byte) []byte {
	return wire.AppendChannelDataFrame(nil, uint32(opts|channel.OptByteMessage), time.Now().UnixMilli(),
		channel.NewMessageID(), wire.AppendMember(nil, &src), data)
}

// noAckReader sends use_ack,sync frames on n connections as fast as it can and never
// reads the ACKs.
func noAckReader(n int) func(ctx context.Context, c *cluster) (outcome, error) {
	return func(ctx context.Context, c *cluster) (outcome, error) {
		return noAckReaders(ctx, c, n)
	}
}

// unreadStream writes batch again and again to a new connection that it never reads,
// until the target closes it (a write fails) or ctx ends, and reconnects. (stream reads
// its connections to the end, to tell a close by the target: the ACKs were read.)
func unreadStream(ctx context.Context, addr string, batch []byte, st *streamed) {
	for ctx.Err() == nil {
		c, err := dialRcvBuf(ctx, addr, noAckRcvBuf)
		if err != nil {
			sleep(ctx, 10*time.Millisecond)
			continue
		}
		st.conns.Add(1)
		stop := context.AfterFunc(ctx, func() { _ = c.SetWriteDeadline(time.Now()) })
		for err == nil {
			var n int
			n, err = c.Write(batch)
			st.written.Add(int64(n))
		}
		stop()
		_ = c.Close()
	}
}

// noAckRcvBuf is the receive buffer of no-ack-reader's connections: small, so that the
// ACKs they leave unread fill it, and the target's send buffer, within a short attack on
// a loaded machine (about 5 000 ACKs a connection; 8 000 with the system's 128 KiB).
const noAckRcvBuf = 4 << 10

// noAckReaders writes its frames as member B (its address and unique id, which the
// target's membership has): a non-member's frames would be refused at the first one and
// their connection closed before any ACK waited. The target must show the defence acted:
// decoding paused on unread ACKs (nio Stats.AckPauses), or connections closed for them
// (ConnsStalled, ConnsOverflowed); none of these is a breach, the defence not reached.
func noAckReaders(ctx context.Context, c *cluster, noAckConns int) (outcome, error) {
	members, err := wire.ParseMemberList(c.nodes[1].addr + ":" + c.nodes[1].id.String())
	if err != nil {
		return outcome{}, err
	}
	before, err := c.stats(0)
	if err != nil {
		return outcome{}, fmt.Errorf("target stats: %w", err)
	}
	var st streamed
	f := frame(members[0], channel.OptUseAck|channel.OptSyncAck, []byte("ack me"))
	batch := bytes.Repeat(f, 256)
	// No connection counts as kept: how long the ACKs take to fill the socket buffers
	// before the target pauses depends on the machine; the counters below show the
	// defence instead.
	stream := func(ctx context.Context, _ int) { unreadStream(ctx, c.nodes[0].addr, batch, &st) }
	workers(ctx, noAckConns, stream)
	after, err := c.stats(0)
	if err != nil {
		return outcome{}, fmt.Errorf("target stats: %w", err)
	}
	var extended time.Duration
	if !ackDefenceActed(before, after) {
		// On a loaded machine the target may not have written enough ACKs within the
		// attack to fill the sockets' buffers (the CI saw 117 connections and no pause
		// once): the streams go on, for at most noAckGrace, until the defence acts.
		t := time.Now()
		gctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), noAckGrace)
		watched := make(chan struct{})
		go func() {
			defer close(watched)
			_ = poll(gctx, noAckGrace, func() (bool, error) {
				now, err := c.stats(0)
				acted := err == nil && ackDefenceActed(before, now)
				if acted {
					cancel() // the streams end
				}
				return acted, nil
			})
		}()
		workers(gctx, noAckConns, stream)
		cancel()
		<-watched
		extended = time.Since(t)
		if after, err = c.stats(0); err != nil {
			return outcome{}, fmt.Errorf("target stats: %w", err)
		}
	}
	b, a := before.Transport, after.Transport
	pauses, stalled, overflowed := a.AckPauses-b.AckPauses, a.ConnsStalled-b.ConnsStalled, a.ConnsOverflowed-b.ConnsOverflowed
	out := outcome{note: fmt.Sprintf("%d frames written as member B on %d connections, ACKs never read; the target paused %d times on unread ACKs, closed %d connections as stalled, %d as overflowed, %d as a non-member's",
		st.written.Load()/int64(len(f)), st.conns.Load(), pauses, stalled, overflowed, a.ConnsNonMember-b.ConnsNonMember)}
	if extended > 0 {
		out.note += fmt.Sprintf(" (the streams went on %v past the attack before the defence acted)", extended.Round(10*time.Millisecond))
	}
	if st.conns.Load() == 0 {
		return out, errors.New("not one connection reached the target")
	}
	if pauses+stalled+overflowed == 0 {
		out.breaches = 1
		out.note += "; the ACK defence was NOT reached"
	}
	return out, nil
}

// noAckGrace bounds how long no-ack-reader's streams go on past the attack when the ACK
// defence has not acted by its end.
const noAckGrace = 10 * time.Second

// ackDefenceActed reports whether the target paused decoding on unread ACKs or closed a
// connection for them between the stats b and a.
func ackDefenceActed(b, a nodeStats) bool {
	return a.Transport.AckPauses > b.Transport.AckPauses || a.Transport.ConnsStalled > b.Transport.ConnsStalled ||
		a.Transport.ConnsOverflowed > b.Transport.ConnsOverflowed
}

// freshAck sends one use_ack frame on a new connection and waits for its ACK.
func freshAck(addr string) error {
	conn, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(3 * time.Second))
	if _, err := conn.Write(frame(strangerMember(2, 0x78), channel.OptUseAck, []byte("probe"))); err != nil {
		return err
	}
	ack := make([]byte, len(wire.AckFrame))
	if _, err := io.ReadFull(conn, ack); err != nil {
		return err
	}
	if !bytes.Equal(ack, wire.AckFrame) {
		return fmt.Errorf("answer %q is not an ACK", ack)
	}
	return nil
}

// fdExhaustion keeps 600 idle connections open to a target limited to 256 descriptors
// (clusterOpts.targetNofile), opening new ones as the target closes them. Besides held's
// breaches, a target whose accepts never failed (nio Stats.ReceiverFailures) is one: its
// descriptors did not run out, and nothing was shown.
func fdExhaustion(ctx context.Context, c *cluster) (outcome, error) {
	before, err := c.stats(0)
	if err != nil {
		return outcome{}, fmt.Errorf("target stats: %w", err)
	}
	out, err := held(ctx, c, 600, c.cfg.firstFrame+time.Second, "idle", func(context.Context, net.Conn, chan bool) {})
	st, serr := c.stats(0)
	if serr != nil {
		out.note += "; target stats: " + serr.Error()
		return out, errors.Join(err, serr)
	}
	failures := st.Transport.ReceiverFailures - before.Transport.ReceiverFailures
	out.note += fmt.Sprintf(" (RLIMIT_NOFILE %d); accepts failed %d times, %d connections refused on the reserve descriptor; healthy at the end: %v",
		st.Nofile, failures, st.Transport.ConnsRefused-before.Transport.ConnsRefused, st.Healthy)
	if failures == 0 {
		out.breaches++
		out.note += "; the target's descriptors did NOT run out"
	}
	return out, err
}
