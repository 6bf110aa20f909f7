package mapsinterop_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/gotribes/tribes/internal/mapnotes"
	"github.com/gotribes/tribes/internal/testutil"
)

// TestFetchOfJavaDirtyValueGetsItsDiffAgain pins Java's behaviour: a Java primary
// answers a MSG_RETRIEVE_BACKUP with its value as it is, changes its replicate has not
// sent yet included, and its next replicate sends those changes in its diff all the
// same, so a Go backup that fetched the value applies them twice. Java is the primary
// of entries some of which a Go node backs up; Java changes them without replicating
// (dirty values); the Go node's map restarts without its MSG_STOP reaching Java and
// fetches their values from Java (a,b); Java's next change replicates the diff b,c,
// and the restarted map holds a,b,b,c while Java and the other Go node's backups hold
// a,b,c. A Go primary instead sends the value in full after such an answer
// (replmap TestRetrieveBackupAnswerOfDirtyDiffableNotFollowedByItsDiff).
func TestFetchOfJavaDirtyValueGetsItsDiffAgain(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s := setup{values: mapnotes.Codec{}}
	c := cluster(t, s)
	for i := range leaveKeys {
		if err := c.j.MapNotesPut(ctx, fmt.Sprint("jn", i), "a"); err != nil {
			t.Fatal(err)
		}
	}
	for _, m := range c.maps {
		testutil.EventuallyTrue(t, testutil.WaitLimit, "Go knows the Java keys", func() bool { return len(m.Keys()) == leaveKeys })
	}
	var backed []string // the keys the first Go node backs up
	for i := range leaveKeys {
		if _, _, ok := c.maps[0].Peek(fmt.Sprint("jn", i)); ok {
			backed = append(backed, fmt.Sprint("jn", i))
		}
	}
	if len(backed) == 0 || len(backed) == leaveKeys {
		t.Fatalf("the first Go node backs up %v of %d Java keys: want some", backed, leaveKeys)
	}
	for i := range leaveKeys {
		if err := c.j.MapNotesChange(ctx, fmt.Sprint("jn", i), "b"); err != nil {
			t.Fatal(err)
		}
	}

	c.gates[0].dropMapSends.Store(true)
	_ = c.maps[0].Stop(ctx)
	c.gates[0].dropMapSends.Store(false)
	if c.gates[0].droppedSends.Load() == 0 {
		t.Fatal("the stopping map sent no MSG_STOP to drop")
	}
	c.maps[0] = newMap(t, c.gos[0], s)
	startMap(t, c.maps[0])
	testutil.EventuallyTrue(t, testutil.WaitLimit, "the restarted map holds the values it backs up", func() bool {
		return c.maps[0].Len() == len(backed)
	})
	items := func(gi int, key string) []string {
		v, _, ok := c.maps[gi].Peek(key)
		if n, isNotes := v.(*mapnotes.Notes); ok && isNotes {
			return n.Items()
		}
		return nil
	}
	for _, k := range backed {
		if got := items(0, k); !slices.Equal(got, []string{"a", "b"}) {
			t.Fatalf("the restarted map fetched %s = %v, want Java's dirty value a,b", k, got)
		}
	}

	for i := range leaveKeys {
		if err := c.j.MapNotesAdd(ctx, fmt.Sprint("jn", i), "c"); err != nil {
			t.Fatal(err)
		}
	}
	for i := range leaveKeys {
		k := fmt.Sprint("jn", i)
		if v, found, err := c.j.MapGet(ctx, k); err != nil || !found || v != "a,b,c" {
			t.Fatalf("Java get %s = %q %v %v", k, v, found, err)
		}
		if slices.Contains(backed, k) {
			if got := items(0, k); !slices.Equal(got, []string{"a", "b", "b", "c"}) {
				t.Fatalf("the restarted map holds %s = %v, want a,b,b,c: Java's diff no longer repeats what its answer carried?", k, got)
			}
		} else if got := items(1, k); !slices.Equal(got, []string{"a", "b", "c"}) {
			t.Fatalf("the other Go node holds %s = %v, want a,b,c", k, got)
		}
	}
}
