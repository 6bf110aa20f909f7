package delta_test

import (
	"context"
	"encoding/gob"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/session/delta"
)

type cart struct {
	Items []string
	Total int
}

// tally is stored by pointer, to be mutated in place.
type tally struct{ Total int }

func init() {
	gob.Register(cart{})
	gob.Register(&tally{})
}

func TestSetOnAReadOnBRemoveOnC(t *testing.T) {
	ctx := context.Background()
	_, a, b, c := three(t, delta.Config{})
	s := create(t, a, "user", "alice", "n", 42, "cart", cart{Items: []string{"x"}, Total: 3})
	id := s.ID()

	sb := b.m.Find(id)
	if sb == nil {
		t.Fatal("B does not have the session")
	}
	if v, _ := delta.Attr[string](sb, "user"); v != "alice" {
		t.Errorf("B user = %q", v)
	}
	if v, _ := delta.Attr[int](sb, "n"); v != 42 {
		t.Errorf("B n = %v", v)
	}
	if v, _ := delta.Attr[cart](sb, "cart"); v.Total != 3 || !slices.Equal(v.Items, []string{"x"}) {
		t.Errorf("B cart = %+v", v)
	}
	if !s.IsPrimary() || sb.IsPrimary() {
		t.Errorf("primary: A %v B %v", s.IsPrimary(), sb.IsPrimary())
	}
	if !sb.IsNew() {
		t.Error("copy should still be new")
	}
	wantEvents(t, "A", a.rec.take(), "created local", "added local user=alice", "added local n=42",
		"added local cart={[x] 3}")
	wantEvents(t, "B", b.rec.take(), "created rep", "added rep user=alice", "added rep n=42",
		"added rep cart={[x] 3}")
	c.rec.take()

	sc := c.m.Find(id)
	if err := sc.Remove("user"); err != nil {
		t.Fatal(err)
	}
	if err := sc.SetPrincipal(&delta.Principal{Name: "alice", Roles: []string{"admin"}}); err != nil {
		t.Fatal(err)
	}
	_ = sc.SetAuthType("FORM")
	_ = sc.SetMaxInactiveInterval(10 * time.Minute)
	_ = sc.SetNote("org.example.note", "hello")
	if err := c.m.Replicate(ctx, sc); err != nil {
		t.Fatal(err)
	}
	for name, n := range map[string]*node{"A": a, "B": b} {
		x := n.m.Find(id)
		if _, ok := x.Get("user"); ok {
			t.Errorf("%s still has user", name)
		}
		if p := x.Principal(); p == nil || p.Name != "alice" || !p.HasRole("admin") {
			t.Errorf("%s principal = %+v", name, p)
		}
		if x.AuthType() != "FORM" || x.MaxInactiveInterval() != 10*time.Minute {
			t.Errorf("%s authType %q interval %v", name, x.AuthType(), x.MaxInactiveInterval())
		}
		if v, _ := x.Note("org.example.note"); v != "hello" {
			t.Errorf("%s note = %q", name, v)
		}
		if x.IsPrimary() {
			t.Errorf("%s is still primary after C served the request", name)
		}
	}
	if !sc.IsPrimary() {
		t.Error("C should be primary")
	}
	wantEvents(t, "A", a.rec.take(), "removed rep user=alice")
}

// A capture is a fake member that records the session messages it receives.
func capture(t *testing.T, nw *channeltest.Network) (*raw, func() []*delta.Message) {
	var mu sync.Mutex
	var got []*delta.Message
	r := newRaw(t, nw, func(m *delta.Message, _ channel.Member) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, m)
	})
	return r, func() []*delta.Message {
		mu.Lock()
		defer mu.Unlock()
		out := got
		got = nil
		return out
	}
}

