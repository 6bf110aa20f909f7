package delta_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/sessionhttp"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/session/delta"
)

// lowHigh orders two nodes by their channels' unique ids.
func lowHigh(x, y *node) (low, high *node) {
	xi, yi := x.ch.LocalMember().UniqueID, y.ch.LocalMember().UniqueID
	if bytes.Compare(xi[:], yi[:]) < 0 {
		return x, y
	}
	return y, x
}

// settled waits until none of ns probes a member that just left its view (cut.go):
// until then they acknowledge no change.
func settled(t *testing.T, ns ...*node) {
	t.Helper()
	testutil.EventuallyTrue(t, 10*time.Second, "the probes of the members that left are over", func() bool {
		for _, n := range ns {
			if n.cl.Stats().Probing != 0 {
				return false
			}
		}
		return true
	})
}

// readK wraps a page that answers "k=<the session's k>" in n's middleware.
func readK(t *testing.T, n *node) http.Handler {
	return wrap(t, n, delta.HTTPConfig{}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v, _ := delta.FromContext(r.Context()).Get("k")
		fmt.Fprintf(w, "k=%v", v)
	}))
}

// holding describes the copies n holds of the session id under each of the routes of
// three's nodes, for a failure's message: which it serves, if any, and what k they hold.
func holding(n *node, id string) string {
	var out []string
	for _, r := range []string{"a", "b", "c"} {
		if s := n.m.Find(sessionhttp.WithRoute(id, r)); s != nil {
			v, _ := s.Get("k")
			out = append(out, fmt.Sprintf("%s k=%v", s.ID(), v))
		}
	}
	if len(out) == 0 {
		return "no copy under any route"
	}
	return strings.Join(out, ", ")
}

// A partition of one link only: a and c no longer reach each other, both reach b, so each
// still sees a majority of the three. Without more, both would serve: a's changes reach b
// but not c, and c would serve its stale copy. The probes (cut.go) tell each side that
// the other is alive; the one with the higher id (high) serves nothing and acknowledges
// nothing, the other (low) and b go on. Healed, high refreshes its copies and serves the
// change it missed.
func TestPartialPartition(t *testing.T) {
	ctx := context.Background()
	nw, a, b, c := three(t, delta.Config{Replication: delta.ReplicateAcked, ClusterSize: 3})
	startedAlone(t, a)
	low, high := lowHigh(a, c)
	s := create(t, low, "k", "v1")
	if err := low.m.Replicate(ctx, s); err != nil {
		t.Fatal(err)
	}
	readHigh := readK(t, high)
	if w := get(readHigh, "/", s.ID()); w.Code != http.StatusOK || w.Body.String() != "k=v1" {
		t.Fatalf("before the cut: %d %q", w.Code, w.Body.String())
	}

	nw.Partition(a.tn, c.tn)
	testutil.EventuallyTrue(t, 10*time.Second, "the node with the higher id stands down", func() bool {
		return high.cl.Stats().PartialCuts == 1
	})
	settled(t, a, b, c)
	if w := get(readHigh, "/", s.ID()); w.Code != http.StatusServiceUnavailable {
		t.Fatalf("high served during the cut: %d %q", w.Code, w.Body.String())
	}
	if n := len(high.ch.Members()); n != 1 {
		t.Fatalf("high sees %d members, want b only", n)
	}
	sh := high.m.Find(s.ID())
	_ = sh.Set("k", "high")
	if err := high.m.Replicate(ctx, sh); !errors.Is(err, delta.ErrNoQuorum) {
		t.Errorf("high's change during the cut: %v, want ErrNoQuorum", err)
	}
	// low and b go on: low's change reaches b (every node that serves), not high.
	_ = s.Set("k", "v2")
	if err := low.m.Replicate(ctx, s); err != nil {
		t.Fatalf("low's change during the cut: %v", err)
	}
	if w := get(readK(t, b), "/", s.ID()); w.Code != http.StatusOK || w.Body.String() != "k=v2" {
		t.Errorf("b during the cut: %d %q, want k=v2", w.Code, w.Body.String())
	}
	if w := get(readK(t, low), "/", s.ID()); w.Code != http.StatusOK || w.Body.String() != "k=v2" {
		t.Errorf("low during the cut: %d %q, want k=v2", w.Code, w.Body.String())
	}
	if st := low.cl.Stats(); st.PartialCuts != 0 {
		t.Errorf("low's PartialCuts = %d, want 0", st.PartialCuts)
	}
	// Still standing down after more probe rounds: they keep confirming the cut (it
	// would be over cutExpiry after the last confirmation).
	probes := high.cl.Stats().ProbesRequested
	testutil.EventuallyTrue(t, 10*time.Second, "three more probe rounds", func() bool {
		return high.cl.Stats().ProbesRequested >= probes+3
	})
	if w := get(readHigh, "/", s.ID()); w.Code != http.StatusServiceUnavailable {
		t.Fatalf("high served during the cut: %d %q", w.Code, w.Body.String())
	}

	nw.Heal(a.tn, c.tn)
	testutil.Eventually(t, 15*time.Second, func() error {
		if w := get(readHigh, "/", s.ID()); w.Code != http.StatusOK || w.Body.String() != "k=v2" {
			return fmt.Errorf("high after the healing: %d %q, want k=v2 (cookie %s; high holds %s; low %s; b %s; high's stats %+v)",
				w.Code, w.Body.String(), s.ID(), holding(high, s.ID()), holding(low, s.ID()), holding(b, s.ID()), high.m.Stats())
		}
		return nil
	})
	if st := high.m.Stats(); st.QuorumRefreshes < 1 {
		t.Errorf("high served again without a refresh: %+v", st)
	}

	// high's binder renamed the session back to high's route, at the version at which b's
	// read renamed it away from there during the cut: the records of that rename away
	// must not remove it from a node that refreshes, as a late catch-up's answer that came
	// after high's read did (the failure of the step above, once in CI, traced here in runs
	// beside CPU load: TestRenamedBackKeptByRefresh).
	refreshes := high.m.Stats().QuorumRefreshes
	nw.Isolate(high.tn, low.tn, b.tn)
	nw.Heal(high.tn, low.tn)
	nw.Heal(high.tn, b.tn)
	testutil.EventuallyTrue(t, 10*time.Second, "high's next refresh", func() bool {
		return high.m.Stats().QuorumRefreshes > refreshes && high.m.Refusing() == nil
	})
	testutil.Eventually(t, 15*time.Second, func() error {
		if w := get(readHigh, "/", s.ID()); w.Code != http.StatusOK || w.Body.String() != "k=v2" {
			return fmt.Errorf("high after its next refresh: %d %q, want k=v2 (cookie %s; high holds %s; high's stats %+v)",
				w.Code, w.Body.String(), s.ID(), holding(high, s.ID()), high.m.Stats())
		}
		return nil
	})
}

