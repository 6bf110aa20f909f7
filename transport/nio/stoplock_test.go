package nio

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
)

// A Start waiting (within its own context, here none) for the receiver a timed-out Stop
// left stopping held Transport.mu meanwhile, so a Stop with a deadline waited for the
// mutex until that receiver ended, regardless of its context: a caller shutting down with
// a deadline hung for as long as a ReceiveFunc held the old receiver. Start and Stop now
// give up waiting for each other when their context ends.
func TestStopHonoursContextWhileStartWaits(t *testing.T) {
	for _, h := range stopHolds {
		t.Run(h.name, func(t *testing.T) {
			tr, release := heldReceiver(t, h.cfg(), h)
			stopEnded(t, tr, h)
			started := make(chan error, 1)
			go func() {
				started <- tr.Start(context.Background(), channel.SvcReceiver, func(*channel.Message) error { return nil })
			}()
			// Let the Start take the lock and wait for the old receiver (bounded: a Stop
			// that ran first returns its deadline's error all the same).
			deadline := time.Now().Add(waitTimeout)
			for !tr.lockedForTest() && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
			defer cancel()
			stopped := make(chan error, 1)
			go func() { stopped <- tr.Stop(ctx, channel.SvcReceiver) }()
			var err error
			returned := false
			select {
			case err = <-stopped:
				returned = true
			case <-time.After(3 * time.Second):
			}
			release()
			if !returned {
				err = <-stopped
			}
			if serr := <-started; serr != nil {
				t.Errorf("Start once released: %v", serr)
			}
			if !returned {
				t.Fatalf("Stop with a 100 ms context had not returned after 3 s while a Start waited for the old receiver (it returned %v once released)", err)
			}
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Stop = %v, want context.DeadlineExceeded", err)
			}
		})
	}
}

// lockedForTest reports whether a Start or a Stop holds the transport's lifecycle lock.
func (t *Transport) lockedForTest() bool { return len(t.life) == 1 }
