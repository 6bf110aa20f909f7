package delta_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/session/delta"
)

// A partition cuts node c off from a and b; the membership notices, and c sees no
// member. Without a quorum c goes on acknowledging its changes (Tomcat does the same),
// though a and b never get them. With ClusterSize 3 only the side holding a majority (a
// and b) acknowledges changes: c's replications, id changes and invalidations fail with
// ErrNoQuorum and its middleware answers 503, until the partition heals. Both ways to send: batched (a ctx that cannot be cancelled, as the
// middleware's) and one message per call (a cancellable ctx).
func TestQuorumOfAckedReplication(t *testing.T) {
	cancellable, cancel := context.WithCancel(context.Background())
	defer cancel()
	for _, send := range []struct {
		name string
		ctx  context.Context
	}{{"batched", context.Background()}, {"single", cancellable}} {
		t.Run(send.name, func(t *testing.T) {
			ctx := send.ctx
			t.Run("none", func(t *testing.T) {
				nw, a, b, c := three(t, delta.Config{Replication: delta.ReplicateAcked})
				s := create(t, a, "k", "v1")
				if err := a.m.Replicate(ctx, s); err != nil {
					t.Fatal(err)
				}
				nw.Partition(c.tn, a.tn)
				nw.Partition(c.tn, b.tn)
				sc := c.m.Find(s.ID())
				_ = sc.Set("k", "c")
				if err := c.m.Replicate(ctx, sc); err != nil {
					t.Fatalf("without a quorum, a node alone acknowledges its change: %v", err)
				}
				if v, _ := a.m.Find(s.ID()).Get("k"); v != "v1" {
					t.Fatalf("a has k = %v", v)
				}
			})

			nw, a, b, c := three(t, delta.Config{Replication: delta.ReplicateAcked, ClusterSize: 3})
			startedAlone(t, a)
			s := create(t, a, "k", "v1")
			if err := a.m.Replicate(ctx, s); err != nil {
				t.Fatal(err)
			}
			onC := create(t, c, "k", "c1") // c's session, which a's binder takes over meanwhile
			base, _, _ := strings.Cut(onC.ID(), ".")
			nw.Isolate(c.tn, a.tn, b.tn)
			if n := len(c.ch.Members()); n != 0 {
				t.Fatalf("c sees %d members after the partition", n)
			}
			if err := c.m.Serving(); !errors.Is(err, delta.ErrNoQuorum) {
				t.Errorf("c alone: Serving() = %v, want ErrNoQuorum", err)
			}
			// a and b serve once their probes of c found that neither reaches it.
			testutil.EventuallyTrue(t, 10*time.Second, "a and b serving after probing c", func() bool {
				return a.m.Serving() == nil && b.m.Serving() == nil
			})

			sc := c.m.Find(s.ID())
			_ = sc.Set("k", "c")
			err := c.m.Replicate(ctx, sc)
			if !errors.Is(err, delta.ErrNoQuorum) || !strings.Contains(err.Error(), "1 of 3 nodes hold it") {
				t.Fatalf("c's change, alone: %v, want ErrNoQuorum", err)
			}
			created := func() *delta.Session { // on c alone: the creation is not acknowledged, only logged
				s, err := c.m.Create(ctx)
				if err != nil {
					t.Fatal(err)
				}
				return s
			}
			if _, err := c.m.ChangeSessionID(ctx, created(), ""); !errors.Is(err, delta.ErrNoQuorum) {
				t.Errorf("c's id change, alone: %v, want ErrNoQuorum", err)
			}
			if err := c.m.Invalidate(ctx, created()); !errors.Is(err, delta.ErrNoQuorum) {
				t.Errorf("c's invalidation, alone: %v, want ErrNoQuorum", err)
			}
			h := wrap(t, c, delta.HTTPConfig{}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_ = delta.FromContext(r.Context()).Set("k", "http")
				fmt.Fprint(w, "stored")
			}))
			if w := get(h, "/", ""); w.Code != http.StatusServiceUnavailable || strings.Contains(w.Body.String(), "stored") {
				t.Errorf("c's middleware, alone, answered %d %q, want 503", w.Code, w.Body.String())
			}
			// Nor does it serve a session to read it: its copy may be stale (below, a takes
			// c's session over and changes it).
			read := wrap(t, c, delta.HTTPConfig{}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				v, _ := delta.FromContext(r.Context()).Get("k")
				fmt.Fprintf(w, "k=%v", v)
			}))
			if w := get(read, "/", onC.ID()); w.Code != http.StatusServiceUnavailable || strings.Contains(w.Body.String(), "k=") {
				t.Errorf("c, alone, answered a read of its session with %d %q, want 503", w.Code, w.Body.String())
			}
			if n := c.m.Stats().StaleRequestsRefused; n != 1 {
				t.Errorf("StaleRequestsRefused = %d, want 1", n)
			}

			// The majority side acknowledges: a and b each have one member, 2 of 3 nodes.
			_ = s.Set("k", "v2")
			if err := a.m.Replicate(ctx, s); err != nil {
				t.Fatalf("a's change with b: %v", err)
			}
			if v, _ := b.m.Find(s.ID()).Get("k"); v != "v2" {
				t.Errorf("b has k = %v, want v2", v)
			}
			during := create(t, a, "n", 2)
			taken := a.m.Find(onC.ID())
			if _, err := a.m.ChangeSessionID(ctx, taken, base+".a"); err != nil {
				t.Fatal(err)
			}
			_ = taken.Set("k", "a1")
			if err := a.m.Replicate(ctx, taken); err != nil {
				t.Fatal(err)
			}

			// Healed, c first refreshes its copies from a and b: its copy of s had missed
			// v2 (and held its own change, never acknowledged), and it lacked the session
			// created meanwhile. Then it acknowledges changes again.
			nw.Heal(c.tn, a.tn)
			nw.Heal(c.tn, b.tn)
			testutil.Eventually(t, 10*time.Second, func() error {
				st := c.m.Stats()
				if st.QuorumRefreshes < 1 {
					return fmt.Errorf("c did not refresh: %+v\nA %+v\nB %+v", st, a.m.Stats(), b.m.Stats())
				}
				return c.m.Replicate(ctx, created()) // refused until the refresh is over
			})
			if v, _ := c.m.Find(s.ID()).Get("k"); v != "v2" {
				t.Errorf("c has k = %v after the refresh, want v2", v)
			}
			if w := get(read, "/", s.ID()); w.Code != http.StatusOK || w.Body.String() != "k=v2" {
				t.Errorf("c, refreshed, answered a read of its session with %d %q, want k=v2", w.Code, w.Body.String())
			}
			if dc := c.m.Find(during.ID()); dc == nil {
				t.Error("c lacks the session created during the partition")
			} else if v, _ := dc.Get("n"); v != 2 {
				t.Errorf("c has n = %v in the session created during the partition, want 2", v)
			}
			if c.m.Find(base+".c") != nil {
				t.Errorf("c still holds %s.c, which a renamed to %s.a during the partition", base, base)
			} else if v, _ := c.m.Find(base + ".a").Get("k"); v != "a1" {
				t.Errorf("c has k = %v in %s.a, want a1", v, base)
			}
			if st := c.m.Stats(); st.SessionsRefreshed < 3 {
				t.Errorf("c refreshed %d sessions, want at least 3", st.SessionsRefreshed)
			}
			sc = c.m.Find(s.ID())
			_ = sc.Set("k", "v3")
			if err := c.m.Replicate(ctx, sc); err != nil {
				t.Fatalf("c's change after the refresh: %v", err)
			}
			for _, n := range []*node{a, b} {
				if v, _ := n.m.Find(s.ID()).Get("k"); v != "v3" {
					t.Errorf("k = %v after c's change, want v3", v)
				}
			}
		})
	}
}

