package delta

import (
	"fmt"
	"runtime"
	"testing"
	"time"
)

// The records of removals are bounded in number (the oldest forgotten first) and in time,
// and an id noted again and again does not grow them.
func TestRemovalsBounded(t *testing.T) {
	r := newRemovals()
	for i := range maxRemovals + 10 {
		r.note(fmt.Sprint("id", i), uint64(i), time.Hour, false, nil)
	}
	if n := r.len(); n != maxRemovals {
		t.Fatalf("%d records, want %d", n, maxRemovals)
	}
	if r.covers("id9", 0) {
		t.Error("the 10th oldest record is still kept")
	}
	if last := fmt.Sprint("id", maxRemovals+9); !r.covers(last, maxRemovals+9) || r.covers(last, maxRemovals+10) {
		t.Error("the newest record does not cover its version, or covers a later one")
	}
	if len(r.list(0)) != maxRemovals {
		t.Errorf("list has %d records", len(r.list(0)))
	}

	r = newRemovals()
	for i := range 3 * maxRemovals {
		r.note("again", uint64(i%5), time.Hour, false, nil)
	}
	if !r.covers("again", 4) || r.covers("again", 5) || r.len() != 1 {
		t.Errorf("an id noted again: %d records, want 1 covering up to version 4 (the highest)", r.len())
	}
	if n := len(r.order) - r.head; n > 2*maxRemovals+1 {
		t.Errorf("%d entries in the order of an id noted again and again", n)
	}

	r = newRemovals()
	r.note("short", 1, -time.Second, false, nil)
	if r.covers("short", 0) {
		t.Error("an expired record is still found")
	}
	r.note("next", 1, time.Hour, false, nil)
	if n := r.len(); n != 1 || len(r.list(0)) != 1 {
		t.Errorf("%d records after the expired one's time, want 1", n)
	}
	// A removed session's record covers its id under every route; an old id's only itself.
	r.note("S.a", 3, time.Hour, false, nil)
	r.note("R.a", 3, time.Hour, true, nil)
	for id, want := range map[string]bool{"S.a": true, "S.b": true, "S": true, "R.a": true, "R.b": false, "R": false} {
		if got := r.covers(id, 3); got != want {
			t.Errorf("covers(%s) = %v, want %v", id, got, want)
		}
	}
	// The record of message application: a removal's version under any route, and the
	// session an old id became while it is kept and alive.
	if v, ok := r.removedAt("S.b"); !ok || v != 3 {
		t.Errorf("removedAt(S.b) = %d, %v, want 3, true", v, ok)
	}
	if _, ok := r.removedAt("R.a"); ok {
		t.Error("an old id's record taken for a removal")
	}
	s := &Session{id: "N.a"}
	r.note("O.a", 0, time.Hour, true, s)
	r.note("O.a", 2, time.Hour, true, nil) // noted again without the session: it stays
	if got := r.renamedTo("O.a"); got != s || !r.covers("O.a", 2) {
		t.Errorf("renamedTo(O.a) = %p, want %p; covers(O.a, 2) = %v", got, s, r.covers("O.a", 2))
	}
	if r.renamedTo("O.b") != nil || r.renamedTo("S.a") != nil {
		t.Error("renamedTo found a session for an id not renamed")
	}
	if keepRemoval(0) != time.Hour || keepRemoval(1) != time.Minute || keepRemoval(1800) != time.Hour {
		t.Errorf("keepRemoval: %v %v %v", keepRemoval(0), keepRemoval(1), keepRemoval(1800))
	}
}

func TestJavaCodecRefusesRemovalRecords(t *testing.T) {
	m := &Message{Event: EventAllSessionData, Context: "c", SessionID: idSessionState,
		Sessions: []SessionState{{ID: "S.a", Version: 2, Removed: true}}}
	if _, err := (JavaCodec{}).AppendMessage(nil, m); err == nil {
		t.Error("JavaCodec encoded a removal record")
	}
	if sendsRemovals(JavaCodec{}) || !sendsRemovals(BinaryCodec{}) || !sendsRemovals(&BinaryCodec{}) {
		t.Error("sendsRemovals")
	}
}

// The record's memory bound, as documented (removals.go, docs/consistency.md): maxRemovals
// records of old ids of the longest length (each held twice: id and key) take at most
// 100 MiB, and of removed sessions with Create's ids (32 hex digits, a route) 40 MiB.
func TestRemovalsMemoryBound(t *testing.T) {
	for _, c := range []struct {
		name    string
		id      func(int) string
		renamed bool
		mib     int64
	}{
		{"old ids of 256 bytes", func(i int) string { return fmt.Sprintf("%0256d", i) }, true, 100},
		{"removed sessions, Create's ids", func(i int) string { return fmt.Sprintf("%032X.node1", i) }, false, 40},
	} {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		r := newRemovals()
		s := &Session{id: "x"}
		for i := range maxRemovals + 100 {
			r.note(c.id(i), uint64(i), time.Hour, c.renamed, s)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		if r.len() != maxRemovals {
			t.Fatalf("%s: %d records, want %d", c.name, r.len(), maxRemovals)
		}
		used := int64(after.HeapAlloc) - int64(before.HeapAlloc)
		if used > c.mib<<20 {
			t.Errorf("%s: %d records take %d MiB, over the documented %d", c.name, maxRemovals, used>>20, c.mib)
		}
		t.Logf("%s: %d records, %d MiB", c.name, maxRemovals, used>>20)
		runtime.KeepAlive(r)
	}
}
