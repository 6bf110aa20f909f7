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

// TestLaterStopWaitsForTheSweep: once a Stop had returned ctx's error with an expiry sweep
// still running, a later Stop returned nil at once, the sweep (its removals, its
// listeners) still running: a caller had no way to wait for the manager to be done. A
// later Stop now waits for that sweep, or for its own ctx.
func TestLaterStopWaitsForTheSweep(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		entered, release := make(chan struct{}), make(chan struct{})
		var once sync.Once
		t.Cleanup(backup.SetExpireHook(func(any) {
			once.Do(func() {
				close(entered)
				<-release
			})
		}))
		ms := startManagers(t, 1, backup.Config{ExpireInterval: time.Second, DisableJvmRouteBinder: true})
		createWithSSO(t, ms[0], time.Minute)
		<-entered
		ended, cancel := context.WithCancel(context.Background())
		cancel()
		if err := ms[0].Stop(ended); !errors.Is(err, context.Canceled) {
			t.Errorf("Stop with the sweep held and an ended ctx: %v, want context.Canceled", err)
		}
		err := ms[0].Stop(ended)
		if !errors.Is(err, context.Canceled) {
			t.Errorf("a later Stop with the sweep still held and an ended ctx: %v, want context.Canceled", err)
		}
		close(release)
		if err := ms[0].Stop(context.Background()); err != nil {
			t.Errorf("a later Stop once the sweep was released: %v", err)
		}
	})
}
