package mcast

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/wire"
)

// forger writes hand-made datagrams to the group; it reads none (what it would receive
// is dropped, so that its queue holds no memory).
func forger(t *testing.T, nw *fakeNet) packetConn {
	t.Helper()
	open, _ := nw.opener("forger", nil)
	c, err := open(nil)
	if err != nil {
		t.Fatal(err)
	}
	nw.mu.Lock()
	nw.block = func(_, dst *fakeConn) bool { return dst == c }
	nw.mu.Unlock()
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// invented returns a member that exists nowhere, number i, with payload bytes of payload.
func invented(i int, payload int) channel.Member {
	m := channel.Member{Host: []byte{127, 0, 0, 1}, Port: int32(10000 + i%50000), SecurePort: -1, UDPPort: -1,
		AliveTime: 1000, Payload: bytes.Repeat([]byte{'p'}, payload)}
	m.UniqueID[0], m.UniqueID[1], m.UniqueID[2], m.UniqueID[15] = 0xee, byte(i), byte(i>>8), 0xee
	return m
}

func heapInUse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// Forged heartbeats with 64 KB payloads, oversized fields and thousands of invented
// members are refused and counted; the table, the memory it holds and the log stay bounded.
func TestForgedHeartbeatsBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nw := &fakeNet{}
		var logs testutil.Buffer
		a := startFake(t, nw, 1, func(c *Config) {
			c.Logger = slog.New(slog.NewTextHandler(&logs, nil))
			c.DropTime = time.Hour // nobody expires during the test
		})
		evil := forger(t, nw)
		send := func(m channel.Member) {
			if err := evil.WritePacket(wire.AppendMember(nil, &m)); err != nil {
				t.Fatal(err)
			}
		}
		// Oversized fields: a 64 KB payload (as large as a datagram allows), a long domain,
		// command and host.
		big := invented(0, maxDatagram-200)
		for range 100 {
			send(big)
		}
		dom, cmd, host := invented(1, 0), invented(2, 0), invented(3, 0)
		dom.Domain = bytes.Repeat([]byte{'d'}, DefaultMaxDomainSize+1)
		cmd.Command = bytes.Repeat([]byte{'c'}, DefaultMaxCommandSize+1)
		host.Host = bytes.Repeat([]byte{1}, DefaultMaxHostSize+1)
		send(dom)
		send(cmd)
		send(host)
		synctest.Wait()
		if st := a.s.Stats(); st.OversizedHeartbeats != 103 || len(a.s.Members()) != 0 || len(a.r.snapshot()) != 0 {
			t.Fatalf("oversized: counted %d, members %d, events %v", st.OversizedHeartbeats, len(a.s.Members()), a.r.snapshot())
		}

		// Thousands of invented members, each at the largest payload allowed.
		const n = 5000
		before := heapInUse()
		for i := range n {
			send(invented(100+i, DefaultMaxPayloadSize))
			if i%1000 == 999 {
				synctest.Wait() // let the receiver drain the socket's queue
			}
		}
		synctest.Wait()
		st := a.s.Stats()
		if got := len(a.s.Members()); got != DefaultMaxMembers || st.MembersOverLimit != n-DefaultMaxMembers ||
			st.MembersAdded != DefaultMaxMembers {
			t.Fatalf("%d members kept, %d refused, %d added; want %d kept", got, st.MembersOverLimit, st.MembersAdded, DefaultMaxMembers)
		}
		held := 0
		for _, m := range a.s.Members() {
			held += len(m.Payload) + len(m.Domain) + len(m.Command) + len(m.Host)
		}
		if limit := DefaultMaxMembers * (DefaultMaxPayloadSize + 4); held > limit {
			t.Errorf("members hold %d bytes, at most %d expected", held, limit)
		}
		// What the table holds, plus slack for the events queued to the listener; 5000
		// members kept would be over 20 MB.
		grew := int64(heapInUse()) - int64(before)
		t.Logf("heap grew by %d KB", grew>>10)
		if grew > 12<<20 {
			t.Errorf("heap grew by %d MB for %d invented members", grew>>20, n)
		}
		// One line per kind at most First times, for this one forger.
		lines := strings.Count(logs.String(), "\n") - strings.Count(logs.String(), "membership started")
		if lines > 5*3 {
			t.Errorf("%d log lines for %d forged datagrams:\n%s", lines, n+103, logs.String())
		}
		for _, kind := range []string{"payload", "domain", "command", "host", "MaxMembers reached"} {
			if !strings.Contains(logs.String(), kind) {
				t.Errorf("no log line about %s", kind)
			}
		}
	})
}

func TestLocalMemberOverLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nw := &fakeNet{}
		n := newFakeNode(t, nw, 1, func(c *Config) { c.MaxPayloadSize = 10 }, nil)
		n.m.Payload = make([]byte, 11)
		err := n.s.Start(context.Background(), channel.SvcMembership, n.m, n.r)
		if !errors.Is(err, channel.ErrInvalidConfig) {
			t.Fatalf("Start with a payload over the limit: %v", err)
		}
	})
}

// A payload update over the limit is not announced: the others would refuse it.
func TestUpdateLocalMemberOverLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nw := &fakeNet{}
		a := startFake(t, nw, 1, func(c *Config) { c.MaxPayloadSize = 10 })
		b := startFake(t, nw, 2, func(c *Config) { c.MaxPayloadSize = 10 })
		synctest.Wait()
		ok, big := a.m, a.m
		ok.Payload, big.Payload = []byte("fits"), make([]byte, 11)
		a.s.UpdateLocalMember(ok)
		synctest.Wait()
		a.s.UpdateLocalMember(big)
		time.Sleep(2 * DefaultFrequency) // heartbeats go out meanwhile
		synctest.Wait()
		got, found := b.s.Member(a.m.Key())
		if !found || string(got.Payload) != "fits" || b.s.Stats().OversizedHeartbeats != 0 {
			t.Fatalf("B sees A with payload %q (found %v), oversized %d", got.Payload, found, b.s.Stats().OversizedHeartbeats)
		}
	})
}

func TestLimitsConfig(t *testing.T) {
	c := DefaultLocalConfig()
	s, err := c.normalize()
	if err != nil {
		t.Fatal(err)
	}
	if s.MaxMembers != DefaultMaxMembers || s.MaxPayloadSize != DefaultMaxPayloadSize || s.MaxDomainSize != DefaultMaxDomainSize ||
		s.MaxCommandSize != DefaultMaxCommandSize || s.MaxHostSize != DefaultMaxHostSize {
		t.Errorf("defaults not filled: %+v", s.Config)
	}
	for _, mod := range []func(*Config){
		func(c *Config) { c.MaxMembers = -1 },
		func(c *Config) { c.MaxPayloadSize = -1 },
		func(c *Config) { c.MaxCommandSize = 3 }, // BABY-ALEX does not fit
	} {
		c := DefaultLocalConfig()
		mod(&c)
		if _, err := c.normalize(); !errors.Is(err, channel.ErrInvalidConfig) {
			t.Errorf("accepted %+v", c)
		}
	}
}

// What a forged heartbeat costs the receive loop, counted: an oversized one and one of a
// new member over MaxMembers allocate (almost) nothing, and a burst of new members makes
// the node answer with a bounded number of fast heartbeats, not one each.
func TestForgedHeartbeatCosts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nw := &fakeNet{}
		a := startFake(t, nw, 1, func(c *Config) {
			c.Logger = slog.New(slog.DiscardHandler)
			c.DropTime = time.Hour // nobody expires during the test
		})
		evil := forger(t, nw)
		synctest.Wait()
		sent := a.s.Stats().HeartbeatsSent
		for i := range DefaultMaxMembers {
			m := invented(100+i, 16)
			if err := evil.WritePacket(wire.AppendMember(nil, &m)); err != nil {
				t.Fatal(err)
			}
			if i%256 == 255 {
				synctest.Wait()
			}
		}
		synctest.Wait()
		st := a.s.Stats()
		if st.MembersAdded != DefaultMaxMembers {
			t.Fatalf("%d members added, want %d", st.MembersAdded, DefaultMaxMembers)
		}
		if fast := st.HeartbeatsSent - sent; fast > 2 {
			t.Errorf("%d heartbeats sent in answer to %d new members at one instant", fast, DefaultMaxMembers)
		}

		over := invented(100+DefaultMaxMembers, DefaultMaxPayloadSize)
		big := invented(1, maxDatagram-200)
		var cache wire.MemberCache
		for _, c := range []struct {
			name string
			pkt  []byte
		}{{"over MaxMembers", wire.AppendMember(nil, &over)}, {"oversized", wire.AppendMember(nil, &big)}} {
			if allocs := testing.AllocsPerRun(100, func() { a.s.handle(time.Now(), "127.0.0.9:1", c.pkt, &cache) }); allocs > 0 {
				t.Errorf("a heartbeat %s: %v allocations", c.name, allocs)
			}
		}
	})
}

