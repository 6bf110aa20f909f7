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

// TestStopHonoursItsContext: Stop waited for the manager's background goroutines, then
// its queue's last sends and the sessions' destruction, without looking at its context,
// so one stuck goroutine held it for ever. It now returns ctx's error when ctx ends; the
// stop goes on in the background, and a later Stop waits for it to finish.
func TestStopHonoursItsContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := startReady(t, channeltest.NewNetwork(), delta.Config{})
		if _, err := a.m.Create(context.Background()); err != nil {
			t.Fatal(err)
		}
		release := delta.HoldBackground(a.m)
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		stopped := make(chan error, 1)
		go func() { stopped <- a.m.Stop(ctx) }()
		time.Sleep(2 * time.Second) // the bubble's clock: ctx has ended
		synctest.Wait()
		select {
		case err := <-stopped:
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("Stop with a background goroutine held: %v, want context.DeadlineExceeded", err)
			}
		default:
			t.Error("Stop still waits for a held background goroutine after its context ended")
			release()
			<-stopped
			return
		}
		if n := a.m.Len(); n != 1 {
			t.Errorf("%d sessions while the stop waits for the held goroutine, want 1 (destroyed after it)", n)
		}
		ended, cancelEnded := context.WithCancel(context.Background())
		cancelEnded()
		if err := a.m.Stop(ended); !errors.Is(err, context.Canceled) {
			t.Errorf("a later Stop with an ended context while the first goes on: %v, want context.Canceled", err)
		}
		release()
		if err := a.m.Stop(context.Background()); err != nil {
			t.Errorf("a later Stop once the goroutine was released: %v", err)
		}
		if n := a.m.Len(); n != 0 {
			t.Errorf("%d sessions left once the background stop finished", n)
		}
	})
}

// TestClusterCloseHonoursItsContext: Cluster.Close waited for the cluster's goroutines (a
// reply, a probe) without looking at its context. It now returns ctx's error when ctx ends
// first and finishes in the background; a later Close waits for that.
func TestClusterCloseHonoursItsContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := startReady(t, channeltest.NewNetwork(), delta.Config{})
		release := delta.HoldTracked(a.cl)
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		closed := make(chan error, 1)
		go func() { closed <- a.cl.Close(ctx) }()
		time.Sleep(2 * time.Second) // the bubble's clock: ctx has ended
		synctest.Wait()
		select {
		case err := <-closed:
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("Close with a goroutine held: %v, want context.DeadlineExceeded", err)
			}
		default:
			t.Error("Close still waits for a held goroutine after its context ended")
			release()
			<-closed
			return
		}
		if a.cl.Manager(a.m.Name()) != nil {
			t.Error("the manager is still the cluster's after Close returned")
		}
		ended, cancelEnded := context.WithCancel(context.Background())
		cancelEnded()
		if err := a.cl.Close(ended); !errors.Is(err, context.Canceled) {
			t.Errorf("a later Close with an ended context while the first goes on: %v, want context.Canceled", err)
		}
		release()
		if err := a.cl.Close(context.Background()); err != nil {
			t.Errorf("a later Close once the goroutine was released: %v", err)
		}
	})
}
