package delta_test

// A change of this node whose delta failed is put back; whether it may have left this
// node decides how it settles against another node's change of its version (unsent.go).

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/session/delta"
)

// viewChannel is a channel whose view can be emptied (hide: the node's membership lost
// the others, while theirs still list it and their messages reach it), and whose next
// send, once armed with a member, goes to that member alone and then fails (its ACK
// lost, the other members never reached). Made unreachable, its sends fail for every
// member with ErrConnect, nothing leaving the node. Made deaf to a member, its session
// cluster no longer lists that member (Member), as a membership that dropped it, and
// refuses its messages (FAIL_ACK) while the member still lists this node.
type viewChannel struct {
	*channel.Channel
	hidden      atomic.Bool
	unreachable atomic.Bool
	deaf        atomic.Pointer[channel.MemberKey]
	mu          sync.Mutex
	only        *channel.Member
	match       string // arm's: only a send whose data holds it is the one armed
}

func (v *viewChannel) Member(k channel.MemberKey) (channel.Member, bool) {
	if d := v.deaf.Load(); d != nil && *d == k {
		return channel.Member{}, false
	}
	return v.Channel.Member(k)
}

func (v *viewChannel) Members() []channel.Member {
	if v.hidden.Load() {
		return nil
	}
	return v.Channel.Members()
}

// arm makes the next send whose data holds match (a session id) go to member alone,
// then fail; other sends meanwhile (probes, catch-ups) go as asked.
func (v *viewChannel) arm(member channel.Member, match string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.only, v.match = &member, match
}

func (v *viewChannel) Send(ctx context.Context, to []channel.Member, data []byte, opts channel.SendOptions) error {
	if v.unreachable.Load() {
		se := &channel.SendError{}
		for _, m := range to {
			se.Faulty = append(se.Faulty, channel.FaultyMember{Member: m, Err: fmt.Errorf("%w: refused", channel.ErrConnect)})
		}
		return se
	}
	v.mu.Lock()
	only := v.only
	if only != nil && !bytes.Contains(data, []byte(v.match)) {
		only = nil // another message (a probe, a catch-up): not the one armed for
	} else {
		v.only = nil
	}
	v.mu.Unlock()
	if only == nil {
		return v.Channel.Send(ctx, to, data, opts)
	}
	if err := v.Channel.Send(ctx, []channel.Member{*only}, data, opts); err != nil {
		return err
	}
	return errCtlSend
}

// viewNode is a node of threeByOrigin.
type viewNode struct {
	tn *channeltest.Node
	ch *viewChannel
	m  *delta.Manager
}

// threeByOrigin starts three acked nodes (ClusterSize 3) behind viewChannels, on unique
// ids whose origins order a below b below c, started in that order; it returns once all
// three serve. With, each node's config is changed by with (i: 0 for a, 1 for b, 2 for c).
func threeByOrigin(t *testing.T, with ...func(i int, cfg *delta.Config)) (nw *channeltest.Network, a, b, c *viewNode) {
	t.Helper()
	nw = channeltest.NewNetwork()
	var ns []*viewNode
	for i, id := range idsByOrigin() {
		tn := nw.NewNode()
		ch, err := channel.New(channel.Config{Transport: tn.Transport(), Membership: tn.Membership(), HeartbeatInterval: -1,
			UniqueID: id})
		if err != nil {
			t.Fatal(err)
		}
		channeltest.Start(t, ch)
		v := &viewChannel{Channel: ch}
		cfg := delta.Config{JvmRoute: string(rune('a' + i)), Replication: delta.ReplicateAcked, ClusterSize: 3}
		for _, f := range with {
			f(i, &cfg)
		}
		m := readyManager(t, v, nil, cfg)
		ns = append(ns, &viewNode{tn: tn, ch: v, m: m})
	}
	testutil.EventuallyTrue(t, 10*time.Second, "the three nodes serving", func() bool {
		return ns[0].m.Serving() == nil && ns[1].m.Serving() == nil && ns[2].m.Serving() == nil
	})
	return nw, ns[0], ns[1], ns[2]
}

// idsByOrigin returns three fixed unique ids, their origins rising: the lowest, the
// median and the highest of 256 candidates.
func idsByOrigin() []channel.UniqueID {
	var ids []channel.UniqueID
	for b := range 256 {
		ids = append(ids, channel.UniqueID{9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, byte(b)})
	}
	origin := func(id channel.UniqueID) uint32 { return delta.OriginOf(channel.Member{UniqueID: id}) }
	slices.SortFunc(ids, func(x, y channel.UniqueID) int { return int(int64(origin(x)) - int64(origin(y))) })
	return []channel.UniqueID{ids[0], ids[128], ids[255]}
}

