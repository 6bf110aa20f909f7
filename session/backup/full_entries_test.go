package backup_test

import (
	"context"
	"errors"
	"fmt"
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
