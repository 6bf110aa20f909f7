package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/membership/mcast"
	"github.com/gotribes/tribes/node"
	"github.com/gotribes/tribes/transport/nio"
	"github.com/gotribes/tribes/wire"
)

// The suite's own checks, tried against targets that have no defence at all (a sink that
// reads every byte and never closes, a port nothing listens on) and against an in-process
// node of the suite (newNode), whose transport counters show which defence an attack
// reached: an attack whose defence is missing must fail.

// sink accepts connections, reads and discards everything, and never closes one: a
// target with none of the defences the attacks are meant to prove.
func sink(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
			go func() { _, _ = io.Copy(io.Discard, c) }()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		for _, c := range conns {
			c.Close()
		}
	})
	return ln.Addr().String()
}

// fakeCluster is a cluster whose target is addr (no control endpoint: stats fail).
func fakeCluster(addr string) *cluster {
	c := &cluster{cfg: defaultSuite("", true)}
	c.nodes[0] = &proc{name: "A", addr: addr, ctrl: "127.0.0.1:1"}
	return c
}

// TestStreamAttacksCanFail: garbage, lying-length, oversize and partial-100 must report a
// breach against a target that never closes a connection (it takes random bytes, 2 GiB
// headers, 64 MiB frames and half frames for ever). Their outcome once counted none: the
// suite's "the defence let nothing through" check could not fail for them.
func TestStreamAttacksCanFail(t *testing.T) {
	addr := sink(t)
	for _, a := range attacks {
		switch a.name {
		case "garbage", "lying-length", "oversize", "partial-100":
		default:
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
		out, err := a.run(ctx, fakeCluster(addr))
		cancel()
		if err == nil && out.breaches == 0 {
			t.Errorf("%s against a target that closes nothing: no error, 0 breaches (%s)", a.name, out.note)
		}
	}
}

// TestHeldAttacksFailWithoutConnections: slowloris and idle-2000 must not pass when
// not one of their connections reached the target (here: nothing listens on the port;
// the same with a target whose accept queue is full, or the gnet engine's listener down
// during a descriptor-exhaustion restart). docs/security.md says the check fails unless
// "the target closed some"; held counted every connection as a breach when none was
// closed, which is 0 when none was opened.
func TestHeldAttacksFailWithoutConnections(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	for _, a := range attacks {
		switch a.name {
		case "slowloris", "idle-2000":
		default:
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		out, err := a.run(ctx, fakeCluster(dead))
		cancel()
		if err == nil && out.breaches == 0 {
			t.Errorf("%s against a port nothing listens on: no error, 0 breaches (%s)", a.name, out.note)
		}
	}
}

// startTarget runs the suite's node (newNode, as a target A with static members B and C
// that do not run) in this process, and returns a cluster around it and its transport.
func startTarget(t *testing.T) (*cluster, *nio.Transport) {
	c, tr, _ := startTargetNode(t)
	return c, tr
}

// startTargetNode is startTarget that also returns the node.
func startTargetNode(t *testing.T) (*cluster, *nio.Transport, *suiteNode) {
	t.Helper()
	ports, release, err := freePorts(3)
	if err != nil {
		t.Fatal(err)
	}
	var ids [3]wire.UniqueID
	for i := range ids {
		ids[i][0], ids[i][15] = byte(i+1), 0xaa
	}
	member := func(i int) string {
		return net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[i])) + ":" + ids[i].String()
	}
	cfg := defaultSuite("", true)
	f := nodeFlags{name: "A", id: ids[0].String(), port: ports[0], static: member(1) + "," + member(2),
		firstFrameTimeout: cfg.firstFrame, frameTimeout: cfg.frame}
	n, err := newNode(f, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = n.ch.Start(ctx, channel.SvcAll)
	release()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sctx, c := context.WithTimeout(context.Background(), 5*time.Second)
		defer c()
		_ = n.ch.Stop(sctx, channel.SvcAll)
	})
	srv := httptest.NewServer(n.mux())
	t.Cleanup(srv.Close)
	tr, ok := n.ch.Transport().(*nio.Transport)
	if !ok {
		t.Fatalf("transport %T", n.ch.Transport())
	}
	c := &cluster{cfg: cfg}
	for i, name := range []string{"A", "B", "C"} {
		c.nodes[i] = &proc{name: name, addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[i])), id: ids[i]}
	}
	c.nodes[0].ctrl = srv.Listener.Addr().String()
	return c, tr, n
}

