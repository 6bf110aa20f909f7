package mcast

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gotribes/tribes/channel"
)

// fnode is a Service on a fakeNet.
type fnode struct {
	s     *Service
	r     *recorder
	m     channel.Member
	conns *[]*fakeConn
	start time.Time
}

func (n *fnode) conn() *fakeConn { return (*n.conns)[len(*n.conns)-1] }

func newFakeNode(t *testing.T, nw *fakeNet, port int32, mod func(*Config), failOpen *atomic.Int32) *fnode {
	t.Helper()
	cfg := DefaultLocalConfig()
	cfg.JoinWait = -1
	if mod != nil {
		mod(&cfg)
	}
	st, err := cfg.normalize()
	if err != nil {
		t.Fatal(err)
	}
	open, conns := nw.opener(itoa(port), failOpen)
	n := &fnode{s: newService(st, open), r: &recorder{t: t}, m: testMember(port, 0), conns: conns}
	n.s.SetReceiveFunc(n.r.MessageReceived)
	return n
}

func (n *fnode) run(t *testing.T) *fnode {
	t.Helper()
	n.start = time.Now()
	if err := n.s.Start(context.Background(), channel.SvcMembership, n.m, n.r); err != nil {
		t.Fatal(err)
	}
	return n
}

func (n *fnode) stop(t *testing.T) {
	t.Helper()
	if err := n.s.Stop(context.Background(), channel.SvcMembership); err != nil {
		t.Fatal(err)
	}
}

func startFake(t *testing.T, nw *fakeNet, port int32, mod func(*Config)) *fnode {
	t.Helper()
	n := newFakeNode(t, nw, port, mod, nil).run(t)
	t.Cleanup(func() { n.stop(t) })
	return n
}

func wantEvents(t *testing.T, n *fnode, want ...string) {
	t.Helper()
	if got := n.r.snapshot(); !slices.Equal(got, want) {
		t.Fatalf("node %d events %v, want %v", n.m.Port, got, want)
	}
}

func TestJoinIsImmediate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nw := &fakeNet{}
		a := startFake(t, nw, 1, nil)
		time.Sleep(2200 * time.Millisecond)
		b := startFake(t, nw, 2, nil)
		synctest.Wait()
		// A heard B's first heartbeat, sent by Start, and answered at once.
		wantEvents(t, a, "+2")
		wantEvents(t, b, "+1")
		if d := b.r.lastAt().Sub(b.start); d != 0 {
			t.Fatalf("B saw A after %v", d)
		}
		if ms := b.s.Members(); len(ms) != 1 || ms[0].Port != 1 || ms[0].AliveTime != 2200 {
			t.Fatalf("B's members %+v", ms)
		}
	})
}

func TestJoinWithoutFastJoinWaitsForThePeriod(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nw := &fakeNet{}
		noFast := func(c *Config) { c.NoFastJoin = true }
		startFake(t, nw, 1, noFast)
		time.Sleep(2200 * time.Millisecond)
		b := startFake(t, nw, 2, noFast)
		synctest.Wait()
		wantEvents(t, b)
		time.Sleep(time.Second)
		wantEvents(t, b, "+1")
		if d := b.r.lastAt().Sub(b.start); d != 300*time.Millisecond {
			t.Fatalf("B saw A after %v, want A's next period (300ms)", d)
		}
	})
}

func TestCrashExpiresExactlyAfterDropTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nw := &fakeNet{}
		a := newFakeNode(t, nw, 1, nil, nil).run(t)
		b := startFake(t, nw, 2, nil)
		time.Sleep(1200 * time.Millisecond)
		// A "crashes": nothing it sends arrives any more, no shutdown packet.
		ac := a.conn()
		nw.mu.Lock()
		nw.block = func(src, _ *fakeConn) bool { return src == ac }
		nw.mu.Unlock()
		time.Sleep(5 * time.Second)
		wantEvents(t, b, "+1", "-1")
		// A's last heartbeat was sent 1000 ms after it started.
		if d := b.r.lastAt().Sub(a.start); d != 4001*time.Millisecond {
			t.Fatalf("expired %v after A's start, want 1000ms + DropTime + 1ms", d)
		}
		if b.r.gone[0].IsShutdown() {
			t.Fatal("a crash reported as a shutdown")
		}
		if st := b.s.Stats(); st.MembersExpired != 1 {
			t.Fatalf("stats %+v", st)
		}
		a.stop(t)
	})
}

func TestShutdownPacketRemovesAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nw := &fakeNet{}
		a := newFakeNode(t, nw, 1, nil, nil).run(t)
		b := startFake(t, nw, 2, nil)
		time.Sleep(time.Second)
		stopped := time.Now()
		a.stop(t)
		synctest.Wait()
		wantEvents(t, b, "+1", "-1")
		if b.r.lastAt() != stopped || !b.r.gone[0].IsShutdown() {
			t.Fatalf("gone at %v (stop at %v), command %q", b.r.lastAt(), stopped, b.r.gone[0].Command)
		}
		wantEvents(t, a, "+2", "-2") // stopping Rx reports every member gone
		if st := b.s.Stats(); st.MembersShutdown != 1 || st.MembersExpired != 0 {
			t.Fatalf("stats %+v", st)
		}
	})
}

func TestOwnPacketsIgnoredAndRestart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nw := &fakeNet{}
		a := startFake(t, nw, 1, nil)
		b := newFakeNode(t, nw, 2, nil, nil).run(t)
		time.Sleep(2 * time.Second)
		if ms := a.s.Members(); len(ms) != 1 || ms[0].Port != 2 {
			t.Fatalf("members %v", ports(ms))
		}
		if st := a.s.Stats(); st.HeartbeatsReceived == 0 || st.HeartbeatsSent < 4 {
			t.Fatalf("stats %+v", st)
		}
		b.stop(t)
		time.Sleep(time.Second)
		b.run(t) // the same member again after a stop: announced again
		synctest.Wait()
		wantEvents(t, a, "+2", "-2", "+2")
		wantEvents(t, b, "+1", "-1", "+1")
		b.stop(t)
	})
}

func TestOrderOldestFirst(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nw := &fakeNet{}
		a := startFake(t, nw, 5, nil)
		time.Sleep(2 * time.Second)
		startFake(t, nw, 3, nil)
		time.Sleep(time.Second)
		c := startFake(t, nw, 4, nil)
		time.Sleep(time.Second)
		if got := ports(c.s.Members()); !equal(got, []int32{5, 3}) {
			t.Fatalf("C's members %v, want [5 3]", got)
		}
		if got := ports(a.s.Members()); !equal(got, []int32{3, 4}) {
			t.Fatalf("A's members %v, want [3 4]", got)
		}
		// (Answers to newcomers may push an alive time a millisecond ahead: heartbeats
		// carry strictly increasing alive times.)
		if ms := c.s.Members(); ms[0].AliveTime/10 != 400 || ms[1].AliveTime/10 != 200 {
			t.Fatalf("alive times %d %d", ms[0].AliveTime, ms[1].AliveTime)
		}
	})
}

// TestCrashRestartSameIDTakesNewAliveTime: a node with a fixed unique id (tribesdemo --id,
// the ids static configurations list) crashes and is restarted at the same address
// within DropTime. Its heartbeats now carry a small alive time. The package doc says a
// known member's alive time is refreshed by each heartbeat, and Tomcat's
// Membership.memberAlive takes the new alive time and re-sorts. The restarted node must
// not keep the alive time of its previous run and stay "oldest" in Members(), ahead of a
// node that really is older (what a starting session manager asks for its state). As in
// Tomcat, it stays the same member: listeners are not told of the restart.
func TestCrashRestartSameIDTakesNewAliveTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nw := &fakeNet{}
		a := startFake(t, nw, 1, nil)
		b := newFakeNode(t, nw, 2, nil, nil).run(t)
		time.Sleep(10 * time.Second)
		c := startFake(t, nw, 3, nil) // C started 10 s after B's first run
		time.Sleep(5 * time.Second)

		// B crashes: nothing it sends arrives any more, no shutdown packet.
		bc := b.conn()
		nw.mu.Lock()
		nw.block = func(src, _ *fakeConn) bool { return src == bc }
		nw.mu.Unlock()
		b.stop(t)
		nw.mu.Lock()
		nw.block = nil
		nw.mu.Unlock()

		// ... and is restarted at once, same address and id.
		time.Sleep(time.Second)
		b2 := newFakeNode(t, nw, 2, nil, nil).run(t)
		defer b2.stop(t)
		time.Sleep(time.Second)
		synctest.Wait()

		got, ok := a.s.Member(b2.m.Key())
		if !ok {
			t.Fatalf("A does not list the restarted B")
		}
		// B's new run is 1 s old; its previous run began 17 s ago.
		if got.AliveTime > 2000 {
			t.Errorf("A reports the restarted B alive for %d ms; its heartbeats say about 1000 ms", got.AliveTime)
		}
		if ps := ports(a.s.Members()); len(ps) != 2 || ps[0] != c.m.Port {
			t.Errorf("A's members oldest first: %v; C (up 7 s) is older than the restarted B (up 1 s)", ps)
		}
		wantEvents(t, a, "+2", "+3")
	})
}