func TestQuorumConfig(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  delta.Config
	}{
		{"negative", delta.Config{Replication: delta.ReplicateAcked, ClusterSize: -1}},
		{"async", delta.Config{ClusterSize: 3}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, ch := newChannel(t, channeltest.NewNetwork())
			cl := newCluster(t, ch, delta.ClusterConfig{})
			defer func() { _ = cl.Close(context.Background()) }()
			tc.cfg.Name = appName
			if _, err := cl.NewManager(tc.cfg); !errors.Is(err, delta.ErrInvalidConfig) {
				t.Errorf("NewManager: %v, want ErrInvalidConfig", err)
			}
		})
	}
}

// The other two nodes die (not a partition): a, alone, acknowledges nothing, and when a
// new node joins (taking every session from a) a refreshes from it and loses nothing:
// a copy is only ever replaced by a higher version.
func TestQuorumRefreshKeepsTheSurvivorsSessions(t *testing.T) {
	ctx := context.Background()
	cfg := delta.Config{Replication: delta.ReplicateAcked, ClusterSize: 3}
	nw, a, b, c := three(t, cfg)
	startedAlone(t, a)
	s := create(t, a, "k", "v1")
	nw.Kill(b.tn)
	nw.Kill(c.tn)
	_ = s.Set("k", "alone")
	if err := a.m.Replicate(ctx, s); !errors.Is(err, delta.ErrNoQuorum) {
		t.Fatalf("a's change, alone: %v, want ErrNoQuorum", err)
	}
	cfg.JvmRoute = "d"
	d := startReady(t, nw, cfg)
	testutil.EventuallyTrue(t, 10*time.Second, "a's refresh", func() bool {
		return a.m.Stats().QuorumRefreshes >= 2 && a.m.Replicate(ctx, s) == nil
	})
	for _, n := range []*node{a, d} {
		if v, _ := n.m.Find(s.ID()).Get("k"); v != "alone" {
			t.Errorf("%s: k = %v, want a's kept change (alone) sent once the quorum was back (stats %+v)", n.m.JvmRoute(), v, n.m.Stats())
		}
	}
}

