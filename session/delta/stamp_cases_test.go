package delta_test

// The last-writer-wins order of concurrent changes (stamp.go) where sends fail, state
// transfers, Tomcat's format and configured unique ids meet it.

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/session/delta"
)

// ctlChannel is a channel whose next send, once armed, is held until released and then
// fails: delivered to the members before it is held (a send that reached some members
// and failed for another, or whose acknowledgement was lost), or not delivered at all.
type ctlChannel struct {
	*channel.Channel
	mu      sync.Mutex
	armed   bool
	deliver bool
	entered chan struct{}
	gate    chan struct{}
}

var errCtlSend = errors.New("test: send failed")

// arm makes the next send fail after release; with deliver it is delivered first.
func (c *ctlChannel) arm(deliver bool) (entered <-chan struct{}, release func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.armed, c.deliver = true, deliver
	c.entered, c.gate = make(chan struct{}), make(chan struct{})
	gate := c.gate
	return c.entered, func() { close(gate) }
}

func (c *ctlChannel) Send(ctx context.Context, to []channel.Member, data []byte, opts channel.SendOptions) error {
	c.mu.Lock()
	armed, deliver, entered, gate := c.armed, c.deliver, c.entered, c.gate
	c.armed = false
	c.mu.Unlock()
	if !armed {
		return c.Channel.Send(ctx, to, data, opts)
	}
	if deliver {
		if err := c.Channel.Send(ctx, to, data, opts); err != nil {
			return err
		}
	}
	close(entered)
	<-gate
	return errCtlSend
}

// startCtl starts a ready node whose cluster sends through a ctlChannel.
func startCtl(t *testing.T, nw *channeltest.Network, cfg delta.Config) (*delta.Manager, *ctlChannel) {
	t.Helper()
	_, ch := newChannel(t, nw)
	c := &ctlChannel{Channel: ch}
	return readyManager(t, c, nil, cfg), c
}

// twoCtl starts two acked nodes behind ctlChannels, lo the one whose origin is lower.
func twoCtl(t *testing.T, mode delta.ReplicationMode) (lo *delta.Manager, loCh *ctlChannel, hi *delta.Manager, hiCh *ctlChannel) {
	t.Helper()
	nw := channeltest.NewNetwork()
	a, ca := startCtl(t, nw, delta.Config{JvmRoute: "a", Replication: mode})
	b, cb := startCtl(t, nw, delta.Config{JvmRoute: "b", Replication: mode})
	for _, c := range []*ctlChannel{ca, cb} {
		if err := c.WaitForMembers(context.Background(), 1); err != nil {
			t.Fatal(err)
		}
	}
	if delta.OriginOf(ca.LocalMember()) > delta.OriginOf(cb.LocalMember()) {
		return b, cb, a, ca
	}
	return a, ca, b, cb
}

// startedSession creates a session on m with attribute name (x if empty) set to "start",
// replicated (and sent, with asynchronous replication), and returns it and its id.
func startedSession(t *testing.T, m *delta.Manager, name ...string) (*delta.Session, string) {
	t.Helper()
	ctx := context.Background()
	s, err := m.Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Set(cmp.Or(append(name, "x")...), "start"); err != nil {
		t.Fatal(err)
	}
	if err := m.Replicate(ctx, s); err != nil {
		t.Fatal(err)
	}
	delta.DrainAsync(m)
	return s, s.ID()
}

// replicateHeldToFail arms c (with deliver, the message reaches the members first), starts
// m.Replicate of s and returns once its send is held: finish releases it and returns
// Replicate's error (the send fails).
func replicateHeldToFail(m *delta.Manager, c *ctlChannel, s *delta.Session, deliver bool) (finish func() error) {
	entered, release := c.arm(deliver)
	failed := make(chan error, 1)
	go func() { failed <- m.Replicate(context.Background(), s) }()
	<-entered
	return func() error {
		release()
		return <-failed
	}
}

