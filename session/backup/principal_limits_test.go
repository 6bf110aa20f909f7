package backup_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/gotribes/tribes/internal/allocbound"
	"github.com/gotribes/tribes/jserial"
	"github.com/gotribes/tribes/session/backup"
	"github.com/gotribes/tribes/session/delta"
)

// TestApplyDiffPrincipalWithItsLimits: the principal of a diff, and the one a handler
// sets, are read with the session's Limits.Java.Limits, as the diff's stream is. A
// principal of 1.1M strings (more handles than jserial's default MaxHandles grants a
// stream of its size) is set and taken by sessions whose limits grant 4M handles, and
// refused by one with the defaults; a principal of a 4 KiB attribute is taken with the
// defaults and refused under a MaxBytes of 1 KiB. Before, the principal's stream was
// read with jserial's defaults whatever the limits, so that the raised sessions refused
// the principal their limits let through.
func TestApplyDiffPrincipalWithItsLimits(t *testing.T) {
	allocbound.WithoutRace(t)
	diffOf := func(limits backup.Limits, p *delta.Principal) []byte {
		t.Helper()
		s := backup.NewSession("S1.go", time.Hour, limits)
		if err := s.SetPrincipal(p); err != nil {
			t.Fatalf("SetPrincipal: %v", err)
		}
		d, err := s.Diff()
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	check := func(name string, limits backup.Limits, d []byte, take bool) {
		t.Helper()
		cp := backup.NewSession("S1.go", time.Hour, limits)
		err := cp.ApplyDiff(d)
		if take && (err != nil || cp.Principal() == nil || cp.Principal().Name != "alice") {
			t.Errorf("%s: ApplyDiff: %v (principal set %v), want it taken", name, err, cp.Principal() != nil)
		} else if !take && (!errors.Is(err, jserial.ErrLimit) || cp.Principal() != nil) {
			t.Errorf("%s: ApplyDiff: %v (principal set %v), want it refused (jserial.ErrLimit)", name, err, cp.Principal() != nil)
		}
	}

	// Lowered: a MaxBytes of 1 KiB refuses the principal the defaults take.
	d := diffOf(backup.Limits{}, &delta.Principal{Name: "alice", Attributes: map[string]any{"a": strings.Repeat("a", 4<<10)}})
	check("a 4 KiB attribute, defaults", backup.Limits{}, d, true)
	check("a 4 KiB attribute, MaxBytes 1 KiB", backup.Limits{Java: delta.JavaCodec{
		Limits: jserial.DecoderConfig{MaxBytes: 1 << 10}}}, d, false)

	// Raised: 4M handles take the principal the defaults refuse.
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	many := make([]any, 1_100_000)
	for i := range many {
		many[i] = string([]byte{alphabet[i%62], alphabet[i/62%62], alphabet[i/62/62%62], alphabet[i/62/62/62%62]})
	}
	raised := backup.Limits{Java: delta.JavaCodec{Limits: jserial.DecoderConfig{MaxHandles: 4 << 20}}}
	d = diffOf(raised, &delta.Principal{Name: "alice", Attributes: map[string]any{"many": many}})
	check("1.1M strings, MaxHandles 4M", raised, d, true)
	check("1.1M strings, defaults", backup.Limits{}, d, false)
}
