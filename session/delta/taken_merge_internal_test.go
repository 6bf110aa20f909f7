package delta

import (
	"context"
	"testing"
	"time"
)

// nextSecond waits until nowMs is in a later second than it was when called, and returns
// it: what was logged before is in an earlier second than the time returned.
func nextSecond(t *testing.T) int64 {
	t.Helper()
	was := nowMs() / 1000
	deadline := time.Now().Add(10 * time.Second)
	for nowMs()/1000 == was {
		if time.Now().After(deadline) {
			t.Fatal("the clock did not reach the next second within 10 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	return nowMs()
}

// takenState is a member's copy of id at version, with "k" = v.
func takenState(id string, version uint64, v string) SessionState {
	T := nowMs()
	b, _ := GobCodec{}.Marshal(v)
	return SessionState{ID: id, CreationTime: T, LastAccessedTime: T, MaxInactive: 1800, Version: version,
		Attributes: []NamedValue{{Name: "k", Value: b}}}
}

// A node logs the sessions it takes another node's change of (the taken log, takenSec),
// so that its answer to a member back in view (AskBack) holds them: what a node that left
// for good meanwhile changed reached this one only. A delta, a creation and a rename were
// logged; a change taken through a refresh's merge (mergeSessions), a late catch-up's or
// an ask-back's merge (mergeLate), or a running manager's repair (loadRepaired) was not,
// and the answer to a member back lacked those sessions. Each is now in it; a merge that
// took nothing (the same version again) still logs nothing.
func TestTakenThroughAMergeAnswersAMemberBack(t *testing.T) {
	ctx := context.Background()
	nw, m := startLone(t, Config{ExpireInterval: -1})
	m.mergeSessions(ctx, []SessionState{takenState("OLD.r", 1, "v1"), takenState("LATEOLD.r", 1, "v1"),
		takenState("SAME.r", 1, "v1")}, false)
	since := nextSecond(t)

	m.mergeSessions(ctx, []SessionState{takenState("NEW.r", 1, "v1"), takenState("OLD.r", 2, "v2"),
		takenState("SAME.r", 1, "v1")}, false) // a refresh's chunk
	m.mergeSessions(ctx, []SessionState{takenState("LATE.r", 1, "v1"), takenState("LATEOLD.r", 2, "v2")},
		true) // a late catch-up's, or an ask-back's
	m.liveMu.Lock()
	m.live = &liveRepair{want: map[string]bool{"REPAIRED.r": true}}
	m.liveMu.Unlock()
	m.loadRepaired(ctx, &Message{Timestamp: nowMs(), Sessions: []SessionState{takenState("REPAIRED.r", 3, "v3")}})
	m.liveMu.Lock()
	m.live = nil
	m.liveMu.Unlock()
	for _, id := range []string{"OLD.r", "LATEOLD.r", "REPAIRED.r"} {
		if m.Find(id) == nil {
			t.Fatalf("%s was not loaded", id)
		}
	}

	want := []string{"NEW.r", "OLD.r", "LATE.r", "LATEOLD.r", "REPAIRED.r"}
	if got := <-askedAnswer(t, nw, m, AskStamps|AskRecent|AskBack, since); !sameIDs(got, want) {
		t.Errorf("the answer to a member back carried %v, want the sessions merged since %v", got, want)
	}
	if got := <-askedAnswer(t, nw, m, AskStamps|AskRecent, since); len(got) != 0 {
		t.Errorf("a joiner's catch-up's answer carried %v, want none (this node sent about none)", got)
	}
}
