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

// TestClusterCloseFromItsOwnListenerReturns: a SessionDestroyed listener that Cluster.Close
// calls (through the manager's Stop) and that closes the cluster again waited for the
// first Close to finish, which waits for the manager's stop, which waits for the
// listener: both held until the listener's context ended (for ever with none), the first
// Close returning its ctx's error. Such a Close now returns ErrStopping at once, as a
// manager's Stop from its own listener does.
func TestClusterCloseFromItsOwnListenerReturns(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var cl *delta.Cluster
		nested := make(chan error, 1)
		l := delta.SessionListenerFuncs{Destroyed: func(e delta.SessionEvent) {
			if e.Stopping {
				cctx, cancel := context.WithTimeout(e.Context, time.Hour)
				defer cancel()
				nested <- cl.Close(cctx)
			}
		}}
		a := startReady(t, channeltest.NewNetwork(), delta.Config{SessionListeners: []delta.SessionListener{l}})
		cl = a.cl
		if _, err := a.m.Create(context.Background()); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := cl.Close(ctx); err != nil {
			t.Errorf("Close whose listener closes the cluster again: %v, want nil", err)
		}
		if err := <-nested; !errors.Is(err, delta.ErrStopping) {
			t.Errorf("Close from the listener Close called: %v, want ErrStopping", err)
		}
		if err := cl.Close(context.Background()); err != nil {
			t.Errorf("Close once closed: %v", err)
		}
	})
}

// TestClusterCloseWaitsForAManagerStoppingInTheBackground: a manager whose Stop returned
// its ctx's error (a goroutine of its held) left the cluster at once, so Cluster.Close
// returned nil while that manager still stopped (its queue's last sends, its sessions'
// destruction to come, the channel stopped next). Close now waits for it too, or for
// its own ctx.
func TestClusterCloseWaitsForAManagerStoppingInTheBackground(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := startReady(t, channeltest.NewNetwork(), delta.Config{})
		release := delta.HoldBackground(a.m)
		ended, cancel := context.WithCancel(context.Background())
		cancel()
		if err := a.m.Stop(ended); !errors.Is(err, context.Canceled) {
			t.Fatalf("Stop with a goroutine held and an ended ctx: %v, want context.Canceled", err)
		}
		ctx, cancelCtx := context.WithTimeout(context.Background(), time.Second)
		defer cancelCtx()
		err := a.cl.Close(ctx) // the bubble's clock moves on only once Close waits
		release()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Close with a manager still stopping: %v, want context.DeadlineExceeded", err)
		}
		if err := a.cl.Close(context.Background()); err != nil {
			t.Errorf("a later Close once the manager stopped: %v", err)
		}
	})
}

// TestClusterCloseFromAStoppingListenerReturns: Close waits for the managers stopping in
// the background, but not for the one whose Stop calls the listener that closes the
// cluster: that Stop waits for the listener.
func TestClusterCloseFromAStoppingListenerReturns(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var cl *delta.Cluster
		nested := make(chan error, 1)
		l := delta.SessionListenerFuncs{Destroyed: func(e delta.SessionEvent) {
			if e.Stopping {
				cctx, cancel := context.WithTimeout(e.Context, time.Hour)
				defer cancel()
				nested <- cl.Close(cctx)
			}
		}}
		a := startReady(t, channeltest.NewNetwork(), delta.Config{SessionListeners: []delta.SessionListener{l}})
		cl = a.cl
		if _, err := a.m.Create(context.Background()); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := a.m.Stop(ctx); err != nil {
			t.Errorf("Stop whose listener closes the cluster: %v, want nil", err)
		}
		if err := <-nested; err != nil {
			t.Errorf("Close from the listener of a manager's Stop: %v, want nil", err)
		}
	})
}
