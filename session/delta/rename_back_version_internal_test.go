package delta

import (
	"bytes"
	"testing"
	"time"
)

// A rename back raises the session's version above the record of the rename away
// (raiseAbove) unless a change since is above it; a copy applying the rename takes the
// raised version only if it missed no change below it (raisedTo), so that a missed delta
// is still found.
func TestRenameBackRaisesVersion(t *testing.T) {
	r := newRemovals()
	r.note("S.a", 3, time.Hour, true, nil) // renamed away from S.a at version 3
	if v, ok := r.renamedBack("S.a"); !ok || v != 3 {
		t.Errorf("renamedBack(S.a) = %d, %v, want 3, true: the version to raise the session above", v, ok)
	}
	if _, ok := r.renamedBack("T.a"); ok {
		t.Error("renamedBack of an id without a record reports one")
	}
	s := &Session{version: 3}
	if got := s.raiseAbove(3); got != 4 || s.version != 4 {
		t.Errorf("raiseAbove(3) at version 3 = %d (version %d), want 4", got, s.version)
	}
	if got := s.raiseAbove(2); got != 0 || s.version != 4 {
		t.Errorf("raiseAbove(2) at version 4 = %d (version %d), want 0: changed since the rename away", got, s.version)
	}
	c := &Session{version: 3}
	c.raisedTo(4)
	if c.version != 4 {
		t.Errorf("a copy at 3 given the raised version 4: version %d, want 4", c.version)
	}
	behind := &Session{version: 2} // missed the delta of version 3
	behind.raisedTo(4)
	if behind.version != 2 {
		t.Errorf("a copy at 2 given the raised version 4: version %d, want 2 (it missed version 3)", behind.version)
	}
	if !behind.missed(5) {
		t.Error("the copy that missed version 3 no longer finds it missed a change")
	}
}

// The raised version travels in BinaryCodec's rename (a field it always carried, 0
// before: an earlier Go node ignores it), and nothing changes on Tomcat's wire: a
// JavaCodec rename is the same bytes with it or without it.
func TestRenameBackVersionOnTheWire(t *testing.T) {
	msg := Message{Event: EventChangeSessionID, Context: "c", SessionID: "S.b", NewID: "S.a", Timestamp: time.Now().UnixMilli()}
	raised := msg
	raised.Version = 4
	j0, err := JavaCodec{}.AppendMessage(nil, &msg)
	if err != nil {
		t.Fatal(err)
	}
	j4, err := JavaCodec{}.AppendMessage(nil, &raised)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(j0, j4) {
		t.Error("JavaCodec's rename differs with a version: Tomcat's wire changed")
	}
	b, err := BinaryCodec{}.AppendMessage(nil, &raised)
	if err != nil {
		t.Fatal(err)
	}
	got, err := BinaryCodec{}.DecodeMessage(b)
	if err != nil {
		t.Fatal(err)
	}
	if got.Version != 4 || got.NewID != "S.a" || got.SessionID != "S.b" {
		t.Errorf("BinaryCodec's rename decoded as %+v, want version 4 from S.b to S.a", got)
	}
}
