package delta_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/jserial"
	"github.com/gotribes/tribes/session/delta"
)

// TestChangePastLimitsDoesNotBlockLaterDeltas: two values each within JavaCodec's
// Limits alone but past them together (MaxHandles: one handle table for a delta's
// values) made the codec refuse the delta; its changes were kept pending and sent again
// with every later delta of the session, which the codec refused as well, so that no
// later change of the session ever reached the cluster. Replicate now leaves out the
// value that goes past the limits, sends the rest, returns an error wrapping
// ErrMessageLimit that names it and counts it (Stats.ChangesDroppedPastLimits); the
// session's next delta goes out.
func TestChangePastLimitsDoesNotBlockLaterDeltas(t *testing.T) {
	ctx := context.Background()
	codec := delta.JavaCodec{Limits: jserial.DecoderConfig{MaxHandles: 50}}
	cfg := delta.Config{Codec: delta.JavaValueCodec{}, Replication: delta.ReplicateAcked}
	nw := channeltest.NewNetwork()
	_, ach := newChannel(t, nw)
	acfg := cfg
	acfg.JvmRoute = "a"
	a := readyManager(t, ach, codec, acfg)
	_, bch := newChannel(t, nw)
	bcfg := cfg
	bcfg.JvmRoute = "b"
	b := readyManager(t, bch, codec, bcfg)

	strs := func(prefix string, n int) []any {
		v := make([]any, n)
		for i := range v {
			v[i] = fmt.Sprint(prefix, i)
		}
		return v
	}
	s, err := a.Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"one", "two"} {
		if err := s.Set(name, strs(name, 40)); err != nil {
			t.Fatal(err)
		}
	}
	err = a.Replicate(ctx, s)
	if !errors.Is(err, delta.ErrMessageLimit) {
		t.Fatalf("Replicate of two values past the Limits together: %v, want an error wrapping ErrMessageLimit", err)
	}
	if got := a.Stats().ChangesDroppedPastLimits; got != 1 {
		t.Errorf("ChangesDroppedPastLimits %d, want 1", got)
	}
	if s.Dirty() {
		t.Error("the change left out is still pending")
	}
	bs := b.Find(s.ID())
	if bs == nil {
		t.Fatal("B lacks the session: the change within the limits was not sent either")
	}
	if v, _ := bs.Get("one"); v == nil {
		t.Error("B lacks the value within the limits")
	}
	// The session's next change goes out.
	if err := s.Set("three", "small"); err != nil {
		t.Fatal(err)
	}
	if err := a.Replicate(ctx, s); err != nil {
		t.Fatalf("the session's next delta: %v", err)
	}
	if v, _ := bs.Get("three"); v != "small" {
		t.Errorf("B's copy: three = %v, want small", v)
	}
}
