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

// TestFullCopyPastLimitsTogether: a, b and c (3000 bytes each) fit Limits.Java's
// MaxBytes 8192 alone (Set takes each), not together. A full copy read each value alone
// and sent them all; the backup's Codec, with the same limits, reads the session's
// values together and refused it (FAIL_ACK): Put failed, the backup held no copy of the
// session and every later Replicate failed alike, the session on no other node. Now the
// full copy leaves out c (first fit, in the session's order), the backup holds a, b and
// small, the Replicate reports c left out of the full copy (delta.ErrMessageLimit), and
// the primary keeps c.
func TestFullCopyPastLimitsTogether(t *testing.T) {
	limits := backup.Limits{Java: delta.JavaCodec{Limits: jserial.DecoderConfig{MaxBytes: 8192}}}
	ms, _ := startManagerNodes(t, 2, backup.Config{DisableJvmRouteBinder: true, Limits: limits})
	ctx := context.Background()
	s := backup.NewSession("TOGETHER1.n0", time.Hour, limits)
	if err := errors.Join(s.Set("a", make([]byte, 3000)), s.Set("b", make([]byte, 3000)),
		s.Set("c", make([]byte, 3000)), s.Set("small", "x")); err != nil {
		t.Fatal(err)
	}
	if _, err := ms[0].Map().Put(ctx, s.ID(), s); err != nil {
		t.Fatalf("Put of a session whose values go past Limits.Java together: %v, want the values that fit sent", err)
	}
	for _, name := range []string{"a", "b", "small"} {
		if backupHolds(t, ms[1], s.ID(), name) < 0 {
			t.Errorf("the backup lacks %s", name)
		}
	}
	if backupHolds(t, ms[1], s.ID(), "c") >= 0 {
		t.Errorf("the backup holds c, past its limits with a and b")
	}
	err := ms[0].Replicate(ctx, s.ID())
	if !errors.Is(err, delta.ErrMessageLimit) || !strings.Contains(fmt.Sprint(err), `full copy, not on the other nodes: attribute "c"`) {
		t.Fatalf("Replicate after the full copy: %v, want ErrMessageLimit naming c, left out of its full copy", err)
	}
	if v, ok, err := s.Get("c"); !ok || err != nil || len(v.([]byte)) != 3000 {
		t.Errorf("the primary's c: %v, %v; want its 3000 bytes", ok, err)
	}
	if got := ms[0].Stats().FullCopyValuesLeftOut; got != 1 {
		t.Errorf("FullCopyValuesLeftOut %d, want 1", got)
	}
}
