package scsstore_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/alexedwards/scs/v2"
	"go.uber.org/goleak"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/session/delta"
	"github.com/gotribes/tribes/session/scsstore"
)

func TestMain(m *testing.M) {
	// scs.New starts a cleanup goroutine for the memory store it sets, which the Store
	// replaces; scs has no way to stop it without a data race (StopCleanup right after
	// New), so it stays, one per SessionManager.
	goleak.VerifyTestMain(m, append(testutil.IgnoreGnetPool(),
		goleak.IgnoreTopFunction("github.com/alexedwards/scs/v2/memstore.(*MemStore).startCleanup"))...)
}

// Compile-time checks: the Store is every kind of store scs knows.
var (
	_ scs.Store            = (*scsstore.Store)(nil)
	_ scs.CtxStore         = (*scsstore.Store)(nil)
	_ scs.IterableStore    = (*scsstore.Store)(nil)
	_ scs.IterableCtxStore = (*scsstore.Store)(nil)
)

// node is a cluster member: an in-memory channel, a delta manager, a Store over it and an
// scs session manager serving the test pages.
type node struct {
	tn  *channeltest.Node
	ch  *channel.Channel
	m   *delta.Manager
	st  *scsstore.Store
	sm  *scs.SessionManager
	srv http.Handler
}

// startNode starts a member with cfg (Name and MemberWait set here) and scfg (Manager set
// here); it does not wait for the manager's state transfer.
func startNode(t *testing.T, nw *channeltest.Network, cfg delta.Config, scfg scsstore.Config) *node {
	t.Helper()
	n := &node{}
	n.tn, n.ch = nw.StartChannel(t)
	cl, err := delta.NewCluster(delta.ClusterConfig{Channel: n.ch})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cl.Close(context.Background()) })
	cfg.Name = "localhost#/app"
	if cfg.MemberWait == 0 {
		cfg.MemberWait = -1
	}
	m, err := cl.NewManager(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	n.m = m
	scfg.Manager = m
	if n.st, err = scsstore.New(scfg); err != nil {
		t.Fatal(err)
	}
	n.sm = scs.New()
	n.sm.Store = n.st
	mux := http.NewServeMux()
	mux.HandleFunc("/put", func(w http.ResponseWriter, r *http.Request) {
		n.sm.Put(r.Context(), "v", r.URL.Query().Get("v"))
		fmt.Fprint(w, "put")
	})
	mux.HandleFunc("/get", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "v=%s", n.sm.GetString(r.Context(), "v"))
	})
	mux.HandleFunc("/renew", func(w http.ResponseWriter, r *http.Request) {
		if err := n.sm.RenewToken(r.Context()); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	})
	mux.HandleFunc("/destroy", func(w http.ResponseWriter, r *http.Request) {
		if err := n.sm.Destroy(r.Context()); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	})
	n.srv = n.sm.LoadAndSave(mux)
	return n
}

// cluster starts k ready members.
func cluster(t *testing.T, k int, cfg delta.Config) (*channeltest.Network, []*node) {
	t.Helper()
	nw := channeltest.NewNetwork()
	var ns []*node
	for range k {
		n := startNode(t, nw, cfg, scsstore.Config{})
		if err := n.m.WaitReady(context.Background()); err != nil {
			t.Fatal(err)
		}
		ns = append(ns, n)
	}
	return nw, ns
}

// get requests path from n with the session token (none if empty) and returns the
// response's status, body and token (the request's if the response sets none).
func get(n *node, path, token string) (int, string, string) {
	r := httptest.NewRequest(http.MethodGet, path, nil)
	if token != "" {
		r.AddCookie(&http.Cookie{Name: "session", Value: token})
	}
	w := httptest.NewRecorder()
	n.srv.ServeHTTP(w, r)
	for _, c := range w.Result().Cookies() {
		if c.Name == "session" {
			token = c.Value
			if c.MaxAge < 0 {
				token = ""
			}
		}
	}
	body, _ := io.ReadAll(w.Result().Body)
	return w.Code, string(body), token
}

