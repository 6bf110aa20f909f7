package delta_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
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
