package mapsinterop_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/gotribes/tribes/internal/mapnotes"
)

// TestDiffs: values that replicate by diff, Java's MapNotes (a ReplicatedMapEntry) held
// as mapnotes.Notes on the Go nodes. For both kinds of map: a diff Java's replicate
// sends is applied by the Go nodes holding the value, and every Go node gets the
// changed value; a diff Go's Replicate sends is applied by Java, which gets the changed
// value.
func TestDiffs(t *testing.T) {
	for _, replicated := range []bool{false, true} {
		t.Run(map[bool]string{false: "lazy", true: "replicated"}[replicated], func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			c := cluster(t, setup{replicated: replicated, values: mapnotes.Codec{}})

			// Java's diff: its replicate returns once the Go nodes processed it (SYNC_ACK).
			if err := c.j.MapNotesPut(ctx, "jn", "a"); err != nil {
				t.Fatal(err)
			}
			if err := c.j.MapNotesAdd(ctx, "jn", "b"); err != nil {
				t.Fatal(err)
			}
			// A Go node holding the value (backup or copy) returns it; a proxy fetches
			// it from the Go backup.
			for gi, m := range c.maps {
				v, ok, err := m.Get(ctx, "jn")
				n, isNotes := v.(*mapnotes.Notes)
				if err != nil || !ok || !isNotes || !slices.Equal(n.Items(), []string{"a", "b"}) {
					t.Fatalf("Go %d get jn = %#v %v %v", gi, v, ok, err)
				}
				if s := m.Stats(); s.DiffsNotApplied != 0 {
					t.Fatalf("Go %d: %d diffs not applied", gi, s.DiffsNotApplied)
				}
			}

			// Go's diffs. Two puts in a row take the two other map members as backups
			// in turn, so in the lazy map Java is the backup of one of them.
			for i := range 2 {
				key := fmt.Sprint("gn", i)
				v := mapnotes.New("x")
				if _, err := c.maps[0].Put(ctx, key, v); err != nil {
					t.Fatal(err)
				}
				v.Add("y")
				if err := c.maps[0].Replicate(ctx, key, false); err != nil {
					t.Fatal(err)
				}
			}
			for i := range 2 {
				key := fmt.Sprint("gn", i)
				if v, found, err := c.j.MapGet(ctx, key); err != nil || !found || v != "x,y" {
					t.Fatalf("Java get %s = %q %v %v", key, v, found, err)
				}
			}
		})
	}
}
