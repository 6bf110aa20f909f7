package delta

import (
	"bytes"
	"slices"
	"testing"
)

// TestRefreshKeepsChangesOfADeltaInFlight: a request's delta is taken (its changes
// stamped with its version and this node's origin, no longer pending nor marked) and is
// on its way when a refresh loads a member's copy of a higher version that lacks it (set
// x, remove r: the member holds both older). The copy must keep this node's values
// (which the delta carries, and which win by their stamps): else the node shows the
// member's older values while the delta, if it arrives, gives the others its own, and if
// it fails, its requeue finds the changes replaced and drops them (lost everywhere).
func TestRefreshKeepsChangesOfADeltaInFlight(t *testing.T) {
	_, m := startLone(t, Config{})
	s := CreateReplicated(t, m)
	id := s.ID()
	old := stamp{5, 7} // another node's, below the delta's
	s.mu.Lock()
	s.load(&SessionState{ID: id, Version: old.version, stamped: true, MaxInactive: 60,
		Attributes: []NamedValue{{Name: "x", Value: []byte("old"), version: old.version, origin: old.origin},
			{Name: "r", Value: []byte("old"), version: old.version, origin: old.origin}}})
	s.mu.Unlock()
	if err := s.Set("x", "new"); err != nil {
		t.Fatal(err)
	}
	if err := s.Remove("r"); err != nil {
		t.Fatal(err)
	}
	msg, actions := s.takeDelta(nowMs(), true) // sent, not answered yet
	if msg == nil || len(actions) != 2 {
		t.Fatalf("the request's delta: %v, %d actions; want 2", msg, len(actions))
	}
	sent := actions[slices.IndexFunc(actions, func(a Action) bool { return a.Name == "x" })].Value
	st := SessionState{ID: id, Version: msg.Version + 3, stamped: true, MaxInactive: 60,
		Attributes: []NamedValue{{Name: "x", Value: []byte("old"), version: old.version, origin: old.origin},
			{Name: "r", Value: []byte("old"), version: old.version, origin: old.origin}}}
	s.mu.Lock()
	s.loadKeepingUnsent(&st)
	s.mu.Unlock()
	check := func(when string) {
		t.Helper()
		s.mu.Lock()
		defer s.mu.Unlock()
		if i := s.find("x"); i < 0 || !bytes.Equal(s.attrs[i].data, sent) {
			t.Errorf("%s: x is not the value of this node's delta in flight", when)
		}
		if s.find("r") >= 0 {
			t.Errorf("%s: r, removed by this node's delta in flight, is back", when)
		}
	}
	check("after the refresh")
	s.requeue(msg, actions, false) // the delta failed
	check("after the delta failed")
	s.mu.Lock()
	var names []string
	for _, a := range s.pending {
		names = append(names, a.Name)
	}
	s.mu.Unlock()
	slices.Sort(names)
	if !slices.Equal(names, []string{"r", "x"}) {
		t.Errorf("after the failed delta, pending changes %q; want r and x (to send again)", names)
	}
}

// TestRefreshKeepingNothingAllocatesNothingMore: a refresh's load of a session with no
// change not sent (its own acknowledged changes held by the member's copy with the same
// stamps) allocates no more than a load.
func TestRefreshKeepingNothingAllocatesNothingMore(t *testing.T) {
	_, m := startLone(t, Config{})
	s := CreateReplicated(t, m)
	self := m.cl.origin()
	st := SessionState{ID: s.ID(), Version: 9, stamped: true, MaxInactive: 60,
		Attributes: []NamedValue{{Name: "a", Value: []byte("v"), version: 8, origin: self}},
		tombs:      []tomb{{name: "r", st: stamp{7, self}}}}
	s.mu.Lock()
	defer s.mu.Unlock()
	load := testing.AllocsPerRun(100, func() { s.load(&st) })
	keeping := testing.AllocsPerRun(100, func() { s.loadKeepingUnsent(&st) })
	if keeping > load {
		t.Errorf("a refresh's load keeping nothing allocates %v times, a load %v", keeping, load)
	}
}