// A member that dies is reached by no one: the others' probes find it gone, and no node
// stands down.
func TestPartialPartitionNotADeath(t *testing.T) {
	nw, a, b, c := three(t, delta.Config{Replication: delta.ReplicateAcked, ClusterSize: 3})
	startedAlone(t, a)
	low, high := lowHigh(a, b)
	nw.Kill(low.tn)
	settled(t, high, c)
	testutil.EventuallyTrue(t, 10*time.Second, "three rounds of probes of the dead node", func() bool {
		return high.cl.Stats().ProbesRequested >= 3 && c.cl.Stats().ProbesRequested >= 3
	})
	for _, n := range []*node{high, c} {
		if st := n.cl.Stats(); st.PartialCuts != 0 {
			t.Errorf("a survivor stood down after a death: %+v", st)
		}
		create(t, n, "k", "v") // replicated, acknowledged
	}
}

// The node a cut is about dies while the cut lasts: the one that stood down finds it
// reached by no member any more, and once no cut was confirmed for cutExpiry it refreshes
// and serves again (the dead node's last changes are on the members that saw it).
func TestPartialPartitionThenDeath(t *testing.T) {
	ctx := context.Background()
	nw, a, b, c := three(t, delta.Config{Replication: delta.ReplicateAcked, ClusterSize: 3})
	startedAlone(t, a)
	low, high := lowHigh(a, c)
	s := create(t, low, "k", "v1")
	nw.Partition(a.tn, c.tn)
	testutil.EventuallyTrue(t, 10*time.Second, "the node with the higher id stands down", func() bool {
		return high.cl.Stats().PartialCuts == 1
	})
	settled(t, a, b, c)
	_ = s.Set("k", "v2")
	if err := low.m.Replicate(ctx, s); err != nil {
		t.Fatal(err)
	}
	refreshes := high.m.Stats().QuorumRefreshes
	nw.Kill(low.tn)
	read := readK(t, high)
	testutil.Eventually(t, 15*time.Second, func() error {
		if w := get(read, "/", s.ID()); w.Code != http.StatusOK || w.Body.String() != "k=v2" {
			return fmt.Errorf("high after the death of the other: %d %q, want k=v2", w.Code, w.Body.String())
		}
		return nil
	})
	if high.m.Stats().QuorumRefreshes == refreshes {
		t.Error("high served again without a refresh")
	}
}