func TestDeltaRecordsLastActionPerName(t *testing.T) {
	ctx := context.Background()
	nw := channeltest.NewNetwork()
	a := startReady(t, nw, delta.Config{})
	_, msgs := capture(t, nw)
	s, _ := a.m.Create(ctx)
	_ = s.Set("x", 1)
	_ = s.Set("y", "gone soon")
	_ = s.Set("x", 2)
	_ = s.Remove("y")
	_ = s.Remove("never-set") // records nothing
	if err := a.m.Replicate(ctx, s); err != nil {
		t.Fatal(err)
	}
	got := msgs()
	if len(got) != 2 || got[0].Event != delta.EventCreated || got[1].Event != delta.EventDelta {
		t.Fatalf("messages: %v", got)
	}
	var acts []string
	for _, a := range got[1].Actions {
		acts = append(acts, fmt.Sprintf("%v/%v/%s", a.Type, a.Op, a.Name))
	}
	want := []string{"isnew/set/__SET__ISNEW__", "maxinterval/set/__SET__MAXINTERVAL__", "attribute/set/x", "attribute/remove/y"}
	if !slices.Equal(acts, want) {
		t.Errorf("actions %q, want %q", acts, want)
	}
	if got[1].Context != appName || got[1].SessionID != s.ID() || got[1].Version != 1 {
		t.Errorf("delta header: %+v", got[1])
	}

	// Unchanged and primary: nothing is sent.
	if err := a.m.Replicate(ctx, s); err != nil {
		t.Fatal(err)
	}
	if got := msgs(); len(got) != 0 {
		t.Errorf("clean primary session sent %v", got)
	}
}

func TestAccessedWhenNotPrimary(t *testing.T) {
	ctx := context.Background()
	_, a, b, _ := three(t, delta.Config{})
	s := create(t, a, "k", "v")
	sb := b.m.Find(s.ID())
	before := b.m.Stats().Sent[delta.EventAccessed]
	if err := b.m.Replicate(ctx, sb); err != nil {
		t.Fatal(err)
	}
	if got := b.m.Stats().Sent[delta.EventAccessed] - before; got != 1 {
		t.Errorf("ACCESSED sent %d times", got)
	}
	if !sb.IsPrimary() || s.IsPrimary() {
		t.Errorf("primary after access on B: A %v B %v", s.IsPrimary(), sb.IsPrimary())
	}
	// Second request on B, still unchanged: B is primary now, nothing is sent.
	if err := b.m.Replicate(ctx, sb); err != nil {
		t.Fatal(err)
	}
	if got := b.m.Stats().Sent[delta.EventAccessed] - before; got != 1 {
		t.Errorf("ACCESSED sent %d times after the second request", got)
	}
}

func TestInvalidateAndChangeIDEverywhere(t *testing.T) {
	ctx := context.Background()
	_, a, b, c := three(t, delta.Config{})
	s := create(t, a, "k", "v")
	old := s.ID()
	for _, n := range []*node{a, b, c} {
		n.rec.take()
	}
	newID, err := a.m.ChangeSessionID(ctx, s, "")
	if err != nil {
		t.Fatal(err)
	}
	if newID == old || routeOf(newID) != "a" {
		t.Fatalf("new id %q (old %q)", newID, old)
	}
	for name, n := range map[string]*node{"A": a, "B": b, "C": c} {
		if n.m.Find(old) != nil || n.m.Find(newID) == nil {
			t.Errorf("%s: old found %v, new found %v", name, n.m.Find(old) != nil, n.m.Find(newID) != nil)
		}
	}
	wantEvents(t, "A", a.rec.take(), "idchanged local")
	wantEvents(t, "B", b.rec.take(), "idchanged rep")

	if _, err := a.m.ChangeSessionID(ctx, s, b.m.Find(newID).ID()); err != nil {
		t.Errorf("renaming to its own id: %v", err)
	}
	s2 := create(t, a)
	if _, err := a.m.ChangeSessionID(ctx, s2, newID); !errors.Is(err, delta.ErrSessionIDInUse) {
		t.Errorf("taken id: %v", err)
	}

	if err := a.m.Invalidate(ctx, s); err != nil {
		t.Fatal(err)
	}
	for name, n := range map[string]*node{"A": a, "B": b, "C": c} {
		if n.m.Find(newID) != nil {
			t.Errorf("%s still has the invalidated session", name)
		}
	}
	if err := s.Set("k", "again"); !errors.Is(err, delta.ErrInvalidSession) {
		t.Errorf("Set on an invalid session: %v", err)
	}
	wantEvents(t, "A", a.rec.take(), "created local", "destroyed local expired=false", "removed local k=v")
	wantEvents(t, "C", c.rec.take(), "idchanged rep", "created rep", "destroyed rep expired=false", "removed rep k=v")
}

