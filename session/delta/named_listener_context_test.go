package delta_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/session/delta"
)

// The listeners a session attaches by name (Session.AttachListener, looked up in
// Config.NamedListeners) get the event's Context as the configured ones do: with
// Stopping, marked as Stop's, so that a Stop of the same manager called from inside
// with it (or a context derived from it) returns ErrStopping at once instead of waiting
// for the Stop that waits for the listener; the outer Stop completes.
func TestStopFromANamedListenerReturns(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		var m *delta.Manager
		nested := make(chan error, 1)
		l := delta.SessionListenerFuncs{Destroyed: func(e delta.SessionEvent) {
			if e.Stopping {
				sctx, cancel := context.WithTimeout(e.Context, time.Hour)
				defer cancel()
				nested <- m.Stop(sctx)
			}
		}}
		a := startReady(t, channeltest.NewNetwork(), delta.Config{NamedListeners: map[string]delta.SessionListener{"l": l}})
		m = a.m
		s, err := m.Create(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.AttachListener("l"); err != nil {
			t.Fatal(err)
		}
		if err := m.Stop(ctx); err != nil {
			t.Errorf("Stop: %v", err)
		}
		select {
		case err := <-nested:
			if !errors.Is(err, delta.ErrStopping) {
				t.Errorf("Stop from the named listener Stop called: %v, want ErrStopping", err)
			}
		default:
			t.Fatal("Stop returned without calling the session's named listener")
		}
	})
}

// namedSweepCalls is sweepCalls with the listener attached to the session by name (found
// through Config.NamedListener) rather than configured for every session.
func namedSweepCalls(t *testing.T, call func(e delta.SessionEvent, a *node)) *node {
	t.Helper()
	var once sync.Once
	var mu sync.Mutex
	var started *node
	l := delta.SessionListenerFuncs{Destroyed: func(e delta.SessionEvent) {
		if e.Expired {
			mu.Lock()
			a := started
			mu.Unlock()
			once.Do(func() { call(e, a) })
		}
	}}
	lookup := func(name string) delta.SessionListener {
		if name == "swept" {
			return l
		}
		return nil
	}
	a := startReady(t, channeltest.NewNetwork(), delta.Config{NamedListener: lookup,
		MaxInactiveInterval: time.Second, ExpireInterval: time.Second})
	mu.Lock()
	started = a
	mu.Unlock()
	s, err := a.m.Create(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.AttachListener("swept"); err != nil {
		t.Fatal(err)
	}
	return a
}

// A named listener that the expiry sweep calls gets a Context marked as the sweep's, as a
// configured one does (TestStopFromASweepListenerReturns): a Stop called with it stops the
// manager and returns ErrStopping at once, and a later Stop waits for the stop to finish.
func TestStopFromANamedSweepListenerReturns(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nested := make(chan error, 1)
		m := namedSweepCalls(t, func(e delta.SessionEvent, a *node) { nested <- a.m.Stop(e.Context) }).m
		if err := nestedWithin(t, nested, "Stop from the sweep's named listener"); !errors.Is(err, delta.ErrStopping) {
			t.Errorf("Stop from the sweep's named listener: %v, want ErrStopping", err)
		}
		if m.Ready() {
			t.Error("the manager is still running once Stop from the sweep's named listener returned")
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := m.Stop(ctx); err != nil {
			t.Errorf("a later Stop: %v, want nil", err)
		}
	})
}

// A Cluster.Close that the sweep's named listener calls with the event's Context closes
// the cluster without waiting for the manager the sweep belongs to and returns nil, as
// from a configured listener (TestCloseFromASweepListenerReturns); a later Close waits for
// that manager's stop.
func TestCloseFromANamedSweepListenerReturns(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nested := make(chan error, 1)
		a := namedSweepCalls(t, func(e delta.SessionEvent, a *node) { nested <- a.cl.Close(e.Context) })
		if err := nestedWithin(t, nested, "Close from the sweep's named listener"); err != nil {
			t.Errorf("Close from the sweep's named listener: %v, want nil", err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := a.cl.Close(ctx); err != nil {
			t.Errorf("a later Close: %v, want nil", err)
		}
		if err := a.m.Stop(ctx); err != nil {
			t.Errorf("Stop once closed: %v, want nil", err)
		}
	})
}
