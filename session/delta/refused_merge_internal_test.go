package delta

import (
	"context"
	"errors"
	"slices"
	"testing"
)

// TestRefreshMergeDropsARefusedChange: c (ClusterSize 3, alone: no member) changes x and
// the principal of S at version v; its delta is refused (ErrNoQuorum: it never left c)
// at version v+1. c then applies b's delta of version v+1 (y), so a refresh finds a
// member's copy of version v+1, not newer: it merges by the stamps. That copy holds a's
// change of x and of the principal at version v+1, acknowledged by the majority, whose
// origin orders before c's. As when it arrives in a delta, the majority's change wins
// over c's refused one, which nobody else holds: c takes a's values and drops its pending
// actions, so that its next delta does not give them to every node. (By the stamps alone,
// c kept its refused change, and its next delta made it win everywhere: an acknowledged
// write lost.)
func TestRefreshMergeDropsARefusedChange(t *testing.T) {
	ctx := context.Background()
	_, m := startLone(t, Config{Replication: ReplicateAcked, ClusterSize: 3})
	s, err := m.Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	v := s.highestVersion()
	if err := errors.Join(s.Set("x", "c"), s.SetPrincipal(&Principal{Name: "cal"})); err != nil {
		t.Fatal(err)
	}
	if err := m.Replicate(ctx, s); !errors.Is(err, ErrNoQuorum) {
		t.Fatalf("c's change, alone: %v, want ErrNoQuorum", err)
	}
	self := m.cl.origin()
	if self < 2 {
		t.Fatalf("c's origin %d leaves no room below it", self)
	}
	a, b := stamp{v + 1, self - 1}, stamp{v + 1, self - 2} // both order before c's (v+1, c)
	yv, err := m.cfg.Codec.Marshal("b")
	if err != nil {
		t.Fatal(err)
	}
	xv, err := m.cfg.Codec.Marshal("a")
	if err != nil {
		t.Fatal(err)
	}
	s.applyDelta(&Message{Event: EventDelta, SessionID: s.ID(), Version: b.version,
		Actions: []Action{{Type: ActionAttribute, Op: OpSet, Name: "y", Value: yv}}}, b.origin, false, 0)
	s.mu.Lock()
	st := s.state(new([]NamedValue))
	s.mu.Unlock()
	if st.Version != v+1 {
		t.Fatalf("c at version %d, want %d", st.Version, v+1)
	}
	st.stamped = true
	st.Principal = &Principal{Name: "pat"}
	st.Attributes = []NamedValue{{Name: "x", Value: xv, version: a.version, origin: a.origin},
		{Name: "y", Value: yv, version: b.version, origin: b.origin}}
	st.meta = []metaStamp{{ActionPrincipal, namePrincipal, a}}
	if _, changed := s.mergeStamped(&st, false); !changed {
		t.Error("mergeStamped reported no change")
	}
	if x, _ := s.Get("x"); x != "a" {
		t.Errorf("x = %v, want the majority's a", x)
	}
	if p := s.Principal(); p == nil || p.Name != "pat" {
		t.Errorf("principal %+v, want the majority's pat", p)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if i := slices.IndexFunc(s.pending, func(a Action) bool { return a.Name == "x" || a.Type == ActionPrincipal }); i >= 0 {
		t.Errorf("c's refused change of %q still pending: its next delta gives it to every node", s.pending[i].Name)
	}
}
