package delta

import "testing"

// TestLateMergeOfAnUnstampedCopyClaimsNoVersion: a late catch-up's answer cannot be merged
// by the stamps into a copy from a donor of an earlier version (it sent none) that holds
// a change made here not sent yet, and is not loaded over it (the change would go). The
// copy took the member's version all the same, as if it held its changes: a refresh
// from that member then found it no older and left it without them. It keeps its own
// version now, and the refresh brings the member's copy.
func TestLateMergeOfAnUnstampedCopyClaimsNoVersion(t *testing.T) {
	_, m := startLone(t, Config{})
	const id = "unstamped-copy"
	// From a donor of an earlier version: no stamps.
	m.mergeSessions([]SessionState{{ID: id, Version: 2, MaxInactive: 60,
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
	m.mergeSessions([]SessionState{member}, true) // a late catch-up's answer
	if n, _ := s.Note("n"); n != "new" && !s.olderThan(member.Version) {
		t.Errorf("the copy claims the member's version %d but holds n=%q, not its %q", member.Version, n, "new")
	}
	if j, _ := s.Note("j"); j != "mine" {
		t.Errorf("the change made here went: j=%q", j)
	}
	member.Notes = []NamedValue{{Name: "n", Value: []byte("new")}} // a refresh from that member
	m.mergeSessions([]SessionState{member}, false)
	if n, _ := s.Note("n"); n != "new" {
		t.Errorf("after a refresh from the member the copy holds n=%q, want its %q", n, "new")
	}
}
