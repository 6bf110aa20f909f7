package delta

import (
	"fmt"
	"testing"
)

// TestChunkArraysCarryNoStamps: a stamped chunk's arrays, released and reused for an
// unstamped one, leave it no stamps or tombstones.
func TestChunkArraysCarryNoStamps(t *testing.T) {
	var c BinaryCodec
	enc := func(stamped bool) []byte {
		var ss []SessionState
		for i := range 50 {
			st := SessionState{ID: fmt.Sprint("S", i), Version: 5, stamped: stamped,
				Attributes: []NamedValue{{Name: "k", Value: []byte("v")}, {Name: "j", Value: []byte("w")}}}
			if stamped {
				st.Attributes[0].version, st.Attributes[0].origin = 5, 77
				st.Attributes[1].version, st.Attributes[1].origin = 4, 78
				st.tombs = []tomb{{name: "gone", st: stamp{3, 9}}}
			}
			ss = append(ss, st)
		}
		b, err := c.AppendMessage(nil, &Message{Event: EventAllSessionData, SessionID: idSessionState, Sessions: ss})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	stamped, plain := enc(true), enc(false)
	for range 20 {
		m, err := c.DecodeMessage(stamped)
		if err != nil {
			t.Fatal(err)
		}
		m.release()
		m, err = c.DecodeMessage(plain)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range m.Sessions {
			if s.stamped || s.tombs != nil || s.Attributes[0].version != 0 || s.Attributes[0].origin != 0 || s.Attributes[1].version != 0 {
				t.Fatalf("stale stamps in a reused chunk: %+v", s)
			}
		}
		m.release()
	}
}

// TestTransferableAllocatesNoTombsUnasked: a donor serving a joiner that did not ask for
// stamps (a member of an earlier version) copies no tombstones: none would be sent, and a
// "flash" attribute set and removed on every request gives every session one.
func TestTransferableAllocatesNoTombsUnasked(t *testing.T) {
	m := &Manager{cl: &Cluster{}}
	s := &Session{m: m, id: "S", valid: true}
	s.attrs = []attrEntry{{name: "k", data: []byte("v")}}
	s.tombs = []tomb{{name: "flash", st: stamp{3, 1}}}
	var nv []NamedValue
	nv = make([]NamedValue, 0, 16)
	allocs := testing.AllocsPerRun(100, func() {
		nv = nv[:0]
		st, _ := s.transferable(&nv, nil, 0)
		_ = st
	})
	if allocs > 0 {
		t.Errorf("transferable of a session with one tombstone: %v allocations, want 0 (the tombstones are only sent when asked)", allocs)
	}
}
