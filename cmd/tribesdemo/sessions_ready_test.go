package main

import (
	"context"
	"testing"
)

// The "ready" line of "tribesdemo sessions" says what its start did, with the fields
// docs/failover.md names (donor, attempts, noManager, declined, memberWaitMs,
// transferred); a node alone, the first of a cluster, is ready once MemberWait (3 s)
// passed without a member, having asked no donor and received no session.
func TestSessionsReadyLineAsDocumented(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	lines, done := startCmd(t, ctx, "sessions", "--port", "0", "--http", "127.0.0.1:0", "--seconds", "60")
	ready := next(t, lines, "ready")
	for _, k := range []string{"donor", "attempts", "noManager", "declined", "memberWaitMs", "transferred", "sessions"} {
		if _, ok := ready[k]; !ok {
			t.Errorf("ready line without %q: %v", k, ready)
		}
	}
	if w, _ := ready["memberWaitMs"].(float64); w < 3000 {
		t.Errorf("a lone node waited %v ms for a member, want MemberWait's 3 s: %v", ready["memberWaitMs"], ready)
	}
	if ready["donor"] != "" || ready["attempts"] != 0.0 || ready["transferred"] != 0.0 {
		t.Errorf("a lone node names a donor, attempts or sessions transferred: %v", ready)
	}
	cancel()
	for range lines {
	}
	<-done
}
