package delta_test

import (
	"context"
	"strings"
	"testing"

	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/session/delta"
)

// TestTransferRefusesOnlyTheSessionPastLimits: a joiner whose BinaryCodec has a lower
// MaxValueSize than its donor's refused the whole chunk that held one session with a
// value past it, losing every other session of that chunk (the transfer failed with
// the chunk reported lost). The joiner now leaves that session out, applies the rest of
// the chunk and counts it in Stats.TransferSessionsRefused.
func TestTransferRefusesOnlyTheSessionPastLimits(t *testing.T) {
	ctx := context.Background()
	nw := channeltest.NewNetwork()
	_, ach := newChannel(t, nw)
	a := readyManager(t, ach, delta.BinaryCodec{}, delta.Config{JvmRoute: "a"})
	const n = 20
	var big string
	ids := map[string]bool{}
	for i := range n {
		s, err := a.Create(ctx)
		if err != nil {
			t.Fatal(err)
		}
		v := "small"
		if i == n/2 {
			v = strings.Repeat("x", 2048)
			big = s.ID()
		} else {
			ids[s.ID()] = true
		}
		if err := s.Set("k", v); err != nil {
			t.Fatal(err)
		}
		if err := a.Replicate(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	_, bch := newChannel(t, nw)
	b := readyManager(t, bch, delta.BinaryCodec{MaxValueSize: 1024}, delta.Config{JvmRoute: "b"})
	st := b.Stats()
	if st.TransferAttempts != 1 || st.SessionsTransferred != n-1 {
		t.Errorf("joiner: %d transfer attempts, %d sessions transferred; want 1 and %d", st.TransferAttempts,
			st.SessionsTransferred, n-1)
	}
	if st.TransferSessionsRefused != 1 {
		t.Errorf("joiner: TransferSessionsRefused %d, want 1", st.TransferSessionsRefused)
	}
	for id := range ids {
		s := b.Find(id)
		if s == nil {
			t.Errorf("joiner lacks session %s", id)
			continue
		}
		if v, _ := s.Get("k"); v != "small" {
			t.Errorf("joiner's copy of %s: k = %v, want small", id, v)
		}
	}
	if b.Find(big) != nil {
		t.Errorf("joiner holds the session %s whose value is past its MaxValueSize", big)
	}
}
