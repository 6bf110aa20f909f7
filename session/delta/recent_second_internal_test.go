package delta

import (
	"context"
	"slices"
	"testing"
)

// The log a catch-up's answer reads (docs/failover.md) holds a session once per second
// it was sent about: at its first message in each second, not at every message, so a
// session changed on every request of a busy client costs one entry a second.
func TestRecentSentLogsASessionOnceASecond(t *testing.T) {
	ctx := context.Background()
	_, m := startLone(t, Config{})
	if err := m.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	s, err := m.Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	count := func() int {
		m.recent.mu.Lock()
		defer m.recent.mu.Unlock()
		n := 0
		for _, e := range m.recent.ring {
			if e.id == s.ID() {
				n++
			}
		}
		return n
	}
	before := count()
	base := (nowMs()/1000 + 100) * 1000 // a second of its own, later than any message so far
	s.mu.Lock()
	for _, at := range []int64{base, base + 1, base + 500, base + 999, base + 1000, base + 1999, base + 2000} {
		s.noteSentLocked(at)
	}
	s.mu.Unlock()
	if got := count() - before; got != 3 {
		t.Errorf("7 messages in 3 seconds logged the session %d times, want 3 (once a second)", got)
	}
	if ids, ok := m.recent.since(base + 1500); !ok || !slices.Contains(ids, s.ID()) {
		t.Errorf("since the second after: %v, %v; want the session", ids, ok)
	}
}
