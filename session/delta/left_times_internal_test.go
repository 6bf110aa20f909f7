package delta

import (
	"bytes"
	"slices"
	"testing"
)

// TestBinaryCodecLeftTimes: a chunk whose sessions carry their left ids' times
// (flagLeftAt) gives them back, one for each id; a session of that chunk without times
// is sent with those of their place (leftOf); a chunk without any is encoded as before,
// and decoded without times. flagLeftAt without sessions is malformed.
func TestBinaryCodecLeftTimes(t *testing.T) {
	var c BinaryCodec
	untimed, err := c.AppendMessage(nil, leftChunk("S.a", "S.c"))
	if err != nil {
		t.Fatal(err)
	}
	m := leftChunk("S.a", "S.c")
	m.Sessions[0].leftAt = []int64{1700000000000, -5}
	m.Sessions = append(m.Sessions, SessionState{ID: "T.b", Version: 1, left: []string{"T.a"}})
	data, err := c.AppendMessage(nil, m)
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.DecodeMessage(data)
	if err != nil {
		t.Fatal(err)
	}
	if s := got.Sessions[0]; !slices.Equal(s.left, []string{"S.a", "S.c"}) || !slices.Equal(s.leftAt, []int64{1700000000000, -5}) {
		t.Errorf("the session: left %q at %v, want [S.a S.c] at [1700000000000 -5]", s.left, s.leftAt)
	}
	if r := got.Sessions[1]; r.left != nil || r.leftAt != nil {
		t.Errorf("the record of S.a: left %q at %v, want none", r.left, r.leftAt)
	}
	if s := got.Sessions[2]; !slices.Equal(s.leftAt, []int64{untimedLeft}) {
		t.Errorf("a session of the chunk without times: at %v, want [%d]", s.leftAt, untimedLeft)
	}
	plain, err := c.DecodeMessage(untimed)
	if err != nil {
		t.Fatal(err)
	}
	if s := plain.Sessions[0]; !slices.Equal(s.left, []string{"S.a", "S.c"}) || s.leftAt != nil {
		t.Errorf("without times: left %q at %v, want [S.a S.c] and none", s.left, s.leftAt)
	}
	again, err := c.AppendMessage(nil, plain)
	if err != nil || !bytes.Equal(again, untimed) {
		t.Errorf("a chunk without times encoded anew differs (%v)", err)
	}
	// Flags: a message without sessions that says its sessions carry times.
	bad := []byte{0xF5, 'T', 'S', 1, byte(EventAllSessionData), 0, 0, 0, 0, 0, flagLeftAt}
	if _, err := c.DecodeMessage(bad); err == nil {
		t.Error("flagLeftAt without sessions decoded")
	}
}

// TestLeftTimesOnlyWhenAsked: a request's NewID leftAtAsk, beside AskLeft (a catch-up's
// AskRecentLeft), makes the answer carry the times (askOf: askLeftAt, then
// transferable's leftAt); without it (a Go node of an earlier version) none go, and the
// request's own Version bit 61, a catch-up's age there among them, means nothing.
func TestLeftTimesOnlyWhenAsked(t *testing.T) {
	catchUp := uint64(AskStamps | AskRecent | AskRecentLeft)
	for _, c := range []struct {
		name  string
		msg   Message
		times bool
	}{
		{"a transfer's", Message{Version: AskStamps | AskLeft, NewID: leftAtAsk}, true},
		{"a transfer's of an earlier version", Message{Version: AskStamps | AskLeft}, false},
		{"a transfer's with bit 61 alone", Message{Version: AskStamps | AskLeft | askLeftAt}, false},
		{"a transfer's without AskLeft", Message{Version: AskStamps, NewID: leftAtAsk}, false},
		{"a catch-up's", Message{Version: catchUp | 60_000<<AskAgeShift, NewID: leftAtAsk}, true},
		{"a catch-up's of an earlier version, its age at bit 61", Message{Version: catchUp | 1<<53<<AskAgeShift}, false},
		{"a catch-up's without AskRecentLeft", Message{Version: AskRecent | 60_000<<AskAgeShift, NewID: leftAtAsk}, false},
	} {
		ask := askOf(&c.msg)
		if got := ask&askLeftAt != 0; got != c.times {
			t.Errorf("%s: times asked %v, want %v", c.name, got, c.times)
		}
		s := &Session{id: "S.b", valid: true, version: 3, maxInactive: 1800}
		s.noteLeft("S.a", "S.b", 1700000000000)
		st, _ := s.transferable(new([]NamedValue), nil, ask)
		if want := []int64{1700000000000}; c.times != slices.Equal(st.leftAt, want) || !c.times && st.leftAt != nil {
			t.Errorf("%s: the session carries times %v (asked %v)", c.name, st.leftAt, c.times)
		}
	}
}
