package backup_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gotribes/tribes/session/backup"
)

// TestStopFromASweepListenerReturnsAtItsContextEnd: a session listener that the expiry
// sweep calls and that stops the manager waits in Stop for the sweep, itself: listeners
// get no context that could mark such a call, so that Stop returns ctx's error once ctx
// ends, not never, having stopped the map, and the sweep ends once the listener has
// returned (a later Stop returns nil).
func TestStopFromASweepListenerReturnsAtItsContextEnd(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var (
			m       *backup.Manager
			once    sync.Once
			stopped = make(chan error, 1)
		)
		l := backup.SessionListenerFuncs{Destroyed: func(_ *backup.Session, expired bool) {
			if !expired {
				return
			}
			once.Do(func() {
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				defer cancel()
				stopped <- m.Stop(ctx)
			})
		}}
		ms := startManagers(t, 1, backup.Config{ExpireInterval: time.Second, DisableJvmRouteBinder: true,
			NamedListener: func(string) backup.SessionListener { return l }})
		m = ms[0]
		createWithSSO(t, m, time.Minute)
		time.Sleep(2 * time.Minute) // the session expired and the sweep removed it
		synctest.Wait()
		select {
		case err := <-stopped:
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("Stop from the sweep's listener: %v, want context.DeadlineExceeded", err)
			}
		default:
			t.Fatal("Stop from the sweep's listener still waits after its context ended")
		}
		if err := m.Stop(context.Background()); err != nil {
			t.Errorf("a later Stop: %v", err)
		}
		if n := sweeps(); n != 0 {
			t.Errorf("%d expiry sweeps still run", n)
		}
	})
}