func routeOf(id string) string {
	for i := 0; i < len(id); i++ {
		if id[i] == '.' {
			return id[i+1:]
		}
	}
	return ""
}

type unregistered struct{ A int }

func TestValueRefusedAtSet(t *testing.T) {
	ctx := context.Background()
	_, a, b, _ := three(t, delta.Config{})
	s := create(t, a, "ok", 1)
	for name, v := range map[string]any{"func": func() {}, "chan": make(chan int), "unregistered": unregistered{1}} {
		err := s.Set(name, v)
		var ve *delta.ValueError
		if !errors.As(err, &ve) || ve.Name != name {
			t.Errorf("Set(%s): %v", name, err)
		}
		if _, ok := s.Get(name); ok {
			t.Errorf("%s was stored", name)
		}
	}
	if s.Dirty() {
		t.Error("a refused value left a pending change")
	}
	if err := a.m.Replicate(ctx, s); err != nil {
		t.Fatal(err)
	}
	if names := b.m.Find(s.ID()).Names(); !slices.Equal(names, []string{"ok"}) {
		t.Errorf("B names %q", names)
	}
}

func TestMarkDirtyAndDetectMutations(t *testing.T) {
	ctx := context.Background()
	for _, detect := range []bool{false, true} {
		t.Run(fmt.Sprint("detect=", detect), func(t *testing.T) {
			_, a, b, _ := three(t, delta.Config{DetectMutations: detect})
			s := create(t, a, "cart", &tally{Total: 1})
			c, _ := delta.Attr[*tally](s, "cart")
			c.Total = 2 // mutated in place, not set again
			if err := a.m.Replicate(ctx, s); err != nil {
				t.Fatal(err)
			}
			got, _ := delta.Attr[*tally](b.m.Find(s.ID()), "cart")
			if detect && got.Total != 2 || !detect && got.Total != 1 {
				t.Errorf("B total %d with DetectMutations %v", got.Total, detect)
			}
			c.Total = 3
			if err := s.MarkDirty("cart"); err != nil {
				t.Fatal(err)
			}
			if err := a.m.Replicate(ctx, s); err != nil {
				t.Fatal(err)
			}
			if got, _ := delta.Attr[*tally](b.m.Find(s.ID()), "cart"); got.Total != 3 {
				t.Errorf("after MarkDirty B total %d", got.Total)
			}
			if detect && a.m.Stats().MutationsDetected != 1 {
				t.Errorf("MutationsDetected %d", a.m.Stats().MutationsDetected)
			}
		})
	}
}

func TestMalformedMessagesCountedAndIgnored(t *testing.T) {
	nw := channeltest.NewNetwork()
	a := startReady(t, nw, delta.Config{})
	s := create(t, a, "k", "v")
	r := newRaw(t, nw, nil)
	good, _ := delta.BinaryCodec{}.AppendMessage(nil, &delta.Message{Event: delta.EventExpired, Context: appName, SessionID: s.ID()})
	bad := [][]byte{
		{0xF5, 'T', 'S', 1},                  // header only
		{0xF5, 'T', 'S', 1, 99},              // unknown event
		append(append([]byte{}, good...), 0), // trailing byte
		good[:len(good)-3],                   // truncated
		{0xF5, 'T', 'S', 1, 13, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}, // huge length
	}
	for _, b := range bad {
		if err := r.ch.Send(context.Background(), nil, b, channel.OptUseAck|channel.OptSyncAck); err != nil {
			t.Fatalf("a malformed message was FAIL_ACKed: %v", err)
		}
	}
	// Not a session message at all: left to other listeners, not counted.
	_ = r.ch.Send(context.Background(), nil, []byte("hello"), 0)
	if got := a.cl.Stats().Malformed; got != uint64(len(bad)) {
		t.Errorf("Malformed = %d, want %d", got, len(bad))
	}
	if a.m.Find(s.ID()) == nil {
		t.Error("a malformed message changed the session table")
	}
}

