package replmap_test

import (
	"slices"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/replmap"
)

// A primary A whose map restarted without its MSG_STOP reaching its Go backup B fetches
// the value (Start's fetch makes A the primary, MadePrimary called on A) and, while
// briefly the primary, sends it in full (Replicate with complete): its MSG_BACKUP naming
// A the primary leaves A before B's takeover (B's pass on A's MSG_START) reaches A and
// reaches B after it. B's MSG_BACKUP made A its backup, and A's then makes B A's
// backup: each node holds the value as the other's backup, and no node is the primary
// (B's Replicate and A's do nothing). Java's messageReceived makes any entry a backup
// on a MSG_BACKUP, a primary one too, and a Go node does as well (an old primary must
// become the backup of a node that took its entry over: the fetch-first order of
// TestFetchAndTakeoverMadePrimaryRace), so two MSG_BACKUPs crossing leave the entry so
// in Java too (a Get on a backup beside its primary's replicate). Replicate sends nothing
// from either node then; a Get on either node repairs it: that node takes the entry
// over, the other one its backup again.
func TestFetchTakeoverThenReplicateLeavesNoPrimary(t *testing.T) {
	for _, repairOnA := range []bool{true, false} {
		name := "GetOnB"
		if repairOnA {
			name = "GetOnA"
		}
		t.Run(name, func(t *testing.T) { testFetchTakeoverThenReplicate(t, repairOnA) })
	}
}