// TestFailedDeltaKeepsAConcurrentVersion: lo's delta of version 2 fails (not delivered)
// while lo applies hi's concurrent delta, also of version 2. lo's user then sees hi's
// value and sets the attribute again: a change made after hi's. The failed delta must not
// give its version back (lo applied another node's change of that version), so lo's next
// delta takes version 3 and wins on hi too. (Giving it back, the delta took version 2
// again, lost to hi's (2, hi) and hi kept its value.)
func TestFailedDeltaKeepsAConcurrentVersion(t *testing.T) {
	ctx := context.Background()
	lo, loCh, hi, _ := twoCtl(t, delta.ReplicateAcked)
	s, id := startedSession(t, lo)

	_ = s.Set("x", "lo1")
	finish := replicateHeldToFail(lo, loCh, s, false)
	sh := hi.Find(id)
	_ = sh.Set("x", "hi")
	if err := hi.Replicate(ctx, sh); err != nil {
		t.Fatal(err)
	}
	if err := finish(); err == nil {
		t.Fatal("lo's send did not fail")
	}
	if got := attrs(lo, id); got != "x=hi " {
		t.Fatalf("lo after hi's concurrent change: %q", got)
	}

	// A later request on lo, which saw hi's value.
	_ = s.Set("x", "lo2 after hi")
	if err := lo.Replicate(ctx, s); err != nil {
		t.Fatalf("lo's change: %v", err)
	}
	if l, h := attrs(lo, id), attrs(hi, id); l != h || h != "x=lo2 after hi " {
		t.Errorf("after lo's acknowledged change made after hi's: lo %q, hi %q; want both x=lo2 after hi "+
			"", l, h)
	}
}

// TestFailedDeltaNotRestoredOverANewerChange: a's delta (x=a1, version 2) reaches b but
// its send fails (another member, a lost ack). Before a's Replicate returns, b's user
// sees a1 and sets x (version 3), which a applies. The failed change of x must not be
// put back for a's next delta, which would take b back to a1 while a keeps b's value.
func TestFailedDeltaNotRestoredOverANewerChange(t *testing.T) {
	ctx := context.Background()
	for _, aIsLo := range []bool{true, false} {
		t.Run(fmt.Sprint("aIsLo=", aIsLo), func(t *testing.T) {
			lo, loCh, hi, hiCh := twoCtl(t, delta.ReplicateAcked)
			a, aCh, b := lo, loCh, hi
			if !aIsLo {
				a, aCh, b = hi, hiCh, lo
			}
			s, id := startedSession(t, a)

			_ = s.Set("x", "a1")
			finish := replicateHeldToFail(a, aCh, s, true)
			sb := b.Find(id)
			if v, _ := sb.Get("x"); v != "a1" {
				t.Fatalf("b has x=%v, want a1", v)
			}
			_ = sb.Set("x", "b after a1")
			if err := b.Replicate(ctx, sb); err != nil {
				t.Fatal(err)
			}
			if err := finish(); err == nil {
				t.Fatal("a's send did not fail")
			}
			// a's next request (it changes something else).
			_ = s.Set("y", 1)
			if err := a.Replicate(ctx, s); err != nil {
				t.Fatal(err)
			}
			if l, r := attrs(a, id), attrs(b, id); l != r || r != "x=b after a1 y=1 " {
				t.Errorf("a %q, b %q; want both x=b after a1 y=1 (b's change was made after it saw a1)", l, r)
			}
		})
	}
}

// TestTransferCarriesStamps: two concurrent deltas of version 2 (raw Go peers w and l,
// w's origin higher: w wins) reached the donor before its snapshot, which holds w's value.
// A joiner drops w's as stale (older than the snapshot and not newer than its copy); l's
// carries a timestamp from a clock a few seconds ahead, so it is not stale and the joiner
// applies it, unless the transferred value kept its stamp (AskStamps): loaded with stamp
// zero, the joiner kept l's value and the donor w's. (The same happens without clock skew
// when the donor applies l's delta before its snapshot, which takes a while for many
// sessions, reaches the session.)
func TestTransferCarriesStamps(t *testing.T) {
	ctx := context.Background()
	nw := channeltest.NewNetwork()
	d, dCh := startCtl(t, nw, delta.Config{JvmRoute: "d", Replication: delta.ReplicateAcked, MaxConcurrentTransfers: 1})
	_, id := startedSession(t, d, "k")
	w, l := newRaw(t, nw, nil), newRaw(t, nw, nil)
	if delta.OriginOf(w.ch.LocalMember()) < delta.OriginOf(l.ch.LocalMember()) {
		w, l = l, w
	}
	j, release := joinerWaitingAt(t, nw, d, dCh, 3)
	dm := dCh.LocalMember()
	jm := j.ch.LocalMember()
	now := time.Now().UnixMilli()
	wd := repairSet(repairMsg(delta.EventDelta, id, now-100), 2, "w")  // before the snapshot
	ld := repairSet(repairMsg(delta.EventDelta, id, now+5000), 2, "l") // l's clock is 5 s ahead
	for _, to := range []channel.Member{dm, jm} {
		l.send(t, to, ld)
		w.send(t, to, wd)
	}
	if got := valueK(d, id); got != "w" {
		t.Fatalf("d has k=%v, want w (the higher origin)", got)
	}
	release()
	if err := j.m.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	if dv, jv := valueK(d, id), valueK(j.m, id); dv != jv {
		st := j.m.Stats()
		t.Errorf("after the transfer the donor has k=%v, the joiner k=%v (queued %d, dropped as stale %d)", dv, jv, st.QueuedDuringTransfer, st.DroppedStale)
	}
}

