package delta_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/session/delta"
)

// setK is a page that sets the session's attribute k to the query's k (creating the
// session), or only reads the session without k.
var setK = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	rq := delta.FromContext(r.Context())
	if k := r.URL.Query().Get("k"); k != "" {
		n, _ := strconv.Atoi(k)
		if err := rq.Set("k", n); err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
	}
	_, _ = w.Write([]byte(rq.ID()))
})

// asyncGated starts an asynchronously replicating node a behind a gatedChannel, with
// peers b and c, and the middleware on a serving setK.
func asyncGated(t *testing.T) (a *delta.Manager, g *gatedChannel, h http.Handler, peers []*delta.Manager) {
	t.Helper()
	nw := channeltest.NewNetwork()
	a, g = startGated(t, nw, nil, delta.Config{JvmRoute: "a"})
	for _, r := range []string{"b", "c"} {
		peers = append(peers, startReady(t, nw, delta.Config{JvmRoute: r}).m)
	}
	mw, err := delta.NewMiddleware(a, delta.HTTPConfig{})
	if err != nil {
		t.Fatal(err)
	}
	return a, g, mw.Wrap(setK), peers
}

// TestAsyncQueueBatches: with asynchronous replication a request does not wait for its
// delta to be sent; the deltas of the requests that end while a send is in flight go
// out together in the next channel message, and a session with a delta in flight has
// its next changes sent after it, in the same batch.
func TestAsyncQueueBatches(t *testing.T) {
	const n = 8
	a, g, h, peers := asyncGated(t)
	ids := make([]string, n)
	for i := range ids {
		ids[i] = get(h, "/?k=0", "").Body.String() // created, then its delta
	}
	delta.DrainAsync(a)
	before := len(g.payloads())
	entered, release := g.arm(nil)
	get(h, "/?k=1", ids[0])
	<-entered // session 0's delta is being sent, held at the gate
	// These requests return although the send in flight does not.
	for i := 1; i < n; i++ {
		get(h, "/?k="+strconv.Itoa(i+1), ids[i])
	}
	get(h, "/?k=100", ids[0]) // waits for session 0's delta in flight
	if sent := len(g.payloads()) - before; sent != 1 {
		t.Fatalf("%d channel messages went out while the first was held, want 1", sent)
	}
	release()
	delta.DrainAsync(a)
	sent := g.payloads()[before:]
	if len(sent) != 2 || !bytes.HasPrefix(sent[1], []byte{0xF5, 'T', 'S', 2}) {
		t.Fatalf("%d channel messages, want 2 (one delta, then a batch of %d)", len(sent), n)
	}
	for _, p := range peers {
		for i, id := range ids {
			want := i + 1
			if i == 0 {
				want = 100
			}
			if v, _ := delta.Attr[int](p.Find(id), "k"); v != want {
				t.Errorf("node %s, session %d: k = %d, want %d", p.JvmRoute(), i, v, want)
			}
		}
		if got := p.Stats().Received[delta.EventDelta]; got != 2*n+1 {
			t.Errorf("node %s applied %d deltas, want %d", p.JvmRoute(), got, 2*n+1)
		}
	}
}

// TestAsyncQueueFailurePutsChangesBack: when the batch fails, its sessions keep their
// changes pending, the newer ones of a session included, and their next request sends
// them: the peers end with the last values.
func TestAsyncQueueFailurePutsChangesBack(t *testing.T) {
	a, g, h, peers := asyncGated(t)
	id0 := get(h, "/?k=0", "").Body.String()
	id1 := get(h, "/?k=0", "").Body.String()
	delta.DrainAsync(a)
	lost := errors.New("connection lost")
	entered, release := g.arm(lost)
	get(h, "/?k=1", id0)
	<-entered
	get(h, "/?k=2", id1)
	get(h, "/?k=3", id0) // after the delta in flight, in the batch that fails
	release()
	delta.DrainAsync(a)
	for _, id := range []string{id0, id1} {
		if !a.Find(id).Dirty() {
			t.Errorf("session %s lost its changes with the failed batch", id)
		}
	}
	_, release = g.arm(nil) // sends succeed again
	release()
	get(h, "/", id0)
	get(h, "/", id1)
	delta.DrainAsync(a)
	for _, p := range peers {
		for id, want := range map[string]int{id0: 3, id1: 2} {
			if v, _ := delta.Attr[int](p.Find(id), "k"); v != want {
				t.Errorf("node %s, session %s: k = %d, want %d", p.JvmRoute(), id, v, want)
			}
		}
	}
}

