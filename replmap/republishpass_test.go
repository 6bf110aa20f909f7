package replmap_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/replmap"
)

// A Put or a backup's Get publishing an entry while the departure's pass republishes it
// on the same node, with no test hook standing in for the pass.

// seqHold counts, once armed, the MSG_BACKUPs and MSG_PROXYs sent, and holds the i-th
// of them for each i in held until release[i] is closed; held[i] is closed when it
// arrives. With splitFirst set, a held message to more than one member is sent at once
// to the first of them (recorded in first) and held for the others.
type seqHold struct {
	channel.InterceptorBase
	mu            sync.Mutex
	armed         bool
	n             int
	held, release map[int]chan struct{}
	splitFirst    bool
	first         map[int]channel.Member
}

func newSeqHold(at ...int) *seqHold {
	h := &seqHold{held: map[int]chan struct{}{}, release: map[int]chan struct{}{}}
	for _, i := range at {
		h.held[i], h.release[i] = make(chan struct{}), make(chan struct{})
	}
	return h
}

func (h *seqHold) SendMessage(ctx context.Context, to []channel.Member, msg *channel.Message) error {
	if typ := replmap.MessageType(msg.Data); typ == msgBackupType || typ == msgProxyType {
		h.mu.Lock()
		i, armed := h.n, h.armed
		if armed {
			h.n++
		}
		held, ok := h.held[i]
		release, split := h.release[i], h.splitFirst && len(to) > 1
		h.mu.Unlock()
		if ok && armed && split {
			if err := h.Next().SendMessage(ctx, to[:1], msg); err != nil {
				return err
			}
			h.mu.Lock()
			if h.first == nil {
				h.first = map[int]channel.Member{}
			}
			h.first[i] = to[0]
			h.mu.Unlock()
			to = to[1:]
		}
		if ok && armed {
			close(held)
			<-release
		}
	}
	return h.Next().SendMessage(ctx, to, msg)
}

func (h *seqHold) arm() {
	h.mu.Lock()
	h.armed = true
	h.mu.Unlock()
}

// holdAt has h hold its i-th message too.
func (h *seqHold) holdAt(i int) {
	h.mu.Lock()
	h.held[i], h.release[i] = make(chan struct{}), make(chan struct{})
	h.mu.Unlock()
}

// releaseAt releases h's i-th message (once).
func (h *seqHold) releaseAt(i int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	select {
	case <-h.release[i]:
	default:
		close(h.release[i])
	}
}

// releaseAll releases every held message (at cleanup, before the maps stop).
func (h *seqHold) releaseAll() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, c := range h.release {
		select {
		case <-c:
		default:
			close(c)
		}
	}
}

// firstOf returns the member h's i-th message went to at once (splitFirst).
func (h *seqHold) firstOf(i int) (channel.Member, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	mb, ok := h.first[i]
	return mb, ok
}

// sent returns how many messages h counted.
func (h *seqHold) sent() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.n
}

// awaitHeld waits until h holds its i-th message.
func (h *seqHold) awaitHeld(t *testing.T, what string, i int) {
	t.Helper()
	h.mu.Lock()
	held := h.held[i]
	h.mu.Unlock()
	select {
	case <-held:
	case <-ctx(t).Done():
		t.Fatalf("%s not sent", what)
	}
}