func TestUnknownContextAndSeveralManagers(t *testing.T) {
	ctx := context.Background()
	nw := channeltest.NewNetwork()
	var nodes []*node
	for range 2 {
		n := startReady(t, nw, delta.Config{Name: "localhost#/one"})
		two, err := n.cl.NewManager(delta.Config{Name: "localhost#/two"})
		if err != nil {
			t.Fatal(err)
		}
		if err := two.Start(ctx); err != nil {
			t.Fatal(err)
		}
		if err := two.WaitReady(ctx); err != nil {
			t.Fatal(err)
		}
		if dup, _ := n.cl.NewManager(delta.Config{Name: "localhost#/two"}); dup.Start(ctx) == nil {
			t.Error("a second manager with the same name started")
		}
		nodes = append(nodes, n)
	}
	s1 := create(t, nodes[0], "app", "one")
	two0 := nodes[0].cl.Manager("localhost#/two")
	s2, _ := two0.Create(ctx)
	_ = s2.Set("app", "two")
	_ = two0.Replicate(ctx, s2)
	one1, two1 := nodes[1].cl.Manager("localhost#/one"), nodes[1].cl.Manager("localhost#/two")
	if one1.Find(s1.ID()) == nil || two1.Find(s1.ID()) != nil || two1.Find(s2.ID()) == nil || one1.Find(s2.ID()) != nil {
		t.Error("sessions crossed contexts")
	}

	replies := make(chan *delta.Message, 1)
	r := newRaw(t, nw, func(m *delta.Message, _ channel.Member) { replies <- m })
	r.send(t, nodes[0].tn.Member(), &delta.Message{Event: delta.EventGetAllSessions, Context: "localhost#/nope", SessionID: "GET-ALL"})
	r.send(t, nodes[0].tn.Member(), &delta.Message{Event: delta.EventCreated, Context: "localhost#/nope", SessionID: "X"})
	nodes[0].cl.Close(ctx) // waits for the reply goroutine
	select {
	case m := <-replies:
		if m.Event != delta.EventNoContextManager || m.Context != "localhost#/nope" {
			t.Errorf("reply %+v", m)
		}
	default:
		t.Error("no NO_CONTEXT_MANAGER reply")
	}
	if st := nodes[0].cl.Stats(); st.UnknownContext != 2 || st.NoContextReplies != 1 {
		t.Errorf("cluster stats %+v", st)
	}
}

func TestConcurrentRequestsOnOneSessionStayOrdered(t *testing.T) {
	ctx := context.Background()
	_, a, b, _ := three(t, delta.Config{Replication: delta.ReplicateAcked})
	s := create(t, a)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				_ = s.Set("last", fmt.Sprint(g, "-", i))
				_ = s.Set(fmt.Sprint("g", g), i)
				if err := a.m.Replicate(ctx, s); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	sb := b.m.Find(s.ID())
	for _, name := range s.Names() {
		va, _ := s.Get(name)
		vb, _ := sb.Get(name)
		if va != vb {
			t.Errorf("%s: A %v, B %v", name, va, vb)
		}
	}
}

