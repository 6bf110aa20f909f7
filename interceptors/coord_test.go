package interceptors

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/wire"
)

func TestCompareAbsolute(t *testing.T) {
	m := func(host []byte, port int32, id byte) channel.Member {
		return channel.Member{Host: host, Port: port, UniqueID: channel.UniqueID{id}}
	}
	ordered := []channel.Member{
		m([]byte{10, 0, 0, 1}, 4000, 1),
		m([]byte{10, 0, 0, 1}, 4000, 2),
		m([]byte{10, 0, 0, 1}, 4001, 0),
		m([]byte{10, 0, 0, 2}, 1, 0),
		m([]byte{192, 168, 0, 1}, 1, 0), // unsigned: 192 after 10 (Tomcat 10.1.60)
		m([]byte{255, 0, 0, 0}, 1, 0x80),
		m(make([]byte, 16), 1, 0), // IPv6 after every IPv4 address
	}
	shuffled := slices.Clone(ordered)
	slices.Reverse(shuffled)
	SortAbsolute(shuffled)
	for i := range ordered {
		if !shuffled[i].Equal(ordered[i]) {
			t.Fatalf("position %d: %v, want %v", i, shuffled[i], ordered[i])
		}
	}
	if CompareAbsolute(ordered[0], ordered[0]) != 0 {
		t.Fatal("not reflexive")
	}
}

// absoluteFirst returns the node whose member sorts first.
func absoluteFirst(nodes ...*tnode) *tnode {
	first := nodes[0]
	for _, n := range nodes[1:] {
		if CompareAbsolute(n.member(), first.member()) < 0 {
			first = n
		}
	}
	return first
}

// SimpleCoordinator installs the sorted view once the membership has been quiet for the
// quiet period; every node agrees; a member leaving gives a new view.
func TestSimpleCoordinator(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nw := channeltest.NewNetwork()
		var coords []*SimpleCoordinator
		var nodes []*tnode
		views := make(chan []channel.Member, 16)
		for i := range 3 {
			cfg := SimpleCoordinatorConfig{}
			if i == 0 {
				cfg.OnViewChange = func(v []channel.Member) { views <- v }
			}
			c, err := NewSimpleCoordinator(cfg)
			if err != nil {
				t.Fatal(err)
			}
			coords = append(coords, c)
			nodes = append(nodes, newNode(t, nw, c))
		}
		startNodes(t, nodes...)
		time.Sleep(2 * time.Second)
		synctest.Wait()
		for _, c := range coords {
			if c.View() != nil {
				t.Fatal("view installed before the membership was quiet for 2.5 s")
			}
		}
		time.Sleep(600 * time.Millisecond)
		synctest.Wait()
		want := absoluteFirst(nodes...).member()
		for i, c := range coords {
			v := c.View()
			co, ok := c.Coordinator()
			if len(v) != 3 || !ok || !co.Equal(want) {
				t.Fatalf("node %d: view %v coordinator %v, want %v", i, v, co, want)
			}
			if c.IsCoordinator() != nodes[i].member().Equal(want) {
				t.Fatalf("node %d: IsCoordinator wrong", i)
			}
		}
		if v := <-views; len(v) != 3 {
			t.Fatalf("OnViewChange got %v", v)
		}
		// The coordinator crashes: after the quiet period the others agree on a new one.
		var rest []*tnode
		var restCoords []*SimpleCoordinator
		for i, n := range nodes {
			if n.member().Equal(want) {
				nw.Kill(n.net)
				continue
			}
			rest, restCoords = append(rest, n), append(restCoords, coords[i])
		}
		ch := restCoords[0].ViewChanged()
		time.Sleep(3 * time.Second)
		synctest.Wait()
		select {
		case <-ch:
		default:
			t.Fatal("no view change after the coordinator left")
		}
		want2 := absoluteFirst(rest...).member()
		for _, c := range restCoords {
			if co, _ := c.Coordinator(); len(c.View()) != 2 || !co.Equal(want2) {
				t.Fatalf("view %v", c.View())
			}
		}
	})
}

