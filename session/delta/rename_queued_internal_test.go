package delta

import (
	"context"
	"net"
	"slices"
	"testing"

	"github.com/gotribes/tribes/channel"
)

// TestRenameAfterAnUnknownQueuedResendKeepsTheResentID: B missed the rename id0 -> id1;
// an asynchronous request queued its resend (id0 -> id1), and a rename (id1 -> id2)
// came before its outcome, its context ended, and failed for B. B may have taken the
// queued resend and hold id1: the resends must name id1 too. Before, the queued resend
// stayed the session's, the rename's failure recorded nothing for B (an earlier id was
// kept for it), and the resend's late success then cleared every id kept, B left under
// id1 for good.
func TestRenameAfterAnUnknownQueuedResendKeepsTheResentID(t *testing.T) {
	b := channel.Member{Host: net.IPv4(10, 0, 0, 2).To4(), Port: 4000}
	listed := []channel.Member{b}
	s := &Session{id: "id1.a"}
	s.noteUnsentRename("id0.a", failedFor(b), listed)
	q := &queuedRenames{done: make(chan error, 1), n: 1}
	s.setQueuedRenames(q)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	m := &Manager{}
	if err := m.sendUnsentRename(ctx, s); err == nil {
		t.Fatal("sendUnsentRename reported no error though the queued resend's outcome was unknown")
	}
	s.id = "id2.a"
	s.noteUnsentRename("id1.a", failedFor(b), listed)
	q.done <- nil // the queued resend reached B
	if got, want := resendsOf(s), []string{"id0.a->id2.a", "id1.a->id2.a"}; !slices.Equal(got, want) {
		t.Errorf("resends %v, want %v", got, want)
	}
	if s.queuedRenames() != nil {
		t.Error("a resend of unknown outcome still waited for")
	}
}
