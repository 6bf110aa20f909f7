package interceptors

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/membership/static"
	"github.com/gotribes/tribes/wire"
)

func newTestDetector(a *aliveSet) *TCPFailureDetector {
	return must(NewTCPFailureDetector(TCPFailureDetectorConfig{Probe: a.probe}))
}

func TestFailureDetectorProbeBytes(t *testing.T) {
	want := "4fa77348798243c99f6f8980a15b07147dd9525bebf1439ab77ebe8f81671eb63715be87457e4ca8bf0a4d135338153255f694b73afa407891047dd77284c0d5"
	if got := fmt.Sprintf("%x", FailureDetectorProbe()); got != want {
		t.Fatalf("TCP_FAIL_DETECT %s", got)
	}
}

func TestFailureDetectorAddsOnlyAnsweringMembers(t *testing.T) {
	nw := channeltest.NewNetwork()
	alive := newAliveSet()
	d := newTestDetector(alive)
	a := mbNew(t, nw, mbOpt{id: 1}, d)
	b := mbNew(t, nw, mbOpt{id: 2})
	c := mbNew(t, nw, mbOpt{id: 3})
	alive.set(b.port(), true)
	mbStart(t, a, b, c)
	testutil.EventuallyTrue(t, testutil.WaitLimit, "checks done", func() bool { return alive.count() >= 2 && d.Settled() })
	mbWantEvents(t, a, fmt.Sprintf("+%d", b.port()))
	if got := mbPorts(a.ch.Members()); !slices.Equal(got, []int32{b.port()}) {
		t.Fatalf("members %v", got)
	}
	if st := d.Stats(); st.AddSuspects != 1 {
		t.Fatalf("stats %+v", st)
	}
	// C answers now: the next heartbeat adds it.
	alive.set(c.port(), true)
	a.ch.Heartbeat()
	testutil.EventuallyTrue(t, testutil.WaitLimit, "C added", func() bool { return len(a.evs()) == 2 })
	mbWantEvents(t, a, fmt.Sprintf("+%d", b.port()), fmt.Sprintf("+%d", c.port()))
	// Every member below is verified: the list is the layer below's, not a copy.
	if got := mbPorts(a.ch.Members()); len(got) != 2 {
		t.Fatalf("members %v", got)
	}
	wantNoOwnAllocs(t, d)
}

func TestFailureDetectorVerifiesDisappearance(t *testing.T) {
	nw := channeltest.NewNetwork()
	alive := newAliveSet()
	d := newTestDetector(alive)
	a := mbNew(t, nw, mbOpt{id: 1}, d)
	b := mbNew(t, nw, mbOpt{id: 2})
	alive.set(b.port(), true)
	mbStart(t, a, b)
	testutil.EventuallyTrue(t, testutil.WaitLimit, "B added", func() bool { return len(a.evs()) == 1 })
	// The membership loses B (say, multicast is cut) but B still answers over TCP.
	nw.Partition(a.net, b.net)
	testutil.EventuallyTrue(t, testutil.WaitLimit, "check", func() bool { return d.Stats().KeptAlive == 1 && d.Settled() })
	mbWantEvents(t, a, fmt.Sprintf("+%d", b.port()))
	if got := mbPorts(a.ch.Members()); !slices.Equal(got, []int32{b.port()}) {
		t.Fatalf("suspect not kept: %v", got)
	}
	// The membership finds B again: no event, no longer a suspect.
	nw.Heal(a.net, b.net)
	testutil.EventuallyTrue(t, testutil.WaitLimit, "re-added below", func() bool { return d.Settled() && d.Stats().Suspects == 0 })
	mbWantEvents(t, a, fmt.Sprintf("+%d", b.port()))
	// Lost again, and this time B is dead: the heartbeat's re-check removes it.
	nw.Partition(a.net, b.net)
	testutil.EventuallyTrue(t, testutil.WaitLimit, "suspect", func() bool { return d.Stats().Suspects == 1 && d.Settled() })
	alive.set(b.port(), false)
	a.ch.Heartbeat()
	testutil.EventuallyTrue(t, testutil.WaitLimit, "B gone", func() bool { return len(a.evs()) == 2 })
	mbWantEvents(t, a, fmt.Sprintf("+%d", b.port()), fmt.Sprintf("-%d", b.port()))
	if len(a.ch.Members()) != 0 {
		t.Fatal("B still a member")
	}
}

