package backup_test

import (
	"context"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gotribes/tribes/session/backup"
)

// TestStopFromASweepListenerReturns: a session listener that the expiry sweep calls and
// that stops the manager with a context of its own (here one that never ends) waited in
// Stop for the sweep, which waited for the listener: listeners get no context that could
// mark the call, so such a Stop returned only once its ctx ended, and with
// context.Background() never. Stop now does not wait for a sweep that is inside a
// listener call, as the channel's Stop does not wait for a heartbeat under way: it stops
// the map and returns nil at once, and the sweep ends once the listener has returned
// (a later Stop returns nil and no sweep runs).
func TestStopFromASweepListenerReturns(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var (
			m       *backup.Manager
			once    sync.Once
			stopped = make(chan error, 1)
			hung    = make(chan bool, 1)
		)
		l := backup.SessionListenerFuncs{Destroyed: func(_ *backup.Session, expired bool) {
			if !expired {
				return
			}
			once.Do(func() {
				go func() { stopped <- m.Stop(context.Background()) }()
				select {
				case err := <-stopped:
					stopped <- err
					hung <- false
				case <-time.After(time.Hour): // the bubble's clock: only when Stop hangs
					hung <- true
				}
			})
		}}
		ms := startManagers(t, 1, backup.Config{ExpireInterval: time.Second, DisableJvmRouteBinder: true,
			NamedListener: func(string) backup.SessionListener { return l }})
		m = ms[0]
		createWithSSO(t, m, time.Minute)
		time.Sleep(2 * time.Minute) // the session expired and the sweep removed it
		if <-hung {
			t.Fatal("Stop(context.Background()) from the sweep's listener has not returned after an hour: it waits for the sweep, which waits for the listener")
		}
		if err := <-stopped; err != nil {
			t.Errorf("Stop from the sweep's listener: %v", err)
		}
		synctest.Wait()
		if err := m.Stop(context.Background()); err != nil {
			t.Errorf("a later Stop: %v", err)
		}
		if n := sweeps(); n != 0 {
			t.Errorf("%d expiry sweeps still run", n)
		}
	})
}
