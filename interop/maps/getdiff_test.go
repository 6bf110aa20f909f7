package mapsinterop_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gotribes/tribes/internal/mapnotes"
	"github.com/gotribes/tribes/replmap"
)

// TestGetOfDiffedValue: in a LazyReplicatedMap whose values replicate by diff (Java's
// MapNotes, mapnotes.Notes on Go), a get on a node holding a proxy fetches the value from
// the entry's backup (MSG_RETRIEVE_BACKUP) and returns it with every diff its primaries
// sent, as the primary moves between Go and Java with each get:
//   - a Java proxy of a Go primary's entry, backed up on the other Go node, gets the value
//     with the Go primary's diff; then a Go proxy of that entry, now Java's, gets it with
//     Java's diff from the Go backup, and the Java proxy once more with that Go primary's;
//   - a Go proxy of a Go primary's entry backed up on Java gets the value with the
//     primary's diff from Java; Java, still the backup, applies the new Go primary's diff
//     and gets that value on its backup, and both Go nodes get Java's next diff.
func TestGetOfDiffedValue(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := cluster(t, setup{values: mapnotes.Codec{}})
	g0, g1 := c.maps[0], c.maps[1]

	// Two puts in a row take the other map members as backups in turn.
	notes := map[string]*mapnotes.Notes{}
	for i := range 2 {
		key := fmt.Sprint("d", i)
		notes[key] = mapnotes.New("x")
		if _, err := g0.Put(ctx, key, notes[key]); err != nil {
			t.Fatal(err)
		}
		notes[key].Add("y")
		if err := g0.Replicate(ctx, key, false); err != nil {
			t.Fatal(err)
		}
	}
	var javaProxy, javaBackup string // the key Java holds a proxy of, and the one it backs up
	for key := range notes {
		if _, _, ok := g1.Peek(key); ok {
			javaProxy = key
		} else {
			javaBackup = key
		}
	}
	if javaProxy == "" || javaBackup == "" {
		t.Fatalf("the second Go node backs up %q, Java %q: want one each", javaProxy, javaBackup)
	}
	if info, err := c.j.MapKeys(ctx); err != nil || info.Size != 1 || len(info.Keys) != 2 {
		t.Fatalf("Java's map before the gets: %+v %v, want 2 keys, 1 value", info, err)
	}

	javaGet := func(key, want string) {
		t.Helper()
		if v, found, err := c.j.MapGet(ctx, key); err != nil || !found || v != want {
			t.Fatalf("Java get %s = %q %v %v, want %q", key, v, found, err, want)
		}
	}
	goGet := func(gi int, key, want string) *mapnotes.Notes {
		t.Helper()
		v, ok, err := c.maps[gi].Get(ctx, key)
		n, isNotes := v.(*mapnotes.Notes)
		if err != nil || !ok || !isNotes || !slices.Equal(n.Items(), strings.Split(want, ",")) {
			t.Fatalf("Go %d get %s = %#v %v %v, want %q", gi, key, v, ok, err, want)
		}
		return n
	}
	// role says which node is the key's primary and which holds its value.
	role := func(m *replmap.Map, key string) string {
		_, primary, ok := m.Peek(key)
		switch {
		case primary:
			return "primary"
		case ok:
			return "backup"
		}
		return "proxy"
	}
	wantRoles := func(key, r0, r1 string) {
		t.Helper()
		if a, b := role(g0, key), role(g1, key); a != r0 || b != r1 {
			t.Fatalf("%s: Go 0 holds it as %s, Go 1 as %s, want %s and %s", key, a, b, r0, r1)
		}
	}

	// A Java proxy asks the Go backup, and becomes the primary.
	javaGet(javaProxy, "x,y")
	wantRoles(javaProxy, "proxy", "backup")
	if err := c.j.MapNotesAdd(ctx, javaProxy, "z"); err != nil {
		t.Fatal(err)
	}
	// A Go proxy of Java's entry asks the Go backup, which applied Java's diff.
	n := goGet(0, javaProxy, "x,y,z")
	wantRoles(javaProxy, "primary", "backup")
	n.Add("w")
	if err := g0.Replicate(ctx, javaProxy, false); err != nil {
		t.Fatal(err)
	}
	javaGet(javaProxy, "x,y,z,w")
	wantRoles(javaProxy, "proxy", "backup")

	// A Go proxy asks Java, the backup, and becomes the primary; Java stays the backup.
	n = goGet(1, javaBackup, "x,y")
	wantRoles(javaBackup, "proxy", "primary")
	n.Add("z")
	if err := g1.Replicate(ctx, javaBackup, false); err != nil {
		t.Fatal(err)
	}
	// Java's get on its backup copy, with the diff, makes it the primary.
	javaGet(javaBackup, "x,y,z")
	if a, b := role(g0, javaBackup), role(g1, javaBackup); a == "primary" || b == "primary" || (a == "backup") == (b == "backup") {
		t.Fatalf("%s after Java's get: Go 0 holds it as %s, Go 1 as %s, want one Go backup and Java the primary", javaBackup, a, b)
	}
	if err := c.j.MapNotesAdd(ctx, javaBackup, "w"); err != nil {
		t.Fatal(err)
	}
	goGet(0, javaBackup, "x,y,z,w")
	goGet(1, javaBackup, "x,y,z,w")
	javaGet(javaBackup, "x,y,z,w")

	for gi, m := range c.maps {
		if s := m.Stats(); s.DiffsNotApplied != 0 {
			t.Fatalf("Go %d: %d diffs not applied", gi, s.DiffsNotApplied)
		}
	}
}