func TestCoordinationMessageLayout(t *testing.T) {
	mk := func(port int32, id byte) channel.Member {
		return channel.Member{Host: []byte{127, 0, 0, 1}, Port: port, SecurePort: -1, UDPPort: -1,
			UniqueID: channel.UniqueID{id, 1, 2, 3}, AliveTime: 1234}
	}
	a, b := mk(4000, 0xa), mk(4001, 0xb)
	msg := CoordinationMessage{Leader: a, Source: b, View: []channel.Member{a, b}, ID: [16]byte{1, 2, 3}, Type: CoordRequest}
	got, err := msg.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	// Built by hand from the spec's table (9.11).
	var want []byte
	want = append(want, mustHex("aa26dee39e5a413faf86fa9263ca0d3f")...)
	for _, m := range []channel.Member{a, b} { // leader, source
		mb := wire.AppendMember(nil, &m)
		want = binary.BigEndian.AppendUint32(want, uint32(len(mb)))
		want = append(want, mb...)
	}
	want = binary.BigEndian.AppendUint32(want, 2)
	for _, m := range []channel.Member{a, b} {
		mb := wire.AppendMember(nil, &m)
		want = binary.BigEndian.AppendUint32(want, uint32(len(mb)))
		want = append(want, mb...)
	}
	want = append(want, 1, 2, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
	want = append(want, mustHex("68a1a4d672dc47edb1147a65ffd0cf1e")...)
	if !bytes.Equal(got, want) {
		t.Fatalf("layout\n got %x\nwant %x", got, want)
	}
	back, err := ParseCoordinationMessage(got)
	if err != nil {
		t.Fatal(err)
	}
	if !back.Leader.Equal(a) || !back.Source.Equal(b) || len(back.View) != 2 || back.ID != msg.ID || back.Type != CoordRequest || back.Leader.AliveTime != 1234 {
		t.Fatalf("parsed %+v", back)
	}
	if back.Type.String() != "request" || CoordConf.String() != "conf" {
		t.Fatal("type names")
	}
	// Truncations and trailing bytes are errors, never panics.
	for n := range len(got) {
		if _, err := ParseCoordinationMessage(got[:n]); !errors.Is(err, ErrBadCoordMessage) {
			t.Fatalf("%d bytes: %v", n, err)
		}
	}
	if _, err := ParseCoordinationMessage(append(got, 0)); !errors.Is(err, ErrBadCoordMessage) {
		t.Fatal("trailing byte accepted")
	}
	if hex.EncodeToString(CoordAlive[:4]) != "4f87e7f1" || hex.EncodeToString(CoordConf[:]) != "43586baa45174cbaa5e9a9e783564b14" {
		t.Fatal("constants")
	}
}

type coordNode struct {
	*tnode
	c     *NonBlockingCoordinator
	views chan [16]byte
}

func newCoordNodes(t *testing.T, nw *channeltest.Network, n int) []*coordNode {
	var out []*coordNode
	for range n {
		cn := &coordNode{views: make(chan [16]byte, 64)}
		c, err := NewNonBlockingCoordinator(NonBlockingCoordinatorConfig{
			// A member is alive if this node can reach it, as the default TCP connect check.
			AliveCheck:   func(_ context.Context, m channel.Member) bool { return cn.net.Reaches(m) },
			OnViewChange: func(_ []channel.Member, id [16]byte) { cn.views <- id },
		})
		if err != nil {
			t.Fatal(err)
		}
		cn.c = c
		cn.tnode = newNode(t, nw, c)
		out = append(out, cn)
	}
	return out
}

func checkAgreement(t *testing.T, nodes []*coordNode) [16]byte {
	t.Helper()
	var tn []*tnode
	for _, n := range nodes {
		tn = append(tn, n.tnode)
	}
	want := absoluteFirst(tn...).member()
	var id0 [16]byte
	for i, n := range nodes {
		v, id, ok := n.c.View()
		co, _ := n.c.Coordinator()
		if !ok || len(v) != len(nodes) || !co.Equal(want) {
			t.Fatalf("node %d: view %v (ok %v), coordinator %v, want %v", i, v, ok, co, want)
		}
		if i == 0 {
			id0 = id
		} else if id != id0 {
			t.Fatalf("node %d has view id %x, node 0 %x", i, id, id0)
		}
	}
	return id0
}

// checkSettled waits until the nodes' goroutines are idle, checks that they agree, then
// lets fake time run past the coordinator's wait timeout and checks that nothing changed:
// the agreement must not depend on a timer that has yet to fire (synctest.Wait returns
// while goroutines sleep on timers), and an agreed view must stay put.
func checkSettled(t *testing.T, nodes []*coordNode) {
	t.Helper()
	synctest.Wait()
	id := checkAgreement(t, nodes)
	time.Sleep(2 * DefaultCoordWaitTimeout)
	synctest.Wait()
	if again := checkAgreement(t, nodes); again != id {
		t.Fatalf("view changed from %x to %x after the wait timeout", id, again)
	}
}

// Go nodes elect the absolute-first member and agree on one view id, whether they start
// together or one after the other; when the coordinator dies the others agree again.
func TestNonBlockingCoordinatorElection(t *testing.T) {
	for _, oneByOne := range []bool{false, true} {
		t.Run(map[bool]string{false: "together", true: "one-by-one"}[oneByOne], func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				nw := channeltest.NewNetwork()
				nodes := newCoordNodes(t, nw, 4)
				var tn []*tnode
				for _, n := range nodes {
					tn = append(tn, n.tnode)
					if oneByOne {
						startNodes(t, n.tnode)
						checkSettled(t, nodes[:len(tn)])
					}
				}
				if !oneByOne {
					startNodes(t, tn...)
				}
				checkSettled(t, nodes)
				for i, n := range nodes {
					// Every node is alive: no send may fail before the kill.
					if s := n.c.Stats(); s.BadMessages != 0 || s.SendFailures != 0 {
						t.Fatalf("node %d: stats %+v", i, s)
					}
				}
				var leader *coordNode
				var rest []*coordNode
				for i, n := range nodes {
					first := n.tnode == absoluteFirst(tn...)
					if got := n.c.IsCoordinator(); got != first {
						t.Fatalf("node %d IsCoordinator %v", i, got)
					}
					if first {
						leader = n
					} else {
						rest = append(rest, n)
					}
				}
				nw.Kill(leader.net)
				checkSettled(t, rest)
				// A token may be passed to the dead leader by a member that has not heard of
				// its death yet; that send fails and the token skips it, so SendFailures is
				// not checked here.
				for i, n := range rest {
					if s := n.c.Stats(); s.BadMessages != 0 || s.MessagesReceived == 0 {
						t.Fatalf("node %d: stats %+v", i, s)
					}
				}
			})
		})
	}
}

