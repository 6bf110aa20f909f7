package delta_test

import (
	"context"
	"errors"
	"testing"

	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/session/delta"
)

// TestNinthRenameRefusedWhileEightUnsent: eight renames of a session each failed to
// reach B, which holds the session under its first id. A ninth rename, while the eight
// still fail to reach B, made the session forget the first id (at most eight were
// kept, the oldest dropped): once B was reachable, the resends renamed ids B did not
// hold, and B kept the session under its first id for good, a client holding that id
// continuing there a copy the other nodes had renamed against fixation. The ninth
// rename is now refused (ErrRenamesUnsent; the session keeps its id) until the earlier
// ones reached every member, and B then follows every rename.
func TestNinthRenameRefusedWhileEightUnsent(t *testing.T) {
	ctx := context.Background()
	nw := channeltest.NewNetwork()
	a, d := startDropping(t, nw)
	b := startReady(t, nw, delta.Config{JvmRoute: "b"})
	s := delta.CreateReplicated(t, a, "user", "ann")
	first := s.ID()
	for range 8 {
		renameMissing(t, a, d, s, "B", b)
	}
	eighth := s.ID()
	_, err := a.ChangeSessionID(ctx, s, "")
	if !errors.Is(err, delta.ErrRenamesUnsent) {
		t.Errorf("a ninth rename while eight failed to reach B: %v, want an error wrapping ErrRenamesUnsent", err)
	}
	if s.ID() != eighth {
		t.Errorf("the session's id after the refused rename is %s, want %s: it keeps its id", s.ID(), eighth)
	}
	d.drop.Store(nil)
	if err := a.Replicate(ctx, s); err != nil { // the renames go out again
		t.Fatal(err)
	}
	checkRenamed(t, "B after the resends", b.m, first, s.ID())
	old := s.ID()
	if _, err := a.ChangeSessionID(ctx, s, ""); err != nil {
		t.Fatalf("a rename once the earlier ones reached B: %v", err)
	}
	checkRenamed(t, "B after the next rename", b.m, old, s.ID())
	checkRenameNotResent(t, a, s)
}
