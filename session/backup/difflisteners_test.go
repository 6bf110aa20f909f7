package backup_test

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/gotribes/tribes/session/backup"
	"github.com/gotribes/tribes/session/delta"
)

// TestApplyDiffListenersBoundedByMaxEntries: each diff of a peer is bounded by
// Limits.Java.MaxEntries actions, but the listeners its diffs attach add up, and
// MaxSessionBytes counts none of them: a peer attaching one more listener per diff grew
// a backup's listeners without bound, past what a full copy of the session may list
// (Codec.Decode refuses more than MaxEntries). A diff that would make them more than
// MaxEntries is now refused with ErrLimit, the session as it was.
func TestApplyDiffListenersBoundedByMaxEntries(t *testing.T) {
	limits := backup.Limits{Java: delta.JavaCodec{MaxEntries: 4}}
	primary := backup.NewSession("L1", 0, limits)
	cp := backup.NewSession("L1", 0, limits)
	for i := range 5 {
		if err := primary.AttachListener(fmt.Sprint("sso", i)); err != nil {
			t.Fatal(err)
		}
		d, err := primary.Diff()
		if err != nil {
			t.Fatal(err)
		}
		err = cp.ApplyDiff(d)
		if i < 4 && err != nil {
			t.Fatalf("diff %d: %v", i, err)
		}
		if i == 4 && !errors.Is(err, backup.ErrLimit) {
			t.Fatalf("the diff attaching a 5th listener (MaxEntries 4): %v, want ErrLimit", err)
		}
	}
	if got := cp.Listeners(); !slices.Equal(got, []string{"sso0", "sso1", "sso2", "sso3"}) {
		t.Fatalf("listeners %q, want the first four", got)
	}
}