// Coordination messages are consumed, COORD_ALIVE is ignored, anything else passes.
func TestNonBlockingCoordinatorFilters(t *testing.T) {
	nw := channeltest.NewNetwork()
	nodes := newCoordNodes(t, nw, 1)
	n := nodes[0]
	n.tap.inject(&channel.Message{Data: append(CoordAlive[:], 1, 2, 3)})
	n.tap.inject(&channel.Message{Data: append(CoordHeader[:], 1, 2, 3)}) // malformed
	n.tap.inject(&channel.Message{Data: []byte("application")})
	if got := n.payloads(); len(got) != 1 || string(got[0]) != "application" {
		t.Fatalf("delivered %q", got)
	}
	if s := n.c.Stats(); s.AliveIgnored != 1 || s.BadMessages != 1 {
		t.Fatalf("stats %+v", s)
	}
}

// A lone node is its own coordinator; a node that is not first waits, and after the wait
// timeout starts the election itself (here the leader is unreachable for tokens that it
// did not start: it never elects by itself because it does not see the newcomer).
func TestNonBlockingCoordinatorAlone(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nw := channeltest.NewNetwork()
		nodes := newCoordNodes(t, nw, 1)
		startNodes(t, nodes[0].tnode)
		synctest.Wait()
		v, _, ok := nodes[0].c.View()
		if !ok || len(v) != 1 || !nodes[0].c.IsCoordinator() {
			t.Fatalf("view %v", v)
		}
	})
}

