package delta_test

import (
	"context"
	"errors"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/session/delta"
)

// TestRenamesUnsentErrorIsNoSendError: ChangeSessionID's error wraps a *channel.SendError
// or ErrNoQuorum when the session has its new id here but not every member took it (its
// documentation says so); a refused rename (ErrRenamesUnsent), which leaves the id as it
// was, must not read as one. It wrapped the failed resend's *channel.SendError, so a
// caller following that documentation took the session for renamed.
func TestRenamesUnsentErrorIsNoSendError(t *testing.T) {
	ctx := context.Background()
	nw := channeltest.NewNetwork()
	a := startReady(t, nw, delta.Config{JvmRoute: "a", Replication: delta.ReplicateAcked})
	b := startReady(t, nw, delta.Config{JvmRoute: "b", Replication: delta.ReplicateAcked})
	s := delta.CreateReplicated(t, a.m, "user", "ann")
	remove := b.ch.AddMessageListener(failingSessions{func() bool { return true }})
	defer remove()
	var sendErr *channel.SendError
	for i := range 8 {
		old := s.ID()
		id, err := a.m.ChangeSessionID(ctx, s, "")
		if !errors.As(err, &sendErr) || errors.Is(err, delta.ErrRenamesUnsent) || id == old || s.ID() != id {
			t.Fatalf("rename %d with B failing: %s, %v; want the new id and a *channel.SendError", i+1, id, err)
		}
	}
	old := s.ID()
	_, err := a.m.ChangeSessionID(ctx, s, "")
	if !errors.Is(err, delta.ErrRenamesUnsent) || s.ID() != old {
		t.Fatalf("the ninth rename: %v, id %s; want ErrRenamesUnsent and %s kept", err, s.ID(), old)
	}
	if errors.As(err, &sendErr) || errors.Is(err, delta.ErrNoQuorum) {
		t.Errorf("the refused rename's error reads as a rename made here that some member missed: %v", err)
	}
}
