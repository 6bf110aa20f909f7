package backup_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gotribes/tribes/session/backup"
)

// endLog records the ends of sessions told to named listeners, as "name id
// expired=bool"; its named method is a Config.NamedListener.
type endLog struct {
	mu   sync.Mutex
	told []string
}

func (l *endLog) named(name string) backup.SessionListener {
	return backup.SessionListenerFuncs{Destroyed: func(s *backup.Session, expired bool) {
		l.mu.Lock()
		defer l.mu.Unlock()
		l.told = append(l.told, fmt.Sprintf("%s %s expired=%v", name, s.ID(), expired))
	}}
}

// got returns the ends told so far.
func (l *endLog) got() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.told)
}

// checkToldExpired checks that the session id's end was told once, as an expiry, to
// its listener "sso".
func (l *endLog) checkToldExpired(t *testing.T, id string) {
	t.Helper()
	if got, want := l.got(), []string{"sso " + id + " expired=true"}; !slices.Equal(got, want) {
		t.Errorf("listeners told %q, want %q", got, want)
	}
}

// createWithSSO makes a session on m with the listener "sso" attached and, if
// maxInactive is not 0, that interval, and replicates it.
func createWithSSO(t *testing.T, m *backup.Manager, maxInactive time.Duration) *backup.Session {
	t.Helper()
	ctx := context.Background()
	s, err := m.Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.AttachListener("sso"); err != nil {
		t.Fatal(err)
	}
	if maxInactive != 0 {
		s.SetMaxInactive(maxInactive)
	}
	if err := m.Replicate(ctx, s.ID()); err != nil {
		t.Fatal(err)
	}
	return s
}

// checkNoneHolds checks that none of ms[from:] holds the session id (a proxy aside).
func checkNoneHolds(t *testing.T, ms []*backup.Manager, from int, id string) {
	t.Helper()
	for i, m := range ms[from:] {
		if _, _, ok := m.Map().Peek(id); ok {
			t.Errorf("node %d still holds the expired session", i+from)
		}
	}
}
