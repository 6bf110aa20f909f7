package delta_test

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/session/delta"
)

// A creation that races with Stop (a request still served while the manager stops)
// must not leave a session in the stopped manager: one there is never destroyed (no
// SessionDestroyed, never expired on the other nodes with ExpireSessionsOnShutdown),
// and Len counts it. Here Stop runs inside the window deterministically: CreateWithID
// expires the timed-out session of the id first, and that session's listener stops
// the manager before the new session is stored.
func TestCreateRacingStopLeavesNoSession(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		var m *delta.Manager
		stopper := delta.SessionListenerFuncs{Destroyed: func(e delta.SessionEvent) {
			if e.Expired {
				if err := m.Stop(ctx); err != nil {
					t.Error(err)
				}
			}
		}}
		nw := channeltest.NewNetwork()
		a := startReady(t, nw, delta.Config{ExpireInterval: -1, MaxInactiveInterval: time.Minute,
			SessionListeners: []delta.SessionListener{stopper}})
		m = a.m
		if _, err := a.m.CreateWithID(ctx, "user-1"); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Minute) // it timed out; no sweep ran
		a.rec.take()

		s, err := a.m.CreateWithID(ctx, "user-1")
		if !errors.Is(err, delta.ErrStopped) {
			t.Errorf("CreateWithID during Stop: %q, %v; want ErrStopped", s.ID(), err)
		}
		if a.m.Len() != 0 {
			t.Errorf("the stopped manager holds %d sessions", a.m.Len())
		}
		wantEvents(t, "A", a.rec.take(), "destroyed local expired=true")
	})
}
