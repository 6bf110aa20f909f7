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

// TestStopFromItsOwnListenerReturns: a SessionDestroyed listener that Stop calls (with
// Stopping) and that calls Stop in turn waited for the Stop that called it, which waited
// for the listener: both hung until the inner call's context ended. A Stop called with
// the event's Context returns ErrStopping at once, and the outer Stop completes.
func TestStopFromItsOwnListenerReturns(t *testing.T) {
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
		a := startReady(t, channeltest.NewNetwork(), delta.Config{SessionListeners: []delta.SessionListener{l}})
		m = a.m
		if _, err := m.Create(ctx); err != nil {
			t.Fatal(err)
		}
		if err := m.Stop(ctx); err != nil {
			t.Errorf("Stop: %v", err)
		}
		if err := <-nested; !errors.Is(err, delta.ErrStopping) {
			t.Errorf("Stop from the listener Stop called: %v, want ErrStopping", err)
		}
		if err := m.Stop(ctx); err != nil {
			t.Errorf("Stop once stopped: %v", err)
		}
	})
}
