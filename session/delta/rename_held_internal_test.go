package delta

import (
	"errors"
	"fmt"
	"net"
	"slices"
	"testing"

	"github.com/gotribes/tribes/channel"
)

// failedFor returns a *channel.SendError naming members, none of which could be
// connected to (the message never sent to them).
func failedFor(members ...channel.Member) error {
	return failedWith(channel.ErrConnect, members...)
}

// resendsOf returns the renames s sends again, as "old->new".
func resendsOf(s *Session) []string {
	var got []string
	for _, msg := range s.unsentRenameMessages() {
		if msg.Event != EventChangeSessionID {
			return []string{fmt.Sprint("event ", msg.Event)}
		}
		got = append(got, msg.SessionID+"->"+msg.NewID)
	}
	return got
}

// TestUnsentRenamesOneIDPerMember: a session's failed renames keep, for each member one
// missed, the id before the first it missed, whatever the number of renames (they were
// eight at most, a ninth refused), and the resend renames each such id straight to the
// session's id: B missed renames 0 to 19, C 5 to 19; a failure naming no member counts
// against every member listed; a resend failing for C alone leaves C's id only.
func TestUnsentRenamesOneIDPerMember(t *testing.T) {
	b := channel.Member{Host: net.IPv4(10, 0, 0, 2).To4(), Port: 4000}
	c := channel.Member{Host: net.IPv4(10, 0, 0, 3).To4(), Port: 4000}
	s := &Session{id: "id0.a"}
	for i := range 20 {
		old := s.id
		s.id = fmt.Sprintf("id%d.a", i+1)
		missed := []channel.Member{b}
		if i >= 5 {
			missed = append(missed, c)
		}
		s.noteUnsentRename(old, failedFor(missed...), []channel.Member{b, c})
	}
	if got, want := s.unsentIDs(), []string{"id0.a", "id5.a"}; !slices.Equal(got, want) {
		t.Fatalf("after 20 renames B missed and 15 C missed, ids kept %v, want %v", got, want)
	}
	if got, want := resendsOf(s), []string{"id0.a->id20.a", "id5.a->id20.a"}; !slices.Equal(got, want) {
		t.Errorf("resends %v, want %v", got, want)
	}
	s.resent("id0.a", nil)
	s.resent("id5.a", failedFor(b, c))
	if got, want := resendsOf(s), []string{"id5.a->id20.a"}; !slices.Equal(got, want) {
		t.Errorf("resends after B took its own, %v, want %v", got, want)
	}
	s.resent("id5.a", nil)
	if s.retry != nil || len(resendsOf(s)) != 0 {
		t.Errorf("renames kept after every member took them: %+v", s.retry)
	}

	// A failure naming no member: every member listed may hold the old id; with none
	// listed, any member may, until a resend to every member succeeds.
	s.noteUnsentRename("id20.a", errors.New("context canceled"), []channel.Member{b, c})
	s.id = "id21.a"
	s.noteUnsentRename("id21.a", errors.New("no quorum"), nil)
	s.id = "id22.a"
	if got, want := resendsOf(s), []string{"id20.a->id22.a", "id21.a->id22.a"}; !slices.Equal(got, want) {
		t.Errorf("resends after failures naming no member %v, want %v", got, want)
	}
	s.resent("id20.a", errors.New("context canceled"))
	s.resent("id21.a", failedFor(c))
	if got, want := resendsOf(s), []string{"id20.a->id22.a", "id21.a->id22.a"}; !slices.Equal(got, want) {
		t.Errorf("resends after failures %v, want %v", got, want)
	}
	s.resent("id20.a", failedFor(c))
	s.resent("id21.a", nil)
	// C may also hold the current id (the failure naming no member may have reached it).
	if ids := s.unsentIDs(); !slices.Equal(ids, []string{"id20.a"}) || slices.ContainsFunc(s.heldIDs(), func(h heldID) bool { return h.any || h.member != c.Key() }) {
		t.Errorf("held %+v, want C's id20.a alone", s.heldIDs())
	}
	// Renamed back to the id C holds: nothing to send.
	s.id = "id20.a"
	if got := resendsOf(s); len(got) != 0 || s.retry != nil {
		t.Errorf("resends after renaming back to C's id: %v", got)
	}
}
