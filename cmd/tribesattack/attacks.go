package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/ipv4"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/membership/mcast"
	"github.com/gotribes/tribes/session/delta"
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
	{name: "forged-heartbeats", opts: clusterOpts{mcast: true}, run: forgedHeartbeats},
	{name: "stranger-sessions", run: stranger},
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
	var d net.Dialer
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
	workers(ctx, noAckConns, func(ctx context.Context, _ int) {
		stream(ctx, c.nodes[0].addr, batch, batch, time.Duration(math.MaxInt64), &st)
	})
	after, err := c.stats(0)
	if err != nil {
		return outcome{}, fmt.Errorf("target stats: %w", err)
	}
	b, a := before.Transport, after.Transport
	pauses, stalled, overflowed := a.AckPauses-b.AckPauses, a.ConnsStalled-b.ConnsStalled, a.ConnsOverflowed-b.ConnsOverflowed
	out := outcome{note: fmt.Sprintf("%d frames written as member B on %d connections, ACKs never read; the target paused %d times on unread ACKs, closed %d connections as stalled, %d as overflowed, %d as a non-member's",
		st.written.Load()/int64(len(f)), st.conns.Load(), pauses, stalled, overflowed, a.ConnsNonMember-b.ConnsNonMember)}
	if st.conns.Load() == 0 {
		return out, errors.New("not one connection reached the target")
	}
	if pauses+stalled+overflowed == 0 {
		out.breaches = 1
		out.note += "; the ACK defence was NOT reached"
	}
	return out, nil
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

// forgedHeartbeats sends multicast heartbeats to the cluster's group: invented members,
// half of them with 60 000-byte payloads. Breaches: members the target knew beyond
// MaxMembers, members it believed with a payload over MaxPayloadSize, and, as nothing was
// shown otherwise, one if not one invented member reached the target, one if the target
// ignored no oversized heartbeat (mcast Stats.OversizedHeartbeats).
func forgedHeartbeats(ctx context.Context, c *cluster) (outcome, error) {
	group, err := net.ResolveUDPAddr("udp4", c.group)
	if err != nil {
		return outcome{}, err
	}
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return outcome{}, err
	}
	defer conn.Close()
	pc := ipv4.NewPacketConn(conn)
	lo, err := loopbackInterface()
	if err != nil {
		return outcome{}, err
	}
	if err := pc.SetMulticastInterface(lo); err != nil {
		return outcome{}, err
	}
	_ = pc.SetMulticastLoopback(true)
	before, err := c.stats(0)
	if err != nil {
		return outcome{}, fmt.Errorf("target stats: %w", err)
	}
	var last nodeStats
	var peak, oversizedKept int
	probe := func() {
		if st, err := c.stats(0); err == nil {
			peak, oversizedKept, last = max(peak, st.Members), max(oversizedKept, st.OversizedMembers), st
		}
	}
	big := bytes.Repeat([]byte{'p'}, 60000)
	var sent, sentBig int
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for i := 0; ctx.Err() == nil; i++ {
		m := strangerMember(10000+i%50000, 0xee)
		binary.BigEndian.PutUint32(m.UniqueID[1:], uint32(i))
		if i%2 == 0 {
			m.Payload = big
		}
		if _, err := conn.WriteToUDP(wire.AppendMember(nil, &m), group); err == nil {
			sent++
			if m.Payload != nil {
				sentBig++
			}
		}
		if i%200 == 199 {
			select {
			case <-tick.C:
				probe()
			case <-ctx.Done():
			}
		}
	}
	probe() // the heartbeats sent since the last probe
	invented := peak - before.Members
	refused := last.Multicast.OversizedHeartbeats - before.Multicast.OversizedHeartbeats
	out := outcome{note: fmt.Sprintf("%d heartbeats of invented members (%d with 60 000-byte payloads); the target knew at most %d members (%d before), %d of them with payloads over %d B, and ignored %d oversized heartbeats",
		sent, sentBig, peak, before.Members, oversizedKept, mcast.DefaultMaxPayloadSize, refused),
		breaches: int64(max(0, peak-mcast.DefaultMaxMembers) + oversizedKept)}
	if invented <= 0 {
		out.breaches++
		out.note += "; NOT one invented member reached the target"
	} else if sentBig > 0 && refused == 0 {
		out.breaches++
		out.note += "; the target ignored NO oversized heartbeat"
	}
	return out, nil
}

func loopbackInterface() (*net.Interface, error) {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil, err
	}
	for _, i := range ifs {
		if i.Flags&net.FlagLoopback != 0 {
			return &i, nil
		}
	}
	return nil, errors.New("no loopback interface")
}

// byteCounter accepts connections and counts the bytes sent to it as they arrive.
type byteCounter struct {
	ln net.Listener
	n  atomic.Int64
}

func (b *byteCounter) Write(p []byte) (int, error) {
	b.n.Add(int64(len(p)))
	return len(p), nil
}

func newByteCounter() (*byteCounter, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	b := &byteCounter{ln: ln}
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				_, _ = io.Copy(b, conn)
			}()
		}
	}()
	return b, nil
}

func (b *byteCounter) port() int { return b.ln.Addr().(*net.TCPAddr).Port }

