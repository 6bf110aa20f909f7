package delta_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/session/delta"
)

// concurrently runs each change on its node's copy of session id and replicates it; every
// send is held at its node's gate until all of them are, so that no node has seen another's
// change when it makes its own (two requests of one session on two nodes at once). It
// returns once every delta was acknowledged.
func concurrently(t *testing.T, id string, ms []*delta.Manager, gs []*gatedChannel, changes []func(*delta.Session) error) {
	t.Helper()
	ctx := context.Background()
	var releases []func()
	var wg sync.WaitGroup
	errs := make([]error, len(ms))
	for i, m := range ms {
		s := m.Find(id)
		if s == nil {
			t.Fatalf("node %d: no session %s", i, id)
		}
		if err := changes[i](s); err != nil {
			t.Fatal(err)
		}
		entered, release := gs[i].arm(nil)
		releases = append(releases, release)
		wg.Go(func() { errs[i] = m.Replicate(ctx, s) })
		<-entered
	}
	for _, release := range releases {
		release()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("node %d: %v", i, err)
		}
	}
}

// attrs returns the attributes of m's copy of session id as "k=v " strings, sorted by name.
func attrs(m *delta.Manager, id string) string {
	s := m.Find(id)
	if s == nil {
		return "(none)"
	}
	names := s.Names()
	slices.Sort(names)
	var b strings.Builder
	for _, k := range names {
		v, _ := s.Get(k)
		fmt.Fprintf(&b, "%s=%v ", k, v)
	}
	return b.String()
}

// gatedNodes starts n ready nodes on one network, each sending through a gatedChannel.
func gatedNodes(t *testing.T, n int, mode delta.ReplicationMode) ([]*delta.Manager, []*gatedChannel) {
	t.Helper()
	nw := channeltest.NewNetwork()
	var ms []*delta.Manager
	var gs []*gatedChannel
	for i := range n {
		m, g := startGated(t, nw, nil, delta.Config{JvmRoute: fmt.Sprint("n", i), Replication: mode})
		ms, gs = append(ms, m), append(gs, g)
	}
	for _, g := range gs {
		if err := g.WaitForMembers(context.Background(), n-1); err != nil {
			t.Fatal(err)
		}
	}
	return ms, gs
}

// TestConcurrentChangesConverge: two (then three) nodes change one session at once, each
// before it saw the other's change. Applied in arrival order, each node kept the other's
// value of the attribute they both set; with stamps every node ends with the same one, and
// with every attribute only one of them set.
func TestConcurrentChangesConverge(t *testing.T) {
	for _, mode := range []delta.ReplicationMode{delta.ReplicateAcked, delta.ReplicateAsync} {
		for _, n := range []int{2, 3} {
			t.Run(fmt.Sprint(mode, "/", n), func(t *testing.T) {
				ms, gs := gatedNodes(t, n, mode)
				s := delta.CreateReplicated(t, ms[0], "x", "start", "gone", "start")
				id := s.ID()
				var changes []func(*delta.Session) error
				for i := range n {
					changes = append(changes, func(s *delta.Session) error {
						if err := s.Set("x", fmt.Sprint("from ", i)); err != nil {
							return err
						}
						var err error
						switch i { // one node removes what another sets again
						case 0:
							err = s.Set("gone", "set again")
						case 1:
							err = s.Remove("gone")
						}
						if err != nil {
							return err
						}
						return s.Set(fmt.Sprint("own", i), i)
					})
				}
				concurrently(t, id, ms, gs, changes)
				if mode == delta.ReplicateAsync { // sent unacknowledged: wait until applied
					testutil.EventuallyTrue(t, 10*time.Second, "every node with the same attributes", func() bool {
						for _, m := range ms[1:] {
							if attrs(m, id) != attrs(ms[0], id) {
								return false
							}
						}
						return true
					})
				}
				want := attrs(ms[0], id)
				for i, m := range ms[1:] {
					if got := attrs(m, id); got != want {
						t.Errorf("node %d has %q, node 0 %q", i+1, got, want)
					}
				}
				for i := range n {
					if !strings.Contains(want, fmt.Sprintf("own%d=%d ", i, i)) {
						t.Errorf("node %d's own attribute lost: %q", i, want)
					}
				}
				var skipped uint64
				for _, m := range ms {
					skipped += m.Stats().OlderChangesSkipped
				}
				if skipped == 0 {
					t.Error("no change skipped as older")
				}
				t.Logf("every node: %s", want)
			})
		}
	}
}