func TestFailureDetectorDeadMemberGoesAtOnce(t *testing.T) {
	nw := channeltest.NewNetwork()
	alive := newAliveSet()
	d := newTestDetector(alive)
	a := mbNew(t, nw, mbOpt{id: 1}, d)
	b := mbNew(t, nw, mbOpt{id: 2})
	alive.set(b.port(), true)
	mbStart(t, a, b)
	testutil.EventuallyTrue(t, testutil.WaitLimit, "B added", func() bool { return len(a.evs()) == 1 })
	alive.set(b.port(), false)
	nw.Kill(b.net)
	testutil.EventuallyTrue(t, testutil.WaitLimit, "B gone", func() bool { return len(a.evs()) == 2 })
	mbWantEvents(t, a, fmt.Sprintf("+%d", b.port()), fmt.Sprintf("-%d", b.port()))
}

// below is a bottom layer that lets a test play the membership service.
type below struct {
	channel.InterceptorBase
	members []channel.Member
}

func (b *below) Members() []channel.Member { return slices.Clone(b.members) }

func (b *below) Member(k channel.MemberKey) (channel.Member, bool) {
	for _, m := range b.members {
		if m.Key() == k {
			return m, true
		}
	}
	return channel.Member{}, false
}

func TestFailureDetectorShutdownNeedsNoCheck(t *testing.T) {
	nw := channeltest.NewNetwork()
	alive := newAliveSet(4999)
	d := newTestDetector(alive)
	bl := &below{}
	a := mbNew(t, nw, mbOpt{id: 1, membership: func(*channeltest.Node) channel.MembershipService { return static.New() }}, d, bl)
	mbStart(t, a)
	m := testMemberAt(4999)
	bl.members = []channel.Member{m}
	d.MemberAdded(m)
	testutil.EventuallyTrue(t, testutil.WaitLimit, "added", func() bool { return len(a.evs()) == 1 })
	probes := alive.count()
	bye := m.Clone()
	bye.Command = wire.ShutdownCommand
	bl.members = nil
	d.MemberDisappeared(bye)
	testutil.EventuallyTrue(t, testutil.WaitLimit, "gone", func() bool { return len(a.evs()) == 2 })
	mbWantEvents(t, a, "+4999", "-4999!")
	if alive.count() != probes {
		t.Fatal("a member that shut down was checked")
	}
}

func testMemberAt(port int32) channel.Member {
	m := channel.Member{Host: []byte{127, 0, 0, 1}, Port: port, SecurePort: -1, UDPPort: -1}
	m.UniqueID[1] = byte(port)
	return m
}

func TestFailureDetectorSwallowsProbes(t *testing.T) {
	nw := channeltest.NewNetwork()
	alive := newAliveSet()
	a := mbNew(t, nw, mbOpt{id: 1}, newTestDetector(alive))
	flagged := newTestDetector(alive)
	flagged.Flag = 0x80
	b := mbNew(t, nw, mbOpt{id: 2}, flagged)
	c := mbNew(t, nw, mbOpt{id: 3})
	mbStart(t, a, b, c)
	ctx := context.Background()
	for _, to := range []*mbNode{a, b} {
		if err := c.ch.Send(ctx, []channel.Member{to.ch.LocalMember()}, FailureDetectorProbe(), 0); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.ch.Send(ctx, []channel.Member{b.ch.LocalMember()}, FailureDetectorProbe(), 0x80); err != nil {
		t.Fatal(err)
	}
	if err := c.ch.Send(ctx, []channel.Member{a.ch.LocalMember()}, []byte("app data"), 0); err != nil {
		t.Fatal(err)
	}
	if got := a.received(); len(got) != 1 || string(got[0].Data) != "app data" {
		t.Fatalf("A delivered %d messages", len(got))
	}
	// B's detector only acts on messages carrying its flag.
	if got := b.received(); len(got) != 1 || got[0].Options&0x80 != 0 {
		t.Fatalf("B delivered %v", got)
	}
	if s := flagged.Stats().Swallowed; s != 1 {
		t.Fatalf("B swallowed %d", s)
	}
}

func TestFailureDetectorVerifiesFailedSends(t *testing.T) {
	nw := channeltest.NewNetwork()
	alive := newAliveSet()
	d := newTestDetector(alive)
	fb := &failBelow{}
	a := mbNew(t, nw, mbOpt{id: 1}, d, fb)
	b := mbNew(t, nw, mbOpt{id: 2})
	c := mbNew(t, nw, mbOpt{id: 3})
	alive.set(b.port(), true)
	alive.set(c.port(), true)
	mbStart(t, a, b, c)
	testutil.EventuallyTrue(t, testutil.WaitLimit, "added", func() bool { return len(a.evs()) == 2 && d.Settled() })
	probes := alive.count()
	fb.set(b.port(), fmt.Errorf("%w: processing failed", channel.ErrAckFailed))
	fb.set(c.port(), fmt.Errorf("%w: refused", channel.ErrConnect))
	alive.set(c.port(), false)
	err := a.ch.Send(context.Background(), nil, []byte("x"), channel.OptUseAck)
	if len(channel.FaultyMembers(err)) != 2 {
		t.Fatalf("send: %v", err)
	}
	testutil.EventuallyTrue(t, testutil.WaitLimit, "C gone", func() bool { return len(a.evs()) == 3 })
	if got := a.evs()[2]; got != fmt.Sprintf("-%d", c.port()) {
		t.Fatalf("event %s", got)
	}
	if n := alive.count() - probes; n != 1 {
		t.Fatalf("%d checks after the send, want 1 (FAIL_ACK is no reason to check)", n)
	}
}

func TestFailureDetectorDropsOldSuspects(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nw := channeltest.NewNetwork()
		alive := newAliveSet()
		d := newTestDetector(alive)
		d.cfg.RemoveSuspectsTimeout = 10 * time.Second
		a := mbNew(t, nw, mbOpt{id: 1}, d)
		b := mbNew(t, nw, mbOpt{id: 2})
		alive.set(b.port(), true)
		mbStart(t, a, b)
		synctest.Wait()
		nw.Partition(a.net, b.net) // dropped below, still answering
		synctest.Wait()
		for range 2 {
			time.Sleep(5 * time.Second)
			a.ch.Heartbeat()
			synctest.Wait()
			mbWantEvents(t, a, fmt.Sprintf("+%d", b.port()))
		}
		time.Sleep(time.Second)
		a.ch.Heartbeat()
		synctest.Wait()
		mbWantEvents(t, a, fmt.Sprintf("+%d", b.port()), fmt.Sprintf("-%d", b.port()))
		mbStop(t, a)
		mbStop(t, b)
	})
}