func TestCopyCreatedFromFirstDeltaAfterPartition(t *testing.T) {
	ctx := context.Background()
	nw, a, b, _ := three(t, delta.Config{})
	nw.Partition(a.tn, b.tn)
	s, _ := a.m.Create(ctx) // B does not see EVT_SESSION_CREATED
	_ = s.Set("k", "v")
	nw.Heal(a.tn, b.tn)
	if err := a.m.Replicate(ctx, s); err != nil {
		t.Fatal(err)
	}
	sb := b.m.Find(s.ID())
	if sb == nil {
		t.Fatal("B did not create the session from its first delta")
	}
	if v, _ := sb.Get("k"); v != "v" {
		t.Errorf("B k = %v", v)
	}
}

func TestNamedListenerAndSkipListenersOnReplication(t *testing.T) {
	ctx := context.Background()
	var mu sync.Mutex
	var destroyed []string
	named := map[string]delta.SessionListener{"sso": delta.SessionListenerFuncs{Destroyed: func(e delta.SessionEvent) {
		mu.Lock()
		defer mu.Unlock()
		destroyed = append(destroyed, rep(e.Replicated))
	}}}
	_, a, b, _ := three(t, delta.Config{NamedListeners: named, SkipListenersOnReplication: true})
	s := create(t, a)
	_ = s.AttachListener("sso")
	_ = a.m.Replicate(ctx, s)
	_ = a.m.Invalidate(ctx, s)
	mu.Lock()
	if !slices.Equal(destroyed, []string{"local"}) {
		t.Errorf("named listener calls %q (replicated ones are skipped)", destroyed)
	}
	mu.Unlock()
	wantEvents(t, "B", b.rec.take()) // nothing: SkipListenersOnReplication
}

// TestNamedListenerIDChanged: a named listener attached to a session that is an
// IDListener learns of the session's id changes after the rename, with the old id: on the
// node that renamed it and, as Tomcat's session listeners (SESSION_CHANGED_ID_EVENT), on
// the nodes that applied the rename, even with SkipListenersOnReplication (which still
// keeps the Config.SessionListeners of those nodes from being told).
func TestNamedListenerIDChanged(t *testing.T) {
	ctx := context.Background()
	var mu sync.Mutex
	var calls []string
	lookup := func(name string) delta.SessionListener {
		return delta.SessionListenerFuncs{IDChanged: func(e delta.SessionEvent, oldID string) {
			mu.Lock()
			defer mu.Unlock()
			calls = append(calls, fmt.Sprintf("%s %s %s->%s", name, rep(e.Replicated), oldID, e.Session.ID()))
		}}
	}
	_, a, b, _ := three(t, delta.Config{NamedListener: lookup, SkipListenersOnReplication: true})
	s := create(t, a)
	old := s.ID()
	if err := errors.Join(s.AttachListener("sso"), a.m.Replicate(ctx, s)); err != nil {
		t.Fatal(err)
	}
	a.rec.take()
	b.rec.take()
	renamed, err := a.m.ChangeSessionID(ctx, s, "")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"sso local " + old + "->" + renamed, "sso rep " + old + "->" + renamed, "sso rep " + old + "->" + renamed}
	testutil.EventuallyTrue(t, testutil.WaitLimit, "every node's listener told", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(calls) == len(want)
	})
	mu.Lock()
	slices.Sort(calls)
	if !slices.Equal(calls, want) {
		t.Errorf("named listener calls %q, want %q", calls, want)
	}
	mu.Unlock()
	wantEvents(t, "A", a.rec.take(), "idchanged local")
	wantEvents(t, "B", b.rec.take()) // SkipListenersOnReplication
}

