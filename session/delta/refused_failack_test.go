package delta_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/session/delta"
)

// TestFailAckedChangeLosesToTheMajoritysDelta: as TestRefusedChangeLosesToTheMajoritysDelta,
// but c's view still lists a and b while theirs dropped c: c's delta is sent to both and
// each refuses it before applying it (FAIL_ACK: c is not a member there). Nobody holds
// c's change, so a's acknowledged change at its version must win on every node once c's
// next request ends. (c took its change for one that may have been sent, skipped a's
// delta, whose stamp orders before its own, and its next delta gave its change to every
// node: an acknowledged write lost.)
func TestFailAckedChangeLosesToTheMajoritysDelta(t *testing.T) {
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
	ck := c.ch.LocalMember().Key()
	a.ch.deaf.Store(&ck)
	b.ch.deaf.Store(&ck)
	if err := firstErr(sc.Set("x", "c"), sc.SetPrincipal(&delta.Principal{Name: "cal"})); err != nil {
		t.Fatal(err)
	}
	err = c.m.Replicate(ctx, sc)
	if !errors.Is(err, channel.ErrAckFailed) || len(channel.FaultyMembers(err)) != 2 {
		t.Fatalf("c's change, refused by a and b: %v, want FAIL_ACK from both", err)
	}
	if err := firstErr(s.Set("x", "a"), s.SetPrincipal(&delta.Principal{Name: "pat"}), a.m.Replicate(ctx, s)); err != nil {
		t.Fatalf("a's change: %v", err)
	}
	want := "x=a principal=pat"
	if got := attrsAndPrincipal(c.m, id); got != want {
		t.Errorf("c, after a's delta, has %q; want %q", got, want)
	}
	a.ch.deaf.Store(nil)
	b.ch.deaf.Store(nil)
	if err := c.m.Replicate(ctx, sc); err != nil { // c's next request ends
		t.Fatal(err)
	}
	for _, n := range []*viewNode{a, b, c} {
		if got := attrsAndPrincipal(n.m, id); got != want {
			t.Errorf("%s, after c's next request, has %q; want %q", n.m.JvmRoute(), got, want)
		}
	}
}

// TestBatchPartlyRefusedByEveryMemberKeepsWhatWentOut: B, the only member, refuses (its
// codec limits are lower) the last two deltas of a batch of three, both in the half it
// is sent again, and each again alone; the other half, sent again alone, B takes. Its call succeeds (every member holds
// it); the two refused get B's FAIL_ACK. (Their outcome, the batch's error, went to every
// call of the batch: judge took the delta B took for one no member took, since B refused
// them all.)
func TestBatchPartlyRefusedByEveryMemberKeepsWhatWentOut(t *testing.T) {
	const n = 4
	ctx := context.Background()
	nw := channeltest.NewNetwork()
	a, g := startGated(t, nw, nil, delta.Config{JvmRoute: "a", Replication: delta.ReplicateAcked})
	_, bch := newChannel(t, nw)
	b := readyManager(t, bch, delta.BinaryCodec{MaxValueSize: 1024}, delta.Config{JvmRoute: "b"})
	ss := createNumbered(t, a, n)
	for _, i := range []int{2, 3} {
		if err := ss[i].Set("big", strings.Repeat("x", 2048)); err != nil {
			t.Fatal(err)
		}
	}
	entered, release := g.arm(nil)
	errs := make([]error, n)
	var wg sync.WaitGroup
	wg.Go(func() { errs[0] = a.Replicate(ctx, ss[0]) })
	<-entered
	for i := 1; i < n; i++ { // queued one after the other: the batch holds 1, 2, 3 in that order
		wg.Go(func() { errs[i] = a.Replicate(ctx, ss[i]) })
		testutil.EventuallyTrue(t, 10*time.Second, "the delta queued", func() bool { return delta.QueuedForBatch(a) == i })
	}
	release()
	wg.Wait()
	for i, err := range errs {
		if i >= 2 {
			if !errors.Is(err, channel.ErrAckFailed) {
				t.Errorf("Replicate %d, past B's limits: %v, want an error wrapping channel.ErrAckFailed", i, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("Replicate %d, taken by B: %v", i, err)
		}
		if v, _ := delta.Attr[int](b.Find(ss[i].ID()), "k"); v != i {
			t.Errorf("B: session %d has k = %d, want %d", i, v, i)
		}
	}
}