// TestFailureDetectorTCPCheck runs the real check against plain TCP servers: the probe's
// exact bytes, a refused connection, and the read test.
func TestFailureDetectorTCPCheck(t *testing.T) {
	frames := make(chan []byte, 4)
	ack := func(c net.Conn, hdr []byte) {
		_, _ = c.Write(wire.AppendFrame(nil, []byte{6, 2, 3}))
	}
	srv := func(answer func(net.Conn, []byte)) channel.Member {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				go func() {
					defer c.Close()
					var dec wire.FrameDecoder
					buf := make([]byte, 4096)
					for {
						n, err := c.Read(buf)
						if err != nil {
							return
						}
						dec.Write(buf[:n])
						if body, ok, _ := dec.Next(); ok {
							frames <- bytes.Clone(body)
							if answer != nil {
								answer(c, body)
							}
							_, _ = io.Copy(io.Discard, c)
							return
						}
					}
				}()
			}
		}()
		m := testMemberAt(int32(ln.Addr().(*net.TCPAddr).Port))
		return m
	}
	d := must(NewTCPFailureDetector(TCPFailureDetectorConfig{}))
	local := testMemberAt(4444)
	nw := channeltest.NewNetwork()
	n := mbNew(t, nw, mbOpt{id: 9}, d)
	mbStart(t, n)
	local = n.ch.LocalMember()
	ctx := context.Background()

	silent := srv(nil)
	if ok, _ := d.check(ctx, silent); !ok {
		t.Fatal("send test against a listening server failed")
	}
	var body []byte
	select {
	case body = <-frames:
	case <-time.After(5 * time.Second):
		t.Fatal("no probe arrived")
	}
	cd, err := wire.ParseChannelData(body, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cd.Options != uint32(channel.OptByteMessage) || !bytes.Equal(cd.Message, tcpFailDetect) ||
		!cd.Address.Equal(local) || len(cd.UniqueID) != 16 {
		t.Fatalf("probe: options %#x, %d bytes, from %v", cd.Options, len(cd.Message), cd.Address)
	}

	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	closed := testMemberAt(int32(ln.Addr().(*net.TCPAddr).Port))
	ln.Close()
	if ok, _ := d.check(ctx, closed); ok {
		t.Fatal("refused connection taken as alive")
	}

	d.cfg.PerformReadTest = true
	d.cfg.ReadTestTimeout = 300 * time.Millisecond
	start := time.Now()
	if ok, _ := d.check(ctx, silent); ok {
		t.Fatal("read test passed without an answer")
	}
	if el := time.Since(start); el < 250*time.Millisecond {
		t.Fatalf("read test gave up after %v", el)
	}
	if cd, _ := wire.ParseChannelData(<-frames, nil); cd.Options != uint32(channel.OptByteMessage|channel.OptUseAck) {
		t.Fatalf("read-test probe options %#x", cd.Options)
	}
	// The answer comes at once; the timeout is only a bound for a loaded machine.
	d.cfg.ReadTestTimeout = 10 * time.Second
	answering := srv(ack)
	if ok, _ := d.check(ctx, answering); !ok {
		t.Fatal("read test failed although the server answered")
	}
	select {
	case <-frames:
	case <-time.After(5 * time.Second):
		t.Fatal("no probe at the answering server")
	}
}

