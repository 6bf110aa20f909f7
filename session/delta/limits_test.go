package delta_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/jserial"
	"github.com/gotribes/tribes/session/delta"
)

// TestBatchWithAnUnencodableChangeLosesNoOther: one request's change that the peers'
// codec refuses (a note name longer than MaxStringLen) travels in a batch with three other
// requests' changes. Every peer refused the whole batch as malformed and acknowledged it,
// so all four acked Replicate calls returned nil while no peer had any of the changes.
// Now the sender refuses that change and the others go out and are acknowledged. The
// refused change was kept pending, and then made every later delta of its session
// refused as well; it is now left out (its request gets an error wrapping
// ErrMessageLimit, Stats.ChangesDroppedPastLimits counts it) and the rest of that
// request's delta goes out too (TestChangePastLimitsDoesNotBlockLaterDeltas).
func TestBatchWithAnUnencodableChangeLosesNoOther(t *testing.T) {
	const n, bad = 4, 2
	ctx := context.Background()
	codec := delta.BinaryCodec{MaxStringLen: 256}
	nw := channeltest.NewNetwork()
	a, g := startGated(t, nw, codec, delta.Config{JvmRoute: "a", Replication: delta.ReplicateAcked})
	_, bch := newChannel(t, nw)
	b := readyManager(t, bch, codec, delta.Config{JvmRoute: "b"})
	ss := createNumbered(t, a, n)
	if err := ss[bad].SetNote(strings.Repeat("n", 300), "v"); err != nil {
		t.Fatal(err)
	}
	entered, release := g.arm(nil)
	errs := make([]error, n)
	var wg sync.WaitGroup
	wg.Go(func() { errs[0] = a.Replicate(ctx, ss[0]) })
	<-entered
	for i := 1; i < n; i++ {
		wg.Go(func() { errs[i] = a.Replicate(ctx, ss[i]) })
	}
	testutil.EventuallyTrue(t, 10*time.Second, "the deltas wait for the send in flight", func() bool {
		return delta.QueuedForBatch(a) == n-1
	})
	release()
	wg.Wait()
	for i, err := range errs {
		if i == bad {
			if err == nil {
				t.Errorf("Replicate %d: nil, though no peer can read its change", i)
			}
			if ss[i].Dirty() {
				t.Errorf("session %d keeps the change no peer can read pending", i)
			}
		} else if err != nil {
			t.Errorf("Replicate %d: %v", i, err)
		}
		if v, _ := delta.Attr[int](b.Find(ss[i].ID()), "k"); v != i {
			t.Errorf("Replicate %d succeeded, but B holds k=%v", i, v)
		}
	}
	if got := b.Stats().Received[delta.EventDelta]; got != n {
		t.Errorf("B received %d deltas, want %d", got, n)
	}
	if got := a.Stats().ChangesDroppedPastLimits; got != 1 {
		t.Errorf("ChangesDroppedPastLimits %d, want 1", got)
	}
	if err := errs[bad]; err != nil && !errors.Is(err, delta.ErrMessageLimit) {
		t.Errorf("Replicate %d: %v, want ErrMessageLimit", bad, err)
	}
}

// TestSetRefusesWhatThePeersWouldRefuse: an attribute value larger than the codec's
// MaxValueSize, or a name longer than its MaxStringLen, was taken by Set and its delta
// acknowledged by the peer that refused it as malformed: an acked write that no other
// node held. Set refuses both now, as it refuses values that would not decode there.
func TestSetRefusesWhatThePeersWouldRefuse(t *testing.T) {
	ctx := context.Background()
	codec := delta.BinaryCodec{MaxStringLen: 256, MaxValueSize: 1024}
	nw := channeltest.NewNetwork()
	_, ach := newChannel(t, nw)
	a := readyManager(t, ach, codec, delta.Config{JvmRoute: "a", Replication: delta.ReplicateAcked})
	_, bch := newChannel(t, nw)
	b := readyManager(t, bch, codec, delta.Config{JvmRoute: "b"})
	s, err := a.Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		v    any
	}{{"big", make([]byte, 2048)}, {strings.Repeat("n", 300), 1}} {
		err := s.Set(c.name, c.v)
		var ve *delta.ValueError
		if !errors.As(err, &ve) || !errors.Is(err, delta.ErrValueNotReplicable) || !errors.Is(err, delta.ErrMessageLimit) {
			t.Errorf("Set of a %d-byte name: %v, want a *ValueError wrapping ErrValueNotReplicable and ErrMessageLimit",
				len(c.name), err)
		}
	}
	if err := s.Set("fits", make([]byte, 512)); err != nil {
		t.Fatal(err)
	}
	if err := a.Replicate(ctx, s); err != nil {
		t.Fatal(err)
	}
	if got := b.Find(s.ID()).Names(); len(got) != 1 || got[0] != "fits" {
		t.Errorf("B holds the attributes %q, want [fits]", got)
	}
}

// TestSetRefusesWhatJavaPeersWouldRefuse: with JavaCodec, Session.Set took a value longer
// than the peers' Limits.MaxBytes, whose delta they would refuse; it refuses it now, as
// with BinaryCodec.
func TestSetRefusesWhatJavaPeersWouldRefuse(t *testing.T) {
	ctx := context.Background()
	codec := delta.JavaCodec{Limits: jserial.DecoderConfig{MaxBytes: 4096}}
	nw := channeltest.NewNetwork()
	_, ach := newChannel(t, nw)
	a := readyManager(t, ach, codec, delta.Config{JvmRoute: "a", Replication: delta.ReplicateAcked, Codec: delta.JavaValueCodec{}})
	_, bch := newChannel(t, nw)
	b := readyManager(t, bch, codec, delta.Config{JvmRoute: "b", Codec: delta.JavaValueCodec{}})
	s, err := a.Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	err = s.Set("big", strings.Repeat("x", 5000))
	var ve *delta.ValueError
	if !errors.As(err, &ve) || !errors.Is(err, delta.ErrValueNotReplicable) || !errors.Is(err, delta.ErrMessageLimit) {
		t.Errorf("Set of a 5000-byte value: %v, want a *ValueError wrapping ErrValueNotReplicable and ErrMessageLimit", err)
	}
	if err := s.Set("fits", strings.Repeat("x", 1000)); err != nil {
		t.Fatal(err)
	}
	if err := a.Replicate(ctx, s); err != nil {
		t.Fatal(err)
	}
	if got := b.Find(s.ID()).Names(); len(got) != 1 || got[0] != "fits" {
		t.Errorf("B holds the attributes %q, want [fits]", got)
	}
}
