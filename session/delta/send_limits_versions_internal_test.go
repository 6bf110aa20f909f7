package delta

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/jserial"
)

// TestJavaCodecVersionsAfterADroppedChange: with JavaCodec, a delta that Replicate sent
// without a value left out for the codec's Limits (values within them alone, past them
// together: Session.Set refuses one past them alone) takes the session's next version
// on this node, as any delta does, the changes after it the versions after it; a
// receiver takes version 0 of each delta it applies (Tomcat's deltas carry none:
// TestJavaCodecDeltaResetsTheVersion), and a joiner's state transfer from this node
// carries this node's version. No test asserted the versions after a dropped change with
// JavaCodec.
func TestJavaCodecVersionsAfterADroppedChange(t *testing.T) {
	ctx := context.Background()
	nw := channeltest.NewNetwork()
	codec := JavaCodec{Limits: jserial.DecoderConfig{MaxHandles: 50}}
	start := func(route string, codec JavaCodec) *Manager {
		_, ch := nw.StartChannel(t)
		cl := newCluster(t, ch, ClusterConfig{Codec: codec})
		t.Cleanup(func() { _ = cl.Close(ctx) })
		m, err := cl.NewManager(Config{Name: "localhost#/app", JvmRoute: route, MemberWait: -1,
			Codec: JavaValueCodec{}, Replication: ReplicateAcked})
		if err != nil {
			t.Fatal(err)
		}
		if err := m.Start(ctx); err != nil {
			t.Fatal(err)
		}
		if err := m.WaitReady(ctx); err != nil {
			t.Fatal(err)
		}
		return m
	}
	version := func(s *Session) uint64 {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.version
	}
	strs := func(prefix string, n int) []any { // 40 strings: within MaxHandles alone, past it with another
		v := make([]any, n)
		for i := range v {
			v[i] = fmt.Sprint(prefix, i)
		}
		return v
	}
	a, b := start("a", codec), start("b", codec)
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
	v0 := version(s)
	bs := b.Find(s.ID())
	if bs == nil {
		t.Fatal("B lacks the session")
	}
	for _, step := range []struct {
		what    string
		change  func() error
		dropped bool   // Replicate returns ErrMessageLimit
		want    uint64 // A's version after it, above v0
		bk      any    // B's k after it
	}{
		{"two values past the Limits together: one left out", func() error {
			return errors.Join(s.Set("one", strs("o", 40)), s.Set("two", strs("t", 40)))
		}, true, 1, "first"},
		{"a value within them", func() error { return s.Set("k", "second") }, false, 2, "second"},
		{"k and another value past them together: k left out", func() error {
			return errors.Join(s.Set("three", strs("h", 40)), s.Set("k", strs("k", 40)))
		}, true, 3, "second"},
		{"a removal", func() error { return s.Remove("one") }, false, 4, "second"},
	} {
		received := b.Stats().Received[EventDelta]
		if err := step.change(); err != nil {
			t.Fatalf("%s: %v", step.what, err)
		}
		err := a.Replicate(ctx, s)
		if step.dropped != errors.Is(err, ErrMessageLimit) || !step.dropped && err != nil {
			t.Errorf("%s: Replicate %v", step.what, err)
		}
		if got := b.Stats().Received[EventDelta] - received; got != 1 {
			t.Errorf("%s: B received %d deltas, want 1", step.what, got)
		}
		if got := version(s); got != v0+step.want {
			t.Errorf("%s: A's version %d, want %d", step.what, got, v0+step.want)
		}
		if got := version(bs); got != 0 {
			t.Errorf("%s: B's version %d, want 0 (a Tomcat delta carries none)", step.what, got)
		}
		if v, _ := bs.Get("k"); fmt.Sprint(v) != fmt.Sprint(step.bk) {
			t.Errorf("%s: B holds k=%v, want %v", step.what, v, step.bk)
		}
	}
	// A joiner's state transfer from A (the oldest member) carries A's version. The
	// joiner has jserial's default Limits: a JavaCodec joiner reads a chunk as one stream,
	// whose values together go past MaxHandles 50, and refuses it whole.
	c := start("c", JavaCodec{})
	cs := c.Find(s.ID())
	if cs == nil {
		t.Fatal("C lacks the session")
	}
	if got, want := version(cs), version(s); got != want {
		t.Errorf("C's version after its state transfer %d, want A's %d", got, want)
	}
}
