package delta_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/sessionhttp"
	"github.com/gotribes/tribes/session/delta"
)

// TestRenameBackByANodeThatCaughtUpMissedKeptByCatchUp: the case of
// TestRenameBackByAJoinerMissedKeptByRefresh where the node renaming the session back took
// it from a catch-up's answer after a short absence (a member back: no quorum), not from a
// state transfer. While c is away, a makes the session under a's route, renames it to c's
// route and back (the route alone changes, as a binder's renames); c, back, takes it from
// a's and b's answers (AskRecent) and has forgotten the record of the rename away from
// c's route, which a keeps. a is away in turn while c renames the session back to c's
// route: the version must go above a's record all the same, so c needs the ids the
// session left from the answer it took the session from (with BinaryCodec, the catch-up's
// AskRecentLeft). Before, a catch-up's answer carried none, the rename back raised
// nothing, and a, back, held no copy under any route: its record kept c's copy out, and
// c's record of the id renamed away from removed a's.
func TestRenameBackByANodeThatCaughtUpMissedKeptByCatchUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := renameBackAfterAbsences(t, delta.Config{Replication: delta.ReplicateAcked})
		r.keptByA(t)
	})
}

// TestRenameBackWithAQuorumMissedKeptByRefresh: the same with ClusterSize 3, where a node
// back from an absence (alone, without the quorum) refreshes (AskLeft) rather than
// catches up: c, back, takes the session and its left ids from the refresh, and a, back
// after c's rename back, refreshes to c's copy under S.c alone.
func TestRenameBackWithAQuorumMissedKeptByRefresh(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := renameBackAfterAbsences(t, delta.Config{Replication: delta.ReplicateAcked, ClusterSize: 3})
		r.keptByA(t)
	})
}

// TestCatchUpFromAnOlderMemberWithoutLeftIDs: a Go member of an earlier version ignores
// AskRecentLeft (bit 1 of a catch-up's request, AskRemovals' bit, which it already served
// as a catch-up's): it answers as to a request without it, sessions without left ids,
// which is what c's requests to it are made here (olderMembers). With b older, c takes
// the ids from a's answer and the case ends as
// TestRenameBackByANodeThatCaughtUpMissedKeptByCatchUp. With both older, c still catches
// up (it holds the session under S.a, k=v1) and takes no ids, so its rename back raises
// nothing, as docs/consistency.md says of a session taken only from such members.
func TestCatchUpFromAnOlderMemberWithoutLeftIDs(t *testing.T) {
	t.Run("one older", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			r := renameBackAfterAbsences(t, delta.Config{Replication: delta.ReplicateAcked}, "b")
			r.keptByA(t)
		})
	})
	t.Run("both older", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			r := renameBackAfterAbsences(t, delta.Config{Replication: delta.ReplicateAcked}, "a", "b")
			if v := delta.VersionOf(r.cs); v != r.before {
				t.Errorf("c's rename back raised the version from %d to %d without the left ids", r.before, v)
			}
		})
	})
}

// renamedBack is how renameBackAfterAbsences leaves the cluster: a away, c's copy cs
// renamed back to onC at version before the rename plus what it raised.
type renamedBack struct {
	nw       *channeltest.Network
	a, b, c  *node
	cs       *delta.Session
	onA, onC string
	before   uint64 // cs's version before c's rename back
	back     func(n *node)
}

