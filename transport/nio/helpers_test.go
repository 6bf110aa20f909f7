package nio

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/wire"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, testutil.IgnoreGnetPool()...)
}

// waitTimeout bounds every wait in the tests.
const waitTimeout = 10 * time.Second

// whileProgressing waits until cond holds, polling, for as long as progress keeps
// changing: it fails naming what once progress stayed the same for waitTimeout, or after
// limit in all. A wait for a fixed amount of work (so many ACKs written, so many bytes
// read) then takes what a loaded machine needs, and a stall still fails within
// waitTimeout.
func whileProgressing(tb testing.TB, limit time.Duration, what string, cond func() bool, progress func() int64) {
	tb.Helper()
	start := time.Now()
	last, moved := progress(), start
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		now := time.Now()
		if p := progress(); p != last {
			last, moved = p, now
		}
		if now.Sub(moved) > waitTimeout || now.Sub(start) > limit {
			tb.Fatalf("not within %v (no progress for %v): %s", now.Sub(start).Round(time.Millisecond),
				now.Sub(moved).Round(time.Millisecond), what)
		}
		<-tick.C
	}
}

// testConfig is a loopback configuration on ephemeral ports.
func testConfig() Config {
	cfg := DefaultConfig()
	cfg.Port = 0
	cfg.EventLoops = 2
	cfg.Workers = 4
	if testing.Verbose() {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return cfg
}

// forEachDelivery runs f as subtests with the receiver's config: on gnet delivering on
// workers, on gnet delivering on the event loops (Config.DeliverOnEventLoop), and on
// EngineGoroutine (which delivers on each connection's goroutine).
func forEachDelivery(t *testing.T, f func(t *testing.T, cfg Config)) {
	for _, v := range []struct {
		name   string
		engine Engine
		onLoop bool
	}{{"workers", EngineGnet, false}, {"event-loop", EngineGnet, true}, {"goroutine", EngineGoroutine, false}} {
		t.Run(v.name, func(t *testing.T) {
			cfg := testConfig()
			cfg.Engine, cfg.DeliverOnEventLoop = v.engine, v.onLoop
			f(t, cfg)
		})
	}
}

// forEachEngine runs f as a subtest per receiver engine, with testConfig and that engine.
func forEachEngine(t *testing.T, f func(t *testing.T, cfg Config)) {
	for _, e := range Engines() {
		t.Run(string(e), func(t *testing.T) {
			cfg := testConfig()
			cfg.Engine = e
			f(t, cfg)
		})
	}
}

// gnetConfig is testConfig on gnet, for tests of gnet's own mechanics.
func gnetConfig() Config {
	cfg := testConfig()
	cfg.Engine = EngineGnet
	return cfg
}

// node is a started Transport with its local member.
type node struct {
	t      *Transport
	member channel.Member
	wire   []byte
}

func startNode(tb testing.TB, cfg Config, rx channel.ReceiveFunc) *node {
	tb.Helper()
	tr, err := New(cfg)
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	if rx == nil {
		rx = func(*channel.Message) error { return nil }
	}
	if err := tr.Start(context.Background(), channel.SvcTransport, rx); err != nil {
		tb.Fatalf("Start: %v", err)
	}
	tb.Cleanup(func() {
		if err := tr.Stop(context.Background(), channel.SvcTransport); err != nil {
			tb.Errorf("Stop: %v", err)
		}
	})
	n := &node{t: tr, member: memberOf(tr)}
	n.wire, _ = n.member.MarshalBinary()
	return n
}

func memberOf(tr *Transport) channel.Member {
	la := tr.LocalAddress()
	m := channel.Member{Host: la.Host, Port: la.Port, SecurePort: la.SecurePort, UDPPort: la.UDPPort}
	_, _ = rand.Read(m.UniqueID[:])
	return m
}

func (n *node) msg(opts channel.SendOptions, data []byte) *channel.Message {
	return &channel.Message{
		Options:     opts | channel.OptByteMessage,
		Timestamp:   time.Now().UnixMilli(),
		ID:          channel.NewMessageID(),
		Source:      n.member,
		SourceBytes: n.wire,
		Data:        data,
	}
}

// recorder is a ReceiveFunc that forwards messages to a channel.
type recorder struct {
	ch   chan *channel.Message
	fail atomic.Pointer[func(*channel.Message) error]
}

// setErr makes the ReceiveFunc return f's result (nil f: succeed).
func (r *recorder) setErr(f func(*channel.Message) error) {
	if f == nil {
		r.fail.Store(nil)
		return
	}
	r.fail.Store(&f)
}

func newRecorder(n int) *recorder { return &recorder{ch: make(chan *channel.Message, n)} }

func (r *recorder) rx(m *channel.Message) error {
	r.ch <- m
	if f := r.fail.Load(); f != nil {
		return (*f)(m)
	}
	return nil
}

func (r *recorder) next(tb testing.TB) *channel.Message {
	tb.Helper()
	select {
	case m := <-r.ch:
		return m
	case <-time.After(waitTimeout):
		tb.Fatal("timed out waiting for a message")
		return nil
	}
}

func (r *recorder) none(tb testing.TB) {
	tb.Helper()
	select {
	case m := <-r.ch:
		tb.Fatalf("unexpected message %x", m.ID)
	default:
	}
}

// frame encodes a ChannelData frame from src with the given options and payload.
func frame(src []byte, opts channel.SendOptions, payload []byte) []byte {
	return wire.AppendChannelDataFrame(nil, uint32(opts), time.Now().UnixMilli(), channel.NewMessageID(), src, payload)
}

func seqPayload(i int) []byte { return binary.BigEndian.AppendUint32(nil, uint32(i)) }

// seqStream is n frames from b's member, without send options, carrying seqPayload(i)
// followed by pad zero bytes, back to back.
func seqStream(tb testing.TB, b *node, n, pad int) []byte {
	tb.Helper()
	src, err := b.member.MarshalBinary()
	if err != nil {
		tb.Fatal(err)
	}
	var stream []byte
	for i := range n {
		stream = append(stream, frame(src, 0, append(seqPayload(i), make([]byte, pad)...))...)
	}
	return stream
}

// silentServer accepts connections, reads everything and never answers
// (testutil.SilentPeer, with the member it is).
type silentServer struct {
	*testutil.SilentPeer
	received <-chan struct{} // bytes arrived on a connection
}

func newSilentServer(tb testing.TB) silentServer {
	p := testutil.NewSilentPeer(tb)
	return silentServer{SilentPeer: p, received: p.Received()}
}

func (s silentServer) member() channel.Member {
	return channel.Member{Host: net.IPv4(127, 0, 0, 1).To4(), Port: int32(s.Port()), SecurePort: -1, UDPPort: -1}
}

// dialRaw opens a plain TCP connection to a node's receiver.
func dialRaw(tb testing.TB, n *node) net.Conn {
	tb.Helper()
	c, err := net.DialTimeout("tcp", n.member.Addr(), waitTimeout)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = c.Close() })
	return c
}