// coordMessage is a coordination message from src, as the receiver hands it up.
func coordMessage(t *testing.T, src channel.Member, cm CoordinationMessage) *channel.Message {
	t.Helper()
	payload, err := cm.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return &channel.Message{Options: channel.OptUseAck, ID: channel.NewMessageID(), Source: src, Data: payload}
}

// unreachableMember is in no membership and answers no connect (channeltest has no node on
// port 1; it sorts before every test node).
var unreachableMember = channel.Member{Host: []byte{1, 0, 0, 1}, Port: 1, SecurePort: -1, UDPPort: -1,
	UniqueID: channel.UniqueID{0xee}}

// A member's view confirmation naming a member that is in no membership and fails the
// alive check installs the view without it (Tomcat installs the confirmation's view as it
// is, dead member included).
func TestNonBlockingCoordinatorViewConfDropsDeadMembers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nw := channeltest.NewNetwork()
		nodes := newCoordNodes(t, nw, 2)
		startNodes(t, nodes[0].tnode, nodes[1].tnode)
		synctest.Wait()
		checkAgreement(t, nodes)

		from := nodes[0].member()
		view := []channel.Member{unreachableMember, nodes[0].member(), nodes[1].member()}
		id := newViewID()
		msg := CoordinationMessage{Leader: unreachableMember, Source: from, View: view, ID: id, Type: CoordConf}
		if err := nodes[1].tap.inject(coordMessage(t, from, msg)); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		v, got, _ := nodes[1].c.View()
		if got != id || len(v) != 2 || slices.ContainsFunc(v, unreachableMember.Equal) {
			t.Fatalf("view %v (id %x, confirmed %x): want the confirmed view without the dead member", v, got, id)
		}
		if co, _ := nodes[1].c.Coordinator(); co.Equal(unreachableMember) {
			t.Fatalf("the coordinator is the dead member %v", co)
		}
	})
}

