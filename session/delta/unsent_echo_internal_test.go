package delta

import (
	"context"
	"errors"
	"slices"
	"testing"
)

// A change refused before any send goes out of this node stamped with origin 0 beside
// its version (yieldUnsent). Coming back (a member's catch-up answer, or the copy a
// refresh or a repair loads, holding what this node's own answer gave it), it is not
// another node's change of its version: c's refused change of x and of the principal
// must stay pending after c merges, then loads, its own transferable copy, so that its
// next delta sends them. (c's change gave way to its own echo, and its pending actions
// were dropped: the members that had not got it never did.)
func TestRefusedChangeEchoedBackStaysPending(t *testing.T) {
	ctx := context.Background()
	_, m := startLone(t, Config{Replication: ReplicateAcked, ClusterSize: 3})
	for _, op := range []string{"merge", "load"} {
		s, err := m.Create(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := errors.Join(s.Set("x", "c"), s.SetPrincipal(&Principal{Name: "cal"})); err != nil {
			t.Fatal(err)
		}
		if err := m.Replicate(ctx, s); !errors.Is(err, ErrNoQuorum) {
			t.Fatalf("c's change, alone: %v, want ErrNoQuorum", err)
		}
		var tombs []tomb
		st, ok := s.transferable(new([]NamedValue), &tombs, AskStamps|AskMetaStamps)
		if !ok {
			t.Fatal("session not transferable")
		}
		if op == "merge" {
			s.mergeStamped(&st, false)
		} else {
			s.loadTransferred(&st)
		}
		s.mu.Lock()
		for _, name := range []string{"x", namePrincipal} {
			if !slices.ContainsFunc(s.pending, func(a Action) bool { return a.Name == name && a.unsent }) {
				t.Errorf("after a %s of its own copy, c's refused change of %s is no longer pending: its next delta does not send it", op, name)
			}
		}
		s.mu.Unlock()
		if x, _ := s.Get("x"); x != "c" {
			t.Errorf("after a %s of its own copy, x = %v, want c's own", op, x)
		}
	}
}
