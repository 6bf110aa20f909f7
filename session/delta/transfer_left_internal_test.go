package delta

import (
	"bytes"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/gotribes/tribes/internal/allocbound"
)

// leftChunk is a chunk of one session S.b that binder's renames took away from ids, and
// the record of a rename away from S.a.
func leftChunk(ids ...string) *Message {
	return &Message{Event: EventAllSessionData, Context: "c", SessionID: idSessionState, Sessions: []SessionState{
		{ID: "S.b", Version: 3, MaxInactive: 1800, left: ids}, {ID: "S.a", Version: 3, Removed: true, Renamed: true}}}
}

// TestBinaryCodecLeftIDs: with AskLeft a transferred session carries the ids binder's
// renames took it away from (sessFlagRenamed on a live session), and a removal record
// keeps its meaning; a session without them is encoded as before, and JavaCodec, Tomcat's
// format, carries none: its bytes are the same with them or without.
func TestBinaryCodecLeftIDs(t *testing.T) {
	var c BinaryCodec
	data, err := c.AppendMessage(nil, leftChunk("S.a", "S.c"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := c.DecodeMessage(data)
	if err != nil {
		t.Fatal(err)
	}
	if s := m.Sessions[0]; !slices.Equal(s.left, []string{"S.a", "S.c"}) || s.Renamed || s.Removed {
		t.Errorf("the session: left %q, renamed %v, removed %v; want [S.a S.c], a live session", s.left, s.Renamed, s.Removed)
	}
	if r := m.Sessions[1]; !r.Removed || !r.Renamed || r.left != nil {
		t.Errorf("the record of S.a: removed %v, renamed %v, left %q; want an old id's record", r.Removed, r.Renamed, r.left)
	}
	none, err := c.AppendMessage(nil, leftChunk())
	if err != nil {
		t.Fatal(err)
	}
	if len(none) >= len(data) || bytes.Contains(none, []byte("S.c")) {
		t.Error("a session without left ids is encoded with some")
	}
	j0, err := JavaCodec{}.AppendMessage(nil, &Message{Event: EventAllSessionData, Context: "c", SessionID: idSessionState,
		Sessions: []SessionState{{ID: "S.b", Version: 3, MaxInactive: 1800}}})
	if err != nil {
		t.Fatal(err)
	}
	j2, err := JavaCodec{}.AppendMessage(nil, &Message{Event: EventAllSessionData, Context: "c", SessionID: idSessionState,
		Sessions: []SessionState{{ID: "S.b", Version: 3, MaxInactive: 1800, left: []string{"S.a"}}}})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(j0, j2) {
		t.Error("JavaCodec's chunk differs with left ids: Tomcat's wire changed")
	}
}

// A donor of a later version may send more ids than this node keeps: the last maxLeft
// are read, as the session keeps no more (noteLeft); a count the bytes cannot hold is
// malformed.
func TestBinaryCodecLeftIDsBounded(t *testing.T) {
	var c BinaryCodec
	var ids []string
	for i := range maxLeft + 3 {
		ids = append(ids, "S.r"+string(rune('a'+i)))
	}
	data, err := c.AppendMessage(nil, leftChunk(ids...))
	if err != nil {
		t.Fatal(err)
	}
	m, err := c.DecodeMessage(data)
	if err != nil {
		t.Fatal(err)
	}
	if got := m.Sessions[0].left; !slices.Equal(got, ids[3:]) {
		t.Errorf("read %q, want the last %d: %q", got, maxLeft, ids[3:])
	}
	// One session written by hand: a live session marked renamed, no attributes, notes
	// or listeners, then its ids.
	session := func(ids ...byte) []byte {
		b := []byte{0xF5, 'T', 'S', 1, byte(EventAllSessionData), 0, 0, 0, 0, 0, flagSessions, 1,
			4, 'S', '3', '.', 'a', 0, 0, 0, sessFlagRenamed, 7, 0, 0, 0, 0}
		return append(b, ids...)
	}
	if m, err := c.DecodeMessage(session(1, 3, 'S', '.', 'b')); err != nil || !slices.Equal(m.Sessions[0].left, []string{"S.b"}) {
		t.Errorf("a left id written by hand: %+v, %v", m, err)
	}
	for name, data := range map[string][]byte{
		"ids missing":   session(),
		"ids truncated": session(2, 3, 'S', '.', 'b'),
		"huge count":    session(0xff, 0xff, 0x03),
	} {
		if _, err := c.DecodeMessage(data); err == nil {
			t.Errorf("%s: decoded", name)
		}
	}
}

// The donor sends a session's left ids only to a joiner that asked (AskLeft): a joiner of
// an earlier version, which does not ask, gets the bytes it got before. A copy loaded
// from a member's keeps its own ids beside the member's, at most maxLeft
// (TestRenameBackByAJoinerMissedKeptByRefresh).
func TestTransferCarriesLeftIDsWhenAsked(t *testing.T) {
	s := &Session{id: "S.b", valid: true, version: 3, maxInactive: 1800}
	plain, ok := s.transferable(new([]NamedValue), nil, AskBorn|AskMetaStamps|AskLeft)
	if !ok || plain.left != nil {
		t.Fatalf("a session no binder renamed: %+v, %v; want no left ids", plain, ok)
	}
	s.noteLeft("S.a", "S.b", 0)
	asked, _ := s.transferable(new([]NamedValue), nil, AskBorn|AskMetaStamps|AskLeft)
	if !slices.Equal(asked.left, []string{"S.a"}) {
		t.Errorf("asked with AskLeft: left %q, want [S.a]", asked.left)
	}
	old, _ := s.transferable(new([]NamedValue), nil, AskBorn|AskMetaStamps)
	a, err := BinaryCodec{}.AppendMessage(nil, &Message{Event: EventAllSessionData, Sessions: []SessionState{old}})
	if err != nil {
		t.Fatal(err)
	}
	b, err := BinaryCodec{}.AppendMessage(nil, &Message{Event: EventAllSessionData, Sessions: []SessionState{plain}})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Error("a joiner that did not ask AskLeft gets other bytes than for a session no binder renamed")
	}
	j := &Session{id: "S.b", valid: true}
	j.noteLeft("S.c", "S.b", 0)
	j.mu.Lock()
	j.load(&asked)
	j.mu.Unlock()
	if !j.heldBefore("S.a") || !j.heldBefore("S.c") {
		t.Errorf("the copy loaded keeps %q, want S.c (its own) and S.a (the member's)", leftIDs(j.e().left))
	}
}

// TestLeftIDsAllocationBound: a chunk of the densest sessions carrying the most left ids
// a session keeps (maxLeft ids of one byte: the decoder charges their array to the
// message's budget) decodes within BinaryCodec's bound, as TestDenseMessagesAllocationBound's.
func TestLeftIDsAllocationBound(t *testing.T) {
	ss := make([]SessionState, 5000)
	ids := make([]string, maxLeft)
	for i := range ids {
		ids[i] = string(rune('a' + i))
	}
	for i := range ss {
		ss[i].ID, ss[i].left = strconv.Itoa(i), ids
	}
	b, err := BinaryCodec{}.AppendMessage(nil, &Message{Event: EventAllSessionData, Context: "c", SessionID: idSessionState, Sessions: ss})
	if err != nil {
		t.Fatal(err)
	}
	r := allocbound.Check(t, allocbound.Bound{K: 32, C: 128 << 10}, [][]byte{b}, func(b []byte) {
		if got, err := (BinaryCodec{}).DecodeMessage(b); err != nil || len(got.Sessions) != 5000 || len(got.Sessions[0].left) != maxLeft {
			t.Errorf("decoding the chunk: %v", err)
		}
	})
	t.Logf("%d bytes, %.1f times", len(b), r.Ratio)
}

// TestCatchUpAgeIsNeverAskLeft: AskLeft is bit 62 of a request's Version, which a
// catch-up (AskRecent) holds its age in from AskAgeShift up: a catch-up whose age reaches
// that bit (a member's bad clock, a hostile member) gets no left ids, and stays a
// catch-up. A transfer's, a refresh's or a repair's request (no AskRecent) with AskLeft
// passes the codec unchanged and reads, by the rule every earlier Go node has
// (recentSince), as a request for every session.
func TestCatchUpAgeIsNeverAskLeft(t *testing.T) {
	s := &Session{id: "S.b", valid: true, version: 3, maxInactive: 1800}
	s.noteLeft("S.a", "S.b", 0)
	catchUp := uint64(AskStamps|AskRecent) | uint64(1)<<54<<AskAgeShift
	if catchUp&AskLeft == 0 {
		t.Fatal("the test's age does not reach AskLeft")
	}
	if st, _ := s.transferable(new([]NamedValue), nil, servedAsk(catchUp)); st.left != nil {
		t.Errorf("a catch-up whose age reaches bit 62 got left ids %q", st.left)
	}
	// The donor reads the age from the request's Version as it came (receive.go's
	// recentSince), and serves the bits servedAsk leaves: still a catch-up.
	if servedAsk(catchUp) != catchUp&^AskLeft || recentSince(catchUp) == 0 {
		t.Errorf("a catch-up served with %#x (since %d)", servedAsk(catchUp), recentSince(catchUp))
	}
	refresh := uint64(AskStamps | AskRemovals | AskBorn | AskMetaStamps | AskEcho | AskLeft)
	if servedAsk(refresh) != refresh {
		t.Errorf("a refresh's request served with %#x, want %#x", servedAsk(refresh), refresh)
	}
	b, err := BinaryCodec{}.AppendMessage(nil, &Message{Event: EventGetAllSessions, Context: "/", SessionID: idGetAll, Version: refresh})
	if err != nil {
		t.Fatal(err)
	}
	m, err := BinaryCodec{}.DecodeMessage(b)
	if err != nil || m.Version != refresh {
		t.Fatalf("request decoded as %+v, %v; want Version %#x", m, err, refresh)
	}
	if recentSince(m.Version) != 0 {
		t.Error("a request with AskLeft reads as a catch-up")
	}
	if st, _ := s.transferable(new([]NamedValue), nil, servedAsk(m.Version)); !slices.Equal(st.left, []string{"S.a"}) {
		t.Errorf("a refresh's request got left ids %q, want [S.a]", st.left)
	}
}

// TestLeftIDPastTheLimitLeavesTheSessionIn: a left id longer than this node's
// MaxStringLen (a donor whose codec allows more) is dropped, the session and its other
// ids kept: a field past the limits leaves a chunk's session out, but these ids are a
// hint for a rename back only, and the session's own fields fit. Before, the session was
// left out of the transfer.
func TestLeftIDPastTheLimitLeavesTheSessionIn(t *testing.T) {
	long := "S." + string(bytes.Repeat([]byte{'r'}, 30))
	data, err := BinaryCodec{}.AppendMessage(nil, leftChunk(long, "S.a", long))
	if err != nil {
		t.Fatal(err)
	}
	m, err := BinaryCodec{MaxStringLen: 16}.DecodeMessage(data)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Sessions) != 2 || m.Sessions[0].ID != "S.b" || !slices.Equal(m.Sessions[0].left, []string{"S.a"}) {
		t.Fatalf("decoded %+v (left out: %v); want S.b with left [S.a], and S.a's record", m.Sessions, m.refused)
	}
}

