package delta

import (
	"slices"
	"testing"
)

// TestRefreshMergesConcurrentMetaChanges: a refresh that finds a member's copy not newer
// by version merged the attributes whose stamps win, but not the principal, auth type,
// interval, notes or listeners: a login made on the other side of a partition, with the
// same version as this copy, was lost here though its stamp won. They are merged by
// their stamps now, and a part this copy changed later keeps its value.
func TestRefreshMergesConcurrentMetaChanges(t *testing.T) {
	m := &Manager{cl: &Cluster{}}
	s := &Session{m: m, id: "S", valid: true, version: 5, maxInactive: 60, authType: "FORM"}
	s.notes = []noteEntry{{"kept", "here"}, {"gone", "here"}}
	s.named = []string{"audit"}
	s.x().meta = []metaStamp{
		{ActionNote, "kept", stamp{2, 1}}, {ActionNote, "gone", stamp{2, 1}},
		{ActionListener, "audit", stamp{2, 1}}, {ActionMaxInterval, nameMaxInterval, stamp{2, 1}},
		{ActionAuthType, nameAuthType, stamp{6, 1}}, // changed here after the member's
	}
	ann := &Principal{Name: "ann", Roles: []string{"user"}}
	st := &SessionState{ID: "S", Version: 5, stamped: true, MaxInactive: 120, Principal: ann,
		Notes:     []NamedValue{{Name: "kept", Value: []byte("there")}, {Name: "new", Value: []byte("x")}},
		Listeners: []string{"login"},
		meta: []metaStamp{
			{ActionPrincipal, namePrincipal, stamp{4, 2}}, {ActionAuthType, nameAuthType, stamp{4, 2}},
			{ActionMaxInterval, nameMaxInterval, stamp{4, 2}},
			{ActionNote, "kept", stamp{4, 2}}, {ActionNote, "gone", stamp{4, 2}}, {ActionNote, "new", stamp{4, 2}},
			{ActionListener, "audit", stamp{4, 2}}, {ActionListener, "login", stamp{4, 2}},
		}}
	_, changed := s.mergeStamped(st, false)
	if !changed {
		t.Error("mergeStamped reported no change")
	}
	if s.principal == nil || s.principal.Name != "ann" {
		t.Errorf("principal %+v, want ann's", s.principal)
	}
	if s.maxInactive != 120 {
		t.Errorf("max inactive %d, want the member's 120", s.maxInactive)
	}
	if s.authType != "FORM" {
		t.Errorf("auth type %q, want this node's later FORM", s.authType)
	}
	notes := map[string]string{}
	for _, n := range s.notes {
		notes[n.name] = n.value
	}
	if want := map[string]string{"kept": "there", "new": "x"}; len(notes) != len(want) || notes["kept"] != "there" || notes["new"] != "x" {
		t.Errorf("notes %v, want %v", notes, want)
	}
	if !slices.Equal(s.named, []string{"login"}) {
		t.Errorf("listeners %v, want [login]", s.named)
	}
	if got := s.metaStampOf(ActionPrincipal, namePrincipal); got != (stamp{4, 2}) {
		t.Errorf("principal's stamp %+v, want the member's", got)
	}
	// Merged again, the copy holds it all: nothing changes.
	if _, changed := s.mergeStamped(st, false); changed {
		t.Error("a second merge of the same copy reported a change")
	}
}