// healedAfterTransfer starts j, a node of a cluster of 2 whose only member is peer, a raw
// member; peer gives j its state transfer (S.p at version 1, snapshot time T), then a
// partition cuts them apart and heals: j refreshes. asks counts the requests peer got.
func healedAfterTransfer(t *testing.T, nw *channeltest.Network, peer *raw, asks func() int32) (j *node, T int64) {
	t.Helper()
	return healedAfterTransferWith(t, nw, peer, asks, delta.Config{})
}

// healedAfterTransferWith is healedAfterTransfer with cfg's other settings (listeners).
func healedAfterTransferWith(t *testing.T, nw *channeltest.Network, peer *raw, asks func() int32,
	cfg delta.Config) (j *node, T int64) {
	t.Helper()
	cfg.JvmRoute, cfg.Replication, cfg.ClusterSize = "j", delta.ReplicateAcked, 2
	j = startNode(t, nw, cfg)
	testutil.EventuallyTrue(t, 10*time.Second, "the state transfer's request", func() bool { return asks() == 1 })
	T = time.Now().UnixMilli()
	transferFrom(t, peer, j, T, repairState(T, "S.p", 1, "v1"))
	if err := j.m.WaitReady(context.Background()); err != nil {
		t.Fatal(err)
	}
	nw.Partition(peer.tn, j.tn)
	nw.Heal(peer.tn, j.tn)
	return j, T
}

// transferFrom completes j's state transfer from peer, a raw member: a chunk holding
// sessions (snapshot time T), then the end of the transfer.
func transferFrom(t *testing.T, peer *raw, j *node, T int64, sessions ...delta.SessionState) {
	t.Helper()
	chunk := repairMsg(delta.EventAllSessionData, "SESSION-STATE", T)
	chunk.Sessions = sessions
	peer.send(t, j.ch.LocalMember(), chunk)
	peer.send(t, j.ch.LocalMember(), repairMsg(delta.EventTransferComplete, "SESSION-STATE-TRANSFERRED", T))
}

// startedAlone waits for the refresh of n, the first of three nodes: it started without the
// quorum, so it refreshed its copies (none) when the second joined, and acknowledged no
// change until then.
func startedAlone(t *testing.T, n *node) {
	t.Helper()
	testutil.EventuallyTrue(t, 10*time.Second, "the first node's refresh once the second joined", func() bool {
		return n.m.Stats().QuorumRefreshes == 1
	})
}

// Messages that arrive while a node refreshes wait for the refresh, and are applied after
// it in order, but for a delta the refreshed copy already holds. j's only member, a raw
// peer, is cut off and comes back; j asks it for every session, and before the peer
// answers (with its copy at version 2) it sends the deltas of versions 2 and 3.
func TestQuorumRefreshHoldsMessages(t *testing.T) {
	nw := channeltest.NewNetwork()
	peer, asked := newCounter(t, nw)
	j, T := healedAfterTransfer(t, nw, peer, asked.Load)
	jm := j.ch.LocalMember()
	testutil.EventuallyTrue(t, 10*time.Second, "the refresh's request", func() bool { return asked.Load() == 2 })
	peer.send(t, jm, repairSet(repairMsg(delta.EventDelta, "S.p", T+1), 2, "v2"))
	peer.send(t, jm, repairSet(repairMsg(delta.EventDelta, "S.p", T+2), 3, "v3"))
	if got := valueK(j.m, "S.p"); got != "v1" {
		t.Fatalf("during the refresh k = %v, want v1 (the deltas wait)", got)
	}
	transferFrom(t, peer, j, T+1, repairState(T, "S.p", 2, "v2"))
	testutil.EventuallyTrue(t, 10*time.Second, "the refresh's end", func() bool { return j.m.Stats().QuorumRefreshes == 1 })
	if got, st := valueK(j.m, "S.p"), j.m.Stats(); got != "v3" || st.DroppedStale != 1 || st.SessionsRefreshed != 1 {
		t.Errorf("after the refresh k = %v (want v3), deltas dropped as held by the copy %d (want 1: version 2), "+
			"sessions refreshed %d (want 1)", got, st.DroppedStale, st.SessionsRefreshed)
	}
}