// TestAsyncQueueSameSession: concurrent requests on the same sessions through the
// middleware with asynchronous replication lose no update on the peers, and an
// expiry queued after them reaches the peers after them.
func TestAsyncQueueSameSession(t *testing.T) {
	const sessions, workers, rounds = 4, 4, 25
	_, a, b, c := three(t, delta.Config{})
	h := wrap(t, a, delta.HTTPConfig{}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, err := delta.FromContext(r.Context()).GetOrCreate()
		if err == nil {
			_, err = s.Update("count", func(old any) (any, error) {
				n, _ := old.(int)
				return n + 1, nil
			})
		}
		if err != nil {
			http.Error(w, err.Error(), 500)
		}
	}))
	ids := make([]string, sessions)
	for i := range ids {
		ids[i] = sessionCookie(t, get(h, "/", ""), "JSESSIONID").Value
	}
	var wg sync.WaitGroup
	for i := range sessions * workers {
		wg.Go(func() {
			for range rounds {
				if w := get(h, "/", ids[i%sessions]); w.Code != http.StatusOK {
					t.Errorf("status %d", w.Code)
					return
				}
			}
		})
	}
	wg.Wait()
	delta.DrainAsync(a.m)
	for _, p := range []*node{a, b, c} {
		for i, id := range ids {
			if got, _ := delta.Attr[int](p.m.Find(id), "count"); got != 1+workers*rounds {
				t.Errorf("node %s, session %d: count = %d, want %d", p.m.JvmRoute(), i, got, 1+workers*rounds)
			}
		}
	}
	if err := a.m.Invalidate(t.Context(), a.m.Find(ids[0])); err != nil {
		t.Fatal(err)
	}
	for _, p := range []*node{b, c} {
		if p.m.Find(ids[0]) != nil {
			t.Errorf("node %s still has the invalidated session once Invalidate returned", p.m.JvmRoute())
		}
	}
}

// TestReplicateAsMembersComeAndGo: the member list is taken once per batch (by the async
// queue, by an acked batch's leader), not per request: a node's changes are dropped while
// it has no members, reach a member that joined, and are dropped again, without an error,
// once the last member is gone.
func TestReplicateAsMembersComeAndGo(t *testing.T) {
	for _, mode := range []delta.ReplicationMode{delta.ReplicateAsync, delta.ReplicateAcked} {
		t.Run(mode.String(), func(t *testing.T) {
			ctx := context.Background()
			nw := channeltest.NewNetwork()
			a := startReady(t, nw, delta.Config{JvmRoute: "a", Replication: mode})
			s, err := a.m.Create(ctx)
			if err != nil {
				t.Fatal(err)
			}
			set := func(k int) {
				t.Helper()
				if err := s.Set("k", k); err != nil {
					t.Fatal(err)
				}
				if err := a.m.Replicate(ctx, s); err != nil {
					t.Fatalf("k=%d: %v", k, err)
				}
				if s.Dirty() {
					t.Fatalf("k=%d: the change is still pending", k)
				}
			}
			set(1) // alone: dropped
			b := startReady(t, nw, delta.Config{JvmRoute: "b"})
			testutil.EventuallyTrue(t, 10*time.Second, "a sees b", func() bool { return len(a.ch.Members()) == 1 })
			set(2)
			if v, _ := delta.Attr[int](b.m.Find(s.ID()), "k"); v != 2 {
				t.Fatalf("b has k=%d once Replicate returned, want 2", v)
			}
			sent := a.m.Stats().Sent[delta.EventDelta]
			nw.Kill(b.tn)
			testutil.EventuallyTrue(t, 10*time.Second, "a sees b gone", func() bool { return len(a.ch.Members()) == 0 })
			set(3) // dropped by the batch, which has no members to go to
			if got := a.m.Stats().Sent[delta.EventDelta]; got != sent {
				t.Errorf("%d deltas counted sent after the last member left, want %d", got, sent)
			}
			if v, _ := delta.Attr[int](s, "k"); v != 3 {
				t.Errorf("a has k=%d, want 3", v)
			}
		})
	}
}
