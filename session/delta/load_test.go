package delta

import (
	"testing"
	"unsafe"
)

// A transferred value of keepInChunk bytes or more stays in the chunk's buffer (clipped,
// so that nothing appended to it can reach the bytes after it); a smaller one is copied,
// so that a chunk of small sessions is not kept alive by them.
func TestLoadKeepsLargeValuesInTheChunk(t *testing.T) {
	chunk := make([]byte, 2*keepInChunk+10)
	for i := range chunk {
		chunk[i] = byte(i)
	}
	small := chunk[0 : keepInChunk-1]
	large := chunk[keepInChunk : 2*keepInChunk]
	s := &Session{}
	s.load(&SessionState{ID: "a", Attributes: []NamedValue{{Name: "small", Value: small}, {Name: "large", Value: large}}})
	if len(s.attrs) != 2 || string(s.attrs[0].data) != string(small) || string(s.attrs[1].data) != string(large) {
		t.Fatalf("loaded %+v", s.attrs)
	}
	if &s.attrs[0].data[0] == &chunk[0] {
		t.Error("a value below keepInChunk still points into the chunk")
	}
	if got := s.attrs[1].data; &got[0] != &chunk[keepInChunk] || cap(got) != len(got) {
		t.Errorf("a value of keepInChunk bytes was copied or not clipped (cap %d, len %d)", cap(got), len(got))
	}
}

// A transferred session with one attribute keeps it in the room allocated with the
// session; once its attributes outgrow that room, the room is cleared, so that it keeps
// no value (nor the chunk it points into) alive.
func TestTransferredReplicaClearsItsRoomWhenOutgrown(t *testing.T) {
	m := &Manager{}
	st := &SessionState{ID: "a", Attributes: []NamedValue{{Name: "blob", Value: make([]byte, keepInChunk)}}}
	s := newTransferredReplica(m, st)
	s.load(st)
	r := (*replicaWithAttr)(unsafe.Pointer(s))
	if len(s.attrs) != 1 || &s.attrs[0] != &r.attr[0] {
		t.Fatal("the attribute is not in the room allocated with the session")
	}
	s.addAttr(attrEntry{name: "more", data: []byte("x")})
	if len(s.attrs) != 2 || s.attrs[0].name != "blob" || len(s.attrs[0].data) != keepInChunk || s.attrs[1].name != "more" {
		t.Fatalf("attributes after growing: %+v", s.attrs)
	}
	if r.attr[0].data != nil || r.attr[0].name != "" {
		t.Error("the outgrown room still holds the attribute")
	}
}

// TestLoadListsAListenerOnce: a transferred copy that lists a listener name twice (a
// Tomcat session can list its sign-on listener twice) is loaded with it once.
func TestLoadListsAListenerOnce(t *testing.T) {
	s := &Session{}
	s.load(&SessionState{ID: "a", Listeners: []string{"SSO1", "SSO2", "SSO1", "SSO2"}})
	if got := s.listenerNames(); len(got) != 2 || got[0] != "SSO1" || got[1] != "SSO2" {
		t.Fatalf("listeners %q, want [SSO1 SSO2]", got)
	}
}
