package delta_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/session/delta"
)

// gatedChannel records every payload a cluster sends; once armed, the next send waits
// until released, and the sends after it fail with failWith (if set).
type gatedChannel struct {
	*channel.Channel
	mu       sync.Mutex
	sent     [][]byte
	gate     chan struct{}
	entered  chan struct{}
	failWith error
}

// arm makes the next send wait at the gate: entered is closed when it arrives there,
// release lets it go on.
func (g *gatedChannel) arm(failWith error) (entered <-chan struct{}, release func()) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.gate, g.entered, g.failWith = make(chan struct{}), make(chan struct{}), failWith
	gate := g.gate
	return g.entered, func() { close(gate) }
}

// pass records data and holds the send at the gate; it returns the error to fail with.
func (g *gatedChannel) pass(data []byte) error {
	g.mu.Lock()
	g.sent = append(g.sent, bytes.Clone(data))
	gate, entered := g.gate, g.entered
	g.gate, g.entered = nil, nil
	fail := g.failWith
	g.mu.Unlock()
	if gate != nil {
		close(entered)
		<-gate
		return nil
	}
	return fail
}

func (g *gatedChannel) Send(ctx context.Context, to []channel.Member, data []byte, opts channel.SendOptions) error {
	if err := g.pass(data); err != nil {
		return err
	}
	return g.Channel.Send(ctx, to, data, opts)
}

func (g *gatedChannel) SendMessage(ctx context.Context, to []channel.Member, msg *channel.Message) error {
	if err := g.pass(msg.Data); err != nil {
		return err
	}
	return g.Channel.SendMessage(ctx, to, msg)
}

func (g *gatedChannel) payloads() [][]byte {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([][]byte(nil), g.sent...)
}

// startGated starts a ready node whose cluster sends through a gatedChannel.
func startGated(t *testing.T, nw *channeltest.Network, codec delta.MessageCodec, cfg delta.Config) (*delta.Manager, *gatedChannel) {
	t.Helper()
	_, ch := newChannel(t, nw)
	g := &gatedChannel{Channel: ch}
	return readyManager(t, g, codec, cfg), g
}

// readyManager starts a cluster on ch with codec and a manager configured by cfg (Name
// and MemberWait set here), and waits until it is ready.
func readyManager(t *testing.T, ch delta.Channel, codec delta.MessageCodec, cfg delta.Config) *delta.Manager {
	t.Helper()
	cl := newCluster(t, ch, delta.ClusterConfig{Codec: codec})
	t.Cleanup(func() { _ = cl.Close(context.Background()) })
	cfg.Name, cfg.MemberWait = appName, -1
	m, err := cl.NewManager(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := m.WaitReady(context.Background()); err != nil {
		t.Fatal(err)
	}
	return m
}

// replicateHeld creates n sessions on m with attribute k set to their index, arms g,
// and replicates them all at once, calling after(i) when call i returned. It returns the
// sessions once the first call is held at the gate, and a wait function that releases the
// gate and returns each call's error and the payloads sent since the gate was armed.
func replicateHeld(t *testing.T, m *delta.Manager, g *gatedChannel, n int, failWith error, after func(i int)) ([]*delta.Session, func() ([]error, [][]byte)) {
	t.Helper()
	ctx := context.Background()
	ss := createNumbered(t, m, n)
	before := len(g.payloads())
	entered, release := g.arm(failWith)
	errs := make([]error, n)
	var wg sync.WaitGroup
	wg.Go(func() { errs[0] = m.Replicate(ctx, ss[0]); after(0) })
	<-entered
	for i := 1; i < n; i++ {
		wg.Go(func() { errs[i] = m.Replicate(ctx, ss[i]); after(i) })
	}
	return ss, func() ([]error, [][]byte) {
		release()
		wg.Wait()
		return errs, g.payloads()[before:]
	}
}

// TestGroupCommit: the deltas of requests that end while a send is in flight go out
// together in the next channel message, and each Replicate returns once the message
// that carried its delta was acknowledged: the peers have the change by then.
func TestGroupCommit(t *testing.T) {
	const n = 16
	nw := channeltest.NewNetwork()
	a, g := startGated(t, nw, nil, delta.Config{JvmRoute: "a", Replication: delta.ReplicateAcked})
	b := startReady(t, nw, delta.Config{JvmRoute: "b"})
	c := startReady(t, nw, delta.Config{JvmRoute: "c"})
	var ss []*delta.Session
	var missing sync.Map
	ss, wait := replicateHeld(t, a, g, n, nil, func(i int) {
		for _, p := range []*delta.Manager{b.m, c.m} {
			if v, _ := delta.Attr[int](p.Find(ss[i].ID()), "k"); v != i {
				missing.Store(i, p.JvmRoute())
			}
		}
	})
	testutil.Eventually(t, 10*time.Second, func() error {
		if q := delta.QueuedForBatch(a); q != n-1 {
			return fmt.Errorf("%d of %d deltas wait for the send in flight", q, n-1)
		}
		return nil
	})
	errs, sent := wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Replicate %d: %v", i, err)
		}
	}
	missing.Range(func(i, route any) bool {
		t.Errorf("Replicate %d returned before node %s had its delta", i, route)
		return true
	})
	if len(sent) != 2 {
		t.Fatalf("%d deltas went out in %d channel messages, want 2 (one alone, then a batch)", n, len(sent))
	}
	if !(delta.BinaryCodec{}).Owns(sent[0]) || !bytes.HasPrefix(sent[1], []byte{0xF5, 'T', 'S', 2}) {
		t.Errorf("want a message, then a batch: headers % x and % x", sent[0][:4], sent[1][:4])
	}
	for _, p := range []*delta.Manager{b.m, c.m} {
		if got := p.Stats().Received[delta.EventDelta]; got != n {
			t.Errorf("node %s applied %d deltas, want %d", p.JvmRoute(), got, n)
		}
	}
	if got := a.Stats().Sent[delta.EventDelta]; got != n {
		t.Errorf("Stats().Sent counts %d deltas, want %d", got, n)
	}
}

