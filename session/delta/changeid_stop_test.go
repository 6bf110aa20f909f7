package delta_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/session/delta"
)

// errHung is changeIDWithin's error for a ChangeSessionID that did not return.
var errHung = errors.New("ChangeSessionID did not return")

// changeIDWithin runs ChangeSessionID and fails the test if it does not return in time
// (from any goroutine: it does not end the caller's).
func changeIDWithin(t *testing.T, m *delta.Manager, s *delta.Session) error {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		_, err := m.ChangeSessionID(context.Background(), s, "")
		done <- err
	}()
	select {
	case err := <-done:
		return err
	case <-time.After(10 * time.Second):
		t.Error("ChangeSessionID did not return: it retries a session the manager does not hold")
		return errHung
	}
}

// ChangeSessionID of a session the manager no longer holds, but that is not invalid
// yet, retried the rename for ever, its send slot held: a login (or the jvmRoute
// binder) during Stop, between the table's emptying and the session's expiry, spun
// and, with ExpireSessionsOnShutdown, kept Stop from expiring the session (it waits for
// that slot): Stop never returned. Here a listener of the first session Stop destroys
// renames the other one, which Stop has taken out of the table and not expired yet.
// A session of another manager made it spin too.
func TestChangeSessionIDOfASessionNotHeld(t *testing.T) {
	ctx := context.Background()
	var (
		mu      sync.Mutex
		all     []*delta.Session
		m       *delta.Manager
		renamed []error
	)
	renameOther := delta.SessionListenerFuncs{Destroyed: func(e delta.SessionEvent) {
		if !e.Stopping {
			return
		}
		mu.Lock()
		first := len(renamed) == 0
		mu.Unlock()
		if !first {
			return
		}
		for _, o := range all {
			if o != e.Session {
				err := changeIDWithin(t, m, o)
				mu.Lock()
				renamed = append(renamed, err)
				mu.Unlock()
			}
		}
	}}
	nw := channeltest.NewNetwork()
	a := startReady(t, nw, delta.Config{ExpireSessionsOnShutdown: true, JvmRoute: "a",
		SessionListeners: []delta.SessionListener{renameOther}})
	b := startReady(t, nw, delta.Config{JvmRoute: "b"})
	m = a.m
	all = []*delta.Session{create(t, a, "k", "v"), create(t, a, "k", "v")}

	// A session of another manager (another application, on b).
	other, err := b.cl.NewManager(delta.Config{Name: "localhost#/other", MemberWait: -1})
	if err != nil {
		t.Fatal(err)
	}
	if err := other.Start(ctx); err != nil {
		t.Fatal(err)
	}
	foreign, err := other.Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := changeIDWithin(t, a.m, foreign); !errors.Is(err, delta.ErrInvalidSession) {
		t.Errorf("ChangeSessionID of another manager's session: %v, want ErrInvalidSession", err)
	}

	done := make(chan error, 1)
	go func() { done <- a.m.Stop(ctx) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Stop did not return")
	}
	mu.Lock()
	defer mu.Unlock()
	if len(renamed) != 1 || !errors.Is(renamed[0], delta.ErrInvalidSession) {
		t.Errorf("ChangeSessionID during Stop: %v, want ErrInvalidSession", renamed)
	}
	if b.m.Len() != 0 || other.Len() != 1 { // a's two expired everywhere
		t.Errorf("b holds %d sessions of a's application and %d of the other, want 0 and 1", b.m.Len(), other.Len())
	}
}
