package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/session/delta"
	"github.com/gotribes/tribes/session/redisstore"
)

// A session saved by one node's store is read back whole by another's: attribute
// values of several types, times, version 1, a key with the max inactive interval as
// TTL.
func TestSaveLoadRoundTrip(t *testing.T) {
	r := startRedis(t)
	ctx := context.Background()
	a, b := newStore(t, r, redisstore.Config{}), newStore(t, r, redisstore.Config{})
	s := a.NewSession()
	if s.Version() != 0 || !s.IsNew() || !s.Dirty() {
		t.Fatalf("new session: version %d, new %v, dirty %v", s.Version(), s.IsNew(), s.Dirty())
	}
	cart := map[string]any{"apples": 3, "note": "green"}
	for name, v := range map[string]any{"user": "ada", "count": 41, "cart": cart, "raw": []byte{0, 1, 2}} {
		if err := s.Set(name, v); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.Save(ctx, s); err != nil {
		t.Fatal(err)
	}
	if s.Version() != 1 || s.Dirty() {
		t.Fatalf("after save: version %d, dirty %v", s.Version(), s.Dirty())
	}
	got, err := b.Load(ctx, s.ID())
	if err != nil {
		t.Fatal(err)
	}
	if got.Version() != 1 || got.IsNew() || got.Dirty() || !got.CreationTime().Equal(s.CreationTime()) {
		t.Fatalf("loaded: version %d, new %v, dirty %v, created %v (want %v)", got.Version(), got.IsNew(), got.Dirty(),
			got.CreationTime(), s.CreationTime())
	}
	if u, _ := redisstore.Attr[string](got, "user"); u != "ada" {
		t.Errorf("user = %q", u)
	}
	if n, _ := redisstore.Attr[int](got, "count"); n != 41 {
		t.Errorf("count = %d", n)
	}
	if c, _ := redisstore.Attr[map[string]any](got, "cart"); !maps.Equal(c, cart) {
		t.Errorf("cart = %v", c)
	}
	if raw, _ := redisstore.Attr[[]byte](got, "raw"); string(raw) != "\x00\x01\x02" {
		t.Errorf("raw = %v", raw)
	}
	if names := strings.Join(got.Names(), ","); len(got.Names()) != 4 {
		t.Errorf("names %s", names)
	}
	ttl, err := r.client().PTTL(ctx, a.Key(s.ID())).Result()
	if err != nil {
		t.Fatal(err)
	}
	if ttl <= 29*time.Minute || ttl > 30*time.Minute {
		t.Errorf("TTL %v, want about the default 30 min", ttl)
	}
	if _, err := b.Load(ctx, "NOSUCHSESSION"); !errors.Is(err, redisstore.ErrNotFound) {
		t.Errorf("missing session: %v", err)
	}
	// Sessions of another application name are not visible.
	other := newStore(t, r, redisstore.Config{Name: "localhost#/other"})
	if _, err := other.Load(ctx, s.ID()); !errors.Is(err, redisstore.ErrNotFound) {
		t.Errorf("another application's store: %v", err)
	}
}

// The key's TTL is the session's max inactive interval: Redis expires an idle session,
// Touch renews the TTL without a write, and a session that never expires has no TTL.
func TestTTLIsMaxInactiveInterval(t *testing.T) {
	r := startRedis(t)
	ctx := context.Background()
	st := newStore(t, r, redisstore.Config{MaxInactiveInterval: time.Second})
	rc := r.client()
	s := st.NewSession()
	if err := st.Save(ctx, s); err != nil {
		t.Fatal(err)
	}
	if ttl := rc.PTTL(ctx, st.Key(s.ID())).Val(); ttl <= 0 || ttl > time.Second {
		t.Fatalf("TTL %v, want at most 1 s", ttl)
	}
	testutil.Eventually(t, testutil.WaitLimit, func() error { // Redis expires the key
		if _, err := st.Load(ctx, s.ID()); !errors.Is(err, redisstore.ErrNotFound) {
			return fmt.Errorf("load of an idle session: %v, want ErrNotFound", err)
		}
		return nil
	})

	long := newStore(t, r, redisstore.Config{MaxInactiveInterval: time.Hour})
	s = long.NewSession()
	if err := long.Save(ctx, s); err != nil {
		t.Fatal(err)
	}
	rc.PExpire(ctx, long.Key(s.ID()), 10*time.Second)
	if err := long.Touch(ctx, s); err != nil {
		t.Fatal(err)
	}
	if ttl := rc.PTTL(ctx, long.Key(s.ID())).Val(); ttl < 59*time.Minute {
		t.Errorf("TTL after Touch %v, want about 1 h", ttl)
	}
	if s.Version() != 1 {
		t.Errorf("Touch wrote the session: version %d", s.Version())
	}
	if err := s.SetMaxInactiveInterval(-1); err != nil {
		t.Fatal(err)
	}
	if err := long.Save(ctx, s); err != nil {
		t.Fatal(err)
	}
	if ttl := rc.PTTL(ctx, long.Key(s.ID())).Val(); ttl != -1 {
		t.Errorf("TTL of a session that never expires: %v, want none (-1)", ttl)
	}
	got, err := long.Load(ctx, s.ID())
	if err != nil || got.MaxInactiveInterval() != 0 {
		t.Errorf("loaded max inactive %v, %v", got.MaxInactiveInterval(), err)
	}
}

// Two nodes load one session and both change it: the first save wins, the second gets
// ErrConflict and writes nothing; after reloading it saves on top of the first. A save
// of a session invalidated meanwhile fails the same way and does not bring it back.
func TestSaveConflict(t *testing.T) {
	r := startRedis(t)
	ctx := context.Background()
	a, b := newStore(t, r, redisstore.Config{}), newStore(t, r, redisstore.Config{})
	s := a.NewSession()
	if err := s.Set("count", 1); err != nil {
		t.Fatal(err)
	}
	if err := a.Save(ctx, s); err != nil {
		t.Fatal(err)
	}
	onA, err := a.Load(ctx, s.ID())
	if err != nil {
		t.Fatal(err)
	}
	onB, err := b.Load(ctx, s.ID())
	if err != nil {
		t.Fatal(err)
	}
	_ = onA.Set("count", 2)
	_ = onB.Set("count", 20)
	if err := a.Save(ctx, onA); err != nil {
		t.Fatal(err)
	}
	err = b.Save(ctx, onB)
	if !errors.Is(err, redisstore.ErrConflict) {
		t.Fatalf("second save: %v, want ErrConflict", err)
	}
	if onB.Version() != 1 || !onB.Dirty() {
		t.Errorf("after the conflict: version %d, dirty %v", onB.Version(), onB.Dirty())
	}
	again, err := b.Load(ctx, s.ID())
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := redisstore.Attr[int](again, "count"); n != 2 || again.Version() != 2 {
		t.Fatalf("stored count %d version %d, want the first save's 2 at version 2", n, again.Version())
	}
	_ = again.Set("count", 3)
	if err := b.Save(ctx, again); err != nil {
		t.Fatal(err)
	}

	if err := a.Invalidate(ctx, onA); err != nil {
		t.Fatal(err)
	}
	if err := again.Set("count", 4); err != nil {
		t.Fatal(err)
	}
	if err := b.Save(ctx, again); !errors.Is(err, redisstore.ErrConflict) || !strings.Contains(err.Error(), "removed") {
		t.Fatalf("save after invalidation: %v, want ErrConflict (removed)", err)
	}
	if _, err := a.Load(ctx, s.ID()); !errors.Is(err, redisstore.ErrNotFound) {
		t.Fatalf("invalidated session came back: %v", err)
	}
	if err := onA.Set("x", 1); !errors.Is(err, redisstore.ErrInvalidSession) {
		t.Errorf("Set on an invalidated session: %v", err)
	}
	if err := a.Save(ctx, onA); !errors.Is(err, redisstore.ErrInvalidSession) {
		t.Errorf("Save of an invalidated session: %v", err)
	}
}

// ChangeID moves the stored session to a new key at the next save: the old id finds
// nothing, the new one everything.
func TestChangeIDMovesTheKey(t *testing.T) {
	r := startRedis(t)
	ctx := context.Background()
	st := newStore(t, r, redisstore.Config{})
	s := st.NewSession()
	_ = s.Set("user", "ada")
	if err := st.Save(ctx, s); err != nil {
		t.Fatal(err)
	}
	old := s.ID()
	loaded, err := st.Load(ctx, old)
	if err != nil {
		t.Fatal(err)
	}
	id, err := loaded.ChangeID()
	if err != nil || id == old || loaded.ID() != id || !loaded.Dirty() {
		t.Fatalf("ChangeID: %q, %v (old %q, dirty %v)", id, err, old, loaded.Dirty())
	}
	if err := st.Save(ctx, loaded); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Load(ctx, old); !errors.Is(err, redisstore.ErrNotFound) {
		t.Errorf("old id still stored: %v", err)
	}
	moved, err := st.Load(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if u, _ := redisstore.Attr[string](moved, "user"); u != "ada" || moved.Version() != 2 {
		t.Errorf("moved session: user %q version %d", u, moved.Version())
	}
	// The stale copy (still under the old id) cannot save over the move.
	if err := st.Save(ctx, s); !errors.Is(err, redisstore.ErrConflict) {
		t.Errorf("save of the stale copy: %v", err)
	}
}

type unexported struct{ n int }

// Limits: a value over MaxValueSize, a session over MaxSessionSize or MaxAttributes, a
// value that would not read back are refused by Set with typed errors, the session
// unchanged; New refuses a bad configuration.
func TestLimits(t *testing.T) {
	r := startRedis(t)
	ctx := context.Background()
	st := newStore(t, r, redisstore.Config{MaxValueSize: 1000, MaxSessionSize: 2500, MaxAttributes: 3})
	s := st.NewSession()
	err := s.Set("big", strings.Repeat("x", 1001))
	var le *redisstore.LimitError
	if !errors.Is(err, redisstore.ErrTooLarge) || !errors.As(err, &le) || le.Limit != 1000 || le.Size <= 1000 {
		t.Fatalf("value over MaxValueSize: %v", err)
	}
	if !strings.Contains(err.Error(), `attribute "big"`) {
		t.Errorf("error does not name the attribute: %v", err)
	}
	for _, name := range []string{"a", "b"} {
		if err := s.Set(name, strings.Repeat("y", 990)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Set("c", strings.Repeat("z", 990)); !errors.Is(err, redisstore.ErrTooLarge) || !errors.As(err, &le) || le.What != "session" {
		t.Fatalf("session over MaxSessionSize: %v", err)
	}
	if err := s.Set("a", strings.Repeat("w", 500)); err != nil { // replacing counts the difference
		t.Fatalf("replacing a value with a smaller one: %v", err)
	}
	if err := s.Set("c", 1); err != nil {
		t.Fatal(err)
	}
	if err := s.Set("d", 1); !errors.As(err, &le) || le.What != "attributes" {
		t.Fatalf("attribute over MaxAttributes: %v", err)
	}
	var ve *delta.ValueError
	if err := s.Set("u", unexported{1}); !errors.As(err, &ve) || !errors.Is(err, delta.ErrValueNotReplicable) {
		t.Fatalf("struct with unexported fields: %v", err)
	}
	if names := strings.Join(s.Names(), ","); names != "a,b,c" {
		t.Fatalf("names after refusals %q", names)
	}
	if err := st.Save(ctx, s); err != nil {
		t.Fatal(err)
	}
	for _, cfg := range []redisstore.Config{{Name: "x"}, {Client: r.client()},
		{Client: r.client(), Name: "x", MaxInactiveInterval: time.Millisecond},
		{Client: r.client(), Name: "x", MaxValueSize: -1}} {
		if _, err := redisstore.New(cfg); !errors.Is(err, redisstore.ErrInvalidConfig) {
			t.Errorf("New(%+v): %v", cfg, err)
		}
	}
}

// A stored value that is not a session of this store (garbage, another session's value,
// one over the size limit) is ErrCorrupt, never a panic.
func TestCorruptStoredValue(t *testing.T) {
	r := startRedis(t)
	ctx := context.Background()
	st := newStore(t, r, redisstore.Config{MaxSessionSize: 4096})
	rc := r.client()
	s := st.NewSession()
	_ = s.Set("k", "v")
	if err := st.Save(ctx, s); err != nil {
		t.Fatal(err)
	}
	good, err := rc.Get(ctx, st.Key(s.ID())).Bytes()
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string][]byte{
		"garbage":   []byte("hello world, not a session"),
		"short":     {1, 2, 3},
		"truncated": good[:len(good)-3],
		"oversized": append(append([]byte{}, good[:8]...), make([]byte, 8192)...),
	}
	for name, v := range cases {
		rc.Set(ctx, st.Key("X"+name), v, time.Minute)
		if _, err := st.Load(ctx, "X"+name); !errors.Is(err, redisstore.ErrCorrupt) {
			t.Errorf("%s: %v, want ErrCorrupt", name, err)
		}
	}
	rc.Set(ctx, st.Key("COPY"), good, time.Minute) // s's value under another id
	if _, err := st.Load(ctx, "COPY"); !errors.Is(err, redisstore.ErrCorrupt) || !strings.Contains(err.Error(), s.ID()) {
		t.Errorf("another session's value: %v", err)
	}
	otherApp := newStore(t, r, redisstore.Config{Name: "localhost#/other"})
	rc.Set(ctx, otherApp.Key(s.ID()), good, time.Minute)
	if _, err := otherApp.Load(ctx, s.ID()); !errors.Is(err, redisstore.ErrCorrupt) {
		t.Errorf("another application's value: %v", err)
	}
	rc.HSet(ctx, st.Key("HASH"), "f", "v")
	if _, err := st.Load(ctx, "HASH"); !errors.Is(err, redisstore.ErrCorrupt) {
		t.Errorf("a hash under a session key: %v, want ErrCorrupt", err)
	}
}

// What this API does not change (a principal, auth type, notes, listeners written by
// other software sharing the format) survives a load and save.
func TestSaveKeepsWhatItDoesNotChange(t *testing.T) {
	r := startRedis(t)
	ctx := context.Background()
	st := newStore(t, r, redisstore.Config{})
	rc := r.client()
	state := delta.SessionState{ID: "KEEP", CreationTime: 1000, LastAccessedTime: 2000, MaxInactive: 600, Version: 4,
		Principal: &delta.Principal{Name: "ada", Roles: []string{"admin"}}, AuthType: "FORM",
		Notes: []delta.NamedValue{{Name: "n", Value: []byte("v")}}, Listeners: []string{"sso"}}
	data, err := st.EncodeForTest(&state)
	if err != nil {
		t.Fatal(err)
	}
	rc.Set(ctx, st.Key("KEEP"), data, time.Minute)
	s, err := st.Load(ctx, "KEEP")
	if err != nil {
		t.Fatal(err)
	}
	if s.Version() != 4 || s.MaxInactiveInterval() != 10*time.Minute || s.CreationTime().UnixMilli() != 1000 {
		t.Fatalf("loaded version %d, interval %v, created %v", s.Version(), s.MaxInactiveInterval(), s.CreationTime())
	}
	if err := s.Set("k", "v"); err != nil {
		t.Fatal(err)
	}
	if err := st.Save(ctx, s); err != nil {
		t.Fatal(err)
	}
	raw, err := rc.Get(ctx, st.Key("KEEP")).Bytes()
	if err != nil {
		t.Fatal(err)
	}
	msg, err := delta.BinaryCodec{}.DecodeMessage(raw[8:])
	if err != nil || len(msg.Sessions) != 1 {
		t.Fatalf("stored value: %v", err)
	}
	got := msg.Sessions[0]
	if got.Version != 5 || got.Principal == nil || got.Principal.Name != "ada" || got.AuthType != "FORM" ||
		len(got.Notes) != 1 || len(got.Listeners) != 1 || len(got.Attributes) != 1 || got.CreationTime != 1000 {
		t.Fatalf("stored after save: %+v", got)
	}
	if ttl := rc.PTTL(ctx, st.Key("KEEP")).Val(); ttl <= 9*time.Minute || ttl > 10*time.Minute {
		t.Errorf("TTL %v, want the session's own 10 min", ttl)
	}
}