// stranger sends, as a process that is no member, GET_ALL_SESSIONS and deltas that take
// over the target's sessions, and GET_ALL_SESSIONS naming a victim host and impersonating
// member B's address with another id.
func stranger(ctx context.Context, c *cluster) (outcome, error) {
	self, err := newByteCounter()
	if err != nil {
		return outcome{}, err
	}
	defer self.ln.Close()
	victim, err := newByteCounter()
	if err != nil {
		return outcome{}, err
	}
	defer victim.ln.Close()
	resp, err := httpClient.Get("http://" + c.nodes[0].ctrl + "/sessions")
	if err != nil {
		return outcome{}, err
	}
	var ids []string
	err = json.NewDecoder(resp.Body).Decode(&ids)
	resp.Body.Close()
	if err != nil || len(ids) == 0 {
		return outcome{}, fmt.Errorf("session ids: %v", err)
	}
	me, vic := strangerMember(self.port(), 0x51), strangerMember(victim.port(), 0x52)
	b := c.nodes[1]
	_, bport, _ := net.SplitHostPort(b.addr)
	p, _ := strconv.Atoi(bport)
	impostor := strangerMember(p, 0x53)
	var codec delta.BinaryCodec
	owned, _ := delta.GobCodec{}.Marshal("stranger")
	getAll := &delta.Message{Event: delta.EventGetAllSessions, Context: appName, SessionID: "GET-ALL"}
	enc := func(m *delta.Message) []byte { d, _ := codec.AppendMessage(nil, m); return d }
	var sent int
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	var conn net.Conn
	defer func() {
		if conn != nil {
			conn.Close()
		}
	}()
	for i := 0; ctx.Err() == nil; i++ {
		if conn == nil {
			if conn, err = dial(ctx, c.nodes[0].addr); err != nil {
				conn = nil
				continue
			}
		}
		var f []byte
		switch i % 4 {
		case 0:
			f = frame(me, 0, enc(getAll))
		case 1:
			f = frame(vic, 0, enc(getAll))
		case 2:
			f = frame(impostor, 0, enc(getAll))
		default:
			f = frame(me, 0, enc(&delta.Message{Event: delta.EventDelta, Context: appName, SessionID: ids[i%len(ids)],
				Version: 1 << 40, Actions: []delta.Action{{Type: delta.ActionAttribute, Op: delta.OpSet, Name: "owner", Value: owned}}}))
		}
		if _, err := conn.Write(f); err != nil {
			conn.Close()
			conn = nil
			continue
		}
		sent++
		select {
		case <-tick.C:
		case <-ctx.Done():
		}
	}
	st, _ := c.stats(0)
	return outcome{note: fmt.Sprintf("%d messages; the stranger received %d B, the victim %d B; the target dropped %d (channel) and %d (sessions) from non-members, served %d sessions",
		sent, self.n.Load(), victim.n.Load(), st.NonMemberDropped, st.RefusedNonMember, st.SessionsServed),
		breaches: self.n.Load() + victim.n.Load() + int64(st.SessionsServed)}, nil
}

// replay captures the encrypted load frames B sends to the target (the ChannelData around
// the ciphertext names its sender in clear), then sends them again: to the target at once,
// to member C, and to the target after it restarted. Replays to another member are
// reported but are no breach: the format cannot tell for whom a ciphertext was meant (see
// the encrypt interceptor's documentation).
func replay(ctx context.Context, c *cluster) (outcome, error) {
	a, cc := c.nodes[0], c.nodes[2]
	_, port, _ := net.SplitHostPort(a.addr)
	p, _ := strconv.Atoi(port)
	capCtx, cancel := context.WithTimeout(ctx, time.Second)
	frames, err := captureFrames(capCtx, p, c.nodes[1].id, 200)
	cancel()
	if err != nil {
		return outcome{}, fmt.Errorf("capture: %w", err)
	}
	if len(frames) == 0 {
		return outcome{}, errors.New("capture: no frame seen")
	}
	accepted := func(i int, addr string) (uint64, error) {
		before, err := c.stats(i)
		if err != nil {
			return 0, err
		}
		if err := sendFrames(addr, frames); err != nil {
			return 0, err
		}
		var n uint64
		// Replays are sync-acked load messages: once sent, they were counted.
		after, err := c.stats(i)
		if err == nil {
			n = after.Stale - before.Stale
		}
		return n, err
	}
	same, err := accepted(0, a.addr)
	if err != nil {
		return outcome{}, err
	}
	other, err := accepted(2, cc.addr)
	if err != nil {
		return outcome{}, err
	}
	if err := c.restart(ctx, 0); err != nil {
		return outcome{}, fmt.Errorf("restart: %w", err)
	}
	// The restarted target must have heard B again, so that old sequence numbers show.
	if err := poll(ctx, 5*time.Second, func() (bool, error) {
		st, err := c.stats(0)
		return err == nil && st.Received > 20, err
	}); err != nil {
		return outcome{}, err
	}
	restarted, err := accepted(0, a.addr)
	if err != nil {
		return outcome{}, err
	}
	return outcome{note: fmt.Sprintf("%d frames captured; replays accepted: same node %d, target after restart %d, member C %d (not coverable)",
		len(frames), same, restarted, other), breaches: int64(same + restarted)}, nil
}

// sendFrames writes frames on one new connection and reads the answers until every frame
// got one or the connection went quiet for a second.
func sendFrames(addr string, frames [][]byte) error {
	conn, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return err
	}
	defer conn.Close()
	go func() {
		for _, f := range frames {
			if _, err := conn.Write(f); err != nil {
				return
			}
		}
	}()
	want := len(frames) * len(wire.AckFrame)
	buf := make([]byte, 4096)
	for got := 0; got < want; {
		_ = conn.SetReadDeadline(time.Now().Add(time.Second))
		n, err := conn.Read(buf)
		got += n
		if err != nil {
			return nil
		}
	}
	return nil
}