// TestRefusedChangeLosesToTheMajoritysDelta: c, whose origin orders after a's, holds S
// at version v. Its view loses a and b (theirs still list it): c's change of x and of the
// principal is refused (ErrNoQuorum: its delta never left c) at version v+1. a then
// changes both at version v+1 too, acknowledged by b and c. The majority's change must
// apply on c, and c's refused change, which nobody else holds, be dropped: once c's view
// is back and its next request ends, every node has a's values. (c skipped a's change,
// whose stamp (v+1, a) orders before its own (v+1, c), and its next delta gave its
// refused change to every node: an acknowledged write lost.)
func TestRefusedChangeLosesToTheMajoritysDelta(t *testing.T) {
	ctx := context.Background()
	_, a, b, c := threeByOrigin(t)
	s, err := a.m.Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	id := s.ID()
	if err := firstErr(s.Set("x", "start"), a.m.Replicate(ctx, s)); err != nil {
		t.Fatal(err)
	}
	sc := c.m.Find(id)
	c.ch.hidden.Store(true)
	if err := firstErr(sc.Set("x", "c"), sc.SetPrincipal(&delta.Principal{Name: "cal"})); err != nil {
		t.Fatal(err)
	}
	if err := c.m.Replicate(ctx, sc); !errors.Is(err, delta.ErrNoQuorum) {
		t.Fatalf("c's change, its view empty: %v, want ErrNoQuorum", err)
	}
	if err := firstErr(s.Set("x", "a"), s.SetPrincipal(&delta.Principal{Name: "pat"}), a.m.Replicate(ctx, s)); err != nil {
		t.Fatalf("a's change: %v", err)
	}
	want := "x=a principal=pat"
	if got := attrsAndPrincipal(c.m, id); got != want {
		t.Errorf("c, after a's delta, has %q; want %q", got, want)
	}
	c.ch.hidden.Store(false)
	if err := c.m.Replicate(ctx, sc); err != nil { // c's next request ends
		t.Fatal(err)
	}
	for _, n := range []*viewNode{a, b, c} {
		if got := attrsAndPrincipal(n.m, id); got != want {
			t.Errorf("%s, after c's next request, has %q; want %q", n.m.JvmRoute(), got, want)
		}
	}
}

// TestFailedDeltaThatReachedAMemberConvergesAfterARefresh: c, whose origin orders after
// a's, changes x and the principal at version v+1; its delta reaches b, then fails (the
// ACK lost, a never reached). Cut off, c keeps the change put back. a changes both at
// version v+1 too, acknowledged by b, where c's change stays (its stamp (v+1, c) orders
// after (v+1, a)). Healed, c refreshes from a's copy, newer by version, then b's: c's
// change, which b holds, must be kept by its stamp and go out with c's next delta, so
// that every node ends with the same values. (The load dropped it for a's change at its
// version, as for a change refused before any send: c and b then held c's values, a its
// own.)
func TestFailedDeltaThatReachedAMemberConvergesAfterARefresh(t *testing.T) {
	ctx := context.Background()
	nw, a, b, c := threeByOrigin(t)
	s, err := a.m.Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	id := s.ID()
	if err := firstErr(s.Set("x", "start"), a.m.Replicate(ctx, s)); err != nil {
		t.Fatal(err)
	}
	sc := c.m.Find(id)
	if err := firstErr(sc.Set("x", "c"), sc.SetPrincipal(&delta.Principal{Name: "cal"})); err != nil {
		t.Fatal(err)
	}
	c.ch.arm(b.ch.LocalMember(), id)
	if err := c.m.Replicate(ctx, sc); err == nil || errors.Is(err, delta.ErrNoQuorum) {
		t.Fatalf("c's change, reaching b alone: %v, want the send's failure", err)
	}
	want := "x=c principal=cal"
	if got := attrsAndPrincipal(b.m, id); got != want {
		t.Fatalf("b, reached by c's failed delta, has %q; want %q", got, want)
	}

	refreshes := c.m.Stats().QuorumRefreshes
	nw.Isolate(c.tn, a.tn, b.tn)
	testutil.EventuallyTrue(t, 10*time.Second, "a and b serving after probing c", func() bool {
		return a.m.Serving() == nil && b.m.Serving() == nil
	})
	if err := firstErr(s.Set("x", "a"), s.SetPrincipal(&delta.Principal{Name: "pat"}), a.m.Replicate(ctx, s)); err != nil {
		t.Fatalf("a's change with b: %v", err)
	}
	nw.Heal(c.tn, a.tn)
	nw.Heal(c.tn, b.tn)
	testutil.EventuallyTrue(t, 10*time.Second, "c's refresh", func() bool {
		return c.m.Stats().QuorumRefreshes > refreshes && c.m.Serving() == nil
	})
	if err := c.m.Replicate(ctx, c.m.Find(id)); err != nil { // c's next request ends
		t.Fatal(err)
	}
	for _, n := range []*viewNode{a, b, c} {
		if got := attrsAndPrincipal(n.m, id); got != want {
			t.Errorf("%s, after c's next request, has %q; want %q", n.m.JvmRoute(), got, want)
		}
	}
}