// renameBackAfterAbsences runs the opening of the tests above with cfg: while c is away,
// a makes the session under S.a and renames it to S.c and back (b acknowledging); c,
// back, takes it (a catch-up, or with ClusterSize a refresh), with a's left ids at a's
// times unless both members are older, and forgets its record of the rename away from S.c; a is away while c renames the session back to S.c. Catch-up
// requests c sends to the members of the routes older go without AskRecentLeft, as a
// member of an earlier version serves them (olderMembers).
func renameBackAfterAbsences(t *testing.T, cfg delta.Config, older ...string) *renamedBack {
	t.Helper()
	ctx := context.Background()
	r := &renamedBack{nw: channeltest.NewNetwork()}
	nw := r.nw
	r.a = startReady(t, nw, withRoute(cfg, "a"))
	r.b = startReady(t, nw, withRoute(cfg, "b"))
	ctn, cch := newChannel(t, nw)
	om := olderMembers{Channel: cch, older: map[int32]bool{}}
	for _, route := range older {
		om.older[map[string]*node{"a": r.a, "b": r.b}[route].tn.Port()] = true
	}
	r.c = &node{tn: ctn, ch: cch, rec: &events{}, m: startJoiner(t, om, delta.ClusterConfig{}, withRoute(cfg, "c"))}
	if err := r.c.m.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	a, b, c := r.a, r.b, r.c
	time.Sleep(2 * delta.DefaultCatchUpWindow) // the joiners' windows are over
	synctest.Wait()
	r.back = func(n *node) { // n comes back from an absence and catches up, or with a quorum refreshes
		refreshes := n.m.Stats().QuorumRefreshes
		defer func() {
			if refreshed := n.m.Stats().QuorumRefreshes > refreshes; refreshed != (cfg.ClusterSize > 0) {
				t.Errorf("%s back: refreshed %v with ClusterSize %d", n.ch.LocalMember().Addr(), refreshed, cfg.ClusterSize)
			}
		}()
		for _, o := range []*node{a, b, c} {
			if o != n {
				nw.Heal(n.tn, o.tn)
			}
		}
		synctest.Wait()
		time.Sleep(5 * time.Second)
		synctest.Wait()
	}

	nw.Isolate(c.tn, a.tn, b.tn) // c's short absence
	synctest.Wait()
	time.Sleep(5 * time.Second) // with a quorum, a and b probe c before they serve
	synctest.Wait()
	s := create(t, a, "k", "v1")
	r.onA = s.ID()
	r.onC = sessionhttp.WithRoute(r.onA, "c")
	for _, to := range []string{r.onC, r.onA} { // a's renames, acknowledged by b
		if _, err := a.m.ChangeSessionID(ctx, s, to); err != nil {
			t.Fatalf("a's rename to %s: %v", to, err)
		}
	}
	time.Sleep(10 * time.Second)
	r.back(c)
	if h := holding(c, r.onA); h != r.onA+" k=v1" {
		t.Fatalf("c holds %s after it came back, want %s k=v1", h, r.onA)
	}
	// The answers carry the renames' times (leftAtAsk): c holds a's list as a holds it.
	// From b alone, of an earlier version, c would take the ids timed by their place.
	if ids, at := delta.LeftOf(a.m, r.onA); len(older) < 2 {
		if ci, ca := delta.LeftOf(c.m, r.onA); !slices.Equal(ci, ids) || !slices.Equal(ca, at) {
			t.Errorf("c came back with left ids %q at %v, want a's %q at %v", ci, ca, ids, at)
		}
	}
	delta.ForgetRenamedFrom(c.m, r.onC) // c has forgotten the record of the rename away; a keeps its own

	nw.Isolate(a.tn, b.tn, c.tn) // a misses the rename back
	synctest.Wait()
	time.Sleep(5 * time.Second)
	synctest.Wait()
	r.cs = c.m.Find(r.onA)
	r.before = delta.VersionOf(r.cs)
	if _, err := c.m.ChangeSessionID(ctx, r.cs, r.onC); err != nil {
		t.Fatalf("c's rename back to %s: %v", r.onC, err)
	}
	return r
}

// keptByA: a, back, holds c's copy under S.c alone, and c's next acknowledged change
// reaches a and b.
func (r *renamedBack) keptByA(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	time.Sleep(10 * time.Second)
	r.back(r.a)
	if h := holding(r.a, r.onA); h != r.onC+" k=v1" {
		t.Errorf("a after it came back holds %s, want %s k=v1 alone (c's copy at version %d, %d before its rename back)",
			h, r.onC, delta.VersionOf(r.cs), r.before)
	}
	if err := r.cs.Set("k", "v2"); err != nil {
		t.Fatal(err)
	}
	if err := r.c.m.Replicate(ctx, r.cs); err != nil {
		t.Fatalf("c's change after a is back: %v", err)
	}
	synctest.Wait()
	for _, n := range []*node{r.a, r.b} {
		if got := holding(n, r.onA); got != r.onC+" k=v2" {
			t.Errorf("%s holds %s, want %s", n.ch.LocalMember().Addr(), got, fmt.Sprintf("%s k=v2", r.onC))
		}
	}
}

// olderMembers sends this node's catch-up requests (AskRecent) to the members whose ports
// it lists without AskRecentLeft: they answer as a Go member of an earlier version,
// which ignores that bit, answers (sessions without left ids).
type olderMembers struct {
	*channel.Channel
	older map[int32]bool // filled before the channel is used
}

func (c olderMembers) Send(ctx context.Context, to []channel.Member, data []byte, opts channel.SendOptions) error {
	if len(to) != 1 || !c.older[to[0].Port] {
		return c.Channel.Send(ctx, to, data, opts)
	}
	m, err := (delta.BinaryCodec{}).DecodeMessage(data)
	if err != nil || m.Event != delta.EventGetAllSessions || m.Version&delta.AskRecent == 0 || m.Version&delta.AskRecentLeft == 0 {
		return c.Channel.Send(ctx, to, data, opts)
	}
	m.Version &^= delta.AskRecentLeft
	if data, err = (delta.BinaryCodec{}).AppendMessage(nil, m); err != nil {
		return err
	}
	return c.Channel.Send(ctx, to, data, opts)
}
