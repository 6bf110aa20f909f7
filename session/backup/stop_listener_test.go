package backup_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gotribes/tribes/replmap"
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

// TestStartAfterStopFromBesideASweepListener pins what a Start does after a Stop that did
// not wait for the sweep (it was inside a listener call): a Manager starts once, its map
// refusing a second Start (replmap.ErrStarted), so that Start starts no second sweep
// beside the old one, and the old sweep ends as soon as the listener returns (it looks
// at its stop channel before each session and after the loop), removing nothing more.
func TestStartAfterStopFromBesideASweepListener(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		entered, release := make(chan struct{}), make(chan struct{})
		var once sync.Once
		l := backup.SessionListenerFuncs{Destroyed: func(_ *backup.Session, expired bool) {
			if expired {
				once.Do(func() {
					close(entered)
					<-release
				})
			}
		}}
		ms := startManagers(t, 1, backup.Config{ExpireInterval: time.Second, DisableJvmRouteBinder: true,
			NamedListener: func(string) backup.SessionListener { return l }})
		m := ms[0]
		createWithSSO(t, m, time.Minute)
		createWithSSO(t, m, time.Minute)
		<-entered // the sweep expired a session and is inside its listener call
		if err := m.Stop(context.Background()); err != nil {
			t.Fatalf("Stop beside the sweep's listener: %v", err)
		}
		err := m.Start(context.Background())
		if !errors.Is(err, replmap.ErrStarted) {
			t.Errorf("Start after Stop: %v, want replmap.ErrStarted", err)
		}
		if n := sweeps(); n != 1 {
			t.Errorf("%d expiry sweeps run after Start, want the old one only", n)
		}
		close(release)
		synctest.Wait()
		if n := sweeps(); n != 0 {
			t.Errorf("%d expiry sweeps still run once the listener returned", n)
		}
		if n := m.Stats().Expired; n != 1 {
			t.Errorf("Stats.Expired = %d, want 1: the old sweep removed more after Stop", n)
		}
	})
}