func TestUpdateLocalMember(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nw := &fakeNet{}
		a := startFake(t, nw, 1, nil)
		a.m.Domain = []byte("d1")
		b := startFake(t, nw, 2, nil)
		time.Sleep(time.Second)
		m := a.m.Clone()
		m.Domain, m.Payload = []byte("d2"), []byte{0xca, 0xfe}
		a.s.UpdateLocalMember(m)
		synctest.Wait() // sent at once, not at the next period
		got, ok := b.s.Member(a.m.Key())
		if !ok || !bytes.Equal(got.Payload, []byte{0xca, 0xfe}) {
			t.Fatalf("payload %x", got.Payload)
		}
		if len(got.Domain) != 0 {
			t.Fatalf("domain updated to %q; Tribes keeps the first one", got.Domain)
		}
	})
}

func TestBroadcast(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nw := &fakeNet{}
		a := startFake(t, nw, 1, nil)
		b := startFake(t, nw, 2, nil)
		c := newFakeNode(t, nw, 3, nil, nil)
		var viaSetter atomic.Int32
		c.s.SetReceiveFunc(func(*channel.Message) error { viaSetter.Add(1); return nil })
		c.run(t)
		defer c.stop(t)
		synctest.Wait()
		msg := &channel.Message{Options: channel.OptMulticast | channel.OptByteMessage, Timestamp: 42,
			ID: channel.NewMessageID(), Source: a.m, Data: []byte("hello group")}
		if err := a.s.Broadcast(context.Background(), msg); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if len(a.r.msgs) != 0 {
			t.Fatal("A received its own broadcast")
		}
		if len(b.r.msgs) != 1 {
			t.Fatalf("B got %d messages", len(b.r.msgs))
		}
		got := b.r.msgs[0]
		if string(got.Data) != "hello group" || got.Options != msg.Options || got.Timestamp != 42 ||
			!bytes.Equal(got.ID, msg.ID) || !got.Source.Equal(a.m) {
			t.Fatalf("received %+v", got)
		}
		if viaSetter.Load() != 1 || len(c.r.msgs) != 0 {
			t.Fatal("broadcast not delivered to the receive func set last")
		}
		big := &channel.Message{Source: a.m, ID: make([]byte, 16), Data: make([]byte, 65507)}
		if err := a.s.Broadcast(context.Background(), big); !errors.Is(err, channel.ErrMessageTooLarge) {
			t.Fatalf("oversized: %v", err)
		}
		srcLen := len(a.m.Host) + 73
		big.Data = big.Data[:maxDatagram-18-24-16-srcLen]
		if err := a.s.Broadcast(context.Background(), big); err != nil {
			t.Fatalf("largest datagram: %v", err)
		}
		if err := b.s.Stop(context.Background(), channel.SvcMembershipTx); err != nil {
			t.Fatal(err)
		}
		if err := b.s.Broadcast(context.Background(), msg); !errors.Is(err, channel.ErrNotStarted) {
			t.Fatalf("broadcast with Tx stopped: %v", err)
		}
	})
}

func TestRecoveryRecreatesTheSocket(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nw := &fakeNet{}
		a := startFake(t, nw, 1, nil)
		var failOpen atomic.Int32
		b := newFakeNode(t, nw, 2, nil, &failOpen).run(t)
		defer b.stop(t)
		time.Sleep(time.Second)
		failOpen.Store(1) // the first attempt to re-create fails
		b.conn().failReads.Store(1 << 20)
		time.Sleep(7 * time.Second) // 10 errors × 500 ms, one failed attempt, 5 s pause
		synctest.Wait()
		st := b.s.Stats()
		if st.Recoveries != 0 || st.SocketErrors < 10 {
			t.Fatalf("before the retry: %+v", st)
		}
		time.Sleep(5 * time.Second)
		st = b.s.Stats()
		if st.Recoveries != 1 || len(*b.conns) != 2 {
			t.Fatalf("after the retry: %+v, %d sockets", st, len(*b.conns))
		}
		// A expired B meanwhile? No: B kept sending on the failing socket (only reads fail).
		wantEvents(t, a, "+2")
		if _, ok := b.s.Member(a.m.Key()); !ok {
			t.Fatal("B lost A after recovery")
		}
	})
}

