package redisstore_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/gotribes/tribes/session/redisstore"
)

// previousLoadScript is the load script of the release before id changes left forwards
// (git show 75d9639^:session/redisstore/store.go), which a node not yet upgraded runs:
// it reads a session's key as no session only when the script answers 0, a missing key;
// any string it decodes, and anything but a session is ErrCorrupt to it (logged as a
// corrupt stored session).
const previousLoadScript = `
local v = redis.call('GETRANGE', KEYS[1], 0, ARGV[1])
if v == '' and redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
return v
`

// During a rolling upgrade, a node of the previous release reads the id a session had
// before an upgraded node changed it as no session, as it did before forwards existed.
// The forward used to be written under the old key itself (8 zero bytes and the new id),
// which the previous release's Load found and decoded: ErrCorrupt, logged as a corrupt
// stored session for every old cookie. Now the forward has a key of its own (the old
// key + ":moved") and the old key is deleted, as the previous release did; Invalidate
// still follows the forward.
func TestRenamedIDIsNoSessionToThePreviousRelease(t *testing.T) {
	r := startRedis(t)
	st := newStore(t, r, redisstore.Config{})
	c := r.client()
	ctx := context.Background()
	s := savedSession(t, st, "user", "ada")
	old := s.ID()
	id, err := s.ChangeID()
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Save(ctx, s); err != nil {
		t.Fatal(err)
	}
	res, err := c.Eval(ctx, previousLoadScript, []string{st.Key(old)}, 1<<20+8).Result()
	if err != nil {
		t.Fatal(err)
	}
	if res != int64(0) {
		t.Fatalf("the previous release's load of the old id got %q, which it decodes as a corrupt session; want 0 (no session)", res)
	}
	if res, err := c.Eval(ctx, previousLoadScript, []string{st.Key(id)}, 1<<20+8).Result(); err != nil ||
		!strings.Contains(res.(string), "ada") {
		t.Fatalf("the previous release's load of the new id: %q, %v", res, err)
	}
	if _, err := st.Load(ctx, old); !errors.Is(err, redisstore.ErrNotFound) {
		t.Errorf("this release's load of the old id: %v, want ErrNotFound", err)
	}
	if err := st.Delete(ctx, old); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Load(ctx, id); !errors.Is(err, redisstore.ErrNotFound) {
		t.Errorf("the session under its new id after Delete of the old one: %v, want ErrNotFound", err)
	}

	// A forward of the release that wrote it under the old key itself is still read:
	// as no session, and followed by Delete.
	t.Run("in-value forward", func(t *testing.T) {
		s := st.NewSession()
		if err := s.Set("user", "bob"); err != nil {
			t.Fatal(err)
		}
		if err := st.Save(ctx, s); err != nil {
			t.Fatal(err)
		}
		const old = "LEGACYFORWARD"
		if err := c.Set(ctx, st.Key(old), strings.Repeat("\x00", 8)+s.ID(), 0).Err(); err != nil {
			t.Fatal(err)
		}
		if _, err := st.Load(ctx, old); !errors.Is(err, redisstore.ErrNotFound) {
			t.Errorf("load of an in-value forward: %v, want ErrNotFound", err)
		}
		if err := st.Delete(ctx, old); err != nil {
			t.Fatal(err)
		}
		if _, err := st.Load(ctx, s.ID()); !errors.Is(err, redisstore.ErrNotFound) {
			t.Errorf("the session an in-value forward names, after Delete: %v, want ErrNotFound", err)
		}
	})
}
