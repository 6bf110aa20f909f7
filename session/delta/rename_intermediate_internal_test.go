package delta

import (
	"fmt"
	"net"
	"slices"
	"testing"

	"github.com/gotribes/tribes/channel"
)

// failedWith returns a *channel.SendError naming members, each failing with err.
func failedWith(err error, members ...channel.Member) error {
	se := &channel.SendError{}
	for _, m := range members {
		se.Faulty = append(se.Faulty, channel.FaultyMember{Member: m, Err: err})
	}
	return se
}

// TestMemberTakingAFailedRenameThenMissingOneIsRenamedOn: B took the rename id0 -> id1
// though its ACK timed out (the send failed for it), then could not be connected to for
// id1 -> id2: B holds id1, and the resends must rename id1 to id2 (before, they renamed
// id0 alone, which B ignores, keeping the session under id1 for good). A member whose
// failures were all connect failures (never sent) holds the id before its first: one
// resend for it, however many renames it missed.
func TestMemberTakingAFailedRenameThenMissingOneIsRenamedOn(t *testing.T) {
	b := channel.Member{Host: net.IPv4(10, 0, 0, 2).To4(), Port: 4000}
	c := channel.Member{Host: net.IPv4(10, 0, 0, 3).To4(), Port: 4000}
	listed := []channel.Member{b, c}
	s := &Session{id: "id0.a"}
	rename := func(err error) {
		old := s.id
		n := 0
		fmt.Sscanf(old, "id%d.a", &n)
		s.id = fmt.Sprintf("id%d.a", n+1)
		s.noteUnsentRename(old, err, listed)
	}
	rename(failedWith(channel.ErrAckTimeout, b)) // id0 -> id1: B may hold either
	rename(failedWith(channel.ErrConnect, b))    // id1 -> id2: B holds id0 or id1
	for range 10 {
		rename(failedWith(channel.ErrConnect, b)) // never sent: nothing new held
	}
	if got, want := resendsOf(s), []string{"id0.a->id12.a", "id1.a->id12.a"}; !slices.Equal(got, want) {
		t.Fatalf("resends %v, want %v", got, want)
	}
	// The resend of id1's ACK from B was lost: B may hold id1 or id12.
	s.resent("id0.a", nil)
	s.resent("id1.a", failedWith(channel.ErrAckTimeout, b))
	if got, want := resendsOf(s), []string{"id1.a->id12.a"}; !slices.Equal(got, want) {
		t.Fatalf("resends after B's lost ACK %v, want %v", got, want)
	}
	// B took id1 -> id12 and misses id12 -> id13: it holds id1 or id12.
	rename(failedWith(channel.ErrConnect, b))
	if got, want := resendsOf(s), []string{"id1.a->id13.a", "id12.a->id13.a"}; !slices.Equal(got, want) {
		t.Fatalf("resends after B missed id12 -> id13 %v, want %v", got, want)
	}
	s.resent("id1.a", nil)
	s.resent("id12.a", nil)
	if s.retry != nil {
		t.Errorf("renames kept after B took them: %+v", s.retry)
	}
}

// TestHeldIDsPerMemberBounded: each of twenty renames may have reached B (its ACK timed
// out every time), so B may hold any of their ids; the ids kept for B stay within
// maxHeldPerMember, the first (the id before B's first missed rename) and the latest
// kept.
func TestHeldIDsPerMemberBounded(t *testing.T) {
	b := channel.Member{Host: net.IPv4(10, 0, 0, 2).To4(), Port: 4000}
	s := &Session{id: "id0.a"}
	for i := range 20 {
		old := s.id
		s.id = fmt.Sprintf("id%d.a", i+1)
		s.noteUnsentRename(old, failedWith(channel.ErrAckTimeout, b), []channel.Member{b})
	}
	ids := s.unsentIDs()
	if len(ids) != maxHeldPerMember || ids[0] != "id0.a" || ids[len(ids)-1] != "id19.a" {
		t.Errorf("ids kept for B %v: want %d, from id0.a to id19.a", ids, maxHeldPerMember)
	}
	if n := len(s.heldIDs()); n != maxHeldPerMember+1 {
		t.Errorf("%d entries held, want %d (the ids and B's current one)", n, maxHeldPerMember+1)
	}
}