// A session scs creates on one node is read and changed on the others; a renewed token
// and a destroyed session are gone on every node.
func TestSessionsAcrossNodes(t *testing.T) {
	for _, mode := range []delta.ReplicationMode{delta.ReplicateAcked, delta.ReplicateAsync} {
		t.Run(mode.String(), func(t *testing.T) {
			_, ns := cluster(t, 3, delta.Config{Replication: mode})
			a, b, c := ns[0], ns[1], ns[2]
			code, _, tok := get(a, "/put?v=one", "")
			if code != http.StatusOK || tok == "" {
				t.Fatalf("put on a: %d, token %q", code, tok)
			}
			// Async replication returns before the members applied the change.
			await := func(what string, ok func() bool) {
				t.Helper()
				testutil.EventuallyTrue(t, 10*time.Second, what, ok)
			}
			for i, n := range ns {
				await(fmt.Sprintf("node %d reads the session", i), func() bool {
					_, body, _ := get(n, "/get", tok)
					return body == "v=one"
				})
			}
			if s := b.m.Find(tok); s == nil || s.IsPrimary() {
				t.Fatalf("b's copy of %s: %v", tok, s)
			}
			if _, _, again := get(c, "/put?v=two", tok); again != tok {
				t.Fatalf("c changed the token from %s to %s", tok, again)
			}
			for i, n := range ns { // async: the renewal below must not race c's change
				await(fmt.Sprintf("node %d reads c's change", i), func() bool { _, body, _ := get(n, "/get", tok); return body == "v=two" })
			}
			if !c.m.Find(tok).IsPrimary() {
				t.Error("c, which committed last, is not the session's primary")
			}

			_, _, renewed := get(b, "/renew", tok)
			if renewed == "" || renewed == tok {
				t.Fatalf("renew on b gave token %q (was %q)", renewed, tok)
			}
			await("the old token gone and the new one on a", func() bool {
				_, found, _ := a.st.Find(tok)
				_, body, _ := get(a, "/get", renewed)
				return !found && body == "v=two"
			})

			if _, _, left := get(c, "/destroy", renewed); left != "" {
				t.Fatalf("destroy left token %q", left)
			}
			for i, n := range ns {
				await(fmt.Sprintf("node %d without the destroyed session", i), func() bool {
					_, found, err := n.st.Find(renewed)
					return !found && err == nil
				})
				if _, body, _ := get(n, "/get", renewed); body != "v=" {
					t.Errorf("node %d serves the destroyed session: %q", i, body)
				}
			}
		})
	}
}

