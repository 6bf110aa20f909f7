package backup_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gotribes/tribes/jserial"
	"github.com/gotribes/tribes/session/backup"
	"github.com/gotribes/tribes/session/delta"
)

// TestEncodeWithTheConfiguredLimits: a session's full copy (Codec.Encode) and its diff
// (Session.Diff) read the attribute values with Limits.Java.Limits, as the node that
// receives them does. Before, they were read with jserial's defaults whatever the
// limits, so a value past a configured MaxArrayLen went out, to be refused by a backup
// node configured alike. A list of 100 strings under MaxArrayLen 50 is left out of the
// full copy of a session that took it under the defaults (Encode, which refused the
// whole session before: TestFullCopyLeavesOutAValuePastLimits), and refused by Set (an
// error wrapping delta.ErrMessageLimit and jserial.ErrLimit), which refuses what the
// session's diff could not carry (TestSetPastLimitsRefused); one of 10 passes, and so
// does the list of 100 under the defaults.
func TestEncodeWithTheConfiguredLimits(t *testing.T) {
	small := backup.Limits{Java: delta.JavaCodec{Limits: jserial.DecoderConfig{MaxArrayLen: 50}}}
	list := func(n int) []any {
		v := make([]any, n)
		for i := range v {
			v[i] = fmt.Sprint("s", i)
		}
		return v
	}
	for _, c := range []struct {
		name   string
		limits backup.Limits
		n      int
		refuse bool
	}{
		{"100 strings, MaxArrayLen 50", small, 100, true},
		{"10 strings, MaxArrayLen 50", small, 10, false},
		{"100 strings, the defaults", backup.Limits{}, 100, false},
	} {
		full := backup.NewSession("S1.go", time.Hour, backup.Limits{})
		if err := full.Set("k", list(c.n)); err != nil {
			t.Fatalf("%s: Set under the defaults: %v", c.name, err)
		}
		if err := full.Set("other", "x"); err != nil {
			t.Fatal(err)
		}
		o, err := backup.Codec{Limits: c.limits}.Encode(full)
		if err != nil {
			t.Fatalf("%s: Encode: %v", c.name, err)
		}
		v, err := backup.Codec{}.Decode(o)
		if err != nil {
			t.Fatalf("%s: Decode of the full copy: %v", c.name, err)
		}
		want := "k,other"
		if c.refuse {
			want = "other"
		}
		if got := strings.Join(v.(*backup.Session).AttributeNames(), ","); got != want {
			t.Errorf("%s: the full copy holds %s, want %s", c.name, got, want)
		}
		s := backup.NewSession("S1.go", time.Hour, c.limits)
		err = s.Set("k", list(c.n))
		if c.refuse != (err != nil) || err != nil && (!errors.Is(err, delta.ErrMessageLimit) || !errors.Is(err, jserial.ErrLimit)) {
			t.Errorf("%s: Set: %v, want refused %v (ErrMessageLimit, jserial.ErrLimit)", c.name, err, c.refuse)
		}
		if err != nil {
			continue
		}
		d, err := s.Diff()
		if err != nil {
			t.Errorf("%s: Diff: %v", c.name, err)
			continue
		}
		cp := backup.NewSession("S1.go", time.Hour, c.limits)
		if err := cp.ApplyDiff(d); err != nil {
			t.Errorf("%s: ApplyDiff of a diff within the limits: %v", c.name, err)
		} else if v, ok, err := cp.Get("k"); !ok || err != nil || len(v.([]any)) != c.n {
			t.Errorf("%s: the copy holds k=%v (ok %v, %v), want %d strings", c.name, v, ok, err, c.n)
		}
	}
}

// TestDiffPastMaxEntriesLeavesOut: Diff wrote more actions than Limits.Java.MaxEntries,
// which a backup configured alike refuses whole (ApplyDiff failed: every change lost
// there). Encoding the diff now refuses that many (delta.ErrMessageLimit), and Diff
// treats it as values past the limits together: of 3 attribute values under MaxEntries
// 2, the first 2 go, the third is left out (the session keeps it; the Manager's
// Replicate reports it) and the diff applies on a copy with the same limits.
func TestDiffPastMaxEntriesLeavesOut(t *testing.T) {
	limits := backup.Limits{Java: delta.JavaCodec{MaxEntries: 2}}
	s := backup.NewSession("S1.go", time.Hour, limits)
	cp := backup.NewSession("S1.go", time.Hour, limits)
	for _, name := range []string{"a", "b", "c"} {
		if err := s.Set(name, "x"); err != nil {
			t.Fatal(err)
		}
	}
	d, err := s.Diff()
	if err != nil {
		t.Fatalf("Diff: %v, want the changes that fit", err)
	}
	if err := cp.ApplyDiff(d); err != nil {
		t.Fatalf("ApplyDiff on a copy with the same limits: %v", err)
	}
	if got := strings.Join(cp.AttributeNames(), ","); got != "a,b" {
		t.Errorf("the copy holds %q, want a,b (c left out)", got)
	}
	if got := strings.Join(s.AttributeNames(), ","); got != "a,b,c" || s.Dirty() {
		t.Errorf("the session holds %q, dirty %v; want a,b,c, clean", got, s.Dirty())
	}
}
