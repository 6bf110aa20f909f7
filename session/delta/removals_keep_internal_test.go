package delta

import (
	"context"
	"testing"
	"time"
)

// How long a removal's record is kept (docs/consistency.md): a removed session's an hour,
// or twice its max inactive interval when that is longer (the removal is noted at once
// for an hour, so that a session made again under its id starts above it, and then
// for twice the interval of the copy removed); an old id of a session renamed here twice
// the session's interval; one merged from a member's records (a refresh, a transfer, a
// catch-up) an hour, whatever the session's interval, since the member's record says
// nothing of it; and a copy timed out here without telling the cluster none. (The page
// said twice the interval for a removed session too: with the default 30 minutes the
// same hour, with 10 minutes 20 where an hour is kept.)
func TestRemovalRecordKeptAsDocumented(t *testing.T) {
	ctx := context.Background()
	_, m := startLone(t, Config{MaxInactiveInterval: 10 * time.Minute})
	if err := m.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	kept := func(id string, renamed bool) time.Duration {
		t.Helper()
		m.gone.mu.Lock()
		defer m.gone.mu.Unlock()
		e, ok := m.gone.byID[removalKey(id, renamed)]
		if !ok {
			t.Fatalf("no record of %s", id)
		}
		// until is noted's instant (in milliseconds) plus the time kept, to the nanosecond;
		// an invalidation notes its id twice (the hour first), so noted may be a little
		// after the instant the hour was counted from (59m59.999s under load): to the minute.
		return (time.Duration(e.until) - time.Duration(e.noted)*time.Millisecond).Round(time.Minute)
	}
	gone, err := m.Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Invalidate(ctx, gone); err != nil {
		t.Fatal(err)
	}
	if got := kept(gone.ID(), false); got != time.Hour {
		t.Errorf("an invalidation here of a session of 10 minutes is kept %v, want 1h", got)
	}
	long, err := m.Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := long.SetMaxInactiveInterval(2 * time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := m.Invalidate(ctx, long); err != nil {
		t.Fatal(err)
	}
	if got := kept(long.ID(), false); got != 4*time.Hour {
		t.Errorf("the invalidation of a session of 2 hours is kept %v, want 4h", got)
	}
	ren, err := m.Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	old := ren.ID()
	if _, err := m.ChangeSessionID(ctx, ren, ""); err != nil {
		t.Fatal(err)
	}
	if got := kept(old, true); got != 20*time.Minute {
		t.Errorf("the old id of a rename here is kept %v, want 20m (twice the 10-minute interval)", got)
	}
	// A copy timed out here without telling the cluster (the others time theirs out
	// too) leaves no record.
	quiet, err := m.Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.expire(ctx, quiet, false, causeTimedOut, false); err != nil {
		t.Fatal(err)
	}
	if m.Find(quiet.ID()) != nil {
		t.Fatal("the copy timed out is still held")
	}
	m.gone.mu.Lock()
	_, recorded := m.gone.byID[removalKey(quiet.ID(), false)]
	m.gone.mu.Unlock()
	if recorded {
		t.Error("a copy timed out without telling the cluster left a record")
	}
	m.mergeRemoval(ctx, &SessionState{ID: "M.x", Version: 3, Removed: true}, true)
	m.mergeRemoval(ctx, &SessionState{ID: "N.x", Version: 3, Renamed: true}, true)
	if got := kept("M.x", false); got != time.Hour {
		t.Errorf("a member's record of a removal is kept %v, want 1h", got)
	}
	if got := kept("N.x", true); got != time.Hour {
		t.Errorf("a member's record of an old id is kept %v, want 1h", got)
	}
}