// TestNamedListenerLookup: a name NamedListeners lacks is looked up with NamedListener;
// SessionDestroyed tells an invalidation, a timeout and the manager's Stop apart.
func TestNamedListenerLookup(t *testing.T) {
	ctx := context.Background()
	var mu sync.Mutex
	var calls []string
	lookup := func(name string) delta.SessionListener {
		if name == "unknown" {
			return nil
		}
		return delta.SessionListenerFuncs{Destroyed: func(e delta.SessionEvent) {
			mu.Lock()
			defer mu.Unlock()
			calls = append(calls, fmt.Sprintf("%s expired=%t stopping=%t", name, e.Expired, e.Stopping))
		}}
	}
	m := startReady(t, channeltest.NewNetwork(), delta.Config{JvmRoute: "a", NamedListener: lookup, ExpireInterval: -1,
		MemberWait: -1}).m
	attach := func(name string) *delta.Session {
		s, err := m.Create(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := errors.Join(s.AttachListener(name), s.AttachListener("unknown")); err != nil {
			t.Fatal(err)
		}
		return s
	}
	if err := m.Invalidate(ctx, attach("sso-1")); err != nil {
		t.Fatal(err)
	}
	timed := attach("sso-2")
	if err := timed.SetMaxInactiveInterval(time.Second); err != nil {
		t.Fatal(err)
	}
	// Waiting for Find to miss the session is not enough: Find hides a session past its
	// interval before a sweep destroys it, and one that crosses it between a
	// ProcessExpires and the Find would be destroyed only by the Stop below.
	testutil.EventuallyTrue(t, testutil.WaitLimit, "the session timed out", func() bool {
		m.ProcessExpires(ctx)
		mu.Lock()
		defer mu.Unlock()
		return len(calls) == 2
	})
	attach("sso-3")
	if err := m.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	want := []string{"sso-1 expired=false stopping=false", "sso-2 expired=true stopping=false", "sso-3 expired=false stopping=true"}
	if !slices.Equal(calls, want) {
		t.Errorf("calls %q, want %q", calls, want)
	}
}

// staleView is a delta.Channel whose member list still holds a dead member, as a static
// membership without failure detection does.
type staleView struct {
	*channel.Channel
	dead channel.Member
}

func (v staleView) Members() []channel.Member { return append(v.Channel.Members(), v.dead) }

// TestTolerateUnreachable: a member in the view that cannot be connected to fails acked
// replication, unless TolerateUnreachable; then, with ClusterSize, it does not count
// toward the quorum (a, the live b and the dead member: 2 of 3 or 4 nodes hold a change).
func TestTolerateUnreachable(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		tolerate bool
		size     int
	}{{false, 0}, {true, 0}, {true, 3}, {true, 4}} {
		t.Run(fmt.Sprintf("tolerate=%v/size=%d", tc.tolerate, tc.size), func(t *testing.T) {
			nw := channeltest.NewNetwork()
			b := startReady(t, nw, delta.Config{JvmRoute: "b"})
			dead, _ := newChannel(t, nw)
			deadMember := dead.Member()
			nw.Kill(dead)
			_, ch := newChannel(t, nw)
			cl := newCluster(t, staleView{ch, deadMember}, delta.ClusterConfig{})
			t.Cleanup(func() { _ = cl.Close(ctx) })
			m, err := cl.NewManager(delta.Config{Name: appName, JvmRoute: "a", Replication: delta.ReplicateAcked,
				TolerateUnreachable: tc.tolerate, ClusterSize: tc.size, SkipStateTransfer: true})
			if err != nil {
				t.Fatal(err)
			}
			if err := m.Start(ctx); err != nil {
				t.Fatal(err)
			}
			s, _ := m.Create(ctx)
			_ = s.Set("k", "v")
			err = m.Replicate(ctx, s)
			switch {
			case !tc.tolerate:
				if !errors.Is(err, channel.ErrConnect) {
					t.Errorf("err %v, want ErrConnect", err)
				}
			case tc.size == 4:
				if !errors.Is(err, delta.ErrNoQuorum) || m.Stats().UnreachableTolerated == 0 {
					t.Errorf("err %v (want ErrNoQuorum), tolerated %d", err, m.Stats().UnreachableTolerated)
				}
			default:
				if err != nil || m.Stats().UnreachableTolerated == 0 {
					t.Errorf("err %v, tolerated %d", err, m.Stats().UnreachableTolerated)
				}
			}
			if v, _ := b.m.Find(s.ID()).Get("k"); v != "v" {
				t.Error("the live member did not get the change")
			}
		})
	}
}