// guarded is a started transport whose sender check trusts no one until trust names a
// member; it delivers to rec (room for 4 messages).
type guarded struct {
	*node
	rec     *recorder
	trusted atomic.Pointer[channel.MemberKey]
}

func startGuarded(t *testing.T, cfg Config) *guarded {
	t.Helper()
	tr, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	g := &guarded{rec: newRecorder(4)}
	tr.SetSenderCheck(func(src *channel.Member) bool {
		k := g.trusted.Load()
		return k != nil && src.Key() == *k
	})
	if err := tr.Start(context.Background(), channel.SvcTransport, g.rec.rx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tr.Stop(context.Background(), channel.SvcTransport) })
	g.node = &node{t: tr, member: memberOf(tr)} // its address is known once started
	return g
}

// strangers opens n plain connections to g, none of a member, and writes data on each.
func (g *guarded) strangers(t *testing.T, n int, data []byte) {
	t.Helper()
	for range n {
		if _, err := dialRaw(t, g.node).Write(data); err != nil {
			t.Fatal(err)
		}
	}
}

// sendFromMember starts a node that g trusts as a member and sends g, from it, an
// acknowledged message of size bytes on a new connection; the send must succeed. It
// returns the message g delivered.
func (g *guarded) sendFromMember(t *testing.T, size int) *channel.Message {
	t.Helper()
	a := startNode(t, testConfig(), nil)
	k := a.member.Key()
	g.trusted.Store(&k)
	err := a.t.Send(context.Background(), []channel.Member{g.member}, a.msg(channel.OptUseAck, make([]byte, size)))
	if err != nil {
		st := g.t.Stats()
		t.Fatalf("a member's message is refused while strangers hold %d bytes of the %d-byte budget (FramesRefused %d): %v",
			st.PendingBytes, g.t.cfg.MaxPendingBytes, st.FramesRefused, err)
	}
	return g.rec.next(t)
}