// A Put of a key whose departed backup's pass is republishing the entry the Put
// replaces: the pass read the old value, sent its MSG_BACKUP, and its MSG_PROXY goes
// after the Put returned nil. That MSG_PROXY must not leave the Put's value on no member
// (it turns the Put's backup into a proxy) until the pass publishes the new entry: a
// primary dying then loses the acknowledged write. The Put waits for the republish of
// the key under way, as a republish does (republishKey), and the pass then finds the
// Put's entry.
func TestPutDuringTheDeparturePassOfTheEntryItReplaces(t *testing.T) {
	// After the arming: 0 the pass's MSG_BACKUP of v1, 1 its MSG_PROXY (held). When the
	// Put does not wait for the pass, the pass's next message after the Put's (its
	// publish of the Put's entry) is held as well.
	hold := newSeqHold(1)
	const k = "k"
	p := holdDeparturePass(t, hold, false, k, "v1")
	nodes, a, x, killed := p.nodes, p.a, p.x, p.killed
	put := make(chan error, 1)
	go func() {
		_, err := a.m.Put(ctx(t), k, "v2")
		put <- err
	}()
	// The Put either returns (before, beside the pass) or waits for the pass.
	var err error
	waited := false
	testutil.EventuallyTrue(t, testutil.WaitLimit, "a's Put returning or waiting for the pass", func() bool {
		select {
		case err = <-put:
			return true
		default:
		}
		waited = replmap.RepublishWaiters(a.m) == 1
		return waited
	})
	if waited {
		hold.releaseAt(1)
		err = await(t, "a's Put", put)
	}
	if err != nil {
		t.Fatalf("a's Put of k: %v", err)
	}
	if !waited {
		// The pass's MSG_PROXY, naming its backup of v1, reaches the members after the
		// Put returned; hold the pass's next MSG_BACKUP (its publish of the Put's
		// entry), as if a died then.
		next := hold.sent()
		hold.holdAt(next)
		hold.releaseAt(1)
		hold.awaitHeld(t, "the pass's publish of the Put's entry", next)
	}
	// Synchronized ACKs: what a sent is applied. A member must hold v2 now, a's primary
	// being all the Put acknowledged.
	var holders []int
	for i, n := range nodes[1:] {
		if v, primary, held := n.m.Peek(k); n != x && held && !primary && v == "v2" {
			holders = append(holders, i+1)
		}
	}
	if len(holders) == 0 {
		t.Fatalf("no member holds a's k = v2 after its Put returned nil (the departure pass's "+
			"MSG_PROXY of v1 turned the Put's backup into a proxy; waited %v)", waited)
	}
	hold.releaseAll()
	<-killed
	testutil.EventuallyTrue(t, testutil.WaitLimit, "one member holding a's k = v2", func() bool {
		return backupsOf(nodes, a, x, k, "v2") == 1
	})
	if n := replmap.RepublishWaiters(a.m); n != 0 {
		t.Fatalf("%d republishes still waiting", n)
	}
}

