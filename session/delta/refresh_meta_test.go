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
	s.x().notes = []noteEntry{{"kept", "here"}, {"gone", "here"}}
	s.x().named = []string{"audit"}
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
	for _, n := range s.e().notes {
		notes[n.name] = n.value
	}
	if want := map[string]string{"kept": "there", "new": "x"}; len(notes) != len(want) || notes["kept"] != "there" || notes["new"] != "x" {
		t.Errorf("notes %v, want %v", notes, want)
	}
	if !slices.Equal(s.e().named, []string{"login"}) {
		t.Errorf("listeners %v, want [login]", s.e().named)
	}
	if got := s.metaStampOf(ActionPrincipal, namePrincipal); got != (stamp{4, 2}) {
		t.Errorf("principal's stamp %+v, want the member's", got)
	}
	// Merged again, the copy holds it all: nothing changes.
	if _, changed := s.mergeStamped(st, false); changed {
		t.Error("a second merge of the same copy reported a change")
	}
}

// TestRefreshMergeDropsFailedMetaChangesTheMemberReplaced: this node's delta of version
// 5 failed (its changes put back, requeued: the principal ann, attribute x, note m),
// and a request since changed the auth type again (pending, not requeued). A refresh
// finds a member's copy of version 5, not newer, whose principal, auth type and x are
// another node's changes of version 5 that win by their stamps; it did not change note
// m. As for x, the member's principal replaces the failed one, whose pending action is
// dropped; the failed note m, and the auth type changed here since, stay and go out
// with the next delta. (The failed principal was kept whatever the member held, and its
// next delta gave it to every node.)
func TestRefreshMergeDropsFailedMetaChangesTheMemberReplaced(t *testing.T) {
	m := &Manager{cl: &Cluster{}} // origin 0: below the member's
	failed := stamp{5, m.cl.origin()}
	ann, pat := &Principal{Name: "ann"}, &Principal{Name: "pat"}
	annV, err := EncodePrincipal(ann)
	if err != nil {
		t.Fatal(err)
	}
	s := &Session{m: m, id: "S", valid: true, version: 5, maxInactive: 60, authType: "FORM", principal: ann}
	s.addAttr(attrEntry{name: "x", data: []byte("c"), version: failed.version, origin: failed.origin})
	s.x().notes = []noteEntry{{"m", "c"}}
	s.x().meta = []metaStamp{
		{ActionPrincipal, namePrincipal, failed}, {ActionNote, "m", failed}, {ActionAuthType, nameAuthType, failed},
	}
	s.pending = []Action{
		{Type: ActionPrincipal, Op: OpSet, Name: namePrincipal, Value: annV, requeued: true},
		{Type: ActionAttribute, Op: OpSet, Name: "x", Value: []byte("c"), requeued: true},
		{Type: ActionNote, Op: OpSet, Name: "m", Value: []byte("c"), requeued: true},
		{Type: ActionAuthType, Op: OpSet, Name: nameAuthType, Value: []byte("FORM")},
	}
	theirs := stamp{5, 9}
	st := &SessionState{ID: "S", Version: 5, stamped: true, MaxInactive: 60, Principal: pat, AuthType: "BASIC",
		Attributes: []NamedValue{{Name: "x", Value: []byte("b"), version: theirs.version, origin: theirs.origin}},
		Notes:      []NamedValue{{Name: "m", Value: []byte("old")}},
		meta: []metaStamp{
			{ActionPrincipal, namePrincipal, theirs}, {ActionAuthType, nameAuthType, theirs},
			{ActionNote, "m", stamp{2, 9}},
		}}
	if _, changed := s.mergeStamped(st, false); !changed {
		t.Error("mergeStamped reported no change")
	}
	if s.principal == nil || s.principal.Name != "pat" {
		t.Errorf("principal %+v, want the member's pat (its change wins over the failed ann)", s.principal)
	}
	if i := s.find("x"); i < 0 || string(s.attrs[i].data) != "b" {
		t.Error("x is not the member's b")
	}
	if s.authType != "FORM" {
		t.Errorf("auth type %q, want FORM (changed here since, not sent yet)", s.authType)
	}
	if notes := s.e().notes; len(notes) != 1 || notes[0].value != "c" {
		t.Errorf("notes %v, want m=c (the failed change the member did not replace)", notes)
	}
	var names []string
	for _, a := range s.pending {
		names = append(names, a.Name)
	}
	slices.Sort(names)
	if want := []string{nameAuthType, "m"}; !slices.Equal(names, want) {
		t.Errorf("pending changes %q, want %q (the failed principal and x dropped)", names, want)
	}
}
