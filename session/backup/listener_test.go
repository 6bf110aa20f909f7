package backup_test

import (
	"context"
	"slices"
	"sync"
	"testing"

	"github.com/gotribes/tribes/session/backup"
)

// TestNamedListenerIDChanged: the listeners attached to a session (AttachListener) that
// Config.NamedListener knows are told of its rename on this node, with the old id, after
// it (the session has the new id); one that panics does not keep the others from being
// told nor fail the rename; a name NamedListener does not know is skipped; the attached
// names travel with the session to the node that fetches it.
func TestNamedListenerIDChanged(t *testing.T) {
	ctx := context.Background()
	var mu sync.Mutex
	var told []string
	cfg := backup.Config{NamedListener: func(name string) backup.IDListener {
		switch name {
		case "panics":
			return backup.IDListenerFunc(func(*backup.Session, string) { panic("listener") })
		case "sso":
			return backup.IDListenerFunc(func(s *backup.Session, oldID string) {
				mu.Lock()
				defer mu.Unlock()
				told = append(told, oldID+" -> "+s.ID())
			})
		}
		return nil
	}}
	ms := startManagers(t, 2, cfg)
	s, err := ms[0].Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"panics", "sso", "unknown", "sso"} {
		if err := s.AttachListener(name); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.AttachListener(""); err == nil {
		t.Error("an empty listener name was attached")
	}
	if got, want := s.Listeners(), []string{"panics", "sso", "unknown"}; !slices.Equal(got, want) {
		t.Fatalf("attached %v, want %v", got, want)
	}
	if err := ms[0].Replicate(ctx, s.ID()); err != nil {
		t.Fatal(err)
	}
	old := s.ID()
	if err := ms[0].ChangeSessionID(ctx, s, "RENAMED.n0"); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	got := slices.Clone(told)
	mu.Unlock()
	if want := []string{old + " -> RENAMED.n0"}; !slices.Equal(got, want) {
		t.Errorf("listener told %v, want %v", got, want)
	}
	if err := ms[0].ChangeSessionID(ctx, s, "RENAMED.n0"); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	n := len(told)
	mu.Unlock()
	if n != 1 {
		t.Errorf("a rename to the session's own id told the listener (%d calls)", n)
	}
	other, err := ms[1].Find(ctx, "RENAMED.n0")
	if err != nil || other == nil {
		t.Fatalf("the other node's find: %v, %v", other, err)
	}
	if got, want := other.Listeners(), []string{"panics", "sso", "unknown"}; !slices.Equal(got, want) {
		t.Errorf("the other node's copy has the listeners %v, want %v", got, want)
	}
}
