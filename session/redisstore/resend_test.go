package redisstore_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gotribes/tribes/session/redisstore"
)

// A save whose reply is lost, when another request saved (or invalidated) the session
// between Redis running it and go-redis sending it again, committed: the caller's write
// was in Redis and was then replaced by a later one, as if the reply had arrived. The
// resent script used to find another value than its own and report ErrConflict (or, after
// an invalidation, "removed meanwhile"): its client was told its change was not applied
// and would apply it again. Now the save's token, recorded beside the session, tells the
// resend that it ran, and it succeeds without writing anything again.
func TestSaveResentAfterACompetingSaveSucceeds(t *testing.T) {
	r := startRedis(t)
	p := newReplyDropper(t, r.addr())
	rc := redis.NewClient(&redis.Options{Addr: p.addr(), DialTimeout: time.Second, ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = rc.Close() })
	// A long Timeout: the competing request runs while the save waits for its reply.
	st, err := redisstore.New(redisstore.Config{Client: rc, Name: "localhost#/app", Timeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	other := newStore(t, r, redisstore.Config{}) // another node, straight to Redis
	ctx := context.Background()

	stored := func(t *testing.T, id string) (count int, version uint64) {
		t.Helper()
		got, err := other.Load(ctx, id)
		if err != nil {
			t.Fatalf("load %s: %v", id, err)
		}
		n, _ := redisstore.Attr[int](got, "count")
		return n, got.Version()
	}
	// competitor returns a between hook in which another node loads the session under
	// id, sets count to n and saves it.
	competitor := func(t *testing.T, id string, n int) func() {
		return func() {
			s, err := other.Load(ctx, id)
			if err != nil {
				t.Errorf("the competing request's load: %v", err)
				return
			}
			if err := s.Set("count", n); err != nil {
				t.Error(err)
				return
			}
			if err := other.Save(ctx, s); err != nil {
				t.Errorf("the competing save: %v", err)
			}
		}
	}

	s := savedSession(t, st, "count", 1)
	cur := s.ID() // the session's id, changed by the rename

	t.Run("save", func(t *testing.T) {
		if err := s.Set("count", 2); err != nil {
			t.Fatal(err)
		}
		p.between = competitor(t, s.ID(), 20)
		if err := p.saveDropped(t, st, s); err != nil {
			t.Fatalf("resent save after a competing save: %v, want success (it committed)", err)
		}
		if s.Version() != 2 || s.Dirty() {
			t.Errorf("session version %d dirty %v, want 2 and clean", s.Version(), s.Dirty())
		}
		if n, v := stored(t, s.ID()); n != 20 || v != 3 {
			t.Errorf("stored count %d version %d, want the later save's 20 at version 3", n, v)
		}
	})

	t.Run("rename", func(t *testing.T) {
		s, err := st.Load(ctx, cur)
		if err != nil {
			t.Fatal(err)
		}
		old := s.ID()
		id, err := s.ChangeID()
		if err != nil {
			t.Fatal(err)
		}
		cur = id
		p.between = competitor(t, id, 30)
		if err := p.saveDropped(t, st, s); err != nil {
			t.Fatalf("resent id change after a competing save: %v, want success", err)
		}
		if n, v := stored(t, id); n != 30 || v != 5 {
			t.Errorf("stored count %d version %d, want 30 at version 5", n, v)
		}
		if _, err := other.Load(ctx, old); !errors.Is(err, redisstore.ErrNotFound) {
			t.Errorf("the old id: %v, want ErrNotFound", err)
		}
	})

	t.Run("invalidate", func(t *testing.T) {
		s, err := st.Load(ctx, cur)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Set("count", 6); err != nil {
			t.Fatal(err)
		}
		p.between = func() {
			if err := other.Delete(ctx, s.ID()); err != nil {
				t.Errorf("the competing invalidation: %v", err)
			}
		}
		if err := p.saveDropped(t, st, s); err != nil {
			t.Fatalf("resent save after a competing invalidation: %v, want success", err)
		}
		if _, err := other.Load(ctx, s.ID()); !errors.Is(err, redisstore.ErrNotFound) {
			t.Errorf("after the invalidation: %v, want ErrNotFound (the resend wrote nothing)", err)
		}
	})
	p.between = nil

	// The record of a session's saves is bounded: the latest saves only, and it expires.
	t.Run("bounded", func(t *testing.T) {
		s := other.NewSession()
		for i := range 3 * redisstore.MaxSaveRecords {
			if err := s.Set("count", i); err != nil {
				t.Fatal(err)
			}
			if err := other.Save(ctx, s); err != nil {
				t.Fatal(err)
			}
		}
		key := other.SavesKeyForTest(s.ID())
		c := r.client()
		if n := c.LLen(ctx, key).Val(); n != redisstore.MaxSaveRecords {
			t.Errorf("%d saves recorded, want %d", n, redisstore.MaxSaveRecords)
		}
		if ttl := c.PTTL(ctx, key).Val(); ttl <= 0 || ttl > redisstore.DefaultTimeout+time.Minute {
			t.Errorf("TTL of the record: %v, want at most Timeout + 1 min", ttl)
		}
	})
}
