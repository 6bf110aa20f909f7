package backup_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gotribes/tribes/session/backup"
	"github.com/gotribes/tribes/session/delta"
)

// TestFullCopyPastMaxEntries: Set takes any number of attributes (each diff is fitted
// to Limits.Java.MaxEntries), and a full copy of 10 attributes went whole under
// MaxEntries 5, which the backup, with the same limits, refused (FAIL_ACK: a count of 10):
// Put failed and the backup held no copy of the session. Now the full copy carries the
// first 5, the backup holds them, and the Replicate reports the others left out of it.
func TestFullCopyPastMaxEntries(t *testing.T) {
	limits := backup.Limits{Java: delta.JavaCodec{MaxEntries: 5}}
	ms, _ := startManagerNodes(t, 2, backup.Config{DisableJvmRouteBinder: true, Limits: limits})
	ctx := context.Background()
	s := backup.NewSession("ENTRIES1.n0", time.Hour, limits)
	for i := range 10 {
		if err := s.Set("a"+strconv.Itoa(i), i); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := ms[0].Map().Put(ctx, s.ID(), s); err != nil {
		t.Fatalf("Put of a session of more attributes than MaxEntries: %v, want the first 5 sent", err)
	}
	for i := range 10 {
		if got, want := backupHolds(t, ms[1], s.ID(), "a"+strconv.Itoa(i)) >= 0, i < 5; got != want {
			t.Errorf("the backup holds a%d: %v, want %v", i, got, want)
		}
	}
	err := ms[0].Replicate(ctx, s.ID())
	if !errors.Is(err, delta.ErrMessageLimit) || !strings.Contains(fmt.Sprint(err), `full copy, not on the other nodes: attribute "a5"`) {
		t.Fatalf("Replicate after the full copy: %v, want ErrMessageLimit naming a5 to a9, left out of its full copy", err)
	}
	if got := ms[0].Stats().FullCopyValuesLeftOut; got != 5 {
		t.Errorf("FullCopyValuesLeftOut %d, want 5", got)
	}
}

// TestFullCopyPastMaxEntriesOfListeners: a backup with MaxEntries 5 refuses a session
// listing 8 listeners (their count), as it refuses 8 attributes: the full copy failed
// whole, whatever was left out of its attributes, and Put failed, the session on no
// backup. The full copy now carries the first 5 listeners, in the session's order, and
// its attributes; the next Replicate reports the 3 others left out of it, counted in
// FullCopyValuesLeftOut as values left out are; the primary keeps all 8.
func TestFullCopyPastMaxEntriesOfListeners(t *testing.T) {
	limits := backup.Limits{Java: delta.JavaCodec{MaxEntries: 5}}
	ms, _ := startManagerNodes(t, 2, backup.Config{DisableJvmRouteBinder: true, Limits: limits})
	ctx := context.Background()
	s := backup.NewSession("ENTRIES2.n0", time.Hour, backup.Limits{})
	var names []string
	for i := range 8 {
		names = append(names, "SSO"+strconv.Itoa(i))
		if err := s.AttachListener(names[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Set("a", "x"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Diff(); err != nil { // received in full: no changes pending
		t.Fatal(err)
	}
	if _, err := ms[0].Map().Put(ctx, s.ID(), s); err != nil {
		t.Fatalf("Put of a session of more listeners than MaxEntries: %v, want the first 5 sent", err)
	}
	v, _, ok := ms[1].Map().Peek(s.ID())
	if !ok {
		t.Fatal("the backup holds no copy")
	}
	if got := v.(*backup.Session).Listeners(); !slices.Equal(got, names[:5]) {
		t.Errorf("the backup's listeners %q, want %q", got, names[:5])
	}
	if backupHolds(t, ms[1], s.ID(), "a") < 0 {
		t.Errorf("the backup lacks a")
	}
	err := ms[0].Replicate(ctx, s.ID())
	if !errors.Is(err, delta.ErrMessageLimit) ||
		!strings.Contains(fmt.Sprint(err), `full copy, not on the other nodes: listener "SSO5", listener "SSO6", listener "SSO7"`) {
		t.Fatalf("Replicate after the full copy: %v, want ErrMessageLimit naming SSO5 to SSO7, left out of its full copy", err)
	}
	if got := ms[0].Stats().FullCopyValuesLeftOut; got != 3 {
		t.Errorf("FullCopyValuesLeftOut %d, want 3", got)
	}
	if got := s.Listeners(); !slices.Equal(got, names) {
		t.Errorf("the primary's listeners %q, want all 8", got)
	}
}
