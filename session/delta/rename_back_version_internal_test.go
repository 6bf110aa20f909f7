package delta

import (
	"bytes"
	"fmt"
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

// A binder's rename changes the route alone (routeOnly); the session keeps the ids such
// renames took it away from (noteLeft, at most maxLeft), and with a codec that carries
// the version a binder's rename back to one of them raises the version (raise) whether
// or not this node still keeps the record of the rename away: a member may keep one
// longer (TestRenameBackMissedForgottenByTheRenamer). A rename to a new id is not kept.
func TestBinderRenameBackRaisesVersion(t *testing.T) {
	if !routeOnly("S.a", "S.b") || !routeOnly("S", "S.b") {
		t.Error("a change of route alone is not routeOnly")
	}
	if routeOnly("S.a", "T.a") || routeOnly("S.a", "T.b") {
		t.Error("a new id is routeOnly")
	}
	s := &Session{version: 3}
	s.noteLeft("S.a", "T.a", 0)
	if s.heldBefore("S.a") {
		t.Error("a rename to a new id kept the id renamed from")
	}
	s.noteLeft("S.a", "S.b", 0)
	if !s.heldBefore("S.a") || s.heldBefore("S.b") {
		t.Error("a binder's rename from S.a to S.b: S.a not kept, or S.b kept")
	}
	for i := range maxLeft {
		s.noteLeft(fmt.Sprintf("S.r%d", i), "S.a", 0)
	}
	if s.heldBefore("S.a") || !s.heldBefore("S.r0") || len(s.e().left) != maxLeft {
		t.Errorf("past maxLeft the oldest id is not the one forgotten: %v", leftIDs(s.e().left))
	}
	if got := s.raise(); got != 4 || s.version != 4 {
		t.Errorf("raise at version 3 = %d (version %d), want 4", got, s.version)
	}
	if !sendsRemovals(BinaryCodec{}) || sendsRemovals(JavaCodec{}) {
		t.Error("the version is raised with JavaCodec, whose rename cannot carry it, or not with BinaryCodec")
	}
}
