package delta

import (
	"slices"
	"testing"
)

// TestBinaryCodecSessionExtensions: a transferred session carries the version of the
// removal it was made again above (AskBorn) and the stamps of its parts that are not
// attributes (AskMetaStamps); a removal record never does, and a stamp of an attribute
// or of an unknown type is malformed.
func TestBinaryCodecSessionExtensions(t *testing.T) {
	var c BinaryCodec
	stamps := []metaStamp{{typ: ActionPrincipal, name: namePrincipal, st: stamp{7, 3}}, {typ: ActionNote, name: "n", st: stamp{5, 1}}}
	data, err := c.AppendMessage(nil, &Message{Event: EventAllSessionData, Sessions: []SessionState{
		{ID: "S4.a", Version: 7, born: 5, meta: stamps}, {ID: "S3.a", Version: 5, Removed: true, born: 5, meta: stamps}}})
	if err != nil {
		t.Fatal(err)
	}
	m, err := c.DecodeMessage(data)
	if err != nil {
		t.Fatal(err)
	}
	if s := m.Sessions[0]; s.born != 5 || !slices.Equal(s.meta, stamps) {
		t.Errorf("the session: born %d, meta %v; want 5 and %v", s.born, s.meta, stamps)
	}
	if s := m.Sessions[1]; s.born != 0 || s.meta != nil {
		t.Errorf("the removal record: born %d, meta %v; want none", s.born, s.meta)
	}
	// One session written by hand: flags, no attributes, notes or listeners, then ext.
	session := func(flags byte, ext ...byte) []byte {
		b := []byte{0xF5, 'T', 'S', 1, byte(EventAllSessionData), 0, 0, 0, 0, 0, flagSessions, 1,
			4, 'S', '3', '.', 'a', 0, 0, 0, flags, 7, 0, 0, 0, 0}
		return append(b, ext...)
	}
	note := []byte{1, byte(ActionNote), 1, 'k', 1, 0, 0, 0, 1}
	if m, err := c.DecodeMessage(session(sessFlagMeta, note...)); err != nil ||
		!slices.Equal(m.Sessions[0].meta, []metaStamp{{typ: ActionNote, name: "k", st: stamp{1, 1}}}) {
		t.Errorf("a note's stamp written by hand: %+v, %v", m, err)
	}
	for name, data := range map[string][]byte{
		"removal, born":                 session(sessFlagRemoved|sessFlagBorn, 5),
		"removal, meta":                 session(sessFlagRemoved|sessFlagMeta, note...),
		"meta stamp of an attribute":    session(sessFlagMeta, 1, byte(ActionAttribute), 1, 'k', 1, 0, 0, 0, 1),
		"meta stamp of an unknown type": session(sessFlagMeta, 1, 9, 1, 'k', 1, 0, 0, 0, 1),
		"meta stamps truncated":         session(sessFlagMeta, 2, byte(ActionNote), 1, 'k', 1, 0, 0, 0, 1),
	} {
		if _, err := c.DecodeMessage(data); err == nil {
			t.Errorf("%s: decoded", name)
		}
	}
}