func testFetchTakeoverThenReplicate(t *testing.T, repairOnA bool) {
	nw := channeltest.NewNetwork()
	drop := &dropStop{}
	order := &orderTakeover{asked: make(chan struct{}), backupGo: make(chan struct{}), replyGo: make(chan struct{})}
	hold := &holdBackupSend{held: make(chan struct{}), release: make(chan struct{})}
	t.Cleanup(func() {
		for _, c := range []chan struct{}{order.backupGo, order.replyGo, hold.release} {
			select {
			case <-c:
			default:
				close(c)
			}
		}
	})
	a := newChannel(t, nw, hold)
	b := newChannel(t, nw, drop, order)
	var aMade, bMade madeCalls
	for n, cfg := range map[*node]replmap.Config{a: {SendOptions: syncAck}, b: {SendOptions: syncAck, MadePrimary: bMade.made}} {
		testutil.EventuallyTrue(t, testutil.WaitLimit, "channel members", func() bool { return len(n.ch.Members()) == 1 })
		newMap(t, n, cfg)
	}
	start(t, a)
	start(t, b)
	waitMapMembers(t, []*node{a, b}, 1)
	if _, err := a.m.Put(ctx(t), "k", "v"); err != nil {
		t.Fatal(err)
	}
	testutil.EventuallyTrue(t, testutil.WaitLimit, "B backs k up", func() bool { return replmap.Held(b.m, "k") == "v" })
	drop.armed.Store(true)
	if err := a.m.Stop(ctx(t)); err != nil {
		t.Fatal(err)
	}
	if drop.dropped.Load() == 0 || len(b.m.Members()) != 1 {
		t.Fatalf("B's map members after A's lost MSG_STOP: %v, want A still", b.m.Members())
	}
	drop.armed.Store(false)

	order.armed.Store(true) // before A's new map sends anything
	restarted := &node{ch: a.ch, tn: a.tn}
	newMap(t, restarted, replmap.Config{SendOptions: syncAck, MadePrimary: aMade.made})
	start(t, restarted)
	aKey, bKey := a.ch.LocalMember().Key(), b.ch.LocalMember().Key()
	names := func(m *replmap.Map, want channel.MemberKey) bool {
		p, ok := replmap.Primary(m, "k")
		return ok && p.Key() == want
	}
	close(order.replyGo) // the fetch first
	testutil.EventuallyTrue(t, testutil.WaitLimit, "A's fetch makes it the primary", func() bool {
		_, primary, ok := restarted.m.Peek("k")
		return ok && primary && len(aMade.get()) == 1
	})

	// A, the primary, sends the value in full; its MSG_BACKUP waits on A's side
	// (holdBackupSend holds one).
	hold.armed.Store(true)
	replicated := make(chan error, 1)
	go func() { replicated <- restarted.m.Replicate(ctx(t), "k", true) }()
	select {
	case <-hold.held:
	case err := <-replicated:
		t.Fatalf("A's Replicate returned (%v) sending no MSG_BACKUP", err)
	}
	// B's takeover reaches A, making it B's backup, and ends with B the primary.
	close(order.backupGo)
	testutil.EventuallyTrue(t, testutil.WaitLimit, "B's takeover makes A its backup", func() bool {
		_, primary, ok := restarted.m.Peek("k")
		return ok && !primary && names(restarted.m, bKey)
	})
	testutil.EventuallyTrue(t, testutil.WaitLimit, "B's pass ends", func() bool { return !replmap.StartPassesRunning(b.m) })
	if _, primary, ok := b.m.Peek("k"); !ok || !primary || !names(b.m, bKey) {
		t.Fatalf("B after its takeover: primary %v, ok %v, want the primary", primary, ok)
	}
	// A's MSG_BACKUP, naming A the primary, then reaches B.
	close(hold.release)
	if err := <-replicated; err != nil {
		t.Fatalf("A's Replicate: %v", err)
	}
	testutil.EventuallyTrue(t, testutil.WaitLimit, "A's MSG_BACKUP makes B its backup", func() bool { return names(b.m, aKey) })

	// Each node is the other's backup, both holding the value, and none is the primary.
	for _, n := range []struct {
		name  string
		m     *replmap.Map
		other channel.MemberKey
	}{{"A", restarted.m, bKey}, {"B", b.m, aKey}} {
		if v, primary, ok := n.m.Peek("k"); !ok || primary || v != "v" || !names(n.m, n.other) {
			t.Errorf("%s holds %v (primary %v, ok %v), want v as the other node's backup", n.name, v, primary, ok)
		}
	}
	// Replicate sends nothing from either node: neither is the primary.
	order.mu.Lock()
	bSent := order.backupsHeld
	order.mu.Unlock()
	hold.held, hold.release = make(chan struct{}), make(chan struct{})
	hold.armed.Store(true)
	for _, n := range []*node{restarted, b} {
		if err := n.m.Replicate(ctx(t), "k", true); err != nil {
			t.Errorf("Replicate: %v", err)
		}
	}
	order.mu.Lock()
	bSentAfter := order.backupsHeld
	order.mu.Unlock()
	select {
	case <-hold.held:
		t.Error("A's Replicate sent a MSG_BACKUP, A not the primary")
	default:
	}
	if bSentAfter != bSent {
		t.Errorf("B's Replicate sent %d MSG_BACKUPs, B not the primary", bSentAfter-bSent)
	}
	hold.armed.Store(false)
	if got := aMade.get(); !slices.Equal(got, []any{"k"}) {
		t.Errorf("A's MadePrimary calls: %v, want k once (the fetch)", got)
	}
	if got := bMade.get(); !slices.Equal(got, []any{"k"}) {
		t.Errorf("B's MadePrimary calls: %v, want k once (the takeover)", got)
	}

	// A Get on either node takes the entry over, the other node its backup again.
	getter, other, getterKey := restarted, b, aKey
	if !repairOnA {
		getter, other, getterKey = b, restarted, bKey
	}
	if got := get(t, getter, "k"); got != "v" {
		t.Fatalf("Get = %#v, want v", got)
	}
	if _, primary, ok := getter.m.Peek("k"); !ok || !primary || !names(getter.m, getterKey) {
		t.Errorf("the node whose Get repaired it: primary %v, ok %v, want the primary", primary, ok)
	}
	testutil.EventuallyTrue(t, testutil.WaitLimit, "the other node names the getter the primary", func() bool {
		v, primary, ok := other.m.Peek("k")
		return ok && !primary && v == "v" && names(other.m, getterKey)
	})
}
