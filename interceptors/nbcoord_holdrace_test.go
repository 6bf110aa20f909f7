package interceptors

import (
	"context"
	"sync"
	"testing"
	"testing/synctest"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
)

// listedDuringCheck is a membership below the coordinator that lists x while the
// coordinator checks x's message: its first lookup of x (the check) adds x, passes
// MemberAdded up, waits for proceed and still answers that x is no member, as the
// membership did when the check read it; later lookups find x.
type listedDuringCheck struct {
	channel.InterceptorBase
	x       channel.Member
	proceed chan struct{}

	checked chan struct{} // closed when the check has listed x

	mu     sync.Mutex
	fired  bool
	checks int // lookups of the check still to answer "no member"
}

func (l *listedDuringCheck) Member(k channel.MemberKey) (channel.Member, bool) {
	if k != l.x.Key() && k != (channel.Member{Host: l.x.Host, Port: l.x.Port}).Key() {
		return l.Next().Member(k)
	}
	l.mu.Lock()
	fire := !l.fired
	if fire {
		l.fired, l.checks = true, 2 // fromMember looks x up by both keys
	}
	no := l.checks > 0
	if no {
		l.checks--
	}
	l.mu.Unlock()
	if fire {
		l.Prev().MemberAdded(l.x)
		close(l.checked)
		<-l.proceed
	}
	if no {
		return channel.Member{}, false
	}
	return l.x, true
}

// TestNonBlockingCoordinatorHeldWhileListed: a coordination message whose sender the
// membership lists between the coordinator's check (not a member) and its hold is handled.
// The hold used to come after the release that the member's addition ran, which found
// nothing held, so the message stayed held, unhandled, until another member was added or
// WaitTimeout passed: the election waited for a token that had come.
func TestNonBlockingCoordinatorHeldWhileListed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nw := channeltest.NewNetwork()
		// x is no node of the network (port 1): unreachable.
		x := channel.Member{Host: []byte{10, 9, 0, 1}, Port: 1, SecurePort: -1, UDPPort: -1,
			UniqueID: channel.UniqueID{0x5e, 1}}
		below := &listedDuringCheck{x: x, proceed: make(chan struct{}), checked: make(chan struct{})}
		var n *tnode
		c, err := NewNonBlockingCoordinator(NonBlockingCoordinatorConfig{
			AliveCheck: func(_ context.Context, m channel.Member) bool { return n.net.Reaches(m) },
		})
		if err != nil {
			t.Fatal(err)
		}
		n = newNode(t, nw, c, below)
		startNodes(t, n)
		synctest.Wait()
		local := n.ch.LocalMember()
		cm := CoordinationMessage{Leader: x, Source: x, View: []channel.Member{x, local}, ID: newViewID(), Type: CoordRequest}
		msg := coordMessage(t, x, cm)
		injected := make(chan error, 1)
		go func() { injected <- n.tap.inject(msg) }()
		<-below.checked
		synctest.Wait() // the addition's release ran: the check has not held the message yet
		if s := c.Stats(); s.HeldHandled != 0 {
			t.Fatalf("stats %+v before the check ended: the test shows nothing", s)
		}
		close(below.proceed)
		if err := <-injected; err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if s := c.Stats(); s.NotFromMember != 1 || s.HeldHandled != 1 {
			t.Errorf("stats %+v: want the message held at its check and handled, its sender being a member", s)
		}
		c.mu.Lock()
		held := len(c.held)
		c.mu.Unlock()
		if held != 0 {
			t.Errorf("%d messages still held from a member", held)
		}
	})
}