// TestOlderChangesSkipped: changes from Go nodes apply by their stamps (the session
// version the delta carries, then the sender's origin), whatever order they arrive in; a
// removal keeps an older change from bringing the attribute back; a change made here
// takes a version above every one applied; Tomcat's deltas (version 0) apply in arrival
// order.
func TestOlderChangesSkipped(t *testing.T) {
	nw := channeltest.NewNetwork()
	n := startReady(t, nw, delta.Config{JvmRoute: "n", Replication: delta.ReplicateAcked})
	versions := make(chan uint64, 16) // of the deltas n sends (each raw member reports them)
	report := func(m *delta.Message, _ channel.Member) {
		if m.Event == delta.EventDelta {
			versions <- m.Version
		}
	}
	lo, hi := newRaw(t, nw, report), newRaw(t, nw, report)
	if delta.OriginOf(lo.ch.LocalMember()) > delta.OriginOf(hi.ch.LocalMember()) {
		lo, hi = hi, lo
	}
	ctx := context.Background()
	if err := n.ch.WaitForMembers(ctx, 2); err != nil {
		t.Fatal(err)
	}
	s, err := n.m.Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Set("x", "n"); err != nil {
		t.Fatal(err)
	}
	if err := n.m.Replicate(ctx, s); err != nil {
		t.Fatal(err)
	}
	id, to := s.ID(), n.ch.LocalMember()
	set := func(from *raw, version uint64, name, v string) {
		t.Helper()
		from.send(t, to, &delta.Message{Event: delta.EventDelta, Context: appName, SessionID: id, Timestamp: time.Now().UnixMilli(),
			Version: version, Actions: []delta.Action{{Type: delta.ActionAttribute, Op: delta.OpSet, Name: name, Value: gobBytes(v)}}})
	}
	remove := func(from *raw, version uint64, name string) {
		t.Helper()
		from.send(t, to, &delta.Message{Event: delta.EventDelta, Context: appName, SessionID: id, Timestamp: time.Now().UnixMilli(),
			Version: version, Actions: []delta.Action{{Type: delta.ActionAttribute, Op: delta.OpRemove, Name: name}}})
	}
	want := func(what, all string) {
		t.Helper()
		if got := attrs(n.m, id); got != all {
			t.Errorf("%s: %q, want %q", what, got, all)
		}
	}
	set(hi, 10, "x", "hi@10")
	want("a newer change", "x=hi@10 ")
	set(lo, 9, "x", "lo@9")
	want("an older version", "x=hi@10 ")
	set(lo, 10, "x", "lo@10")
	want("the same version from a lower origin", "x=hi@10 ")
	set(hi, 10, "x", "hi@10 again")
	want("the same stamp (its sender's delta sent again)", "x=hi@10 again ")
	remove(lo, 11, "x")
	want("a newer removal", "")
	set(hi, 10, "x", "late")
	want("a change older than the removal", "")
	if err := s.Set("x", "here"); err != nil {
		t.Fatal(err)
	}
	if err := n.m.Replicate(ctx, s); err != nil {
		t.Fatal(err)
	}
	for v := uint64(1); v == 1; { // skip the session's first delta
		select {
		case v = <-versions:
		case <-time.After(10 * time.Second):
			t.Fatal("no delta from n")
		}
		if v != 1 && v != 12 {
			t.Errorf("this node's delta after version 11: version %d, want 12", v)
		}
	}
	set(hi, 11, "x", "before")
	want("a change older than this node's", "x=here ")
	// Tomcat's deltas carry no version: they apply in arrival order.
	set(hi, 0, "y", "tomcat")
	set(lo, 0, "x", "tomcat")
	want("Tomcat's changes (version 0)", "x=tomcat y=tomcat ")
	if got := n.m.Stats().OlderChangesSkipped; got != 4 {
		t.Errorf("OlderChangesSkipped %d, want 4", got)
	}
}