// A session the majority removes while c is cut off does not come back with c: neither
// one invalidated on a (c's copy would serve a user who logged out), nor one whose
// primary was c, nor the old id of one a renamed. c's refresh gets the removals a and b
// remember with their sessions, and removes its copies.
func TestQuorumRefreshRemovesWhatTheMajorityRemoved(t *testing.T) {
	ctx := context.Background()
	nw, a, b, c := three(t, delta.Config{Replication: delta.ReplicateAcked, ClusterSize: 3})
	startedAlone(t, a)
	loggedOut := create(t, a, "k", "1")
	onC := create(t, c, "k", "2")
	renamed := create(t, a, "k", "3")
	kept := create(t, b, "k", "4")
	for _, id := range []string{loggedOut.ID(), onC.ID(), renamed.ID(), kept.ID()} {
		testutil.EventuallyTrue(t, 10*time.Second, "every node holds "+id, func() bool {
			return a.m.Find(id) != nil && b.m.Find(id) != nil && c.m.Find(id) != nil
		})
	}
	nw.Partition(c.tn, a.tn)
	nw.Partition(c.tn, b.tn)
	settled(t, a, b)
	// The two cuts are made one after the other: b may have seen c leave while a still
	// listed it, a partial partition that makes the one of b and c with the higher id
	// stand down until a sees c gone too.
	testutil.EventuallyTrue(t, 10*time.Second, "a and b acknowledge changes", func() bool {
		return a.m.Refusing() == nil && b.m.Refusing() == nil
	})
	if err := a.m.Invalidate(ctx, loggedOut); err != nil {
		t.Fatal(err)
	}
	if err := b.m.Invalidate(ctx, b.m.Find(onC.ID())); err != nil {
		t.Fatal(err)
	}
	oldID := renamed.ID()
	newID, err := a.m.ChangeSessionID(ctx, renamed, "")
	if err != nil {
		t.Fatal(err)
	}
	nw.Heal(c.tn, a.tn)
	nw.Heal(c.tn, b.tn)
	testutil.EventuallyTrue(t, 10*time.Second, "c's refresh", func() bool {
		return c.m.Stats().QuorumRefreshes >= 1 && c.m.Replicate(ctx, c.m.Find(kept.ID())) == nil
	})
	for what, id := range map[string]string{"the session invalidated on a": loggedOut.ID(),
		"c's session invalidated on b": onC.ID(), "the old id of the session renamed on a": oldID} {
		if c.m.Find(id) != nil {
			t.Errorf("c still holds %s (%s) after its refresh (stats %+v)", what, id, c.m.Stats())
		}
	}
	if v, _ := c.m.Find(newID).Get("k"); v != "3" {
		t.Errorf("c has k = %v under the renamed session's new id, want 3", v)
	}
	if v, _ := c.m.Find(kept.ID()).Get("k"); v != "4" {
		t.Errorf("c has k = %v in the session nobody removed, want 4", v)
	}
	if st := c.m.Stats(); st.RefreshRemovals != 3 || st.RemovalsKept < 3 {
		t.Errorf("c's refresh removed %d copies (want 3) and c remembers %d removals (want at least 3)",
			st.RefreshRemovals, st.RemovalsKept)
	}
	if st := a.m.Stats(); st.RemovalsKept != 3 {
		t.Errorf("a remembers %d removals, want 3 (its invalidation, its rename, b's invalidation)", st.RemovalsKept)
	}
}

