package interceptors

import (
	"context"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

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
		leader := newCoordNode(t, nw) // first port: the absolute-first member
		sight := &lateSight{port: leader.net.Port()}
		late := newCoordNode(t, nw, sight)
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

// hider keeps memberAdded events of one port from the layers above (a membership that
// does not see a member that can still send to it).
type hider struct {
	channel.InterceptorBase
	port int32
}

func (h *hider) MemberAdded(m channel.Member) {
	if m.Port != h.port {
		h.Prev().MemberAdded(m)
	}
}

func (h *hider) Members() []channel.Member {
	return slices.DeleteFunc(h.Next().Members(), func(m channel.Member) bool { return m.Port == h.port })
}

// A member the leader does not see waits WaitTimeout for a token, then sends one itself;
// the leader learns the member from it and runs the election.
func TestNonBlockingCoordinatorForcedElection(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nw := channeltest.NewNetwork()
		// Ports are handed out in order, so the first node is the leader (same host).
		leader := newCoordNode(t, nw, &hider{port: 4001})
		late := newCoordNode(t, nw)
		startNodes(t, leader.tnode, late.tnode)
		synctest.Wait()
		if v, _, _ := leader.c.View(); len(v) != 1 {
			t.Fatalf("leader view %v before the forced election", v)
		}
		if _, _, ok := late.c.View(); ok {
			t.Fatal("the late node has a view before its wait timed out")
		}
		time.Sleep(DefaultCoordWaitTimeout + time.Second)
		synctest.Wait()
		checkAgreement(t, []*coordNode{leader, late})
		if late.c.Stats().ElectionsStarted != 1 {
			t.Fatalf("late stats %+v", late.c.Stats())
		}
	})
}

// settleOnStart sits below a coordinator: once the layers below it have started (the
// receiver runs and the peers see the member) it lets every other goroutine of the bubble
// run until idle, before the layers above finish starting.
type settleOnStart struct{ channel.InterceptorBase }

func (s *settleOnStart) Start(ctx context.Context, svc channel.Service) error {
	if err := s.Next().Start(ctx, svc); err != nil {
		return err
	}
	synctest.Wait()
	return nil
}

// A token that reaches a member while its channel is still starting (the leader saw it
// join and sent the token at once) is handled once the coordinator runs, not dropped.
func TestNonBlockingCoordinatorTokenDuringStart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nw := channeltest.NewNetwork()
		leader := newCoordNode(t, nw) // first port: the absolute-first member
		startNodes(t, leader.tnode)
		synctest.Wait()
		late := newCoordNode(t, nw, &settleOnStart{})
		startNodes(t, late.tnode)
		if s := late.c.Stats(); s.MessagesReceived == 0 {
			t.Fatalf("the leader sent no token while the late node started: stats %+v", s)
		}
		synctest.Wait()
		checkAgreement(t, []*coordNode{leader, late})
	})
}
