package interceptors

import (
	"context"
	"sync"
	"testing"
	"testing/synctest"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
)

// lateSight hides the member at one port from the layers above (events, Members,
// Member) until show: a membership that lists a node later than that node lists this one.
type lateSight struct {
	channel.InterceptorBase
	port int32

	mu    sync.Mutex
	shown bool
	held  []channel.Member
}

func (l *lateSight) hidden(m channel.Member) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return m.Port == l.port && !l.shown
}

func (l *lateSight) MemberAdded(m channel.Member) {
	l.mu.Lock()
	if m.Port == l.port && !l.shown {
		l.held = append(l.held, m)
		l.mu.Unlock()
		return
	}
	l.mu.Unlock()
	l.Prev().MemberAdded(m)
}

func (l *lateSight) Members() []channel.Member {
	var out []channel.Member
	for _, m := range l.Next().Members() {
		if !l.hidden(m) {
			out = append(out, m)
		}
	}
	return out
}

func (l *lateSight) Member(k channel.MemberKey) (channel.Member, bool) {
	m, ok := l.Next().Member(k)
	if !ok || l.hidden(m) {
		return channel.Member{}, false
	}
	return m, true
}

func (l *lateSight) show() {
	l.mu.Lock()
	l.shown = true
	held := l.held
	l.held = nil
	l.mu.Unlock()
	for _, m := range held {
		l.Prev().MemberAdded(m)
	}
}

// TestNonBlockingCoordinatorTokenBeforeMembership: the leader sees a node join and passes
// it the election token before that node's membership lists the leader. The token is held
// (not handled: its sender is no member yet) and handled as soon as the membership lists
// its sender, so the election completes then. Before, it was dropped: the node waited
// WaitTimeout (15 s) for a token that had come and gone, and only then started an
// election of its own.
func TestNonBlockingCoordinatorTokenBeforeMembership(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nw := channeltest.NewNetwork()
		mk := func(extra ...channel.Interceptor) *coordNode {
			cn := &coordNode{}
			c, err := NewNonBlockingCoordinator(NonBlockingCoordinatorConfig{
				AliveCheck: func(_ context.Context, m channel.Member) bool { return cn.net.Reaches(m) },
			})
			if err != nil {
				t.Fatal(err)
			}
			cn.c = c
			cn.tnode = newNode(t, nw, append([]channel.Interceptor{c}, extra...)...)
			return cn
		}
		leader := mk() // first port: the absolute-first member
		sight := &lateSight{port: leader.net.Port()}
		late := mk(sight)
		startNodes(t, leader.tnode, late.tnode)
		synctest.Wait()
		if s := late.c.Stats(); s.NotFromMember == 0 {
			t.Fatalf("the leader's token reached the late node as a member's: stats %+v", s)
		}
		if v, _, _ := late.c.View(); len(v) != 1 {
			t.Fatalf("late node's view %v before its membership lists the leader", v)
		}
		sight.show()
		synctest.Wait() // no time passes: nothing waits for WaitTimeout
		checkAgreement(t, []*coordNode{leader, late})
		if s := late.c.Stats(); s.ElectionsStarted != 0 || s.HeldHandled != 1 {
			t.Errorf("late node's stats %+v: want the leader's token handled, no election of its own", s)
		}
	})
}

// Messages from senders that are not members are held for at most InboxLimit senders,
// whatever number of strangers send them, and none is handled while its sender is no
// member.
func TestNonBlockingCoordinatorHeldBounded(t *testing.T) {
	nw := channeltest.NewNetwork()
	c, err := NewNonBlockingCoordinator(NonBlockingCoordinatorConfig{})
	if err != nil {
		t.Fatal(err)
	}
	n := newNode(t, nw, c)
	startNodes(t, n)
	const strangers = 5000
	for i := range strangers {
		s := channel.Member{Host: []byte{10, 9, byte(i >> 8), byte(i)}, Port: 4000, SecurePort: -1, UDPPort: -1,
			UniqueID: channel.UniqueID{0x5e, byte(i >> 8), byte(i)}}
		cm := CoordinationMessage{Leader: s, Source: s, View: []channel.Member{s}, ID: newViewID(), Type: CoordRequest}
		if err := n.tap.inject(coordMessage(t, s, cm)); err != nil {
			t.Fatal(err)
		}
	}
	c.mu.Lock()
	held := len(c.held)
	c.mu.Unlock()
	if held > DefaultCoordInboxLimit {
		t.Errorf("%d strangers' messages held, want at most %d", held, DefaultCoordInboxLimit)
	}
	if s := c.Stats(); s.NotFromMember != strangers || s.MessagesReceived != 0 || s.HeldHandled != 0 {
		t.Errorf("stats %+v: want every stranger's message refused, none handled", s)
	}
}