// A Get on the backup of an entry whose primary left, while the departure's pass that
// takes the entry over republishes it (its MSG_BACKUP sent, its MSG_PROXY held): both
// publish the value, each to a member, and the pass's MSG_PROXY, sent after the Get's
// MSG_BACKUP, turns the Get's backup into a proxy. Once the pass and the Get returned,
// a member must hold the value as the entry's backup, the one the node names.
func TestGetOnTheBackupDuringTheDeparturePassThatTakesItOver(t *testing.T) {
	nw := channeltest.NewNetwork()
	var nodes []*node
	holds := map[*node]*seqHold{}
	for range 5 {
		h := newSeqHold(1) // 0 the pass's MSG_BACKUP, 1 its MSG_PROXY (held)
		n := newChannel(t, nw, h)
		nodes = append(nodes, n)
		holds[n] = h
	}
	for _, n := range nodes {
		waitChannelMembers(t, n, 4)
	}
	for _, n := range nodes {
		newMap(t, n, replmap.Config{SendOptions: syncAck})
	}
	for _, n := range nodes {
		start(t, n)
	}
	waitMapMembers(t, nodes, 4)
	a := nodes[0]
	const k = "k"
	if _, err := a.m.Put(ctx(t), k, "v"); err != nil {
		t.Fatal(err)
	}
	b := backupOf(nodes, a, k)
	if b == nil {
		t.Fatal("no member holds a backup of a's k")
	}
	hold := holds[b]
	hold.arm()
	killed := make(chan struct{})
	go func() {
		defer close(killed)
		nw.Kill(a.tn) // returns once b's departure pass republished k
	}()
	t.Cleanup(func() {
		hold.releaseAll()
		<-killed
	})
	hold.awaitHeld(t, "b's departure pass's MSG_PROXY of k", 1)
	type result struct {
		v   any
		err error
	}
	got := make(chan result, 1)
	go func() {
		v, _, err := b.m.Get(ctx(t), k)
		got <- result{v, err}
	}()
	// The Get either returns (before, beside the pass) or waits for the pass.
	var r result
	testutil.EventuallyTrue(t, testutil.WaitLimit, "b's Get returning or waiting for the pass", func() bool {
		select {
		case r = <-got:
			return true
		default:
		}
		return replmap.RepublishWaiters(b.m) == 1
	})
	hold.releaseAt(1)
	if r.v == nil && r.err == nil {
		select {
		case r = <-got:
		case <-ctx(t).Done():
			t.Fatal("b's Get did not return")
		}
	}
	if r.err != nil || r.v != "v" {
		t.Fatalf("b's Get of k = %#v, %v; want \"v\", nil", r.v, r.err)
	}
	<-killed
	if _, primary, held := b.m.Peek(k); !held || !primary {
		t.Fatal("b is not k's primary after the pass and its Get")
	}
	testutil.Eventually(t, testutil.WaitLimit, func() error {
		nodesOf := replmap.BackupNodes(b.m, k)
		var holders []string
		for _, n := range nodes {
			if v, primary, held := n.m.Peek(k); n != a && n != b && held && !primary && v == "v" {
				holders = append(holders, n.ch.LocalMember().String())
			}
		}
		if len(holders) != 1 || len(nodesOf) != 1 || nodesOf[0].String() != holders[0] {
			return fmt.Errorf("members holding b's k as a backup: %v, b naming %v; want one, named", holders, nodesOf)
		}
		return nil
	})
	if n := replmap.RepublishWaiters(b.m); n != 0 {
		t.Fatalf("%d republishes still waiting", n)
	}
}

// heldPass is what holdDeparturePass sets up: five map nodes on an in-memory network with
// synchronized ACKs, a (sending through the hold) having put k; x, k's backup, killed,
// and the hold holding a's departure pass's MSG_PROXY of k (message 1 after arm).
// killed is closed once the Kill returned, that is once a's pass republished k.
type heldPass struct {
	nodes  []*node
	a, x   *node
	killed <-chan struct{}
}

// holdDeparturePass builds a heldPass of k put as v. a's channel is made first, or last
// when aLast (the other nodes then drop x before a's pass holds the membership
// notices). A cleanup releases what the hold holds and waits for the Kill.
func holdDeparturePass(t *testing.T, hold *seqHold, aLast bool, k, v string) heldPass {
	t.Helper()
	nw := channeltest.NewNetwork()
	var p heldPass
	if !aLast {
		p.a = newChannel(t, nw, hold)
		p.nodes = append(p.nodes, p.a)
	}
	for range 4 {
		p.nodes = append(p.nodes, newChannel(t, nw))
	}
	if aLast {
		p.a = newChannel(t, nw, hold)
		p.nodes = append(p.nodes, p.a)
	}
	for _, n := range p.nodes {
		waitChannelMembers(t, n, 4)
	}
	for _, n := range p.nodes {
		newMap(t, n, replmap.Config{SendOptions: syncAck})
	}
	for _, n := range p.nodes {
		start(t, n)
	}
	waitMapMembers(t, p.nodes, 4)
	if _, err := p.a.m.Put(ctx(t), k, v); err != nil {
		t.Fatal(err)
	}
	if p.x = backupOf(p.nodes, p.a, k); p.x == nil {
		t.Fatal("no member holds a backup of a's k")
	}
	hold.arm()
	killed := make(chan struct{})
	p.killed = killed
	x := p.x
	go func() {
		defer close(killed)
		nw.Kill(x.tn) // returns once a's departure pass republished k
	}()
	t.Cleanup(func() {
		hold.releaseAll()
		<-killed
	})
	hold.awaitHeld(t, "a's departure pass's MSG_PROXY of k", 1)
	return p
}
