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

// TestStopHonoursItsContext: Stop waited for an expiry sweep under way without looking at
// its context, so a sweep held (a slow removal or listener; here the test's hook) held it
// for ever. It now returns ctx's error when ctx ends, and stops the map all the same.
func TestStopHonoursItsContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		entered, release := make(chan struct{}), make(chan struct{})
		var once sync.Once
		t.Cleanup(backup.SetExpireHook(func(any) { // before the sweep starts, restored after it ended
			once.Do(func() {
				close(entered)
				<-release
			})
		}))
		// One node and one session: the sweep held is the one Stop waits for.
		ms := startManagers(t, 1, backup.Config{ExpireInterval: time.Second, DisableJvmRouteBinder: true})
		createWithSSO(t, ms[0], time.Minute)
		<-entered // the sweep found the session expired (the bubble's clock)
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		stopped := make(chan error, 1)
		go func() { stopped <- ms[0].Stop(ctx) }()
		time.Sleep(2 * time.Second) // ctx has ended
		synctest.Wait()
		select {
		case err := <-stopped:
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("Stop with the sweep held: %v, want context.DeadlineExceeded", err)
			}
		default:
			t.Error("Stop still waits for a held sweep after its context ended")
			close(release)
			<-stopped
			return
		}
		if n := len(ms[0].Map().Keys()); n != 0 {
			t.Errorf("the stopped map still lists %d sessions", n)
		}
		close(release)
		if err := ms[0].Stop(context.Background()); err != nil {
			t.Errorf("a later Stop: %v", err)
		}
	})
}
