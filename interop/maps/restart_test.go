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

// TestJavaPrimaryRestartedGoBackup: Java is the primary of entries some of which a Go
// node backs up; that node's map restarts without its MSG_STOP reaching Java (dropped:
// as when the node is killed and restarted with its member identity before the
// membership drops it), so Java still lists the Go member and its mapMemberAdded
// publishes nothing anew. The new Go map, whose state transfer names it the backup of
// those entries without their values, asks Java for them: it holds them again, applies
// Java's later diffs, and once Java's map stops both Go nodes get every value. Before,
// it held proxies only, refused Java's diffs, and the values were lost with Java.
func TestJavaPrimaryRestartedGoBackup(t *testing.T) {
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
	backed := c.maps[0].Len()
	if backed == 0 || backed+c.maps[1].Len() != leaveKeys {
		t.Fatalf("Go backups %d and %d of %d Java keys: want the first Go node the backup of some", backed, c.maps[1].Len(), leaveKeys)
	}

	c.gates[0].dropMapSends.Store(true)
	_ = c.maps[0].Stop(ctx)
	c.gates[0].dropMapSends.Store(false)
	if c.gates[0].droppedSends.Load() == 0 {
		t.Fatal("the stopping map sent no MSG_STOP to drop")
	}
	c.maps[0] = newMap(t, c.gos[0], s)
	startMap(t, c.maps[0])
	c.waitJavaMembers(t, 2) // Java lists the restarted node still
	testutil.EventuallyTrue(t, testutil.WaitLimit, "the restarted map holds the values it backs up", func() bool {
		return c.maps[0].Len() == backed
	})

	for i := range leaveKeys {
		if err := c.j.MapNotesAdd(ctx, fmt.Sprint("jn", i), "b"); err != nil {
			t.Fatal(err)
		}
	}
	if n := c.maps[0].Stats().DiffsNotApplied; n != 0 {
		t.Fatalf("the restarted map did not apply %d of Java's diffs", n)
	}
	if err := c.j.MapStop(ctx); err != nil {
		t.Fatal(err)
	}
	for _, m := range c.maps {
		testutil.EventuallyTrue(t, testutil.WaitLimit, "Go map members", func() bool { return len(m.Members()) == 1 })
	}
	for gi, m := range c.maps {
		for i := range leaveKeys {
			v, ok, err := m.Get(ctx, fmt.Sprint("jn", i))
			n, isNotes := v.(*mapnotes.Notes)
			if err != nil || !ok || !isNotes || !slices.Equal(n.Items(), []string{"a", "b"}) {
				t.Fatalf("Go %d get jn%d after Java stopped = %#v %v %v", gi, i, v, ok, err)
			}
		}
	}
}

// TestGoPrimaryRestartedJavaBackup: a Go node is the primary of entries some of which
// Java backs up; its map restarts without its MSG_STOP reaching Java (dropped), so Java
// still lists the Go member and does nothing on its MSG_START. The new Go map, whose
// state transfer names it the primary of those entries without their values, asks Java
// for them and holds them as their primary again (the other Go node, their backup for
// the rest, takes those over on the MSG_START); once Java's map stops both Go nodes get
// every value. Before, the restarted map held proxies of Java's entries, and their
// values were lost with Java.
func TestGoPrimaryRestartedJavaBackup(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := cluster(t, setup{})
	c.goPut(t, c.maps[0])
	var javaBacked []string
	for i := range leaveKeys {
		if _, _, ok := c.maps[1].Peek(fmt.Sprint("go", i)); !ok {
			javaBacked = append(javaBacked, fmt.Sprint("go", i))
		}
	}
	if len(javaBacked) == 0 || len(javaBacked) == leaveKeys {
		t.Fatalf("Java backs up %v of %d Go keys: want some", javaBacked, leaveKeys)
	}

	c.gates[0].dropMapSends.Store(true)
	_ = c.maps[0].Stop(ctx)
	c.gates[0].dropMapSends.Store(false)
	if c.gates[0].droppedSends.Load() == 0 {
		t.Fatal("the stopping map sent no MSG_STOP to drop")
	}
	c.maps[0] = newMap(t, c.gos[0], setup{})
	startMap(t, c.maps[0])
	c.waitJavaMembers(t, 2) // Java lists the restarted node still
	for _, k := range javaBacked {
		testutil.EventuallyTrue(t, testutil.WaitLimit, "the restarted map holds "+k+" as its primary", func() bool {
			_, primary, ok := c.maps[0].Peek(k)
			return ok && primary
		})
	}

	if err := c.j.MapStop(ctx); err != nil {
		t.Fatal(err)
	}
	for _, m := range c.maps {
		testutil.EventuallyTrue(t, testutil.WaitLimit, "Go map members", func() bool { return len(m.Members()) == 1 })
	}
	for _, m := range c.maps {
		goGets(t, m, "go")
	}
}
