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

	"github.com/gotribes/tribes/replmap"
	"github.com/gotribes/tribes/session/backup"
	"github.com/gotribes/tribes/session/delta"
)

// TestFullCopyPastTheMapsMaxHandles: a backup's map reads a session's stream with its
// replmap.Config.Limits, one handle table for every attribute name and value and every
// listener (two handles each: the object and its ssoId), where the full copy's fit read
// each value alone: a session of 40 listeners, or of 30 attributes, each within
// MaxHandles 50 alone, went whole, the backup refused it (FAIL_ACK: more than 50
// handles), Put failed and no node held a copy. The full copy now fits them under the
// map's limits: the first ones, in the session's order, go (the attribute before the
// listeners), the backup holds them, and the next Replicate reports the others, counted
// in FullCopyValuesLeftOut; the primary keeps them all.
func TestFullCopyPastTheMapsMaxHandles(t *testing.T) {
	cfg := backup.Config{DisableJvmRouteBinder: true, Map: func(c *replmap.Config) { c.Limits.MaxHandles = 50 }}
	ms, _ := startManagerNodes(t, 2, cfg)
	ctx := context.Background()
	for _, tc := range []struct {
		id        string
		listeners bool
	}{{"HANDLES1.n0", true}, {"HANDLES2.n0", false}} {
		s := backup.NewSession(tc.id, time.Hour, backup.Limits{})
		var names []string
		for i := range map[bool]int{true: 40, false: 30}[tc.listeners] {
			var err error
			if tc.listeners {
				names = append(names, "SSO"+strconv.Itoa(i))
				err = s.AttachListener(names[i])
			} else {
				names = append(names, "a"+strconv.Itoa(i))
				err = s.Set(names[i], 1000+i)
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		if tc.listeners {
			if err := s.Set("first", "x"); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := s.Diff(); err != nil { // received in full: no changes pending
			t.Fatal(err)
		}
		before := ms[0].Stats().FullCopyValuesLeftOut
		if _, err := ms[0].Map().Put(ctx, s.ID(), s); err != nil {
			t.Fatalf("%s: Put past the map's MaxHandles together: %v, want the first ones sent", tc.id, err)
		}
		v, _, ok := ms[1].Map().Peek(s.ID())
		if !ok {
			t.Fatalf("%s: the backup holds no copy", tc.id)
		}
		cp := v.(*backup.Session)
		got := cp.AttributeNames()
		if tc.listeners {
			if !slices.Equal(got, []string{"first"}) {
				t.Errorf("%s: the backup's attributes %q, want first", tc.id, got)
			}
			got = cp.Listeners()
		}
		kept := len(got)
		if kept == 0 || kept == len(names) || !slices.Equal(got, names[:kept]) {
			t.Fatalf("%s: the backup holds %q, want the first of %d, not all", tc.id, got, len(names))
		}
		err := ms[0].Replicate(ctx, s.ID())
		what := map[bool]string{true: "listener", false: "attribute"}[tc.listeners]
		if want := fmt.Sprintf("full copy, not on the other nodes: %s %q,", what, names[kept]); !errors.Is(err, delta.ErrMessageLimit) ||
			!strings.Contains(fmt.Sprint(err), want) || !strings.Contains(fmt.Sprint(err), fmt.Sprintf("%q (", names[len(names)-1])) {
			t.Fatalf("%s: Replicate after the full copy: %v, want ErrMessageLimit naming %s to %s", tc.id, err,
				names[kept], names[len(names)-1])
		}
		if got := ms[0].Stats().FullCopyValuesLeftOut - before; got != uint64(len(names)-kept) {
			t.Errorf("%s: FullCopyValuesLeftOut grew by %d, want %d", tc.id, got, len(names)-kept)
		}
		primary := s.AttributeNames()
		if tc.listeners {
			primary = s.Listeners()
		}
		if !slices.Equal(primary, names) {
			t.Errorf("%s: the primary holds %q, want all %d", tc.id, primary, len(names))
		}
	}
}