// readAcks reads k 21-byte ACK frames and returns their kinds.
func readAcks(tb testing.TB, c net.Conn, k int) []wire.AckKind {
	tb.Helper()
	_ = c.SetReadDeadline(time.Now().Add(waitTimeout))
	buf := make([]byte, k*len(wire.AckFrame))
	if _, err := io.ReadFull(c, buf); err != nil {
		tb.Fatalf("reading %d acks: %v", k, err)
	}
	kinds := make([]wire.AckKind, k)
	for i := range kinds {
		body, n, err := wire.ParseFrame(buf[i*len(wire.AckFrame):], 0)
		if err != nil || n != len(wire.AckFrame) {
			tb.Fatalf("ack %d: n=%d err=%v", i, n, err)
		}
		kinds[i] = wire.ClassifyAck(body)
	}
	return kinds
}

// expectClosed waits until the peer closes c (read returns EOF or reset).
func expectClosed(tb testing.TB, c net.Conn) {
	tb.Helper()
	_ = c.SetReadDeadline(time.Now().Add(waitTimeout))
	buf := make([]byte, 256)
	for {
		_, err := c.Read(buf)
		if err == nil {
			continue
		}
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			tb.Fatal("connection was not closed by the receiver")
		}
		return
	}
}

// gate blocks ReceiveFuncs until opened; opening twice is fine. Register open with
// t.Cleanup after starting the node, so that a failing test does not leave Stop waiting
// for a blocked worker.
type gate struct {
	ch   chan struct{}
	once sync.Once
}

func newGate() *gate { return &gate{ch: make(chan struct{})} }

// seqGate is a receive function for n messages made with seqPayload: each delivery waits
// for release, first is signalled at the first one, all closed at the n-th, and got
// records their sequence numbers in delivery order.
type seqGate struct {
	release *gate
	n       int
	first   chan struct{}
	all     chan struct{}
	mu      sync.Mutex
	got     []uint32
}

func newSeqGate(t *testing.T, n int) *seqGate {
	g := &seqGate{release: newGate(), n: n, first: make(chan struct{}, 1), all: make(chan struct{})}
	t.Cleanup(g.release.open)
	return g
}

func (g *seqGate) rx(m *channel.Message) error {
	select {
	case g.first <- struct{}{}:
	default:
	}
	g.release.wait()
	g.mu.Lock()
	defer g.mu.Unlock()
	g.got = append(g.got, binary.BigEndian.Uint32(m.Data))
	if len(g.got) == g.n {
		close(g.all)
	}
	return nil
}

// inOrder waits for all n messages and checks that they arrived in sequence.
func (g *seqGate) inOrder(t *testing.T) {
	t.Helper()
	select {
	case <-g.all:
	case <-time.After(waitTimeout):
		g.mu.Lock()
		defer g.mu.Unlock()
		t.Fatalf("%d of %d messages delivered", len(g.got), g.n)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	for i, v := range g.got {
		if v != uint32(i) {
			t.Fatalf("message %d arrived as %d", i, v)
		}
	}
}

// startBlocked starts a receiver (not stopped at cleanup: the caller does) whose
// ReceiveFunc signals started at its first call, waits for release and then counts the
// delivery in delivered.
func startBlocked(t *testing.T, cfg Config) (tr *Transport, release *gate, started <-chan struct{}, delivered *atomic.Int32) {
	t.Helper()
	tr, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	release, delivered = newGate(), new(atomic.Int32)
	first := make(chan struct{})
	var once sync.Once
	if err := tr.Start(context.Background(), channel.SvcReceiver, func(*channel.Message) error {
		once.Do(func() { close(first) })
		release.wait()
		delivered.Add(1)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return tr, release, first, delivered
}

func (g *gate) wait() { <-g.ch }
func (g *gate) open() { g.once.Do(func() { close(g.ch) }) }