// MessageReceived hands coordination messages to the coordinator's one goroutine, which
// blocks while it checks members it does not know (a TCP connect of up to ConnectTimeout
// each). Messages that arrive meanwhile are queued: a repeat of a queued message (same
// sender and election id) replaces it, and beyond InboxLimit messages are dropped and
// counted, so a member flooding elections cannot grow the queue without bound; a
// stranger's messages are not queued at all.
func TestNonBlockingCoordinatorInboxBounded(t *testing.T) {
	nw := channeltest.NewNetwork()
	entered := make(chan struct{}, 1)
	release := make(chan struct{})
	c, err := NewNonBlockingCoordinator(NonBlockingCoordinatorConfig{
		// Stands for a TCP connect to an address that does not answer (ConnectTimeout, 2 s).
		AliveCheck: func(ctx context.Context, m channel.Member) bool {
			select {
			case entered <- struct{}{}:
			default:
			}
			select {
			case <-release:
			case <-ctx.Done():
			}
			return false
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	n := newNode(t, nw, c)
	peer := newNode(t, nw) // a member without a coordinator: it starts no election
	startNodes(t, n, peer)
	t.Cleanup(func() { close(release) }) // runs before the nodes stop
	member := peer.member()
	if _, ok := c.Next().Member(member.Key()); !ok {
		t.Fatal("the peer is not a member below the coordinator")
	}
	queued := func() int {
		c.mu.Lock()
		defer c.mu.Unlock()
		return len(c.inbox)
	}

	stranger := channel.Member{Host: []byte{10, 9, 0, 1}, Port: 4000, SecurePort: -1, UDPPort: -1,
		UniqueID: channel.UniqueID{0x5e}}
	fromStranger := CoordinationMessage{Leader: stranger, Source: stranger, View: []channel.Member{stranger},
		ID: newViewID(), Type: CoordRequest}
	const flood = 5000
	for range flood {
		if err := n.tap.inject(coordMessage(t, stranger, fromStranger)); err != nil {
			t.Fatal(err)
		}
	}
	if s := c.Stats(); s.NotFromMember != flood || queued() != 0 {
		t.Fatalf("a stranger's messages: stats %+v, %d queued; want all refused", s, queued())
	}

	// A member's message naming a member nobody knows: the goroutine blocks in its check.
	cm := CoordinationMessage{Leader: unreachableMember, Source: member,
		View: []channel.Member{unreachableMember, member}, ID: newViewID(), Type: CoordRequest}
	if err := n.tap.inject(coordMessage(t, member, cm)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the coordinator never checked the unknown member")
	}
	for range flood { // repeats
		if err := n.tap.inject(coordMessage(t, member, cm)); err != nil {
			t.Fatal(err)
		}
	}
	if q := queued(); q > 1 {
		t.Fatalf("%d repeats of one election message queued, want them coalesced into one", q)
	}
	for range flood { // distinct elections
		cm.ID = newViewID()
		if err := n.tap.inject(coordMessage(t, member, cm)); err != nil {
			t.Fatal(err)
		}
	}
	if q, s := queued(), c.Stats(); q > DefaultCoordInboxLimit || s.InboxDropped < flood-DefaultCoordInboxLimit {
		t.Fatalf("%d election messages queued (limit %d), stats %+v", q, DefaultCoordInboxLimit, s)
	}
}

// A member that failed the alive check is remembered as dead for DeadMemberTTL: further
// election messages naming it drop it without checking it again (each check may block the
// coordinator's goroutine for ConnectTimeout); after the TTL it is checked again.
func TestNonBlockingCoordinatorDeadMemberRemembered(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nw := channeltest.NewNetwork()
		var mu sync.Mutex
		checks := 0
		c, err := NewNonBlockingCoordinator(NonBlockingCoordinatorConfig{
			AliveCheck: func(_ context.Context, m channel.Member) bool {
				if m.Equal(unreachableMember) {
					mu.Lock()
					checks++
					mu.Unlock()
					return false
				}
				return true
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		n := newNode(t, nw, c)
		peer := newNode(t, nw)
		startNodes(t, n, peer)
		synctest.Wait()
		member := peer.member()
		send := func() {
			cm := CoordinationMessage{Leader: unreachableMember, Source: member,
				View: []channel.Member{unreachableMember, member}, ID: newViewID(), Type: CoordRequest}
			if err := n.tap.inject(coordMessage(t, member, cm)); err != nil {
				t.Fatal(err)
			}
			synctest.Wait()
		}
		count := func() int {
			mu.Lock()
			defer mu.Unlock()
			return checks
		}
		send()
		send()
		send()
		if got := count(); got != 1 || c.Stats().DeadSkipped != 2 {
			t.Fatalf("%d alive checks of the dead member for 3 messages (stats %+v), want 1", got, c.Stats())
		}
		time.Sleep(DefaultCoordDeadMemberTTL + time.Second)
		send()
		if got := count(); got != 2 {
			t.Fatalf("%d alive checks after DeadMemberTTL, want 2", got)
		}
		if _, ok := c.Member(unreachableMember.Key()); ok {
			t.Fatal("the dead member was added")
		}
	})
}
