package delta_test

import (
	"bytes"
	"context"
	"net/http"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/session/delta"
)

// countingChannel is a fakeChannel that also takes batches, records how many session
// messages each channel message carried, and holds every send while gate is set.
type countingChannel struct {
	fakeChannel
	mu    sync.Mutex
	gate  chan struct{}
	sizes []int
}

func (c *countingChannel) Send(ctx context.Context, to []channel.Member, data []byte, opts channel.SendOptions) error {
	c.mu.Lock()
	gate := c.gate
	c.mu.Unlock()
	if gate != nil {
		<-gate
	}
	n := 1
	if bytes.HasPrefix(data, []byte{0xF5, 'T', 'S', 2}) {
		msgs, err := delta.DecodeBatch(data)
		if err != nil {
			return err
		}
		n = len(msgs)
	} else if err := c.fakeChannel.Send(ctx, to, data, opts); err != nil {
		return err
	}
	c.mu.Lock()
	c.sizes = append(c.sizes, n)
	c.mu.Unlock()
	return nil
}

func (c *countingChannel) setGate(g chan struct{}) {
	c.mu.Lock()
	c.gate = g
	c.mu.Unlock()
}

func (c *countingChannel) sent() []int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]int(nil), c.sizes...)
}

// afterBatchOfTwo starts an asynchronously replicating manager with one member on a
// countingChannel, with three sessions, and has it send a channel message carrying the
// deltas of two of them (at the time it returns, in a synctest bubble); the first
// session's delta went out alone before.
func afterBatchOfTwo(t *testing.T, interval time.Duration) (*countingChannel, *delta.Manager, []*delta.Session) {
	t.Helper()
	ctx := context.Background()
	c := &countingChannel{fakeChannel: fakeChannel{members: []channel.Member{fakeMember(4001, 1)}}}
	cl := newCluster(t, c, delta.ClusterConfig{})
	t.Cleanup(func() { _ = cl.Close(ctx) })
	m, err := cl.NewManager(delta.Config{Name: appName, SkipStateTransfer: true, ExpireInterval: -1,
		AsyncBatchInterval: interval})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Start(ctx); err != nil {
		t.Fatal(err)
	}
	ss := make([]*delta.Session, 3)
	for i := range ss {
		if ss[i], err = m.Create(ctx); err != nil {
			t.Fatal(err)
		}
	}
	replicate := func(s *delta.Session, v int) {
		if err := s.Set("k", v); err != nil {
			t.Error(err)
		}
		go func() {
			if err := m.Replicate(ctx, s); err != nil {
				t.Error(err)
			}
		}()
		synctest.Wait()
	}
	gate := make(chan struct{})
	c.setGate(gate)
	replicate(ss[0], 1) // held at the gate
	replicate(ss[1], 1) // these two wait for it, queued
	replicate(ss[2], 1)
	c.setGate(nil)
	close(gate)
	synctest.Wait()
	if got, want := c.sent(), []int{1, 1, 1, 1, 2}; !slices.Equal(got, want) {
		t.Fatalf("session messages per channel message %v, want %v", got, want)
	}
	return c, m, ss
}

// wrapFake is the middleware of m serving setK.
func wrapFake(t *testing.T, m *delta.Manager) http.Handler {
	t.Helper()
	mw, err := delta.NewMiddleware(m, delta.HTTPConfig{})
	if err != nil {
		t.Fatal(err)
	}
	return mw.Wrap(setK)
}

// TestAsyncBatchInterval: after a channel message of several deltas, the next one leaves
// Config.AsyncBatchInterval after that one started, carrying what was queued meanwhile
// (the later changes of a session whose delta is queued wait for it, merged); after a
// message that left alone, the next one leaves at once.
func TestAsyncBatchInterval(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const interval = 10 * time.Millisecond
		c, m, ss := afterBatchOfTwo(t, interval)
		start := time.Now()
		h := wrapFake(t, m) // the middleware queues its deltas and does not wait
		for _, k := range []string{"1", "2", "3"} {
			get(h, "/?k="+k, ss[0].ID())
		}
		get(h, "/?k=7", ss[1].ID())
		synctest.Wait()
		if got := len(c.sent()); got != 5 {
			t.Fatalf("%d channel messages before the interval ended, want 5", got)
		}
		time.Sleep(interval)
		synctest.Wait()
		// Session 0's first delta and session 1's, then session 0's next (k=2 and 3
		// merged) one interval later.
		if got, want := c.sent(), []int{1, 1, 1, 1, 2, 2}; !slices.Equal(got, want) {
			t.Fatalf("session messages per channel message %v, want %v", got, want)
		}
		time.Sleep(interval)
		synctest.Wait()
		if got, want := c.sent(), []int{1, 1, 1, 1, 2, 2, 1}; !slices.Equal(got, want) {
			t.Fatalf("session messages per channel message %v, want %v", got, want)
		}
		if d := time.Since(start); d != 2*interval {
			t.Fatalf("the paced messages left after %v, want %v", d, 2*interval)
		}
		three, err := (delta.GobCodec{}).Marshal(3)
		if err != nil {
			t.Fatal(err)
		}
		last := c.sends()[len(c.sends())-1].msg
		if last.SessionID != ss[0].ID() || len(last.Actions) != 1 || !bytes.Equal(last.Actions[0].Value, three) {
			t.Fatalf("last message %+v, want session 0's delta setting k to 3", last)
		}
		// A message that follows one that left alone does not wait.
		if err := ss[2].Set("k", 2); err != nil {
			t.Fatal(err)
		}
		start = time.Now()
		if err := m.Replicate(context.Background(), ss[2]); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d != 0 {
			t.Fatalf("Replicate after a lone message returned after %v, want at once", d)
		}
	})
}

// TestAsyncBatchIntervalStop: Stop does not wait for the interval: what is queued leaves
// at once.
func TestAsyncBatchIntervalStop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, m, ss := afterBatchOfTwo(t, time.Hour)
		start := time.Now()
		get(wrapFake(t, m), "/?k=5", ss[0].ID())
		if err := m.Stop(context.Background()); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d != 0 {
			t.Fatalf("Stop took %v", d)
		}
		if got, want := c.sent(), []int{1, 1, 1, 1, 2, 1}; !slices.Equal(got, want) {
			t.Fatalf("session messages per channel message %v, want %v", got, want)
		}
	})
}
