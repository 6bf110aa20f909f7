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

// TestChangePastLimitsThenSameAttributeReplicates: after Replicate left out a value
// that went past the codec's Limits with another one of its delta (the other nodes
// never got it), a later value of the same attribute within them replicates as any
// change does, and so does its removal (of a value B holds, and of one it never got),
// and the changes after it.
func TestChangePastLimitsThenSameAttributeReplicates(t *testing.T) {
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
	strs := func(prefix string) []any { // within MaxHandles alone, past it with another
		v := make([]any, 40)
		for i := range v {
			v[i] = fmt.Sprint(prefix, i)
		}
		return v
	}
	s, err := a.Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Set("k", "first"); err != nil {
		t.Fatal(err)
	}
	if err := a.Replicate(ctx, s); err != nil {
		t.Fatal(err)
	}
	bs := b.Find(s.ID())
	if bs == nil {
		t.Fatal("B lacks the session")
	}
	set2 := func(p string) func() error {
		return func() error { return errors.Join(s.Set("other", strs(p+"o")), s.Set("k", strs(p+"k"))) }
	}
	for _, step := range []struct {
		what    string
		change  func() error
		refused bool
		want    any // B's k after it; nil: none
	}{
		{"k past the limits with another value", set2("a"), true, "first"},
		{"k within them", func() error { return s.Set("k", "second") }, false, "second"},
		{"k past the limits again", set2("b"), true, "second"},
		{"k removed", func() error { return s.Remove("k") }, false, nil},
		{"k past the limits, then removed", func() error { return errors.Join(set2("c")(), s.Remove("k")) }, false, nil},
		{"k within them again", func() error { return s.Set("k", "third") }, false, "third"},
	} {
		if err := step.change(); err != nil {
			t.Fatalf("%s: %v", step.what, err)
		}
		err := a.Replicate(ctx, s)
		if step.refused != errors.Is(err, delta.ErrMessageLimit) || !step.refused && err != nil {
			t.Errorf("%s: Replicate %v", step.what, err)
		}
		if v, _ := bs.Get("k"); fmt.Sprint(v) != fmt.Sprint(step.want) {
			t.Errorf("%s: B holds k=%v, want %v", step.what, v, step.want)
		}
		if v, _ := bs.Get("other"); v == nil && step.refused {
			t.Errorf("%s: B lacks the value within the limits", step.what)
		}
	}
	if got := a.Stats().ChangesDroppedPastLimits; got != 2 {
		t.Errorf("ChangesDroppedPastLimits %d, want 2", got)
	}
}
