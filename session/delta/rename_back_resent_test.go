package delta_test

import (
	"context"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/sessionhttp"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/session/delta"
)

// renameDropper is a channel that, while drop holds a member's key, fails the sends of
// renames (EVT_CHANGE_SESSION_ID) to that member as a connection it cannot open, and
// sends everything else.
type renameDropper struct {
	*channel.Channel
	drop atomic.Pointer[channel.MemberKey]
}

func (d *renameDropper) Send(ctx context.Context, to []channel.Member, data []byte, opts channel.SendOptions) error {
	k := d.drop.Load()
	if k == nil {
		return d.Channel.Send(ctx, to, data, opts)
	}
	if msg, err := (delta.BinaryCodec{}).DecodeMessage(data); err != nil || msg.Event != delta.EventChangeSessionID {
		return d.Channel.Send(ctx, to, data, opts)
	}
	if len(to) == 0 {
		to = d.Members()
	}
	var kept []channel.Member
	var faulty []channel.FaultyMember
	for _, m := range to {
		if m.Key() == *k {
			faulty = append(faulty, channel.FaultyMember{Member: m, Err: fmt.Errorf("%w: %s", channel.ErrConnect, m.Addr())})
			continue
		}
		kept = append(kept, m)
	}
	var err error
	if len(kept) > 0 {
		err = d.Channel.Send(ctx, kept, data, opts)
	}
	if len(faulty) > 0 {
		return &channel.SendError{Faulty: append(channel.FaultyMembers(err), faulty...)}
	}
	return err
}

// The case TestRenameBackMissedKeptByRefresh covers, with a second failure: a's binder
// renames the session back to S.a (raising its version over the record of the rename
// away, S.a -> S.b) while c is cut off, and the rename's first send fails to b too. The
// session's next message sends it to b again; then a dies, and c, back, refreshes from b
// alone while it still holds the record of the rename away at the version before the
// raise. The resend must have given b the raised version: else b's copy under S.a is at
// the record's version, which c's refresh takes as the rename away's (c held no copy
// under any route after its refresh, and removed its copy under S.b).
func TestResentRenameBackCarriesItsVersion(t *testing.T) {
	cfg := delta.Config{Replication: delta.ReplicateAcked, ClusterSize: 3}
	nw := channeltest.NewNetwork()
	atn, ach := newChannel(t, nw)
	d := &renameDropper{Channel: ach}
	a := &node{tn: atn, ch: ach, rec: &events{}, m: readyManager(t, d, nil, withRoute(cfg, "a"))}
	b := startReady(t, nw, withRoute(cfg, "b"))
	c := startReady(t, nw, withRoute(cfg, "c"))
	startedAlone(t, a)
	s := create(t, a, "k", "v1")
	id := s.ID()
	if w := get(readK(t, b), "/", s.ID()); w.Code != http.StatusOK || w.Body.String() != "k=v1" {
		t.Fatalf("read on b: %d %q", w.Code, w.Body.String())
	}
	away := s.ID()
	if away == id {
		t.Fatalf("b's read did not rename the session to b's route: %s", away)
	}
	testutil.EventuallyTrue(t, 10*time.Second, "c holds the renamed copy", func() bool { return c.m.Find(away) != nil })
	refreshes := c.m.Stats().QuorumRefreshes
	nw.Isolate(c.tn, a.tn, b.tn) // c misses the rename back
	testutil.EventuallyTrue(t, 10*time.Second, "a and b serving after probing c", func() bool {
		return a.m.Serving() == nil && b.m.Serving() == nil
	})
	bk := b.ch.LocalMember().Key()
	d.drop.Store(&bk) // and the rename back's first send fails to b
	// The request fails (its acknowledged rename was not), the session renamed here.
	if w := get(readK(t, a), "/", s.ID()); w.Code != http.StatusServiceUnavailable {
		t.Fatalf("read on a: %d %q, want 503: the rename back's send to b failed", w.Code, w.Body.String())
	}
	d.drop.Store(nil)
	if s.ID() != id {
		t.Fatalf("the session is %s, want %s (renamed back)", s.ID(), id)
	}
	if b.m.Find(away) == nil || b.m.Find(id) != nil {
		t.Fatalf("b took the rename back that was to fail: it holds %s", holding(b, id))
	}
	// The session's next message (a request that changed nothing) sends the rename again.
	if err := a.m.Replicate(context.Background(), s); err != nil {
		t.Fatalf("a's resend of the rename back: %v", err)
	}
	if h := holding(b, id); h != id+" k=v1" {
		t.Fatalf("b after the resend holds %s, want %s k=v1 alone", h, id)
	}
	nw.Kill(a.tn)
	nw.Heal(c.tn, b.tn)
	testutil.EventuallyTrue(t, 10*time.Second, "c's refresh from b", func() bool {
		return c.m.Stats().QuorumRefreshes > refreshes && c.m.Refusing() == nil
	})
	// Its refresh took b's copy, not its record of the rename away as covering it.
	if h := holding(c, id); h != id+" k=v1" {
		t.Errorf("c after its refresh holds %s, want %s k=v1 alone (RefreshRemovals %d)", h, id, c.m.Stats().RefreshRemovals)
	}
	for _, n := range []struct {
		name string
		n    *node
	}{{"b", b}, {"c", c}} {
		testutil.Eventually(t, 10*time.Second, func() error {
			if w := get(readK(t, n.n), "/", id); w.Code != http.StatusOK || w.Body.String() != "k=v1" {
				return fmt.Errorf("%s: %d %q, want k=v1 (%s holds %s)", n.name, w.Code, w.Body.String(), n.name, holding(n.n, id))
			}
			return nil
		})
	}
}

// renamedAway is what renameAwayByB sets up: a (sending through d), b and c, and a's
// session s (k=v1), created as id and renamed to away by b.
type renamedAway struct {
	a, b, c  *node
	d        *renameDropper
	nw       *channeltest.Network
	s        *delta.Session
	id, away string
}

// renameAwayByB starts a, whose sends go through a renameDropper, b and c with cfg
// (routes a, b, c), creates a session on a and renames it to b's route on b, as b's
// binder would, waiting until a and c applied the rename.
func renameAwayByB(t *testing.T, cfg delta.Config) renamedAway {
	t.Helper()
	ctx := context.Background()
	nw := channeltest.NewNetwork()
	atn, ach := newChannel(t, nw)
	r := renamedAway{nw: nw, d: &renameDropper{Channel: ach}}
	r.a = &node{tn: atn, ch: ach, rec: &events{}, m: readyManager(t, r.d, nil, withRoute(cfg, "a"))}
	r.b = startReady(t, nw, withRoute(cfg, "b"))
	r.c = startReady(t, nw, withRoute(cfg, "c"))
	if err := r.a.ch.WaitForMembers(ctx, 2); err != nil {
		t.Fatal(err)
	}
	r.s = create(t, r.a, "k", "v1")
	r.id = r.s.ID()
	r.away = sessionhttp.WithRoute(r.id, "b")
	b, c := r.b, r.c
	testutil.EventuallyTrue(t, 10*time.Second, "b holds the session", func() bool { return b.m.Find(r.id) != nil })
	if _, err := b.m.ChangeSessionID(ctx, b.m.Find(r.id), r.away); err != nil { // b's binder, say
		t.Fatal(err)
	}
	testutil.EventuallyTrue(t, 10*time.Second, "a and c apply b's rename", func() bool {
		return r.s.ID() == r.away && c.m.Find(r.away) != nil
	})
	return r
}
