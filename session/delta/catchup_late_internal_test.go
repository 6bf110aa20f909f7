package delta

import (
	"bytes"
	"context"
	"slices"
	"testing"
)

// TestLateMergeOfAnUnstampedCopyClaimsNoVersion: a late catch-up's answer cannot be merged
// by the stamps into a copy from a donor of an earlier version (it sent none) that holds
// a change made here not sent yet. The copy took the member's version all the same,
// without its changes (the answer was not loaded then): a refresh from that member then
// found it no older and left it without them. The copy takes the member's version only
// with its changes now (the answer is loaded keeping the change made here:
// TestLateAnswerLoadsAnUnstampedCopyKeepingUnsentChanges), and after a refresh from that
// member holds them.
func TestLateMergeOfAnUnstampedCopyClaimsNoVersion(t *testing.T) {
	_, m := startLone(t, Config{})
	const id = "unstamped-copy"
	// From a donor of an earlier version: no stamps.
	m.mergeSessions(context.Background(), []SessionState{{ID: id, Version: 2, MaxInactive: 60,
		Notes: []NamedValue{{Name: "n", Value: []byte("old")}}}}, false)
	s := m.st.get(id)
	if s == nil {
		t.Fatal("the donor's copy was not added")
	}
	if err := s.SetNote("j", "mine"); err != nil { // a change made here, not sent yet
		t.Fatal(err)
	}
	member := SessionState{ID: id, Version: 5, MaxInactive: 60, stamped: true,
		Notes: []NamedValue{{Name: "n", Value: []byte("new")}}}
	m.mergeSessions(context.Background(), []SessionState{member}, true) // a late catch-up's answer
	if n, _ := s.Note("n"); n != "new" && !s.olderThan(member.Version) {
		t.Errorf("the copy claims the member's version %d but holds n=%q, not its %q", member.Version, n, "new")
	}
	if j, _ := s.Note("j"); j != "mine" {
		t.Errorf("the change made here went: j=%q", j)
	}
	member.Notes = []NamedValue{{Name: "n", Value: []byte("new")}} // a refresh from that member
	m.mergeSessions(context.Background(), []SessionState{member}, false)
	if n, _ := s.Note("n"); n != "new" {
		t.Errorf("after a refresh from the member the copy holds n=%q, want its %q", n, "new")
	}
}

// TestLateAnswerLoadsAnUnstampedCopyKeepingUnsentChanges: a late catch-up's answer, newer
// by version, for a copy from a donor of an earlier version (no stamps to merge by) on
// which a request made changes not sent yet was not applied at all: the joiner served
// the copy without the member's acknowledged changes until a refresh. It is now loaded
// over the copy keeping this node's changes not sent yet (loadKeepingUnsent, as a
// refresh does), which stay pending for the next delta.
func TestLateAnswerLoadsAnUnstampedCopyKeepingUnsentChanges(t *testing.T) {
	_, m := startLone(t, Config{})
	const id = "unstamped-unsent"
	m.mergeSessions(context.Background(), []SessionState{{ID: id, Version: 2, MaxInactive: 60, // no stamps
		Attributes: []NamedValue{{Name: "k", Value: []byte("old")}, {Name: "j", Value: []byte("old")}},
		Notes:      []NamedValue{{Name: "n", Value: []byte("old")}}}}, false)
	s := m.st.get(id)
	if s == nil {
		t.Fatal("the donor's copy was not added")
	}
	if err := s.Set("j", "mine"); err != nil { // a request's changes, not sent yet
		t.Fatal(err)
	}
	if err := s.SetNote("n", "mine"); err != nil {
		t.Fatal(err)
	}
	attr := func(name string) []byte {
		s.mu.Lock()
		defer s.mu.Unlock()
		if i := s.find(name); i >= 0 {
			return s.attrs[i].data
		}
		return nil
	}
	mine := bytes.Clone(attr("j"))
	const other = 9 // the member's origin
	member := SessionState{ID: id, Version: 5, MaxInactive: 60, stamped: true,
		Attributes: []NamedValue{{Name: "k", Value: []byte("new"), version: 4, origin: other},
			{Name: "j", Value: []byte("theirs"), version: 3, origin: other}},
		Notes: []NamedValue{{Name: "n", Value: []byte("theirs")}}}
	m.mergeSessions(context.Background(), []SessionState{member}, true) // a late catch-up's answer
	if k := attr("k"); !bytes.Equal(k, []byte("new")) {
		t.Errorf("k=%q, want the member's acknowledged %q", k, "new")
	}
	if s.olderThan(member.Version) {
		t.Errorf("the copy's version is below the member's %d, whose changes it holds", member.Version)
	}
	if j := attr("j"); !bytes.Equal(j, mine) {
		t.Errorf("j=%q, want this node's change not sent yet %q", j, mine)
	}
	if n, _ := s.Note("n"); n != "mine" {
		t.Errorf("note n=%q, want this node's change not sent yet %q", n, "mine")
	}
	msg, actions := s.takeDelta(nowMs(), true) // the next request's delta
	var names []string
	for _, a := range actions {
		names = append(names, a.Name)
	}
	slices.Sort(names)
	if msg == nil || !slices.Equal(names, []string{"j", "n"}) || msg.Version <= member.Version {
		t.Errorf("the next delta sends %q at version %v, want j and n above %d", names, msg, member.Version)
	}
}
