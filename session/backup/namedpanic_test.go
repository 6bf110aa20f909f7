package backup_test

import (
	"context"
	"slices"
	"sync"
	"testing"

	"github.com/gotribes/tribes/session/backup"
)

// TestNamedListenerLookupPanicRecovered: a Config.NamedListener that panics for one of
// a session's listener names (one a Tomcat node or another application attached) is
// recovered from as a listener's panic is: the session's other listeners are still
// told and the invalidation completes. (Found when only the listener's own calls
// were recovered: the panic reached the caller, the sweep's goroutine included, and
// killed the process.)
func TestNamedListenerLookupPanicRecovered(t *testing.T) {
	ctx := context.Background()
	var mu sync.Mutex
	var told []string
	ms := startManagers(t, 2, backup.Config{NamedListener: func(name string) backup.SessionListener {
		if name == "foreign" {
			panic("no listener for " + name)
		}
		return backup.SessionListenerFuncs{Destroyed: func(s *backup.Session, expired bool) {
			mu.Lock()
			defer mu.Unlock()
			told = append(told, name)
		}}
	}})
	s, err := ms[0].Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"foreign", "sso"} {
		if err := s.AttachListener(name); err != nil {
			t.Fatal(err)
		}
	}
	if err := ms[0].Replicate(ctx, s.ID()); err != nil {
		t.Fatal(err)
	}
	func() {
		defer func() {
			if p := recover(); p != nil {
				t.Errorf("Invalidate panicked: %v", p)
			}
		}()
		if err := ms[0].Invalidate(ctx, s.ID()); err != nil {
			t.Error(err)
		}
	}()
	if _, _, ok := ms[1].Map().Peek(s.ID()); ok {
		t.Error("the other node still holds the invalidated session")
	}
	mu.Lock()
	got := slices.Clone(told)
	mu.Unlock()
	if want := []string{"sso"}; !slices.Equal(got, want) {
		t.Errorf("listeners told %q, want %q", got, want)
	}
}
