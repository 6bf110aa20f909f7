package backup_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/session/backup"
)

// TestFindExpiredTellsListeners: a session that Find finds expired (a request that comes
// back after the session's max inactive interval, before the sweep ran) is removed, and
// its listeners are told of its expiry, as the sweep tells them: the user's single
// sign-on entry then drops the session, and an entry left without sessions ends. (Found
// when only the sweep told them: removed by Find, the session was never swept, and its
// single sign-on entry kept it and stayed signed on.)
func TestFindExpiredTellsListeners(t *testing.T) {
	ctx := context.Background()
	var mu sync.Mutex
	var told []string
	ms := startManagers(t, 2, backup.Config{ExpireInterval: time.Hour,
		NamedListener: func(name string) backup.SessionListener {
			return backup.SessionListenerFuncs{Destroyed: func(s *backup.Session, expired bool) {
				mu.Lock()
				defer mu.Unlock()
				told = append(told, fmt.Sprintf("%s %s expired=%v", name, s.ID(), expired))
			}}
		}})
	s, err := ms[0].Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.AttachListener("sso"); err != nil {
		t.Fatal(err)
	}
	s.SetMaxInactive(time.Second)
	if err := ms[0].Replicate(ctx, s.ID()); err != nil {
		t.Fatal(err)
	}
	testutil.EventuallyTrue(t, testutil.WaitLimit, "the session expired", func() bool { return s.Expired(time.Now()) })
	if got, err := ms[0].Find(ctx, s.ID()); err != nil || got != nil {
		t.Fatalf("Find of the expired session: %v, %v; want none", got, err)
	}
	for i, m := range ms {
		if _, _, ok := m.Map().Peek(s.ID()); ok {
			t.Errorf("node %d still holds the expired session", i)
		}
	}
	mu.Lock()
	got := slices.Clone(told)
	mu.Unlock()
	if want := []string{"sso " + s.ID() + " expired=true"}; !slices.Equal(got, want) {
		t.Errorf("listeners told %q, want %q", got, want)
	}
}