// TestDatagramCostDoesNotGrowWithMembers: for every datagram, the receive loop asks when
// the next member expires, applies the datagram and checks expiry. A stranger can fill
// the table (MaxMembers invented members, kept alive with a few hundred datagrams a
// second) and then flood the group: if that work looks at every member, each datagram
// costs a hundred times more, the loop falls behind, the socket's buffer overflows and
// real heartbeats are lost, so real members expire. With the table full, the datagrams
// must not make the table look at its members: the entries its expiry scans look at are
// counted (no timing), at most one scan of the table for 20 000 datagrams (none is due in
// their 20 ms), where a scan per datagram looks at MaxMembers entries for each.
func TestDatagramCostDoesNotGrowWithMembers(t *testing.T) {
	const iters = 20000
	scanned := func(members int) int {
		tb := newTable(DefaultDropTime, true, DefaultMaxMembers, DefaultFrequency)
		now := time.Now()
		for i := range members {
			tb.heartbeat(now, invented(100+i, 16))
		}
		m := invented(100, 16)
		pkt := wire.AppendMember(nil, &m)
		tb.scanned = 0
		for i := range iters {
			now = now.Add(time.Microsecond) // 20 ms of datagrams, nobody expires
			_ = tb.nextExpiry()
			v, _, err := wire.ParseMemberView(pkt)
			if err != nil {
				t.Fatal(err)
			}
			v.AliveTime = int64(i) // a new heartbeat: the member is refreshed
			tb.heartbeat(now, v)
			tb.expire(now)
		}
		if tb.len() != members {
			t.Fatalf("%d members left of %d", tb.len(), members)
		}
		return tb.scanned
	}
	one, full := scanned(1), scanned(DefaultMaxMembers)
	t.Logf("entries scanned for %d datagrams: %d with 1 member, %d with %d", iters, one, full, DefaultMaxMembers)
	if one > 1 || full > DefaultMaxMembers {
		t.Errorf("%d datagrams made the table look at %d entries with %d members, %d with one; want at most one scan",
			iters, full, DefaultMaxMembers, one)
	}
}

// TestBroadcastQueueBounded: a stranger sends the group broadcast frames of 60 KB (as a
// member would, OptMulticast) while the channel's receive path is slow. The messages
// waiting for it are bounded in bytes, not only in number: 1024 of them would hold
// 60 MiB. The ones beyond are dropped and counted, as a full socket buffer drops
// datagrams.
func TestBroadcastQueueBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nw := &fakeNet{}
		gate := make(chan struct{})
		a := newFakeNode(t, nw, 1, nil, nil)
		var got atomic.Int64
		a.s.SetReceiveFunc(func(*channel.Message) error { <-gate; got.Add(1); return nil })
		a.run(t)
		defer a.stop(t)
		defer close(gate) // before the stop: the receive path returns
		evil := forger(t, nw)
		src := invented(7, 0)
		srcBytes := wire.AppendMember(nil, &src)
		data := bytes.Repeat([]byte{'b'}, 60<<10)
		before := heapInUse()
		const n = 1024
		for i := range n {
			pkt := wire.AppendChannelDataFrame(nil, uint32(channel.OptMulticast), 1, channel.NewMessageID(), srcBytes, data)
			if err := evil.WritePacket(pkt); err != nil {
				t.Fatal(err)
			}
			if i%64 == 63 {
				synctest.Wait() // let the receiver drain the socket's queue
			}
		}
		synctest.Wait()
		grew := int64(heapInUse()) - int64(before)
		t.Logf("heap grew by %d KB for %d broadcast frames waiting", grew>>10, n)
		if grew > 16<<20 {
			t.Errorf("heap grew by %d MB for broadcast messages waiting for the channel", grew>>20)
		}
		if st := a.s.Stats(); st.MessagesDropped == 0 {
			t.Errorf("nothing dropped: %+v", st)
		}
	})
}
