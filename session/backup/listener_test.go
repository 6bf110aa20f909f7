package backup_test

import (
	"context"
	"errors"
	"fmt"
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
	cfg := backup.Config{NamedListener: func(name string) backup.SessionListener {
		switch name {
		case "panics":
			return backup.SessionListenerFuncs{IDChanged: func(*backup.Session, string) { panic("listener") }}
		case "sso":
			return backup.SessionListenerFuncs{IDChanged: func(s *backup.Session, oldID string) {
				mu.Lock()
				defer mu.Unlock()
				told = append(told, oldID+" -> "+s.ID())
			}}
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
	if err := s.AttachListener(""); !errors.Is(err, backup.ErrListenerName) {
		t.Errorf("attaching an empty listener name: %v, want ErrListenerName", err)
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

// TestNamedListenerDestroyed: the listeners attached to a session are told of its end on
// the node that invalidates it (not expired), with the session, whose attributes can
// still be read; the other node, which only sees the map's entry go, tells nothing.
func TestNamedListenerDestroyed(t *testing.T) {
	ctx := context.Background()
	var mu sync.Mutex
	var told []string
	ms := startManagers(t, 2, backup.Config{NamedListener: func(name string) backup.SessionListener {
		return backup.SessionListenerFuncs{Destroyed: func(s *backup.Session, expired bool) {
			v, _, err := s.Get("k")
			mu.Lock()
			defer mu.Unlock()
			told = append(told, fmt.Sprintf("%s %s expired=%v %v %v", name, s.ID(), expired, v, err))
		}}
	}})
	s, err := ms[0].Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.AttachListener("sso"); err != nil {
		t.Fatal(err)
	}
	if err := s.Set("k", "v"); err != nil {
		t.Fatal(err)
	}
	if err := ms[0].Replicate(ctx, s.ID()); err != nil {
		t.Fatal(err)
	}
	if err := ms[0].Invalidate(ctx, s.ID()); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	got := slices.Clone(told)
	mu.Unlock()
	if want := []string{"sso " + s.ID() + " expired=false v <nil>"}; !slices.Equal(got, want) {
		t.Errorf("listeners told %q, want %q", got, want)
	}
}