// joinerWaitingAt starts a joiner j that asks d (the oldest member, with one transfer
// slot) for its sessions while another joiner (raw) holds the slot: d's first chunk to it
// is held at dCh. others is how many members the raw joiner sees first. release lets d go
// on, and j's transfer follows.
func joinerWaitingAt(t *testing.T, nw *channeltest.Network, d *delta.Manager, dCh *ctlChannel, others int) (j *node, release func()) {
	t.Helper()
	occupier := newRaw(t, nw, nil)
	entered, release := dCh.arm(true)
	if err := occupier.ch.WaitForMembers(context.Background(), others); err != nil {
		t.Fatal(err)
	}
	occupier.send(t, dCh.LocalMember(), &delta.Message{Event: delta.EventGetAllSessions, Context: appName,
		SessionID: "GET-ALL", Timestamp: time.Now().UnixMilli()})
	<-entered
	j = startNode(t, nw, delta.Config{JvmRoute: "j", Replication: delta.ReplicateAcked})
	testutil.EventuallyTrue(t, 10*time.Second, "j's request waiting at d", func() bool { return d.Stats().TransfersWaiting == 1 })
	return j, release
}

// startJavaQuorum starts a node speaking Tomcat's format with ClusterSize 3.
func startJavaQuorum(t *testing.T, nw *channeltest.Network, route string) *node {
	t.Helper()
	tn, ch := newChannel(t, nw)
	n := &node{tn: tn, ch: ch}
	n.cl = newCluster(t, ch, delta.ClusterConfig{Codec: delta.JavaCodec{}})
	t.Cleanup(func() { _ = n.cl.Close(context.Background()) })
	m, err := n.cl.NewManager(delta.Config{Name: appName, JvmRoute: route, MemberWait: -1, Codec: delta.JavaValueCodec{},
		Replication: delta.ReplicateAcked, ClusterSize: 3})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := m.WaitReady(context.Background()); err != nil {
		t.Fatal(err)
	}
	n.m = m
	return n
}

