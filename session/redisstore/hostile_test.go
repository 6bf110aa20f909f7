package redisstore_test

import (
	"context"
	"math"
	"testing"

	"github.com/gotribes/tribes/session/delta"
	"github.com/gotribes/tribes/session/redisstore"
)

// A stored session at the largest version (written by something else: the store would
// need 2^64 saves) is corrupt: no save can follow it. It used to load, and its save
// wrapped the version to 0 and returned nil, writing a value that no Load reads (version
// 0 is refused): the session and the save's changes were lost although Save reported
// them in Redis. Now Load refuses it with ErrCorrupt (the middleware: no session).
func TestStoredMaxVersionIsCorrupt(t *testing.T) {
	r := startRedis(t)
	st := newStore(t, r, redisstore.Config{})
	ctx := context.Background()
	state := delta.SessionState{ID: "MAXVERSION", CreationTime: 1000, LastAccessedTime: 2000, MaxInactive: 600,
		Version: math.MaxUint64}
	storeState(t, r, st, &state)
	s := loadUnlessCorrupt(t, st, state.ID)
	if s == nil {
		return
	}
	if err := s.Set("k", "v"); err != nil {
		t.Fatal(err)
	}
	if err := st.Save(ctx, s); err != nil {
		return // refused: nothing claimed
	}
	if _, err := st.Load(ctx, state.ID); err != nil {
		t.Fatalf("Save of a session loaded at version 2^64-1 returned nil, and it loads as: %v", err)
	}
}

// A stored session that names one attribute twice (written by something else: Set
// replaces) is corrupt. It used to load with both: Remove took out the first and Get
// then found the second, so a handler removing "user" on logout left the user logged in,
// and the save wrote the second back.
func TestStoredDuplicateAttributeIsCorrupt(t *testing.T) {
	r := startRedis(t)
	st := newStore(t, r, redisstore.Config{})
	a, err := delta.GobCodec{}.Marshal("ada")
	if err != nil {
		t.Fatal(err)
	}
	b, err := delta.GobCodec{}.Marshal("bob")
	if err != nil {
		t.Fatal(err)
	}
	state := delta.SessionState{ID: "DUPLICATE", CreationTime: 1000, LastAccessedTime: 2000, MaxInactive: 600,
		Version: 3, Attributes: []delta.NamedValue{{Name: "user", Value: a}, {Name: "user", Value: b}}}
	storeState(t, r, st, &state)
	s := loadUnlessCorrupt(t, st, state.ID)
	if s == nil {
		return
	}
	if err := s.Remove("user"); err != nil {
		t.Fatal(err)
	}
	if v, ok := s.Get("user"); ok {
		t.Fatalf("after Remove(\"user\"), Get(\"user\") = %v: the attribute is still there", v)
	}
}

// Keys beside a session that something else overwrote with another type (the record of
// its saves, the forward of an id change) neither fail a save nor an invalidation: the
// save replaces the record, Delete removes the forward without following it.
func TestHostileSideKeysAreReplaced(t *testing.T) {
	r := startRedis(t)
	st := newStore(t, r, redisstore.Config{})
	c := r.client()
	ctx := context.Background()
	s := st.NewSession()
	if err := c.HSet(ctx, st.SavesKeyForTest(s.ID()), "x", "y").Err(); err != nil {
		t.Fatal(err)
	}
	if err := st.Save(ctx, s); err != nil {
		t.Fatalf("save with a hash as its record: %v", err)
	}
	if n, err := c.LLen(ctx, st.SavesKeyForTest(s.ID())).Result(); err != nil || n != 1 {
		t.Fatalf("record after the save: %d, %v; want a list of 1", n, err)
	}
	if err := c.SAdd(ctx, st.MovedKeyForTest(s.ID()), "x").Err(); err != nil {
		t.Fatal(err)
	}
	if err := st.Delete(ctx, s.ID()); err != nil {
		t.Fatalf("delete with a set as its forward: %v", err)
	}
	if n := c.Exists(ctx, st.Key(s.ID()), st.MovedKeyForTest(s.ID())).Val(); n != 0 {
		t.Errorf("%d of the session and its forward left, want none", n)
	}
}