// The removal records a member sends a refresh, against the node's copies and the other
// sessions of the answer: a copy up to the removal's version goes, under any route for a
// removed session (Q: j renamed it to its own route while cut off) but only under the id
// itself for an old id (R, K: renamed, they live on; K's copy removed as an old name is not
// taken for the session's removal), a newer one stays, and a session the
// answer holds at a version up to one removed does not come (another member missed the
// removal). A joiner asks for them too (TestJoinerKnowsWhatWasRemoved).
func TestQuorumRefreshRemovalRecords(t *testing.T) {
	nw := channeltest.NewNetwork()
	var asks []uint64
	var mu sync.Mutex
	peer := newRaw(t, nw, func(m *delta.Message, _ channel.Member) {
		if m.Event == delta.EventGetAllSessions {
			mu.Lock()
			asks = append(asks, m.Version)
			mu.Unlock()
		}
	})
	asked := func(n int) []uint64 {
		t.Helper()
		testutil.EventuallyTrue(t, 10*time.Second, fmt.Sprintf("request %d", n), func() bool {
			mu.Lock()
			defer mu.Unlock()
			return len(asks) == n
		})
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(asks)
	}
	j := startNode(t, nw, delta.Config{JvmRoute: "j", Replication: delta.ReplicateAcked, ClusterSize: 2})
	asked(1)
	jm := j.ch.LocalMember()
	T := time.Now().UnixMilli()
	chunk := repairMsg(delta.EventAllSessionData, "SESSION-STATE", T)
	chunk.Sessions = []delta.SessionState{repairState(T, "X.p", 2, "x"), repairState(T, "Y.p", 2, "y"),
		repairState(T, "Z.p", 5, "z"), repairState(T, "Q.j", 2, "q"), repairState(T, "R.j", 2, "r"),
		repairState(T, "K.p", 2, "k")}
	// Sessions of as many other routes as j keeps in mind, and one beyond (U.zz): a
	// removal record still removes a copy under its own id.
	for i := range delta.MaxKnownRoutes {
		chunk.Sessions = append(chunk.Sessions, repairState(T, fmt.Sprintf("F%d.r%d", i, i), 1, "f"))
	}
	chunk.Sessions = append(chunk.Sessions, repairState(T, "U.zz", 1, "u"))
	peer.send(t, jm, chunk)
	peer.send(t, jm, repairMsg(delta.EventTransferComplete, "SESSION-STATE-TRANSFERRED", T))
	if err := j.m.WaitReady(context.Background()); err != nil {
		t.Fatal(err)
	}

	nw.Partition(peer.tn, j.tn)
	nw.Heal(peer.tn, j.tn)
	if got, want := asked(2), []uint64{delta.AskStamps | delta.AskRemovals | delta.AskBorn | delta.AskMetaStamps | delta.AskEcho | delta.AskLeft, delta.AskStamps | delta.AskRemovals | delta.AskBorn | delta.AskMetaStamps | delta.AskEcho | delta.AskLeft}; !slices.Equal(got, want) {
		t.Fatalf("the requests' versions: %v, want %v (a joiner and a refresh both ask for removals and stamps, and echo their ids)",
			got, want)
	}
	chunk = repairMsg(delta.EventAllSessionData, "SESSION-STATE", T+1)
	chunk.Sessions = []delta.SessionState{{ID: "X.p", Version: 3, Removed: true},
		{ID: "Z.p", Version: 4, Removed: true}, {ID: "W.p", Version: 2, Removed: true},
		{ID: "Q.p", Version: 2, Removed: true}, {ID: "R.p", Version: 2, Removed: true, Renamed: true},
		{ID: "U.zz", Version: 1, Removed: true}, {ID: "K.p", Version: 2, Removed: true, Renamed: true}}
	peer.send(t, jm, chunk)
	chunk = repairMsg(delta.EventAllSessionData, "SESSION-STATE", T+1)
	chunk.Sessions = []delta.SessionState{repairState(T, "W.p", 2, "w"), repairState(T, "V.p", 3, "v"),
		repairState(T, "X.p", 3, "x"), repairState(T, "K.q", 3, "k3")} // K.p renamed, and changed
	peer.send(t, jm, chunk)
	peer.send(t, jm, repairMsg(delta.EventTransferComplete, "SESSION-STATE-TRANSFERRED", T+1))
	testutil.EventuallyTrue(t, 10*time.Second, "the refresh's end", func() bool { return j.m.Stats().QuorumRefreshes == 1 })
	for id, want := range map[string]any{"X.p": nil, "Y.p": "y", "Z.p": "z", "W.p": nil, "V.p": "v", "Q.j": nil, "R.j": "r",
		"U.zz": nil, "F0.r0": "f", "K.p": nil, "K.q": "k3"} {
		if got := valueK(j.m, id); got != want {
			t.Errorf("%s: k = %v, want %v", id, got, want)
		}
	}
	if st := j.m.Stats(); st.RefreshRemovals != 4 || st.RemovalsKept != 7 {
		t.Errorf("removed by the refresh %d (want 4: X.p, Q.j, U.zz, K.p), removals kept %d (want the 7 records)",
			st.RefreshRemovals, st.RemovalsKept)
	}
}

