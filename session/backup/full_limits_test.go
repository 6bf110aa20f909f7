package backup_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gotribes/tribes/jserial"
	"github.com/gotribes/tribes/session/backup"
	"github.com/gotribes/tribes/session/delta"
)

// TestFullCopyLeavesOutAValuePastLimits: a session received in full may hold a value
// past Limits.Java (the map's decoder, with its own limits, read it), here a list of 100
// strings under MaxArrayLen 50, put on node 0 (Put sends it in full, as the publish of a
// backup a failover made primary does). Its full copy (Codec.Encode) was refused whole:
// Put failed, and a failover's publish sent the session to no new backup, each later
// Replicate failing, the other values on no other node. The value is now left out of the
// full copy and the others go (the backup holds "small"), the next Replicate returns an
// error wrapping delta.ErrMessageLimit naming it, once, Stats.FullCopyValuesLeftOut
// counts it, and this node keeps it.
func TestFullCopyLeavesOutAValuePastLimits(t *testing.T) {
	limits := backup.Limits{Java: delta.JavaCodec{Limits: jserial.DecoderConfig{MaxArrayLen: 50}}}
	ms, _ := startManagerNodes(t, 2, backup.Config{DisableJvmRouteBinder: true, Limits: limits})
	ctx := context.Background()
	// A session the defaults took, as the map's decoder did.
	s := backup.NewSession("FULL1.n0", time.Hour, backup.Limits{})
	if err := errors.Join(s.Set("big", stringList("s", 100)), s.Set("small", "x")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Diff(); err != nil { // received in full: no changes pending
		t.Fatal(err)
	}
	if _, err := ms[0].Map().Put(ctx, s.ID(), s); err != nil {
		t.Fatalf("Put of a session holding a value past Limits.Java: %v, want its other values sent", err)
	}
	if backupHolds(t, ms[1], s.ID(), "small") < 0 {
		t.Errorf("the backup lacks small")
	}
	if n := backupHolds(t, ms[1], s.ID(), "big"); n != -1 {
		t.Errorf("the backup holds big (%d strings), past its limits", n)
	}
	err := ms[0].Replicate(ctx, s.ID())
	if !errors.Is(err, delta.ErrMessageLimit) || !strings.Contains(fmt.Sprint(err), `"big"`) ||
		!strings.Contains(fmt.Sprint(err), "full copy") {
		t.Fatalf("Replicate after the full copy: %v, want ErrMessageLimit naming big, left out of its full copy", err)
	}
	if got := ms[0].Stats().FullCopyValuesLeftOut; got != 1 {
		t.Errorf("FullCopyValuesLeftOut %d, want 1", got)
	}
	if err := ms[0].Replicate(ctx, s.ID()); err != nil {
		t.Errorf("the next Replicate: %v, want nil (reported once)", err)
	}
	if v, ok, err := s.Get("big"); !ok || err != nil || len(v.([]any)) != 100 {
		t.Errorf("the primary's big: %v, %v; want its 100 strings", ok, err)
	}
	if got := ms[0].Stats().ChangesDroppedPastLimits; got != 0 {
		t.Errorf("ChangesDroppedPastLimits %d, want 0 (no change was left out of a diff)", got)
	}
	// Changes replicate on.
	if err := s.Set("later", "y"); err != nil {
		t.Fatal(err)
	}
	if err := ms[0].Replicate(ctx, s.ID()); err != nil {
		t.Fatalf("Replicate of a later change: %v", err)
	}
	if backupHolds(t, ms[1], s.ID(), "later") < 0 {
		t.Errorf("the backup lacks the later change")
	}
}

// TestFullCopyCarriesWhatADiffLeftOut: replmap's full copy takes the session's Diff
// first, to forget its changes; that Diff left out b (a and b, 30 strings each, go past
// MaxHandles 50 together) although the full copy carried it, and Replicate reported b
// left out (an error wrapping delta.ErrMessageLimit, ChangesDroppedPastLimits 1). A full
// copy now clears what Diffs left out: Replicate returns nil, the backup holds b.
func TestFullCopyCarriesWhatADiffLeftOut(t *testing.T) {
	limits := backup.Limits{Java: delta.JavaCodec{Limits: jserial.DecoderConfig{MaxHandles: 50}}}
	ms, _ := startManagerNodes(t, 2, backup.Config{DisableJvmRouteBinder: true, Limits: limits})
	ctx := context.Background()
	s, err := ms[0].Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"a", "b"} {
		if err := s.Set(name, stringList(name, 30)); err != nil {
			t.Fatal(err)
		}
	}
	// Put of a dirty session: the next Replicate sends it in full (replmap's
	// dirtyDiffable), taking its Diff first.
	if _, err := ms[0].Map().Put(ctx, s.ID(), s); err != nil {
		t.Fatal(err)
	}
	if err := ms[0].Replicate(ctx, s.ID()); err != nil {
		t.Errorf("Replicate sending the session in full: %v, want nil (the full copy carries b)", err)
	}
	if got := ms[0].Stats().ChangesDroppedPastLimits; got != 0 {
		t.Errorf("ChangesDroppedPastLimits %d, want 0", got)
	}
	for _, name := range []string{"a", "b"} {
		if n := backupHolds(t, ms[1], s.ID(), name); n != 30 {
			t.Errorf("the backup's %s holds %d strings, want 30", name, n)
		}
	}
	if s.Dirty() {
		t.Errorf("the session is still dirty")
	}
}