// TestReplicatedGetOfDiffedValue: in a ReplicatedMap whose values replicate by diff, a
// get on a copy makes its node the primary (MSG_NOTIFY_MAPMEMBER to the others), and the
// new primary's diff reaches every copy, as the primary moves from a Go node to Java, to
// the other Go node and back to Java: each get returns the value with every diff sent
// before it, and the Go nodes hold it (none of them the primary while Java is).
func TestReplicatedGetOfDiffedValue(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := cluster(t, setup{replicated: true, values: mapnotes.Codec{}})
	g0, g1 := c.maps[0], c.maps[1]
	const key = "r"
	if _, err := g0.Put(ctx, key, mapnotes.New("x")); err != nil {
		t.Fatal(err)
	}
	add := func(m *replmap.Map, item string) {
		t.Helper()
		v, primary, ok := m.Peek(key)
		if !ok || !primary {
			t.Fatalf("adding %s: the Go node holds %s as primary %v, ok %v", item, key, primary, ok)
		}
		v.(*mapnotes.Notes).Add(item)
		if err := m.Replicate(ctx, key, false); err != nil {
			t.Fatal(err)
		}
	}
	javaGet := func(want string) {
		t.Helper()
		if v, found, err := c.j.MapGet(ctx, key); err != nil || !found || v != want {
			t.Fatalf("Java get %s = %q %v %v, want %q", key, v, found, err, want)
		}
	}
	peekAll := func(want string) {
		t.Helper()
		for gi, m := range c.maps {
			v, _, ok := m.Peek(key)
			n, isNotes := v.(*mapnotes.Notes)
			if !ok || !isNotes || !slices.Equal(n.Items(), strings.Split(want, ",")) {
				t.Fatalf("Go %d holds %s = %#v %v, want %q", gi, key, v, ok, want)
			}
		}
	}
	primaries := func() (n int) {
		for _, m := range c.maps {
			if _, primary, _ := m.Peek(key); primary {
				n++
			}
		}
		return n
	}

	add(g0, "y")
	javaGet("x,y")
	if n := primaries(); n != 0 {
		t.Fatalf("%d Go primaries after Java's get", n)
	}
	if err := c.j.MapNotesAdd(ctx, key, "z"); err != nil {
		t.Fatal(err)
	}
	peekAll("x,y,z")
	if v, ok, err := g1.Get(ctx, key); err != nil || !ok || !slices.Equal(v.(*mapnotes.Notes).Items(), []string{"x", "y", "z"}) {
		t.Fatalf("Go 1 get %s = %#v %v %v", key, v, ok, err)
	}
	add(g1, "w")
	peekAll("x,y,z,w")
	javaGet("x,y,z,w")
	if n := primaries(); n != 0 {
		t.Fatalf("%d Go primaries after Java's second get", n)
	}
	if err := c.j.MapNotesAdd(ctx, key, "v"); err != nil {
		t.Fatal(err)
	}
	peekAll("x,y,z,w,v")
	for gi, m := range c.maps {
		if s := m.Stats(); s.DiffsNotApplied != 0 {
			t.Fatalf("Go %d: %d diffs not applied", gi, s.DiffsNotApplied)
		}
	}
}