// TestNoAckReaderReachesTheAckDefence: no-ack-reader-4 is the suite's attack on "a
// client that never reads its ACKs" (docs/security.md: decoding pauses while
// MaxConnOutboundBytes of ACKs wait, the connection closes after FrameTimeout; the suite
// allows it 512 MiB "which may fill MaxPendingBytes"). Its frames named a non-member as
// their source, so the channel refused the first one and the receiver closed the
// connection (ConnsNonMember) long before any ACK could pile up: the defence it is named
// for was never reached.
func TestNoAckReaderReachesTheAckDefence(t *testing.T) {
	c, tr := startTarget(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	out, err := noAckReaders(ctx, c, 4)
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	st := tr.Stats()
	if st.AckPauses == 0 && st.ConnsStalled == 0 && st.ConnsOverflowed == 0 {
		t.Errorf("no-ack-reader-4 never paused or stalled a connection on its unread ACKs (AckPauses %d, ConnsStalled %d, ConnsOverflowed %d); "+
			"instead %d connections were closed as a non-member's (%s)",
			st.AckPauses, st.ConnsStalled, st.ConnsOverflowed, st.ConnsNonMember, out.note)
	}
}

// TestNoAckReadersLeaveTheirAcksUnread: no-ack-reader's connections must not read what
// the target sends them. They wrote through stream, whose watch for the target's close
// (closedByPeer) read every byte that came back: the target's ACK writes never blocked
// (300 000 ACKs on 4 connections in 2 s), and the attack passed only on the pauses the
// target counted for ACK writes under way at its sweeper's tick, which had not blocked.
// Here a target writes 8 MiB to the attacker's connection: it must block, the attacker
// reading none.
func TestNoAckReadersLeaveTheirAcksUnread(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	const total = 8 << 20
	wrote := make(chan int, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			wrote <- -1
			return
		}
		defer c.Close()
		go func() { _, _ = io.Copy(io.Discard, c) }() // the attacker's frames
		// Blocks once the attacker's receive buffer and this send buffer are full, until
		// the attacker closes the connection as the attack ends.
		n, _ := c.Write(make([]byte, total))
		wrote <- n
	}()
	var st streamed
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	unreadStream(ctx, ln.Addr().String(), []byte("frames"), &st)
	cancel()
	n := <-wrote
	if n < 0 || st.conns.Load() == 0 {
		t.Fatalf("the attacker did not connect (%d connections)", st.conns.Load())
	}
	if n == total {
		t.Errorf("the attacker read all %d bytes the target sent: its ACKs would never pile up", n)
	}
}

// TestNoAckReaderFailsWithoutTheAckDefence: no-ack-reader's own outcome must count a
// breach when the target shows no sign of its ACK defence. Here member B's unique id, as
// the attack knows it, is one the target does not have: its frames are a non-member's,
// their connections are closed at the first one, and no ACK ever waits: each gets one
// FAIL_ACK, which its socket takes at once and which is never counted as a pause, however
// loaded the machine (transport/nio TestAckWriteHeldOverTicksIsNoPause; under load the
// target once counted such a write, late to complete, as a pause on unread ACKs).
func TestNoAckReaderFailsWithoutTheAckDefence(t *testing.T) {
	c, tr := startTarget(t)
	c.nodes[1].id[7] = 0x5a // no longer B's id: a stranger at B's address
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	out, err := noAckReaders(ctx, c, 4)
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	if st := tr.Stats(); st.ConnsNonMember == 0 {
		t.Fatalf("the stranger's connections were not closed as a non-member's (ConnsNonMember 0): %s", out.note)
	}
	if out.breaches == 0 {
		t.Errorf("no-ack-reader-4 passed (0 breaches) although the target never paused on unread ACKs: %s", out.note)
	}
}

// TestForgedHeartbeatsMustReachTheTarget: forged-heartbeats counted a breach only when
// the target knew more than MaxMembers members; it never checked that one forged
// heartbeat reached the target. Here the target does not listen to the group at all
// (static membership, as when the group, the interface or the multicast route is wrong):
// not one invented member is seen, and the attack must not pass.
func TestForgedHeartbeatsMustReachTheTarget(t *testing.T) {
	c, _ := startTarget(t)
	ports, release, err := freePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	release()
	c.group = "228.0.77.77:" + strconv.Itoa(ports[0])
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	out, err := forgedHeartbeats(ctx, c)
	cancel()
	if err != nil {
		t.Skipf("multicast on lo: %v", err)
	}
	st, err := c.stats(0)
	if err != nil {
		t.Fatal(err)
	}
	if out.breaches == 0 && st.Members <= 2 {
		t.Errorf("forged-heartbeats passed (0 breaches) although the target never saw an invented member (%d members): %s", st.Members, out.note)
	}
}

