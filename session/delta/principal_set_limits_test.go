package delta_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/jserial"
	"github.com/gotribes/tribes/session/delta"
)

// TestSetPrincipalRefusesWhatThePeersWouldRefuse: since 4945ca1, BinaryCodec refuses to
// encode a delta whose principal has a name or a role longer than MaxStringLen or more
// roles than MaxEntries, but Session.SetPrincipal took such a principal: it was set on
// this node only, and the request's delta, which carried it, was refused whole, so that
// the attribute the same request set reached no peer either (Replicate failed with
// ErrMessageLimit). SetPrincipal refuses it now, at once and naming the limit, the
// session unchanged, as Set refuses a name or value past the codec's limits, and the
// request's other changes travel.
func TestSetPrincipalRefusesWhatThePeersWouldRefuse(t *testing.T) {
	ctx := context.Background()
	codec := delta.BinaryCodec{MaxStringLen: 64, MaxEntries: 8}
	nw := channeltest.NewNetwork()
	_, ach := newChannel(t, nw)
	a := readyManager(t, ach, codec, delta.Config{JvmRoute: "a", Replication: delta.ReplicateAcked})
	_, bch := newChannel(t, nw)
	b := readyManager(t, bch, codec, delta.Config{JvmRoute: "b"})
	var roles []string
	for i := range 40 {
		roles = append(roles, fmt.Sprint("r", i))
	}
	for _, c := range []struct {
		name  string
		p     *delta.Principal
		limit string
	}{
		{"a 100-byte name", &delta.Principal{Name: strings.Repeat("n", 100)}, "MaxStringLen 64"},
		{"a 100-byte role", &delta.Principal{Name: "alice", Roles: []string{strings.Repeat("r", 100)}}, "MaxStringLen 64"},
		{"40 roles", &delta.Principal{Name: "alice", Roles: roles}, "MaxEntries 8"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, err := a.Create(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Set("cart", "3 items"); err != nil {
				t.Fatal(err)
			}
			err = s.SetPrincipal(c.p)
			if !errors.Is(err, delta.ErrMessageLimit) || !strings.Contains(err.Error(), c.limit) {
				t.Errorf("SetPrincipal: %v, want an error wrapping ErrMessageLimit naming %s", err, c.limit)
			}
			if s.Principal() != nil {
				t.Errorf("the session holds the refused principal %q", s.Principal().Name)
			}
			if err := a.Replicate(ctx, s); err != nil {
				t.Fatalf("Replicate: %v", err)
			}
			if got := b.Find(s.ID()); got == nil || len(got.Names()) != 1 {
				t.Errorf("B does not hold the attribute the request set")
			}
		})
	}
	// Within the limits, the principal travels.
	s, err := a.Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetPrincipal(&delta.Principal{Name: strings.Repeat("n", 64), Roles: roles[:8]}); err != nil {
		t.Fatal(err)
	}
	if err := a.Replicate(ctx, s); err != nil {
		t.Fatal(err)
	}
	if got := b.Find(s.ID()); got == nil || got.Principal() == nil || len(got.Principal().Roles) != 8 {
		t.Errorf("B does not hold the principal within the limits")
	}
}

// TestSetPrincipalRefusesWhatJavaCodecWouldNotSend: JavaCodec's encoder reads a
// principal's Java stream with its Limits since 05dc7e9, and refuses to encode a delta
// whose principal goes past them, but Session.SetPrincipal took such a principal (a
// 5000-byte attribute under a MaxBytes of 4096): set on this node only, the request's
// delta refused whole, the attribute the same request set reaching no peer. SetPrincipal
// refuses it now, at once (ErrMessageLimit, naming MaxBytes), the session unchanged.
func TestSetPrincipalRefusesWhatJavaCodecWouldNotSend(t *testing.T) {
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
	if err := s.Set("cart", "3 items"); err != nil {
		t.Fatal(err)
	}
	err = s.SetPrincipal(&delta.Principal{Name: "alice", Attributes: map[string]any{"note": strings.Repeat("x", 5000)}})
	if !errors.Is(err, delta.ErrMessageLimit) || !strings.Contains(err.Error(), "MaxBytes") {
		t.Errorf("SetPrincipal: %v, want an error wrapping ErrMessageLimit naming MaxBytes", err)
	}
	if s.Principal() != nil {
		t.Errorf("the session holds the refused principal")
	}
	if err := a.Replicate(ctx, s); err != nil {
		t.Fatalf("Replicate: %v", err)
	}
	if got := b.Find(s.ID()); got == nil || len(got.Names()) != 1 {
		t.Errorf("B does not hold the attribute the request set")
	}
	if err := s.SetPrincipal(&delta.Principal{Name: "alice", Attributes: map[string]any{"note": "short"}}); err != nil {
		t.Fatal(err)
	}
	if err := a.Replicate(ctx, s); err != nil {
		t.Fatal(err)
	}
	if got := b.Find(s.ID()); got == nil || got.Principal() == nil || got.Principal().Name != "alice" {
		t.Errorf("B does not hold the principal within the limits")
	}
}

// TestSetPrincipalRefusesPastJavaCodecHandles: a principal within JavaCodec's MaxBytes
// whose Java stream has more handles than its Limits.MaxHandles (an attribute of 100
// distinct strings under 50) is refused by SetPrincipal with an error wrapping
// ErrMessageLimit and jserial.ErrLimit, as JavaCodec's encoder would refuse the delta.
func TestSetPrincipalRefusesPastJavaCodecHandles(t *testing.T) {
	ctx := context.Background()
	codec := delta.JavaCodec{Limits: jserial.DecoderConfig{MaxHandles: 50}}
	nw := channeltest.NewNetwork()
	_, ach := newChannel(t, nw)
	a := readyManager(t, ach, codec, delta.Config{JvmRoute: "a", Replication: delta.ReplicateAcked, Codec: delta.JavaValueCodec{}})
	_, bch := newChannel(t, nw)
	b := readyManager(t, bch, codec, delta.Config{JvmRoute: "b", Codec: delta.JavaValueCodec{}})
	s, err := a.Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Set("cart", "3 items"); err != nil {
		t.Fatal(err)
	}
	many := make([]any, 100)
	for i := range many {
		many[i] = fmt.Sprint("s", i)
	}
	err = s.SetPrincipal(&delta.Principal{Name: "alice", Attributes: map[string]any{"many": many}})
	if !errors.Is(err, delta.ErrMessageLimit) || !errors.Is(err, jserial.ErrLimit) {
		t.Errorf("SetPrincipal: %v, want an error wrapping ErrMessageLimit and jserial.ErrLimit", err)
	}
	if s.Principal() != nil {
		t.Errorf("the session holds the refused principal")
	}
	if err := a.Replicate(ctx, s); err != nil {
		t.Fatalf("Replicate: %v", err)
	}
	if got := b.Find(s.ID()); got == nil || len(got.Names()) != 1 {
		t.Errorf("B does not hold the attribute the request set")
	}
}
