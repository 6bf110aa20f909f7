package backup_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gotribes/tribes/jserial"
	"github.com/gotribes/tribes/replmap"
	"github.com/gotribes/tribes/session/backup"
	"github.com/gotribes/tribes/session/delta"
)

// TestFullCopyWithinTheMapsArrayLenAndDepth: a full copy was fitted under the map's
// limits (Codec.MapLimits) for its handles only, and only when handleBound said they
// might be too many: a value within Limits.Java alone but past the map's MaxArrayLen
// (an ArrayList of 20 under 10), or as deep as Limits.Java's MaxDepth allows alone
// (the session's stream nests it one deeper), went, the backup's map refused the stream
// (FAIL_ACK), Put failed and no node held a copy. Each value is now read with the
// tighter of both (the map's MaxDepth less one): the value past them is left out, the
// others go, and the next Replicate reports it; under a map's MaxDepth one more, the
// deep value goes.
func TestFullCopyWithinTheMapsArrayLenAndDepth(t *testing.T) {
	const depth = 8
	java := backup.Limits{Java: delta.JavaCodec{Limits: jserial.DecoderConfig{MaxDepth: depth}}}
	// The deepest list within Limits.Java's MaxDepth alone.
	var deep, v any = nil, "x"
	for range depth + 1 {
		v = []any{v}
		probe := backup.NewSession("probe", time.Hour, java)
		if err := probe.Set("deep", v); err != nil {
			break
		}
		deep = v
	}
	if deep == nil {
		t.Fatal("no list within MaxDepth")
	}
	list := make([]any, 20)
	for i := range list {
		list[i] = fmt.Sprint("s", i)
	}
	for _, tc := range []struct {
		name  string
		value any
		cfg   backup.Config
		kept  bool
	}{
		{"list", list, backup.Config{Map: func(c *replmap.Config) { c.Limits.MaxArrayLen = 10 }}, false},
		{"deep", deep, backup.Config{Limits: java, Map: func(c *replmap.Config) { c.Limits.MaxDepth = depth }}, false},
		{"deep", deep, backup.Config{Limits: java, Map: func(c *replmap.Config) { c.Limits.MaxDepth = depth + 1 }}, true},
	} {
		tc.cfg.DisableJvmRouteBinder = true
		ms, _ := startManagerNodes(t, 2, tc.cfg)
		ctx := context.Background()
		s := backup.NewSession("WIRE-"+tc.name+".n0", time.Hour, tc.cfg.Limits)
		if err := errors.Join(s.Set(tc.name, tc.value), s.Set("small", "x")); err != nil {
			t.Fatal(err)
		}
		if _, err := ms[0].Map().Put(ctx, s.ID(), s); err != nil {
			t.Errorf("%s: Put: %v, want small sent", tc.name, err)
			continue
		}
		if backupHolds(t, ms[1], s.ID(), "small") < 0 {
			t.Errorf("%s: the backup lacks small", tc.name)
		}
		if got := backupHolds(t, ms[1], s.ID(), tc.name) >= 0; got != tc.kept {
			t.Errorf("%s: the backup holds it %v, want %v", tc.name, got, tc.kept)
		}
		err := ms[0].Replicate(ctx, s.ID())
		if tc.kept {
			if err != nil {
				t.Errorf("%s: Replicate: %v, want nil (within the map's MaxDepth one deeper)", tc.name, err)
			}
			continue
		}
		if want := fmt.Sprintf("full copy, not on the other nodes: attribute %q", tc.name); !errors.Is(err, delta.ErrMessageLimit) ||
			!strings.Contains(fmt.Sprint(err), want) {
			t.Errorf("%s: Replicate: %v, want ErrMessageLimit naming it", tc.name, err)
		}
		if got := ms[0].Stats().FullCopyValuesLeftOut; got != 1 {
			t.Errorf("%s: FullCopyValuesLeftOut %d, want 1", tc.name, got)
		}
	}
}