func TestFailureDetectorStoppedPassesEventsThrough(t *testing.T) {
	d := must(NewTCPFailureDetector(TCPFailureDetectorConfig{
		Probe: func(context.Context, channel.Member) error { return errors.New("never called") },
	}))
	nw := channeltest.NewNetwork()
	a := mbNew(t, nw, mbOpt{id: 1}, d)
	b := mbNew(t, nw, mbOpt{id: 2})
	mbStart(t, b)
	// Not started: nothing to verify with, events pass.
	d.MemberAdded(b.expected(2))
	mbWantEvents(t, a, fmt.Sprintf("+%d", b.port()))
}

// A static member the detector found dead and that comes back is listed again by its
// first message, before that message is delivered: the sender check does not drop it as
// a non-member, and no heartbeat (re-check) is needed.
func TestFailureDetectorRelistsMemberHeardFrom(t *testing.T) {
	nw := channeltest.NewNetwork()
	alive := newAliveSet()
	d := newTestDetector(alive)
	bNet := nw.NewNode()
	bm := channel.Member{Host: []byte{127, 0, 0, 1}, Port: bNet.Port(), SecurePort: -1, UDPPort: -1}
	bm.UniqueID[0], bm.UniqueID[15] = 0xee, 2
	a := mbNew(t, nw, mbOpt{id: 1, senderCheck: true,
		membership: func(*channeltest.Node) channel.MembershipService { return static.New(bm) }},
		must(NewTCPPing(TCPPingConfig{})), d)
	alive.set(bm.Port, true)
	mbStart(t, a)
	testutil.EventuallyTrue(t, testutil.WaitLimit, "B verified", func() bool { return len(a.evs()) == 1 && d.Settled() })

	// B dies: the next heartbeat's forced check removes it; the static list keeps it.
	alive.set(bm.Port, false)
	a.ch.Heartbeat()
	testutil.EventuallyTrue(t, testutil.WaitLimit, "B removed", func() bool { return len(a.evs()) == 2 && d.Settled() })

	// B comes back at the same address with the same id and sends before any heartbeat.
	alive.set(bm.Port, true)
	b, err := channel.New(channel.Config{Transport: bNet.Transport(), Membership: static.New(a.ch.LocalMember()),
		HeartbeatInterval: -1, UniqueID: bm.UniqueID})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(context.Background(), channel.SvcAll); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Stop(context.Background(), channel.SvcAll) })
	if err := b.Send(context.Background(), []channel.Member{a.ch.LocalMember()}, []byte("hello"), channel.OptUseAck); err != nil {
		t.Fatalf("B's first message: %v", err)
	}
	p := fmt.Sprint(bm.Port)
	if got, want := a.orderLog(), []string{"+" + p, "-" + p, "+" + p, "msg:" + p}; !slices.Equal(got, want) {
		t.Fatalf("A saw %v, want %v", got, want)
	}
	if n := a.ch.Stats().NonMemberDropped; n != 0 {
		t.Fatalf("%d messages dropped as a non-member's", n)
	}
}

// A check that fails while a message of the member arrives does not remove the member:
// the message is the fresher news.
func TestFailureDetectorMessageOutranksFailedCheck(t *testing.T) {
	nw := channeltest.NewNetwork()
	var blocking atomic.Bool
	started, release := make(chan struct{}), make(chan struct{})
	d := must(NewTCPFailureDetector(TCPFailureDetectorConfig{Probe: func(ctx context.Context, m channel.Member) error {
		if !blocking.Load() {
			return nil
		}
		started <- struct{}{}
		<-release
		return fmt.Errorf("%w: timed out", channel.ErrConnect)
	}}))
	a := mbNew(t, nw, mbOpt{id: 1, senderCheck: true}, must(NewTCPPing(TCPPingConfig{})), d)
	b := mbNew(t, nw, mbOpt{id: 2})
	mbStart(t, a, b)
	testutil.EventuallyTrue(t, testutil.WaitLimit, "B verified", func() bool { return len(a.evs()) == 1 && d.Settled() })
	blocking.Store(true)
	a.ch.Heartbeat() // a forced check of B, which will fail
	<-started
	if err := b.ch.Send(context.Background(), []channel.Member{a.ch.LocalMember()}, []byte("alive"), channel.OptUseAck); err != nil {
		t.Fatal(err)
	}
	close(release)
	testutil.EventuallyTrue(t, testutil.WaitLimit, "check done", d.Settled)
	p := fmt.Sprint(b.port())
	if got, want := a.orderLog(), []string{"+" + p, "msg:" + p}; !slices.Equal(got, want) {
		t.Fatalf("A saw %v, want %v", got, want)
	}
}
