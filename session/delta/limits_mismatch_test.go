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
	"github.com/gotribes/tribes/jserial"
	"github.com/gotribes/tribes/session/delta"
)

// TestLowerLimitsOnAReceiverFailTheAckedSend: a node whose codec has lower limits than
// the sender's (MaxValueSize, MaxMessageSize, MaxEntries, Limits.MaxBytes) refused the
// delta as malformed and acknowledged it all the same: the acked Replicate returned nil
// while the receiver never held the change. The receiver now answers FAIL_ACK to a
// message it refuses for its limits: the send fails naming it (channel.ErrAckFailed),
// and the change stays pending on the sender.
func TestLowerLimitsOnAReceiverFailTheAckedSend(t *testing.T) {
	java := delta.Config{Codec: delta.JavaValueCodec{}}
	for _, c := range []struct {
		name         string
		sender, recv delta.MessageCodec
		cfg          delta.Config
		set          func(*delta.Session) error
	}{
		{"BinaryCodec MaxValueSize", delta.BinaryCodec{}, delta.BinaryCodec{MaxValueSize: 1024}, delta.Config{},
			func(s *delta.Session) error { return s.Set("big", strings.Repeat("x", 2048)) }},
		{"BinaryCodec MaxMessageSize", delta.BinaryCodec{}, delta.BinaryCodec{MaxMessageSize: 1024}, delta.Config{},
			func(s *delta.Session) error { return s.Set("big", strings.Repeat("x", 2048)) }},
		{"BinaryCodec MaxEntries", delta.BinaryCodec{}, delta.BinaryCodec{MaxEntries: 2}, delta.Config{},
			func(s *delta.Session) error { return setMany(s, 3) }},
		{"JavaCodec MaxEntries", delta.JavaCodec{}, delta.JavaCodec{MaxEntries: 2}, java,
			func(s *delta.Session) error { return setMany(s, 3) }},
		{"JavaCodec MaxBytes", delta.JavaCodec{}, delta.JavaCodec{Limits: jserial.DecoderConfig{MaxBytes: 4096}}, java,
			func(s *delta.Session) error { return s.Set("big", strings.Repeat("x", 5000)) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			nw := channeltest.NewNetwork()
			_, ach := newChannel(t, nw)
			acfg := c.cfg
			acfg.JvmRoute, acfg.Replication = "a", delta.ReplicateAcked
			a := readyManager(t, ach, c.sender, acfg)
			_, bch := newChannel(t, nw)
			bcfg := c.cfg
			bcfg.JvmRoute = "b"
			b := readyManager(t, bch, c.recv, bcfg)
			s, err := a.Create(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if err := c.set(s); err != nil {
				t.Fatal(err)
			}
			err = a.Replicate(ctx, s)
			if !errors.Is(err, channel.ErrAckFailed) {
				t.Fatalf("Replicate of a delta B refuses for its limits: %v, want an error wrapping channel.ErrAckFailed", err)
			}
			if f := channel.FaultyMembers(err); len(f) != 1 || f[0].Member.Key() != bch.LocalMember().Key() {
				t.Errorf("faulty members %v, want B alone", f)
			}
			if !s.Dirty() {
				t.Error("the refused change is no longer pending on A")
			}
			if bs := b.Find(s.ID()); bs != nil && len(bs.Names()) != 0 {
				t.Errorf("B holds the attributes %q of the delta it refused", bs.Names())
			}
		})
	}
}

// setMany sets n attributes on s.
func setMany(s *delta.Session, n int) error {
	for i := range n {
		if err := s.Set(string(rune('a'+i)), i); err != nil {
			return err
		}
	}
	return nil
}

// TestLowerLimitsRefuseOnlyTheChangePastThem: with group commit, a delta past the limits
// of a receiver (B's MaxValueSize is lower than A's) went out in one batch with the
// deltas of concurrent requests; B refused the whole batch, and every request in it
// failed. A now sends a batch a member refused again to that member in halves, down to
// the delta it refuses: only that request fails.
func TestLowerLimitsRefuseOnlyTheChangePastThem(t *testing.T) {
	const n, big = 6, 3
	ctx := context.Background()
	nw := channeltest.NewNetwork()
	a, g := startGated(t, nw, nil, delta.Config{JvmRoute: "a", Replication: delta.ReplicateAcked})
	_, bch := newChannel(t, nw)
	b := readyManager(t, bch, delta.BinaryCodec{MaxValueSize: 1024}, delta.Config{JvmRoute: "b"})
	ss := createNumbered(t, a, n)
	if err := ss[big].Set("big", strings.Repeat("x", 2048)); err != nil {
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
	testutil.EventuallyTrue(t, 10*time.Second, "the deltas are queued", func() bool { return delta.QueuedForBatch(a) == n-1 })
	release()
	wg.Wait()
	for i, err := range errs {
		if i == big {
			if !errors.Is(err, channel.ErrAckFailed) {
				t.Errorf("Replicate of the delta past B's limits: %v, want an error wrapping channel.ErrAckFailed", err)
			}
			if !ss[i].Dirty() {
				t.Error("the refused change is no longer pending on A")
			}
			continue
		}
		if err != nil {
			t.Errorf("Replicate %d, batched with the delta B refuses: %v", i, err)
		}
		if v, _ := delta.Attr[int](b.Find(ss[i].ID()), "k"); v != i {
			t.Errorf("B: session %d has k = %d, want %d", i, v, i)
		}
	}
}