// A refresh needs the sessions of the quorum's worth of members: right after a partition
// heals, a member that does not list this node yet answers its request FAIL_ACK. The node
// asks it again, and until it has the sessions it acknowledges nothing and serves no
// session. Before, such a refresh ended with no member's sessions, and the node served
// copies that missed the majority's changes (interop/sessions TestSessionPartitionAcrossHosts
// caught it once).
func TestQuorumRefreshAsksAgain(t *testing.T) {
	nw := channeltest.NewNetwork()
	var asks atomic.Int32
	peer := &raw{}
	peer.tn, peer.ch = newChannel(t, nw)
	peer.ch.AddMessageListener(channel.MessageListenerFunc(func(msg *channel.Message) error {
		if m, err := peer.codec.DecodeMessage(msg.Data); err == nil && m.Event == delta.EventGetAllSessions {
			if asks.Add(1) == 2 {
				return errors.New("not listing the sender yet") // the refresh's first request: FAIL_ACK
			}
		}
		return nil
	}))
	j, T := healedAfterTransfer(t, nw, peer, asks.Load)
	testutil.EventuallyTrue(t, 10*time.Second, "the refresh's second request", func() bool { return asks.Load() == 3 })
	h := wrap(t, j, delta.HTTPConfig{}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v, _ := delta.FromContext(r.Context()).Get("k")
		fmt.Fprintf(w, "k=%v", v)
	}))
	if w := get(h, "/", "S.p"); w.Code != http.StatusServiceUnavailable {
		t.Errorf("during the refresh a read answered %d %q, want 503", w.Code, w.Body.String())
	}
	transferFrom(t, peer, j, T+1, repairState(T, "S.p", 2, "v2"))
	testutil.EventuallyTrue(t, 10*time.Second, "the refresh's end", func() bool { return j.m.Stats().QuorumRefreshes == 1 })
	if w := get(h, "/", "S.p"); w.Code != http.StatusOK || w.Body.String() != "k=v2" {
		t.Errorf("after the refresh a read answered %d %q, want k=v2", w.Code, w.Body.String())
	}
}

// The messages that arrive during a refresh wait, up to a bound: past it they are dropped
// and the node asks the members for their sessions again, which hold what the dropped
// messages changed. The peer sends 10 deltas while the refresh waits for its answer, the
// bound is 4: the node asks again, and ends with the version of the last delta.
func TestQuorumRefreshQueueBounded(t *testing.T) {
	defer delta.SetMaxRefreshQueue(4)()
	nw := channeltest.NewNetwork()
	peer, asked := newCounter(t, nw)
	j, T := healedAfterTransfer(t, nw, peer, asked.Load)
	jm := j.ch.LocalMember()
	answer := func(version uint64, v string) { transferFrom(t, peer, j, T, repairState(T, "S.p", version, v)) }
	testutil.EventuallyTrue(t, 10*time.Second, "the refresh's request", func() bool { return asked.Load() == 2 })
	for v := uint64(2); v <= 11; v++ {
		peer.send(t, jm, repairSet(repairMsg(delta.EventDelta, "S.p", T+int64(v)), v, fmt.Sprint("v", v)))
	}
	answer(1, "v1") // the answer to the first request, sent before the deltas were made
	testutil.EventuallyTrue(t, 10*time.Second, "the refresh's request after the overflow", func() bool { return asked.Load() == 3 })
	answer(11, "v11")
	testutil.EventuallyTrue(t, 10*time.Second, "the refresh's end", func() bool { return j.m.Stats().QuorumRefreshes == 1 })
	if got, st := valueK(j.m, "S.p"), j.m.Stats(); got != "v11" || st.RefreshQueueOverflows == 0 {
		t.Errorf("after the refresh k = %v (want v11), overflows %d (want at least 1)", got, st.RefreshQueueOverflows)
	}
}
