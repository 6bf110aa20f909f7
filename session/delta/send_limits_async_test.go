package delta_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/session/delta"
)

// TestAsyncChangePastLimitsDoesNotBlockLaterDeltas: with asynchronous replication the
// queue's goroutine put a delta the codec refused for its limits back whole (settle),
// so the change no peer can read (a note name past MaxStringLen) went again with every
// later delta of the session, which the codec refused too: no later change of the
// session reached the cluster. The queue now leaves it out as Replicate does
// (send_limits.go): the other changes go, the next delta goes.
func TestAsyncChangePastLimitsDoesNotBlockLaterDeltas(t *testing.T) {
	ctx := context.Background()
	codec := delta.BinaryCodec{MaxStringLen: 256}
	nw := channeltest.NewNetwork()
	_, ach := newChannel(t, nw)
	a := readyManager(t, ach, codec, delta.Config{JvmRoute: "a", Replication: delta.ReplicateAsync})
	_, bch := newChannel(t, nw)
	b := readyManager(t, bch, codec, delta.Config{JvmRoute: "b"})
	testutil.EventuallyTrue(t, 10*time.Second, "A sees B", func() bool { return len(ach.Members()) == 1 })

	s, err := a.Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetNote(strings.Repeat("n", 300), "v"); err != nil {
		t.Fatal(err)
	}
	if err := s.Set("one", "1"); err != nil {
		t.Fatal(err)
	}
	err = a.Replicate(ctx, s)
	if !errors.Is(err, delta.ErrMessageLimit) {
		t.Fatalf("Replicate of a note past MaxStringLen: %v, want an error wrapping ErrMessageLimit", err)
	}
	if got := a.Stats().ChangesDroppedPastLimits; got != 1 {
		t.Errorf("ChangesDroppedPastLimits %d, want 1", got)
	}
	testutil.EventuallyTrue(t, 10*time.Second, "B has the change within the limits", func() bool {
		bs := b.Find(s.ID())
		if bs == nil {
			return false
		}
		v, _ := bs.Get("one")
		return v == "1"
	})
	// The session's next change goes out, with Replicate and without a caller waiting
	// (the middleware's path: the queue's goroutine alone sees the codec's refusal).
	if err := s.Set("two", "2"); err != nil {
		t.Fatal(err)
	}
	if err := a.Replicate(ctx, s); err != nil {
		t.Fatalf("the session's next delta: %v", err)
	}
	bs := b.Find(s.ID())
	testutil.EventuallyTrue(t, 10*time.Second, "B has the next change", func() bool {
		v, _ := bs.Get("two")
		return v == "2"
	})

	// Without a waiter: the middleware hands the delta over and returns at once.
	s2, err := a.Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Replicate(ctx, s2); err != nil {
		t.Fatal(err)
	}
	if err := s2.SetNote(strings.Repeat("m", 300), "v"); err != nil {
		t.Fatal(err)
	}
	if err := s2.Set("x", "1"); err != nil {
		t.Fatal(err)
	}
	if err := delta.ReplicateNoWait(a, s2); err != nil {
		t.Fatal(err)
	}
	testutil.EventuallyTrue(t, 10*time.Second, "the refused note counted", func() bool {
		return a.Stats().ChangesDroppedPastLimits == 2
	})
	if err := s2.Set("y", "2"); err != nil {
		t.Fatal(err)
	}
	if err := delta.ReplicateNoWait(a, s2); err != nil {
		t.Fatal(err)
	}
	testutil.EventuallyTrue(t, 10*time.Second, "B has the second session's changes", func() bool {
		bs := b.Find(s2.ID())
		if bs == nil {
			return false
		}
		x, _ := bs.Get("x")
		y, _ := bs.Get("y")
		return x == "1" && y == "2"
	})
}
