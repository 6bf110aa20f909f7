package delta_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/session/delta"
)

// TestChangePastOwnMaxMessageSizeDoesNotBlockLaterDeltas: BinaryCodec refused to encode a
// delta past its own MaxMessageSize with an error that did not wrap ErrMessageLimit, so
// Replicate did not leave out the value that made it so: the delta stayed pending whole,
// and every later delta of the session, carrying it again, was refused too (the later
// change "small" never reached B). The refusal now wraps ErrMessageLimit: Replicate
// leaves out "big", returns an error naming it, and the next change goes out.
func TestChangePastOwnMaxMessageSizeDoesNotBlockLaterDeltas(t *testing.T) {
	ctx := context.Background()
	codec := delta.BinaryCodec{MaxMessageSize: 1024}
	nw := channeltest.NewNetwork()
	_, ach := newChannel(t, nw)
	a := readyManager(t, ach, codec, delta.Config{JvmRoute: "a", Replication: delta.ReplicateAcked})
	_, bch := newChannel(t, nw)
	b := readyManager(t, bch, codec, delta.Config{JvmRoute: "b"})
	s, err := a.Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Set("big", strings.Repeat("x", 2048)); err != nil {
		t.Fatal(err)
	}
	err = a.Replicate(ctx, s)
	if !errors.Is(err, delta.ErrMessageLimit) || !strings.Contains(err.Error(), `"big"`) {
		t.Fatalf("Replicate of a value past MaxMessageSize: %v, want an error wrapping ErrMessageLimit naming big", err)
	}
	if got := a.Stats().ChangesDroppedPastLimits; got != 1 {
		t.Errorf("ChangesDroppedPastLimits %d, want 1", got)
	}
	if err := s.Set("small", "y"); err != nil {
		t.Fatal(err)
	}
	if err := a.Replicate(ctx, s); err != nil {
		t.Fatalf("Replicate of a later change: %v", err)
	}
	bs := b.Find(s.ID())
	if bs == nil {
		t.Fatal("B lacks the session")
	}
	if v, _ := bs.Get("small"); v != "y" {
		t.Errorf("B's small: %v, want y", v)
	}
	if v, _ := bs.Get("big"); v != nil {
		t.Errorf("B holds big, left out")
	}
}
