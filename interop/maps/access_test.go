package mapsinterop_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gotribes/tribes/internal/mapnotes"
	"github.com/gotribes/tribes/internal/testutil"
)

// accessNotes is a mapnotes.Notes that asks for access replication and counts the
// accesses it is told of, as the Java peer's MapNotes does.
type accessNotes struct {
	*mapnotes.Notes
	accessed atomic.Int32
}

func (*accessNotes) AccessReplicate() bool { return true }
func (*accessNotes) Replicated(time.Time)  {}
func (a *accessNotes) Accessed()           { a.accessed.Add(1) }

// accessCodec is mapnotes.Codec with the notes as accessNotes.
type accessCodec struct{}

func (accessCodec) Decode(v any) (any, error) {
	d, err := mapnotes.Codec{}.Decode(v)
	if n, ok := d.(*mapnotes.Notes); ok && err == nil {
		return &accessNotes{Notes: n}, nil
	}
	return d, err
}

func (accessCodec) Encode(v any) (any, error) {
	if a, ok := v.(*accessNotes); ok {
		v = a.Notes
	}
	return mapnotes.Codec{}.Encode(v)
}

// TestAccessMessages: a replicate of an unchanged value that asks for access
// replication (Java's isAccessReplicate, replmap.AccessReplicated) sends MSG_ACCESS to
// the entry's backup nodes, and the nodes holding the value tell it (accessEntry,
// Accessed), for both kinds of map: Java's replicate reaches the Go backup (lazy) or both
// Go copies (replicated), and a Go Replicate reaches Java where it holds the value (the
// backup of one of two entries in the lazy map, a copy of both in the replicated one);
// a node holding a proxy is not told.
func TestAccessMessages(t *testing.T) {
	kinds(t, func(t *testing.T, replicated bool) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		c := cluster(t, setup{replicated: replicated, values: accessCodec{}})
		wantHeld := 1 // the nodes told of one key's access: its backup, or every copy
		if replicated {
			wantHeld = 2
		}

		// Java to Go.
		if err := c.j.MapNotesPut(ctx, "ja", "a"); err != nil {
			t.Fatal(err)
		}
		for _, m := range c.maps {
			testutil.EventuallyTrue(t, testutil.WaitLimit, "Go knows ja", func() bool { return len(m.Keys()) == 1 })
		}
		accessed := func() (held int, counts []int32) {
			for gi, m := range c.maps {
				v, _, ok := m.Peek("ja")
				if !ok {
					counts = append(counts, -1)
					continue
				}
				a, isAccess := v.(*accessNotes)
				if !isAccess {
					t.Fatalf("Go %d holds ja as %T", gi, v)
				}
				held++
				counts = append(counts, a.accessed.Load())
			}
			return held, counts
		}
		// told says whether every Go node holding ja was told of n accesses.
		told := func(counts []int32, n int32) bool {
			for _, c := range counts {
				if c != -1 && c != n {
					return false
				}
			}
			return true
		}
		if held, counts := accessed(); held != wantHeld || !told(counts, 0) {
			t.Fatalf("Go nodes before Java's access: %d hold ja, accesses %v (-1: a proxy), want %d and none", held, counts, wantHeld)
		}
		if err := c.j.MapNotesTouch(ctx, "ja"); err != nil {
			t.Fatal(err)
		}
		// SYNC_ACK: the replicate returned once the Go nodes processed the MSG_ACCESS.
		if held, counts := accessed(); held != wantHeld || !told(counts, 1) {
			t.Fatalf("Go nodes after Java's access: %d hold ja, accesses %v (-1: a proxy), want %d told once", held, counts, wantHeld)
		}

		// Go to Java: two puts in a row take the other map members as backups in turn.
		keys := []string{"ga0", "ga1"}
		for _, k := range keys {
			if _, err := c.maps[0].Put(ctx, k, &accessNotes{Notes: mapnotes.New("a")}); err != nil {
				t.Fatal(err)
			}
		}
		javaHeld := func(wantAccessed int) {
			t.Helper()
			held := 0
			for _, k := range keys {
				h, n, err := c.j.MapNotesAccessed(ctx, k)
				if err != nil {
					t.Fatal(err)
				}
				if h {
					held++
				}
				if h && n != wantAccessed || !h && n != 0 {
					t.Fatalf("Java holds %s: %v, told of %d accesses, want %d", k, h, n, wantAccessed)
				}
			}
			if held != wantHeld {
				t.Fatalf("Java holds %d of %v, want %d", held, keys, wantHeld)
			}
		}
		javaHeld(0)
		for _, k := range keys {
			if err := c.maps[0].Replicate(ctx, k, false); err != nil {
				t.Fatal(err)
			}
		}
		javaHeld(1)
		for gi, m := range c.maps {
			if s := m.Stats(); s.DiffsNotApplied != 0 {
				t.Fatalf("Go %d: %d diffs not applied", gi, s.DiffsNotApplied)
			}
		}
	})
}