// longLeftIDs returns ids as long as a peer may send (with the default MaxStringLen):
// eleven of 1000 bytes, one of 3000 (past maxLeftBytes alone) among them, oldest first.
func longLeftIDs() []string {
	var ids []string
	for i := range 11 {
		n := 1000
		if i == 8 {
			n = 3000
		}
		ids = append(ids, "S"+strings.Repeat(string(rune('a'+i)), n-1))
	}
	return ids
}

// leftSize is the bytes of ids.
func leftSize(ids []string) (n int) {
	for _, id := range ids {
		n += len(id)
	}
	return n
}

// TestLeftIDsBytesBounded: a session keeps at most maxLeftBytes of left ids, the newest
// that fit, whether they come in a chunk (the decoder drops the others before it
// allocates them) or one by one with a member's renames (addLeft); an id longer than
// maxLeftBytes alone is not kept. Before, a peer sending ids of MaxStringLen made a
// node hold 8 of them per session (128 KiB by default): the decoder kept the last
// maxLeft of any length.
func TestLeftIDsBytesBounded(t *testing.T) {
	ids := longLeftIDs()
	want := []string{ids[9], ids[10]} // the 3000-byte one dropped, two of 1000 fit
	data, err := BinaryCodec{}.AppendMessage(nil, leftChunk(ids...))
	if err != nil {
		t.Fatal(err)
	}
	m, err := BinaryCodec{}.DecodeMessage(data)
	if err != nil {
		t.Fatal(err)
	}
	if got := m.Sessions[0].left; !slices.Equal(got, want) {
		t.Errorf("decoded %d left ids of %d bytes, want the last two (%d bytes)", len(got), leftSize(got), leftSize(want))
	}
	s := &Session{id: "S.b", valid: true}
	for _, id := range ids {
		s.mu.Lock()
		s.addLeft(id, 0)
		s.mu.Unlock()
	}
	if got := leftIDs(s.e().left); !slices.Equal(got, want) {
		t.Errorf("after the renames the session keeps %d left ids of %d bytes, want the last two", len(got), leftSize(got))
	}
	// Short ids: the last maxLeft, as before.
	s = &Session{id: "S.b", valid: true}
	for i := range maxLeft + 2 {
		s.noteLeft("S."+strconv.Itoa(i), "S.b", 0)
	}
	if got := leftIDs(s.e().left); len(got) != maxLeft || got[0] != "S.2" {
		t.Errorf("short ids: kept %q, want S.2 to S.%d", got, maxLeft+1)
	}
}