func TestRecoveryDisabled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nw := &fakeNet{}
		b := startFake(t, nw, 2, func(c *Config) { c.RecoveryDisabled = true })
		b.conn().failReads.Store(40)
		time.Sleep(30 * time.Second)
		if st := b.s.Stats(); st.Recoveries != 0 || st.SocketErrors != 40 || len(*b.conns) != 1 {
			t.Fatalf("%+v, %d sockets", st, len(*b.conns))
		}
	})
}

func TestStallGuardAfterLocalPause(t *testing.T) {
	for _, guard := range []bool{true, false} {
		t.Run(map[bool]string{true: "guard", false: "tomcat"}[guard], func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				nw := &fakeNet{}
				startFake(t, nw, 1, nil)
				startFake(t, nw, 3, nil)
				b := startFake(t, nw, 2, func(c *Config) { c.NoStallGuard = !guard })
				time.Sleep(time.Second)
				bc := b.conn()
				bc.freeze() // B's receive loop stops (B's sender goes on)
				time.Sleep(10 * time.Second)
				bc.thaw()
				time.Sleep(2 * time.Second)
				got := b.r.snapshot()
				if guard {
					if len(got) != 2 || b.s.Stats().Stalls != 1 {
						t.Fatalf("events %v, stats %+v", got, b.s.Stats())
					}
				} else if len(got) <= 2 {
					t.Fatalf("without the guard B should have flapped: %v", got)
				}
			})
		})
	}
}

func TestJoinWait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nw := &fakeNet{}
		lone := newFakeNode(t, nw, 1, func(c *Config) { c.JoinWait = 0 }, nil)
		t0 := time.Now()
		lone.run(t)
		if d := time.Since(t0); d != 2*DefaultFrequency {
			t.Fatalf("a lone node waited %v, want JoinWait", d)
		}
		defer lone.stop(t)
		b := newFakeNode(t, nw, 2, func(c *Config) { c.JoinWait = 0 }, nil)
		t0 = time.Now()
		b.run(t)
		defer b.stop(t)
		if d := time.Since(t0); d != DefaultFrequency/5 {
			t.Fatalf("joining waited %v, want the quiet time after the answer", d)
		}
		if len(b.s.Members()) != 1 {
			t.Fatal("no member after Start")
		}
	})
}

func TestConfigNeedsAnInterface(t *testing.T) {
	_, err := New(DefaultConfig())
	if !errors.Is(err, channel.ErrInvalidConfig) || !bytes.Contains([]byte(err.Error()), []byte("Config.Bind")) {
		t.Fatalf("New without an interface: %v", err)
	}
	for _, c := range []Config{
		{Bind: "127.0.0.1", Address: "10.0.0.1"},
		{Bind: "127.0.0.1", Address: "ff02::1"},
		{Bind: "0.0.0.0"},
		{Bind: "192.0.2.254"}, // not local
		{Interface: "no-such-if0"},
		{Bind: "127.0.0.1", Frequency: time.Second, DropTime: time.Second},
		{Bind: "127.0.0.1", TTL: 300},
		{Bind: "127.0.0.1", Port: 70000},
	} {
		if _, err := New(c); !errors.Is(err, channel.ErrInvalidConfig) {
			t.Errorf("New(%+v) = %v, want ErrInvalidConfig", c, err)
		}
	}
	s, err := New(Config{Interface: "lo"})
	if err != nil {
		t.Fatal(err)
	}
	c := s.Config()
	if c.Address != DefaultAddress || c.Port != DefaultPort || c.Frequency != DefaultFrequency ||
		c.DropTime != DefaultDropTime || c.SoTimeout != DefaultFrequency || c.RecoveryCounter != 10 ||
		c.RecoverySleepTime != 5*time.Second || s.cfg.source.String() != "127.0.0.1" {
		t.Fatalf("defaults %+v source %v", c, s.cfg.source)
	}
}
