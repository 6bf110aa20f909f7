package interceptors

import (
	"bytes"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
)

func TestPingPayloadBytes(t *testing.T) {
	want := "4fa7734879df43c99f6f8980a15b07147dd9525bebdf439ab77ebe8f81671eb63715be8745214ca8bf0a4d135338153255f694b73adf217891047dd77284c0d5"
	if got := fmt.Sprintf("%x", PingPayload()); got != want {
		t.Fatalf("TCP_PING_DATA %s", got)
	}
}

func TestPingSendsOnHeartbeatAndIsSwallowed(t *testing.T) {
	nw := channeltest.NewNetwork()
	p := must(NewTCPPing(TCPPingConfig{}))
	a := mbNew(t, nw, mbOpt{id: 1}, p)
	bp := must(NewTCPPing(TCPPingConfig{}))
	b := mbNew(t, nw, mbOpt{id: 2}, bp) // swallows
	c := mbNew(t, nw, mbOpt{id: 3})     // has no ping interceptor: sees the bytes
	mbStart(t, a, b, c)
	a.ch.Heartbeat()
	testutil.EventuallyTrue(t, testutil.WaitLimit, "ping at C", func() bool { return len(c.received()) == 1 })
	got := c.received()[0]
	if !bytes.Equal(got.Data, tcpPingData) || got.Options != 0 || !got.Source.Equal(a.ch.LocalMember()) {
		t.Fatalf("ping: options %v, %x", got.Options, got.Data)
	}
	testutil.EventuallyTrue(t, testutil.WaitLimit, "ping at B", func() bool { return bp.Stats().Swallowed == 1 })
	if len(b.received()) != 0 {
		t.Fatal("B delivered the ping")
	}
	if st := p.Stats(); st.Pings != 1 || st.Failed != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestPingAsksTheFailureDetector(t *testing.T) {
	nw := channeltest.NewNetwork()
	alive := newAliveSet()
	d := newTestDetector(alive)
	p := must(NewTCPPing(TCPPingConfig{}))
	a := mbNew(t, nw, mbOpt{id: 1}, p, d)
	b := mbNew(t, nw, mbOpt{id: 2})
	alive.set(b.port(), true)
	mbStart(t, a, b)
	testutil.EventuallyTrue(t, testutil.WaitLimit, "B verified", func() bool { return len(a.evs()) == 1 && d.Settled() })
	// B dies without the membership noticing: the ping's forced check finds out.
	alive.set(b.port(), false)
	a.ch.Heartbeat()
	testutil.EventuallyTrue(t, testutil.WaitLimit, "B removed", func() bool { return len(a.evs()) == 2 })
	mbWantEvents(t, a, fmt.Sprintf("+%d", b.port()), fmt.Sprintf("-%d", b.port()))
	if len(b.received()) != 0 {
		t.Fatal("a ping message was sent although a failure detector is below")
	}
}

func TestPingStaticOnly(t *testing.T) {
	nw := channeltest.NewNetwork()
	b := mbNew(t, nw, mbOpt{id: 2})
	c := mbNew(t, nw, mbOpt{id: 3})
	p := must(NewTCPPing(TCPPingConfig{StaticOnly: true}))
	a := mbNew(t, nw, mbOpt{id: 1}, p, staticOf(b.expected(2)))
	mbStart(t, b, c, a)
	a.ch.Heartbeat()
	testutil.EventuallyTrue(t, testutil.WaitLimit, "ping at B", func() bool {
		for _, m := range b.received() {
			if bytes.Equal(m.Data, tcpPingData) {
				return true
			}
		}
		return false
	})
	for _, m := range c.received() {
		if bytes.Equal(m.Data, tcpPingData) {
			t.Fatal("C (not static) was pinged")
		}
	}
}

func TestPingOwnThread(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nw := channeltest.NewNetwork()
		p := must(NewTCPPing(TCPPingConfig{UseThread: true, Interval: 200 * time.Millisecond}))
		a := mbNew(t, nw, mbOpt{id: 1}, p)
		c := mbNew(t, nw, mbOpt{id: 3})
		mbStart(t, a, c)
		time.Sleep(time.Second + time.Millisecond)
		synctest.Wait()
		if n := len(c.received()); n != 5 {
			t.Fatalf("%d pings in 1 s at 200 ms", n)
		}
		a.ch.Heartbeat() // no extra ping from the heartbeat
		synctest.Wait()
		if n := len(c.received()); n != 5 {
			t.Fatalf("heartbeat pinged too: %d", n)
		}
		mbStop(t, a)
		mbStop(t, c)
	})
}

var _ channel.Interceptor = (*TCPPing)(nil)