// Concurrent clients on every node, each with its own session: every node ends with
// every client's last value (acked: as soon as the client got its answer).
func TestConcurrentClients(t *testing.T) {
	_, ns := cluster(t, 3, delta.Config{Replication: delta.ReplicateAcked})
	const clients, rounds = 12, 20
	toks := make([]string, clients)
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for i := range clients {
		wg.Go(func() {
			tok := ""
			for r := range rounds {
				n := ns[(i+r)%len(ns)]
				code, _, got := get(n, fmt.Sprintf("/put?v=%d-%d", i, r), tok)
				if code != http.StatusOK || (tok != "" && got != tok) {
					errs <- fmt.Errorf("client %d round %d: %d, token %q after %q", i, r, code, got, tok)
					return
				}
				tok = got
				// The next node reads what this one committed.
				next := ns[(i+r+1)%len(ns)]
				if _, body, _ := get(next, "/get", tok); body != fmt.Sprintf("v=%d-%d", i, r) {
					errs <- fmt.Errorf("client %d round %d: the next node read %q", i, r, body)
					return
				}
			}
			toks[i] = tok
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for k, n := range ns {
		all, err := n.st.All()
		if err != nil {
			t.Fatal(err)
		}
		if len(all) != clients {
			t.Errorf("node %d holds %d sessions, want %d", k, len(all), clients)
		}
	}
}

// A session lasts until the expiry scs gave, on every node; the managers' idle timeout
// follows it, rounded up to the second. An expiry already passed deletes the session.
func TestExpiry(t *testing.T) {
	_, ns := cluster(t, 2, delta.Config{Replication: delta.ReplicateAcked})
	a, b := ns[0], ns[1]
	now := time.Now()
	clock := func() time.Time { return now }
	a.st.SetClock(func() time.Time { return clock() })
	b.st.SetClock(func() time.Time { return clock() })
	expiry := now.Add(90*time.Second + 300*time.Millisecond)
	data, err := scs.GobCodec{}.Encode(expiry, map[string]any{"k": "v"})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.st.Commit("tok", data, expiry); err != nil {
		t.Fatal(err)
	}
	if got := b.m.Find("tok").MaxInactiveInterval(); got != 91*time.Second {
		t.Errorf("b's copy: idle timeout %v, want 91s", got)
	}
	for name, n := range map[string]*node{"a": a, "b": b} {
		if d, found, err := n.st.Find("tok"); err != nil || !found || !bytes.Equal(d, data) {
			t.Errorf("%s before the expiry: %q %v %v", name, d, found, err)
		}
	}
	later := expiry
	clock = func() time.Time { return later }
	for name, n := range map[string]*node{"a": a, "b": b} {
		if _, found, err := n.st.Find("tok"); err != nil || found {
			t.Errorf("%s at the expiry: found %v, %v", name, found, err)
		}
		if all, err := n.st.All(); err != nil || len(all) != 0 {
			t.Errorf("%s at the expiry: All() = %v, %v", name, all, err)
		}
	}

	// scs's Lifetime may be anything: an expiry past the year 2262 is kept as the latest
	// one the store holds, not wrapped into the past.
	clock = func() time.Time { return now }
	if err := a.st.Commit("far", data, now.AddDate(300, 0, 0)); err != nil {
		t.Fatal(err)
	}
	if _, found, err := b.st.Find("far"); !found || err != nil {
		t.Errorf("a session 300 years from its expiry: found %v, %v", found, err)
	}
	if err := a.st.Commit("tok", []byte("again"), now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := b.st.Commit("tok", []byte("gone"), now.Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	if s := a.m.Find("tok"); s != nil {
		t.Errorf("a holds the session committed with an expiry already passed: %v", s.ID())
	}
}

// A node whose state transfer runs does not answer Find before it ends: it waits up to
// ReadyTimeout, then returns ErrNotReady, and returns ctx's error when ctx ends first.
func TestFindWaitsForTheStateTransfer(t *testing.T) {
	nw := channeltest.NewNetwork()
	_, silent := nw.StartChannel(t)
	silent.AddMessageListener(swallow{}) // takes the joiner's request and never answers
	cfg := delta.Config{StateTransferTimeout: time.Minute, MemberWait: time.Minute}
	j := startNode(t, nw, cfg, scsstore.Config{ReadyTimeout: 50 * time.Millisecond})
	if j.m.Ready() {
		t.Fatal("the joiner is ready without an answer")
	}
	if _, _, err := j.st.Find("tok"); !errors.Is(err, scsstore.ErrNotReady) {
		t.Errorf("Find: %v, want ErrNotReady", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := j.st.FindCtx(ctx, "tok"); !errors.Is(err, context.Canceled) {
		t.Errorf("FindCtx with a cancelled context: %v, want context.Canceled", err)
	}
	if _, err := j.st.AllCtx(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("AllCtx with a cancelled context: %v, want context.Canceled", err)
	}
	now, err := scsstore.New(scsstore.Config{Manager: j.m, ReadyTimeout: -1})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := now.Find("tok"); !errors.Is(err, scsstore.ErrNotReady) {
		t.Errorf("Find without waiting: %v, want ErrNotReady", err)
	}
	if code, _, _ := get(j, "/get", "tok"); code != http.StatusInternalServerError {
		t.Errorf("scs answered %d while the store was not ready, want its ErrorFunc's 500", code)
	}
}

// swallow accepts every message and answers none.
type swallow struct{}

func (swallow) Accept(*channel.Message) bool           { return true }
func (swallow) MessageReceived(*channel.Message) error { return nil }

// With ClusterSize, a node cut off from the majority neither reads nor writes sessions:
// its copies may be stale. The others go on.
func TestNoQuorum(t *testing.T) {
	nw, ns := cluster(t, 3, delta.Config{Replication: delta.ReplicateAcked, ClusterSize: 3})
	a, b, c := ns[0], ns[1], ns[2]
	testutil.EventuallyTrue(t, 10*time.Second, "every node serving", func() bool {
		return a.m.Serving() == nil && b.m.Serving() == nil && c.m.Serving() == nil
	})
	_, _, tok := get(a, "/put?v=one", "")
	nw.Isolate(c.tn, a.tn, b.tn)
	testutil.EventuallyTrue(t, 10*time.Second, "a and b serving after probing c", func() bool {
		return a.m.Serving() == nil && b.m.Serving() == nil
	})
	if _, _, err := c.st.Find(tok); !errors.Is(err, delta.ErrNoQuorum) {
		t.Errorf("c's Find: %v, want ErrNoQuorum", err)
	}
	if err := c.st.Commit(tok, []byte("x"), time.Now().Add(time.Hour)); !errors.Is(err, delta.ErrNoQuorum) {
		t.Errorf("c's Commit: %v, want ErrNoQuorum", err)
	}
	if err := c.st.Delete(tok); !errors.Is(err, delta.ErrNoQuorum) {
		t.Errorf("c's Delete: %v, want ErrNoQuorum", err)
	}
	var seen error
	c.sm.ErrorFunc = func(w http.ResponseWriter, r *http.Request, err error) {
		seen = err
		http.Error(w, "try another node", http.StatusServiceUnavailable)
	}
	if code, body, _ := get(c, "/get", tok); code != http.StatusServiceUnavailable || !errors.Is(seen, delta.ErrNoQuorum) {
		t.Errorf("c answered %d %q (ErrorFunc saw %v), want 503 for ErrNoQuorum", code, body, seen)
	}
	if _, body, _ := get(b, "/put?v=two", tok); body != "put" {
		t.Errorf("b, with a: %q", body)
	}
	if _, body, _ := get(a, "/get", tok); body != "v=two" {
		t.Errorf("a reads %q, want b's change", body)
	}
}

// Bad configuration and a stopped manager give their errors; values that are not this
// store's (another application's attribute of that name, or a member's garbage) are no
// session.
func TestErrorsAndForeignValues(t *testing.T) {
	if _, err := scsstore.New(scsstore.Config{}); !errors.Is(err, scsstore.ErrInvalidConfig) {
		t.Errorf("New without a manager: %v, want ErrInvalidConfig", err)
	}
	_, ns := cluster(t, 1, delta.Config{})
	n := ns[0]
	ctx := context.Background()
	for i, v := range []any{"a string", []byte{1, 2, 3}, 42} {
		id := fmt.Sprintf("foreign-%d", i)
		s, err := n.m.CreateWithID(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Set(scsstore.DefaultAttribute, v); err != nil {
			t.Fatal(err)
		}
		if b, found, err := n.st.Find(id); found || err != nil {
			t.Errorf("value %#v: found %q, %v", v, b, err)
		}
	}
	if err := n.st.Commit("bad token", []byte("x"), time.Now().Add(time.Hour)); !errors.Is(err, delta.ErrInvalidSessionID) {
		t.Errorf("Commit of an ill-formed token: %v, want ErrInvalidSessionID", err)
	}
	if err := n.st.Delete("no-such-token"); err != nil {
		t.Errorf("Delete of an unknown token: %v", err)
	}
	if err := n.m.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if _, _, err := n.st.Find("x"); !errors.Is(err, delta.ErrStopped) {
		t.Errorf("Find on a stopped manager: %v, want ErrStopped", err)
	}
	if err := n.st.Commit("x", []byte("x"), time.Now().Add(time.Hour)); !errors.Is(err, delta.ErrStopped) {
		t.Errorf("Commit on a stopped manager: %v, want ErrStopped", err)
	}
}

// With ClusterSize, a commit of a session destroyed meanwhile (a request that loaded it
// before a concurrent one logged the user out) does not bring it back.
func TestCommitAfterDestroyWithClusterSize(t *testing.T) {
	_, ns := cluster(t, 3, delta.Config{Replication: delta.ReplicateAcked, ClusterSize: 3})
	a, b := ns[0], ns[1]
	testutil.EventuallyTrue(t, 10*time.Second, "every node serving", func() bool {
		return a.m.Serving() == nil && b.m.Serving() == nil && ns[2].m.Serving() == nil
	})
	expiry := time.Now().Add(time.Hour)
	if err := a.st.Commit("tok", []byte("x"), expiry); err != nil {
		t.Fatal(err)
	}
	if err := b.st.Delete("tok"); err != nil {
		t.Fatal(err)
	}
	for i, n := range ns {
		if err := n.st.Commit("tok", []byte("y"), expiry); !errors.Is(err, delta.ErrSessionIDInUse) {
			t.Errorf("node %d: a commit of the destroyed session: %v, want ErrSessionIDInUse", i, err)
		}
		if n.m.Find("tok") != nil {
			t.Errorf("node %d holds the destroyed session", i)
		}
	}
}

// TestConcurrentCommitsOnTwoNodes: a client whose requests a balancer without stickiness
// sends to two nodes at once. Each round both nodes commit the session concurrently; then
// both must read the same value, one of the two commits (delta orders concurrent changes
// by their stamps). Applied in arrival order, each node could keep the other's commit.
func TestConcurrentCommitsOnTwoNodes(t *testing.T) {
	_, ns := cluster(t, 2, delta.Config{Replication: delta.ReplicateAcked})
	_, _, token := get(ns[0], "/put?v=start", "")
	if token == "" {
		t.Fatal("no session")
	}
	const rounds = 200
	for i := range rounds {
		var wg sync.WaitGroup
		for k, n := range ns {
			wg.Go(func() {
				if code, body, _ := get(n, fmt.Sprintf("/put?v=%d-%d", k, i), token); code != http.StatusOK {
					t.Errorf("round %d, node %d: %d %s", i, k, code, body)
				}
			})
		}
		wg.Wait()
		_, a, _ := get(ns[0], "/get", token)
		_, b, _ := get(ns[1], "/get", token)
		if a != b || (a != fmt.Sprintf("v=0-%d", i) && a != fmt.Sprintf("v=1-%d", i)) {
			t.Fatalf("round %d: node 0 has %q, node 1 %q", i, a, b)
		}
	}
	var skipped uint64
	for _, n := range ns {
		skipped += n.m.Stats().OlderChangesSkipped
	}
	t.Logf("%d rounds, %d changes skipped as older", rounds, skipped)
}
