package delta

import (
	"fmt"
	"testing"
)

// The log of the sessions taken from other nodes (Manager.taken) keeps maxRecentSent
// entries. When more were taken since the time a member back asks for (AskBack) than it
// keeps, the answer reads every session instead (forRecent's scan, counted by
// Stats.CatchUpScans), and still holds each session taken since then, and none taken
// before only.
func TestTakenBeyondTheLogAnswerReadsEverySession(t *testing.T) {
	defer func(n int) { maxRecentSent = n }(maxRecentSent)
	maxRecentSent = 8
	ctx := t.Context()
	nw, m := startLone(t, Config{ExpireInterval: -1})
	m.mergeSessions(ctx, []SessionState{takenState("BEFORE.r", 1, "v1")}, false)
	since := nextSecond(t)
	var want []string
	take := func(n int) {
		for range n {
			id := fmt.Sprintf("T%d.r", len(want))
			m.mergeSessions(ctx, []SessionState{takenState(id, 1, "v1")}, false)
			want = append(want, id)
		}
	}
	back := uint64(AskStamps | AskRecent | AskBack)
	take(3)
	if got := <-askedAnswer(t, nw, m, back, since); !sameIDs(got, want) {
		t.Fatalf("within the log, the answer carried %v, want %v", got, want)
	}
	if scans := m.Stats().CatchUpScans; scans != 0 {
		t.Fatalf("%d answers read every session while the log covered the window", scans)
	}
	take(2 * maxRecentSent)
	if got := <-askedAnswer(t, nw, m, back, since); !sameIDs(got, want) {
		t.Errorf("beyond the log, the answer carried %d sessions (%v), want the %d taken since", len(got), got, len(want))
	}
	if scans := m.Stats().CatchUpScans; scans != 1 {
		t.Errorf("%d answers read every session, want the one beyond the log", scans)
	}
	if got := <-askedAnswer(t, nw, m, AskStamps|AskRecent, since); len(got) != 0 {
		t.Errorf("a joiner's catch-up's answer carried %v, want none (this node sent about none)", got)
	}
}