// TestGroupCommitFailure: when the channel message carrying a batch fails, every request
// in it gets the error and keeps its changes pending for its next request.
func TestGroupCommitFailure(t *testing.T) {
	const n = 6
	nw := channeltest.NewNetwork()
	a, g := startGated(t, nw, nil, delta.Config{JvmRoute: "a", Replication: delta.ReplicateAcked})
	startReady(t, nw, delta.Config{JvmRoute: "b"})
	lost := errors.New("connection lost")
	ss, wait := replicateHeld(t, a, g, n, lost, func(int) {})
	testutil.EventuallyTrue(t, 10*time.Second, "the deltas are queued", func() bool { return delta.QueuedForBatch(a) == n-1 })
	errs, _ := wait()
	if errs[0] != nil {
		t.Errorf("the first delta, sent before the failure: %v", errs[0])
	}
	for i := 1; i < n; i++ {
		if !errors.Is(errs[i], lost) {
			t.Errorf("Replicate %d: %v, want the batch's error", i, errs[i])
		}
		if !ss[i].Dirty() {
			t.Errorf("session %d lost its changes with the failed batch", i)
		}
	}
}

// TestGroupCommitSameSession: concurrent requests on the same sessions, some of them in
// the same batches, lose no update on the peers.
func TestGroupCommitSameSession(t *testing.T) {
	const sessions, workers, rounds = 4, 4, 25
	ctx := context.Background()
	_, a, b, c := three(t, delta.Config{Replication: delta.ReplicateAcked})
	ss := make([]*delta.Session, sessions)
	for i := range ss {
		ss[i], _ = a.m.Create(ctx)
	}
	var wg sync.WaitGroup
	for i := range sessions * workers {
		wg.Go(func() {
			s := ss[i%sessions]
			for range rounds {
				_, err := s.Update("n", func(old any) (any, error) {
					n, _ := old.(int)
					return n + 1, nil
				})
				if err == nil {
					err = a.m.Replicate(ctx, s)
				}
				if err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	for _, p := range []*node{b, c} {
		for i, s := range ss {
			if got, _ := delta.Attr[int](p.m.Find(s.ID()), "n"); got != workers*rounds {
				t.Errorf("node %s, session %d: n = %d, want %d", p.m.JvmRoute(), i, got, workers*rounds)
			}
		}
	}
}

// TestNoBatchingInTomcatFormat: with JavaCodec every session message is Tomcat's own,
// one per channel message, even while another send is in flight.
func TestNoBatchingInTomcatFormat(t *testing.T) {
	const n = 5
	nw := channeltest.NewNetwork()
	a, g := startGated(t, nw, delta.JavaCodec{}, delta.Config{JvmRoute: "a", Codec: delta.JavaValueCodec{},
		Replication: delta.ReplicateAcked})
	b, _, _ := startJavaNode(t, nw, "b")
	ss, wait := replicateHeld(t, a, g, n, nil, func(int) {})
	// Without batching the other sends do not wait for the one held at the gate.
	testutil.EventuallyTrue(t, 10*time.Second, "the other sends went out", func() bool {
		return a.Stats().Sent[delta.EventDelta] == n-1
	})
	errs, sent := wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Replicate %d: %v", i, err)
		}
	}
	if len(sent) != n {
		t.Fatalf("%d deltas went out in %d channel messages, want one each", n, len(sent))
	}
	for i, p := range sent {
		if !(delta.JavaCodec{}).Owns(p) {
			t.Errorf("channel message %d is not a Tomcat session message", i)
		}
	}
	for i, s := range ss {
		if v, _ := delta.Attr[int](b.Find(s.ID()), "k"); v != i {
			t.Errorf("session %d: k = %d on the peer", i, v)
		}
	}
}

// cohortRound runs one round of a pool of n clients on a: the first call's batch is held at
// the gate while the other n-1 queue behind it; once it is released, the leader of the
// queued batch may wait for its cohort. back, if not nil, is a further client coming back
// while that leader waits (called once the leader waits for n messages). It returns the
// calls' errors and the payloads sent in the round.
func cohortRound(t *testing.T, a *delta.Manager, g *gatedChannel, n int, back func()) ([]error, [][]byte) {
	t.Helper()
	_, wait := replicateHeld(t, a, g, n, nil, func(int) {})
	testutil.EventuallyTrue(t, 10*time.Second, "the deltas are queued", func() bool { return delta.QueuedForBatch(a) == n-1 })
	type result struct {
		errs []error
		sent [][]byte
	}
	res := make(chan result, 1)
	go func() {
		errs, sent := wait()
		res <- result{errs, sent}
	}()
	if back != nil {
		// The batch that ended carried 1 message and the queued one holds n-1: its
		// leader waits until it holds n.
		testutil.Eventually(t, 10*time.Second, func() error {
			if want, _, _ := delta.CohortWait(a); want != n {
				return fmt.Errorf("the leader waits for %d messages, want %d", want, n)
			}
			return nil
		})
		back()
	}
	r := <-res
	return r.errs, r.sent
}

// TestGroupCommitWaitsForCohort: the batch that follows a send waits
// (Config.AckedBatchWait) until the client the send released came back, and both leave in
// one channel message.
func TestGroupCommitWaitsForCohort(t *testing.T) {
	const n = 4
	ctx := context.Background()
	nw := channeltest.NewNetwork()
	// A wait as long as the test: only the returning client ends it.
	a, g := startGated(t, nw, nil, delta.Config{JvmRoute: "a", Replication: delta.ReplicateAcked,
		AckedBatchWait: time.Hour})
	b := startReady(t, nw, delta.Config{JvmRoute: "b"})
	extra, err := a.Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Replicate(ctx, extra); err != nil {
		t.Fatal(err)
	}
	if err := extra.Set("k", "back"); err != nil {
		t.Fatal(err)
	}
	before := b.m.Stats().Received[delta.EventDelta]
	var backErr error
	errs, sent := cohortRound(t, a, g, n, func() { backErr = a.Replicate(ctx, extra) })
	if backErr != nil {
		t.Errorf("the returning client: %v", backErr)
	}
	for i, err := range errs {
		if err != nil {
			t.Errorf("Replicate %d: %v", i, err)
		}
	}
	if len(sent) != 2 {
		t.Fatalf("%d deltas went out in %d channel messages, want 2 (one alone, then its cohort)", n+1, len(sent))
	}
	if st := a.Stats(); st.BatchWaits != 1 || st.BatchWaitsRanOut != 0 {
		t.Errorf("Stats: %d batch waits, %d ran out; want 1 and 0", st.BatchWaits, st.BatchWaitsRanOut)
	}
	if v, _ := delta.Attr[string](b.m.Find(extra.ID()), "k"); v != "back" {
		t.Errorf("node b: the returning client's change is %q", v)
	}
	if got := b.m.Stats().Received[delta.EventDelta] - before; got != n+1 {
		t.Errorf("node b applied %d deltas in the round, want %d", got, n+1)
	}
}

// TestGroupCommitCohortWaitRunsOut: a batch whose cohort does not come back leaves when
// AckedBatchWait ran out, with everything it holds; a second wait that runs out soon after
// (here with a wait that filled between them, as with a slow client among fast ones) turns
// waiting off for a while, longer each time it happens again.
func TestGroupCommitCohortWaitRunsOut(t *testing.T) {
	const n = 3
	ctx := context.Background()
	nw := channeltest.NewNetwork()
	a, g := startGated(t, nw, nil, delta.Config{JvmRoute: "a", Replication: delta.ReplicateAcked,
		AckedBatchWait: 300 * time.Millisecond})
	b := startReady(t, nw, delta.Config{JvmRoute: "b"})
	extra, err := a.Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	before := b.m.Stats().Received[delta.EventDelta]
	for round, back := range []bool{false, true, false} {
		var comeBack func()
		if back {
			comeBack = func() {
				if err := extra.Set("k", round); err != nil {
					t.Error(err)
				}
				if err := a.Replicate(ctx, extra); err != nil {
					t.Error(err)
				}
			}
		}
		// The round's first call comes after a pause, not right after the last batch.
		delta.ForgetLastBatch(a)
		errs, sent := cohortRound(t, a, g, n, comeBack)
		for i, err := range errs {
			if err != nil {
				t.Errorf("round %d, Replicate %d: %v", round, i, err)
			}
		}
		if len(sent) != 2 {
			t.Errorf("round %d: %d channel messages, want 2", round, len(sent))
		}
		_, quiet, waits := delta.CohortWait(a)
		if waits != round+1 {
			t.Errorf("round %d: %d waits, want %d", round, waits, round+1)
		}
		if quiet != (round == 2) {
			t.Errorf("round %d: waiting turned off: %v, want %v", round, quiet, round == 2)
		}
	}
	if st := a.Stats(); st.BatchWaits != 3 || st.BatchWaitsRanOut != 2 {
		t.Errorf("Stats: %d batch waits, %d ran out; want 3 and 2", st.BatchWaits, st.BatchWaitsRanOut)
	}
	if got := b.m.Stats().Received[delta.EventDelta] - before; got != 3*n+1 {
		t.Errorf("node b applied %d deltas, want %d", got, 3*n+1)
	}
	// Turned off: the next round's batch leaves without waiting.
	delta.ForgetLastBatch(a)
	cohortRound(t, a, g, n, nil)
	if _, _, waits := delta.CohortWait(a); waits != 3 {
		t.Errorf("%d waits after waiting was turned off, want 3", waits)
	}
	// Each time waits run out again soon after, waiting stays off twice as long.
	if got := delta.CohortBackoff(a, false); got != 8 {
		t.Errorf("after the first turning off, the next lasts %d waits, want 8", got)
	}
	delta.CohortBackoff(a, true) // as if its time had passed
	delta.ForgetLastBatch(a)
	cohortRound(t, a, g, n, nil)
	if _, quiet, _ := delta.CohortWait(a); !quiet {
		t.Error("a wait that ran out right after waiting came back on did not turn it off")
	}
	if got := delta.CohortBackoff(a, false); got != 16 {
		t.Errorf("after the second turning off, the next lasts %d waits, want 16", got)
	}
}

// TestGroupCommitNoCohortWait: a negative AckedBatchWait never waits, and a lone request
// on an idle node does not wait with the default.
func TestGroupCommitNoCohortWait(t *testing.T) {
	ctx := context.Background()
	nw := channeltest.NewNetwork()
	a, g := startGated(t, nw, nil, delta.Config{JvmRoute: "a", Replication: delta.ReplicateAcked, AckedBatchWait: -1})
	startReady(t, nw, delta.Config{JvmRoute: "b"})
	cohortRound(t, a, g, 3, nil)
	if _, _, waits := delta.CohortWait(a); waits != 0 {
		t.Errorf("AckedBatchWait -1: %d waits", waits)
	}

	nw = channeltest.NewNetwork()
	d, _ := startGated(t, nw, nil, delta.Config{JvmRoute: "d", Replication: delta.ReplicateAcked})
	startReady(t, nw, delta.Config{JvmRoute: "e"})
	for range 3 {
		s, err := d.Create(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := d.Replicate(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, waits := delta.CohortWait(d); waits != 0 {
		t.Errorf("one request at a time: %d waits, want none (the last batch carried as many)", waits)
	}
}