// Five nodes, two links cut (n0-n2, n1-n3): of each pair the node with the higher id
// stands down, the others go on, and every node that serves sees every other that does,
// so a change made on any of them is read on all of them.
func TestPartialPartitionTwoCuts(t *testing.T) {
	ctx := context.Background()
	nw := channeltest.NewNetwork()
	var ns []*node
	for _, r := range []string{"n0", "n1", "n2", "n3", "n4"} {
		ns = append(ns, startReady(t, nw, delta.Config{JvmRoute: r, Replication: delta.ReplicateAcked, ClusterSize: 5}))
	}
	// change makes a session on n and replicates it.
	change := func(n *node) (*delta.Session, error) {
		s, err := n.m.Create(ctx)
		if err == nil {
			err = s.Set("k", "v")
		}
		if err == nil {
			err = n.m.Replicate(ctx, s)
		}
		return s, err
	}
	testutil.Eventually(t, 10*time.Second, func() error { // the nodes that started without the quorum refreshed
		for i, n := range ns {
			if _, err := change(n); err != nil {
				return fmt.Errorf("n%d: %w", i, err)
			}
		}
		return nil
	})
	down := map[*node]bool{}
	for _, pair := range [][2]int{{0, 2}, {1, 3}} {
		x, y := ns[pair[0]], ns[pair[1]]
		nw.Partition(x.tn, y.tn)
		_, high := lowHigh(x, y)
		down[high] = true
	}
	testutil.EventuallyTrue(t, 10*time.Second, "the higher id of each pair stands down", func() bool {
		for n := range down {
			if n.cl.Stats().PartialCuts == 0 {
				return false
			}
		}
		return true
	})
	settled(t, ns...)
	var serving []*node
	for i, n := range ns {
		if down[n] {
			if _, err := change(n); !errors.Is(err, delta.ErrNoQuorum) {
				t.Errorf("n%d stood down but acknowledged a change: %v", i, err)
			}
			continue
		}
		if st := n.cl.Stats(); st.PartialCuts != 0 {
			t.Errorf("n%d, the lower id of its pair or in none, stood down: %+v", i, st)
		}
		serving = append(serving, n)
	}
	if len(serving) != 3 {
		t.Fatalf("%d nodes serve, want 3", len(serving))
	}
	for _, w := range serving {
		s, err := change(w)
		if err != nil {
			t.Fatalf("a serving node's change: %v", err)
		}
		for _, r := range serving {
			if got := r.m.Find(s.ID()); got == nil {
				t.Errorf("a serving node lacks %s, made on another serving node", s.ID())
			} else if v, _ := got.Get("k"); v != "v" {
				t.Errorf("%s = %v on a serving node, want v", s.ID(), v)
			}
		}
	}
}

// A node runs at most MaxProbing probes for other nodes at once: a request beyond them is
// dropped unanswered (its sender asks again at its next round), and answered again once a
// probe ended.
func TestProbesForOthersBounded(t *testing.T) {
	nw := channeltest.NewNetwork()
	_, chX := newChannel(t, nw)
	_, chR := newChannel(t, nw) // the requester: a bare channel that records the answers
	cl := newCluster(t, chX, delta.ClusterConfig{})
	t.Cleanup(func() { _ = cl.Close(context.Background()) })
	target := channel.UniqueID{9} // no such member: a probe of it is answered at once, unreached
	want := delta.ProbeResult(target, false)
	results := make(chan []byte, 8)
	t.Cleanup(chR.AddMessageListener(channel.MessageListenerFunc(func(m *channel.Message) error {
		if bytes.Equal(m.Data, want) {
			results <- bytes.Clone(m.Data)
		}
		return nil
	})))
	testutil.EventuallyTrue(t, 10*time.Second, "each lists the other", func() bool {
		return len(chX.Members()) == 1 && len(chR.Members()) == 1
	})
	ask := func() {
		t.Helper()
		// Acknowledged once the node handled it (sync_ack).
		if err := chR.Send(context.Background(), chR.Members(), delta.ProbeRequest(target), channel.OptUseAck|channel.OptSyncAck); err != nil {
			t.Fatal(err)
		}
	}

	free := delta.OccupyProbes(cl, delta.MaxProbing) // every slot taken
	ask()
	select {
	case got := <-results:
		t.Fatalf("a probe request beyond the bound was answered: %x", got)
	case <-time.After(300 * time.Millisecond): // an answer would have come at once
	}
	free() // a probe ended
	ask()
	select {
	case <-results:
	case <-time.After(10 * time.Second):
		t.Fatal("a probe request within the bound was not answered")
	}
}
