package backup_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/gotribes/tribes/session/backup"
	"github.com/gotribes/tribes/session/delta"
)

// TestTooManyChangesWithoutAValueGoInFull: a session's changes without a value (two
// removals and a new max inactive interval) are more than Limits.Java.MaxEntries (2), so
// no diff carries them. Session.Diff returns an error wrapping ErrTooManyChanges and
// delta.ErrMessageLimit and forgets them (the session holds their outcome);
// Manager.Replicate sends the session in full instead, and returns nil: the backup has
// every change, and the later diffs go out. Before, Diff returned the encoder's error
// with the changes still pending, and every later Replicate of the session failed, the
// map's full copy taking a Diff first.
func TestTooManyChangesWithoutAValueGoInFull(t *testing.T) {
	limits := backup.Limits{Java: delta.JavaCodec{MaxEntries: 2}}

	// The session alone.
	s := backup.NewSession("S1.go", time.Hour, limits)
	for _, name := range []string{"a", "b"} {
		if err := s.Set(name, "x"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Diff(); err != nil {
		t.Fatal(err)
	}
	s.Remove("a")
	s.Remove("b")
	s.SetMaxInactive(2 * time.Hour)
	if _, err := s.Diff(); !errors.Is(err, backup.ErrTooManyChanges) || !errors.Is(err, delta.ErrMessageLimit) {
		t.Fatalf("Diff of 3 changes without a value under MaxEntries 2: %v, want ErrTooManyChanges", err)
	}
	if s.Dirty() {
		t.Fatal("the changes stayed pending")
	}

	// Through the manager.
	ms, _ := startManagerNodes(t, 2, backup.Config{DisableJvmRouteBinder: true, Limits: limits})
	ctx := context.Background()
	s, err := ms[0].Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"a", "b"} {
		if err := s.Set(name, "x"); err != nil {
			t.Fatal(err)
		}
	}
	if err := ms[0].Replicate(ctx, s.ID()); err != nil {
		t.Fatal(err)
	}
	if backupHolds(t, ms[1], s.ID(), "b") < 0 {
		t.Fatal("the backup lacks b")
	}
	s.Remove("a")
	s.Remove("b")
	s.SetMaxInactive(2 * time.Hour)
	if err := ms[0].Replicate(ctx, s.ID()); err != nil {
		t.Fatalf("Replicate of 3 changes without a value: %v, want the session sent in full", err)
	}
	for _, name := range []string{"a", "b"} {
		if backupHolds(t, ms[1], s.ID(), name) >= 0 {
			t.Errorf("the backup still holds %s", name)
		}
	}
	v, _, _ := ms[1].Map().Peek(s.ID())
	if got := v.(*backup.Session).MaxInactive(); got != 2*time.Hour {
		t.Errorf("the backup's max inactive %v, want 2h", got)
	}
	if s.Dirty() {
		t.Error("the session is still dirty")
	}
	if err := s.Set("c", "x"); err != nil {
		t.Fatal(err)
	}
	if err := ms[0].Replicate(ctx, s.ID()); err != nil {
		t.Fatalf("Replicate of a later change: %v", err)
	}
	if backupHolds(t, ms[1], s.ID(), "c") < 0 {
		t.Error("the backup lacks the later change")
	}
}