// TestJavaCodecDeltaResetsTheVersion: with JavaCodec, deltas carry no version (0), and a
// node that applies one takes version 0. a served a session several times (version 4),
// then b served it once (b's version 1). a is cut off; b changes the session again
// (version 2), acknowledged by c. When a comes back it refreshes and must take b's copy:
// had a kept its version 4 after b's delta, b's version 2 would not look newer, and a
// would serve its stale copy.
func TestJavaCodecDeltaResetsTheVersion(t *testing.T) {
	ctx := context.Background()
	nw := channeltest.NewNetwork()
	a := startJavaQuorum(t, nw, "a")
	b := startJavaQuorum(t, nw, "b")
	c := startJavaQuorum(t, nw, "c")
	startedAlone(t, a)
	for _, n := range []*node{a, b, c} {
		if err := n.ch.WaitForMembers(ctx, 2); err != nil {
			t.Fatal(err)
		}
	}
	testutil.EventuallyTrue(t, 10*time.Second, "every node serving", func() bool {
		return a.m.Serving() == nil && b.m.Serving() == nil && c.m.Serving() == nil
	})
	s, err := a.m.Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 4 {
		_ = s.Set("k", fmt.Sprint("a", i))
		if err := a.m.Replicate(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	id := s.ID()
	sb := b.m.Find(id)
	_ = sb.Set("k", "b1")
	if err := b.m.Replicate(ctx, sb); err != nil {
		t.Fatal(err)
	}
	if got := valueK(a.m, id); got != "b1" {
		t.Fatalf("a has k=%v, want b1", got)
	}
	refreshes := a.m.Stats().QuorumRefreshes
	nw.Isolate(a.tn, b.tn, c.tn)
	testutil.EventuallyTrue(t, 10*time.Second, "b and c serving without a", func() bool {
		return len(b.ch.Members()) == 1 && b.m.Serving() == nil && c.m.Serving() == nil
	})
	_ = sb.Set("k", "b2")
	if err := b.m.Replicate(ctx, sb); err != nil {
		t.Fatalf("b's change with c: %v", err)
	}
	if got := valueK(c.m, id); got != "b2" {
		t.Fatalf("c has k=%v, want b2", got)
	}
	nw.Heal(a.tn, b.tn)
	nw.Heal(a.tn, c.tn)
	testutil.EventuallyTrue(t, 10*time.Second, "a's refresh", func() bool {
		return a.m.Stats().QuorumRefreshes > refreshes && a.m.Serving() == nil
	})
	if got := valueK(a.m, id); got != "b2" {
		t.Errorf("a, refreshed, has k=%v, want b2 (acknowledged by b and c while a was cut off)", got)
	}
}

// startGatedID is startGated (acked, BinaryCodec) on a channel with the given unique id.
func startGatedID(t *testing.T, nw *channeltest.Network, id channel.UniqueID, route string) (*delta.Manager, *gatedChannel) {
	t.Helper()
	n := nw.NewNode()
	ch, err := channel.New(channel.Config{Transport: n.Transport(), Membership: n.Membership(), HeartbeatInterval: -1,
		UniqueID: id})
	if err != nil {
		t.Fatal(err)
	}
	channeltest.Start(t, ch)
	g := &gatedChannel{Channel: ch}
	return readyManager(t, g, nil, delta.Config{JvmRoute: route, Replication: delta.ReplicateAcked}), g
}

// TestOriginsOfSimilarUniqueIDs: nodes configured with unique ids that differ in one byte
// (Tomcat's documentation writes them as {0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,1}, ...2})
// must still get different origins: with equal stamps, two concurrent changes look like
// one sender's resend and each node keeps the other's value.
func TestOriginsOfSimilarUniqueIDs(t *testing.T) {
	nw := channeltest.NewNetwork()
	var ms []*delta.Manager
	var gs []*gatedChannel
	for i := range 2 {
		id := channel.UniqueID{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, byte(i + 1)}
		m, g := startGatedID(t, nw, id, fmt.Sprint("n", i))
		ms, gs = append(ms, m), append(gs, g)
	}
	for _, g := range gs {
		if err := g.WaitForMembers(context.Background(), 1); err != nil {
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	s, err := ms[0].Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_ = s.Set("x", "start")
	if err := ms[0].Replicate(ctx, s); err != nil {
		t.Fatal(err)
	}
	var changes []func(*delta.Session) error
	for i := range ms {
		changes = append(changes, func(s *delta.Session) error { return s.Set("x", fmt.Sprint("from ", i)) })
	}
	concurrently(t, s.ID(), ms, gs, changes)
	if a, b := attrs(ms[0], s.ID()), attrs(ms[1], s.ID()); a != b {
		t.Errorf("node 0 has %q, node 1 %q", a, b)
	}
}

// TestAsyncFailedDeltaNotRestoredOverANewerChange: asynchronous replication. lo's delta
// (x=lo, version 2) is in flight when hi's concurrent delta (x=hi, version 2) arrives and
// wins on lo, as on hi. lo's send then fails: the queue must not put x=lo back for lo's
// next delta (version 3), which would give hi lo's value while lo keeps hi's.
func TestAsyncFailedDeltaNotRestoredOverANewerChange(t *testing.T) {
	ctx := context.Background()
	lo, loCh, hi, _ := twoCtl(t, delta.ReplicateAsync)
	s, id := startedSession(t, lo)
	_ = s.Set("x", "lo")
	finish := replicateHeldToFail(lo, loCh, s, false)
	sh := hi.Find(id)
	_ = sh.Set("x", "hi")
	if err := hi.Replicate(ctx, sh); err != nil {
		t.Fatal(err)
	}
	delta.DrainAsync(hi)
	testutil.EventuallyTrue(t, 10*time.Second, "hi's change on lo", func() bool { return attrs(lo, id) == "x=hi " })
	if err := finish(); err == nil {
		t.Fatal("lo's send did not fail")
	}
	_ = s.Set("y", 1) // lo's next request
	if err := lo.Replicate(ctx, s); err != nil {
		t.Fatal(err)
	}
	delta.DrainAsync(lo)
	if l, h := attrs(lo, id), attrs(hi, id); l != h || h != "x=hi y=1 " {
		t.Errorf("lo %q, hi %q; want both x=hi y=1", l, h)
	}
}