// TestFdExhaustionMustExhaust: fd-exhaustion is the proof that the receiver survives
// running out of descriptors, but nothing checked that the target ran out: its outcome
// counted only connections held open, and the node's /stats did not report the
// receiver's accept failures. Against a target whose descriptors never run out (here one
// without the RLIMIT_NOFILE of 256; the same if the limit were not applied) it must fail.
func TestFdExhaustionMustExhaust(t *testing.T) {
	c, tr := startTarget(t)
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	out, err := fdExhaustion(ctx, c)
	cancel()
	st := tr.Stats()
	if err == nil && out.breaches == 0 && st.ReceiverFailures == 0 {
		t.Errorf("fd-exhaustion passed (no error, 0 breaches) although the target never failed an accept (ReceiverFailures %d, ConnsRefused %d): %s",
			st.ReceiverFailures, st.ConnsRefused, out.note)
	}
}

// TestFdChurnMustExhaust: fd-churn shows the receiver's recovery and its bounded log only
// if the target's accepts fail; against a target whose descriptors never run out (here
// one without the RLIMIT_NOFILE of 256) it must fail.
func TestFdChurnMustExhaust(t *testing.T) {
	c, tr := startTarget(t)
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	out, err := fdChurn(ctx, c)
	cancel()
	st := tr.Stats()
	if err == nil && out.breaches == 0 && st.ReceiverFailures == 0 {
		t.Errorf("fd-churn passed (no error, 0 breaches) although the target never failed an accept (ReceiverFailures %d): %s",
			st.ReceiverFailures, out.note)
	}
	if err == nil && !strings.Contains(out.note, "did NOT run out") {
		t.Errorf("fd-churn's note does not say the descriptors did not run out: %s", out.note)
	}
}

// TestForgedHeartbeatsCheckThePayloadCap: half of forged-heartbeats' heartbeats carry a
// 60 000-byte payload, to prove MaxPayloadSize (docs/security.md: "fields over their cap
// make the heartbeat ignored"), but the attack counted a breach only when the target knew
// more than MaxMembers members. Against a target that believes 60 000-byte payloads (here
// its cap raised to 64 KiB: the defence off) it passed: the member cap still holds, and
// 1 024 such members are 60 MB, far under the suite's RSS limit.
func TestForgedHeartbeatsCheckThePayloadCap(t *testing.T) {
	ports, release, err := freePorts(4)
	if err != nil {
		t.Fatal(err)
	}
	group := fmt.Sprintf("228.0.%d.%d:%d", ports[3]%200+1, ports[0]%200+1, 40000+ports[3]%20000)
	host, gport, _ := net.SplitHostPort(group)
	var id wire.UniqueID
	id[0], id[15] = 1, 0xaa
	tr := nio.DefaultConfig()
	tr.Port, tr.AutoBind = ports[0], 1
	mc := mcast.DefaultLocalConfig()
	mc.Address, mc.JoinWait = host, 0
	mc.Port, _ = strconv.Atoi(gport)
	mc.MaxPayloadSize = 64 << 10 // the defence under test, off
	ch, err := node.New(node.Config{Transport: &tr, Multicast: &mc, UniqueID: id})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	err = ch.Start(ctx, channel.SvcAll)
	cancel()
	release()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sctx, c := context.WithTimeout(context.Background(), 5*time.Second)
		defer c()
		_ = ch.Stop(sctx, channel.SvcAll)
	})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(nodeStats{Members: len(ch.Members()), Healthy: ch.Healthy()})
	}))
	t.Cleanup(srv.Close)
	c := &cluster{cfg: defaultSuite("", true), group: group}
	c.nodes[0] = &proc{name: "A", addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[0])), ctrl: srv.Listener.Addr().String()}

	actx, acancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	out, err := forgedHeartbeats(actx, c)
	acancel()
	if err != nil {
		t.Skipf("multicast on lo: %v", err)
	}
	var big int
	for _, m := range ch.Members() {
		if len(m.Payload) > mcast.DefaultMaxPayloadSize {
			big++
		}
	}
	if big == 0 {
		t.Skipf("no forged heartbeat reached the target (multicast on lo): %s", out.note)
	}
	if out.breaches == 0 {
		t.Errorf("forged-heartbeats passed (0 breaches) although the target believes %d members with payloads over MaxPayloadSize (%d B): %s",
			big, mcast.DefaultMaxPayloadSize, out.note)
	}
}
