package redisstore_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gotribes/tribes/session/redisstore"
)

// An attribute name longer than the decoder's 4 KiB string limit was accepted by Set
// and saved, and then every Load of the session failed with ErrCorrupt: the middleware
// treated the session as missing, so the acknowledged write (and the whole session) was
// lost silently. Set refuses it now, and New refuses such a Name.
func TestLongAttributeNameRefused(t *testing.T) {
	r := startRedis(t)
	ctx := context.Background()
	st := newStore(t, r, redisstore.Config{})
	s := st.NewSession()
	if err := s.Set("user", "ada"); err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("n", 5000)
	if err := s.Set(long, 1); !errors.Is(err, redisstore.ErrTooLarge) {
		t.Fatalf("Set of a %d-byte attribute name: %v, want ErrTooLarge", len(long), err)
	}
	if err := s.Set(long[:4096], 1); err != nil {
		t.Fatalf("Set of a 4096-byte attribute name: %v", err)
	}
	if err := st.Save(ctx, s); err != nil {
		t.Fatal(err)
	}
	back, err := st.Load(ctx, s.ID())
	if err != nil {
		t.Fatalf("a saved session with a 4096-byte attribute name cannot be loaded back: %v", err)
	}
	if v, ok := back.Get(long[:4096]); !ok || v != 1 {
		t.Fatalf("loaded back: %v, %v", v, ok)
	}
	_, err = redisstore.New(redisstore.Config{Client: r.client(), Name: long})
	if !errors.Is(err, redisstore.ErrInvalidConfig) {
		t.Fatalf("New with a %d-byte Name: %v, want ErrInvalidConfig", len(long), err)
	}
}

// A request that only read a session renews its TTL with the max inactive interval it
// loaded. If a concurrent request of the same session saved a new interval (here: never
// expire) in between, the read-only request's PEXPIRE overwrote the TTL that save set:
// the session stored as "never expires" then expired after the old interval.
func TestTouchKeepsAConcurrentSavesTTL(t *testing.T) {
	r := startRedis(t)
	ctx := context.Background()
	st := newStore(t, r, redisstore.Config{MaxInactiveInterval: time.Hour})
	s := savedSession(t, st, "user", "ada")
	writer, err := st.Load(ctx, s.ID()) // request 1: makes the session permanent
	if err != nil {
		t.Fatal(err)
	}
	reader, err := st.Load(ctx, s.ID()) // request 2: only reads
	if err != nil {
		t.Fatal(err)
	}
	if err := writer.SetMaxInactiveInterval(0); err != nil {
		t.Fatal(err)
	}
	if err := st.Save(ctx, writer); err != nil {
		t.Fatal(err)
	}
	if err := st.Touch(ctx, reader); err != nil {
		t.Fatal(err)
	}
	ttl, err := r.client().PTTL(ctx, st.Key(s.ID())).Result()
	if err != nil {
		t.Fatal(err)
	}
	back, err := st.Load(ctx, s.ID())
	if err != nil {
		t.Fatal(err)
	}
	if back.MaxInactiveInterval() == 0 && ttl > 0 {
		t.Fatalf("stored session says it never expires (saved by request 1), but a read-only request's renewal "+
			"gave its key a TTL of %v: it will expire", ttl)
	}
}

// Set refuses a value that would make the session exceed MaxSessionSize ("per encoded
// session"). It counted only attribute names and values: a session Set accepted could
// still be refused by Save with ErrTooLarge, after the handler was told its Set worked.
// The largest value Set accepts is now one Save stores.
func TestSetRefusesWhatSaveWould(t *testing.T) {
	r := startRedis(t)
	ctx := context.Background()
	const limit = 4096
	st := newStore(t, r, redisstore.Config{MaxSessionSize: limit, MaxValueSize: limit})
	s := st.NewSession()
	// Grow one []byte attribute until Set refuses it; keep the largest accepted.
	lo, hi := 0, limit
	for lo < hi {
		mid := (lo + hi + 1) / 2
		if err := s.Set("blob", make([]byte, mid)); err == nil {
			lo = mid
		} else if errors.Is(err, redisstore.ErrTooLarge) {
			hi = mid - 1
		} else {
			t.Fatal(err)
		}
	}
	if err := s.Set("blob", make([]byte, lo)); err != nil {
		t.Fatal(err)
	}
	if err := st.Save(ctx, s); err != nil {
		t.Fatalf("Set accepted a %d-byte value (session limit %d), but Save refuses the session: %v", lo, limit, err)
	}
}

// A value under a session key far over MaxSessionSize (written by something else, up to
// Redis's 512 MB) is not read: Load fetches at most the limit and a little more from
// Redis (its output counter shows it) and answers ErrCorrupt, as for any value over the
// limit; a value within the limit and a missing key read as before.
func TestLoadReadsNoMoreThanTheSizeLimit(t *testing.T) {
	r := startRedis(t)
	ctx := context.Background()
	const limit = 64 << 10
	st := newStore(t, r, redisstore.Config{MaxSessionSize: limit})
	rc := r.client()
	if err := rc.Set(ctx, st.Key("HUGE"), make([]byte, 32<<20), time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	sent := func() int64 {
		info, err := rc.Info(ctx, "stats").Result()
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(info, "\r\n") {
			if v, ok := strings.CutPrefix(line, "total_net_output_bytes:"); ok {
				n, err := strconv.ParseInt(v, 10, 64)
				if err != nil {
					t.Fatal(err)
				}
				return n
			}
		}
		t.Fatalf("no total_net_output_bytes in INFO stats: %q", info)
		return 0
	}
	before := sent()
	_, err := st.Load(ctx, "HUGE")
	if n := sent() - before; n > 2*limit {
		t.Errorf("Load of a 32 MiB value made Redis send %d bytes, want at most about the limit of %d", n, limit)
	}
	if !errors.Is(err, redisstore.ErrCorrupt) {
		t.Errorf("Load of a 32 MiB value: %v, want ErrCorrupt", err)
	}

	s := savedSession(t, st, "v", strings.Repeat("x", limit/2))
	if got, err := st.Load(ctx, s.ID()); err != nil || got.Version() != 1 {
		t.Fatalf("Load of a session within the limit: %v, %v", got, err)
	}
	if _, err := st.Load(ctx, "NONE"); !errors.Is(err, redisstore.ErrNotFound) {
		t.Errorf("Load of a missing key: %v, want ErrNotFound", err)
	}
	if err := rc.Set(ctx, st.Key("EMPTY"), "", time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Load(ctx, "EMPTY"); !errors.Is(err, redisstore.ErrCorrupt) {
		t.Errorf("Load of an empty value: %v, want ErrCorrupt", err)
	}
}
