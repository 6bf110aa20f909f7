package delta_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/session/delta"
)

// sweepCalls starts a ready node whose expiry sweep runs every second and whose sessions
// time out after one, with a SessionDestroyed listener that calls call once, for the
// first session the sweep expires, with the node; it creates that session.
func sweepCalls(t *testing.T, call func(e delta.SessionEvent, a *node)) *node {
	t.Helper()
	var once sync.Once
	var mu sync.Mutex
	var started *node
	l := delta.SessionListenerFuncs{Destroyed: func(e delta.SessionEvent) {
		if e.Expired {
			mu.Lock()
			a := started
			mu.Unlock()
			once.Do(func() { call(e, a) })
		}
	}}
	a := startReady(t, channeltest.NewNetwork(), delta.Config{SessionListeners: []delta.SessionListener{l},
		MaxInactiveInterval: time.Second, ExpireInterval: time.Second})
	mu.Lock()
	started = a
	mu.Unlock()
	if _, err := a.m.Create(context.Background()); err != nil {
		t.Fatal(err)
	}
	return a
}

// nestedWithin returns what the listener sent on nested, or fails the test when it sent
// nothing within a minute (of the bubble's clock, which moves on only once every
// goroutine waits).
func nestedWithin(t *testing.T, nested <-chan error, what string) error {
	t.Helper()
	select {
	case err := <-nested:
		return err
	case <-time.After(time.Minute):
		t.Fatalf("%s: still waiting a minute later", what)
		return nil
	}
}

// TestStopFromASweepListenerReturns: a SessionDestroyed listener that the expiry sweep
// (one of the manager's goroutines, which Stop waits for) called and that stopped the
// manager with the event's Context waited in Stop for the sweep, itself: for ever, the
// event's Context being context.Background(). The calls of the manager's goroutines now
// get a Context marked as theirs: such a Stop stops the manager and returns ErrStopping
// at once, the stop finishing once the listener returned, and a later Stop waits for
// that.
func TestStopFromASweepListenerReturns(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nested := make(chan error, 1)
		m := sweepCalls(t, func(e delta.SessionEvent, a *node) { nested <- a.m.Stop(e.Context) }).m
		err := nestedWithin(t, nested, "Stop from the sweep's listener")
		if !errors.Is(err, delta.ErrStopping) {
			t.Errorf("Stop from the sweep's listener: %v, want ErrStopping", err)
		}
		if m.Ready() {
			t.Error("the manager is still running once Stop from the sweep's listener returned")
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := m.Stop(ctx); err != nil {
			t.Errorf("a later Stop: %v, want nil", err)
		}
	})
}

// TestCloseFromASweepListenerReturns: a Cluster.Close that the sweep's listener calls
// with the event's Context closes the cluster without waiting for the manager the sweep
// belongs to (whose stop waits for the listener) and returns nil, as one from a manager's
// Stop listener does; a later Close waits for that manager's stop.
func TestCloseFromASweepListenerReturns(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nested := make(chan error, 1)
		a := sweepCalls(t, func(e delta.SessionEvent, a *node) { nested <- a.cl.Close(e.Context) })
		cl := a.cl
		if err := nestedWithin(t, nested, "Close from the sweep's listener"); err != nil {
			t.Errorf("Close from the sweep's listener: %v, want nil", err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := cl.Close(ctx); err != nil {
			t.Errorf("a later Close: %v, want nil", err)
		}
		if err := a.m.Stop(ctx); err != nil {
			t.Errorf("Stop once closed: %v, want nil", err)
		}
	})
}

// TestCloseFromASweepListenerWhileClosing: a Close that the sweep's listener calls with
// the event's Context while another Close runs (which waits for the manager's stop, which
// waits for the sweep) returns ErrStopping at once, and the other Close completes.
func TestCloseFromASweepListenerWhileClosing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		entered, release := make(chan struct{}), make(chan struct{})
		nested := make(chan error, 1)
		cl := sweepCalls(t, func(e delta.SessionEvent, a *node) {
			close(entered)
			<-release
			nested <- a.cl.Close(e.Context)
		}).cl
		<-entered
		closed := make(chan error, 1)
		go func() { closed <- cl.Close(context.Background()) }()
		synctest.Wait() // the outer Close waits for the manager's stop
		if len(closed) != 0 {
			t.Fatalf("Close returned while the sweep's listener runs: %v", <-closed)
		}
		close(release)
		if err := nestedWithin(t, nested, "Close from the sweep's listener while another Close runs"); !errors.Is(err, delta.ErrStopping) {
			t.Errorf("Close from the sweep's listener while another Close runs: %v, want ErrStopping", err)
		}
		if err := <-closed; err != nil {
			t.Errorf("the other Close: %v, want nil", err)
		}
	})
}

// TestStopFromATransferReplayListenerReturns: a SessionCreated listener that the state
// transfer's goroutine called, replaying a creation queued during the transfer, and that
// stopped the manager with the event's Context waited in Stop for that goroutine,
// itself: for ever. Such a Stop now returns ErrStopping at once, the stop finishing once
// the listener returned, and a later Stop waits for that. (JavaCodec: a BinaryCodec
// joiner's catch-up loads the session before the replay, which then creates none.)
func TestStopFromATransferReplayListenerReturns(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		nw := channeltest.NewNetwork()
		startJavaSender(t, nw, "a", delta.ReplicateAcked)
		_, b := startJavaSender(t, nw, "b", delta.ReplicateAcked)
		var once sync.Once
		_, ch := newChannel(t, nw)
		// Registered before the cluster's, this listener sees the donor's "complete" first:
		// the creation B sends meanwhile is queued, and replayed once the transfer completed.
		ch.AddMessageListener(channel.MessageListenerFunc(func(msg *channel.Message) error {
			if m, err := (delta.JavaCodec{}).DecodeMessage(msg.Data); err == nil && m.Event == delta.EventTransferComplete {
				once.Do(func() {
					if _, err := b.Create(ctx); err != nil {
						t.Error(err)
					}
				})
			}
			return nil
		}))
		set := make(chan struct{})
		var j *delta.Manager
		nested := make(chan error, 1)
		abort := make(chan struct{}) // closed by a failing run, to end the listener's Stop
		l := delta.SessionListenerFuncs{Created: func(e delta.SessionEvent) {
			<-set
			sctx, cancel := context.WithCancel(e.Context) // marked as e.Context is
			defer cancel()
			go func() {
				select {
				case <-abort:
					cancel()
				case <-sctx.Done():
				}
			}()
			nested <- j.Stop(sctx)
		}}
		j = startJoiner(t, ch, delta.ClusterConfig{Codec: delta.JavaCodec{}}, delta.Config{JvmRoute: "j",
			Codec: delta.JavaValueCodec{}, SessionListeners: []delta.SessionListener{l}})
		close(set)
		select {
		case err := <-nested:
			if !errors.Is(err, delta.ErrStopping) {
				t.Errorf("Stop from the transfer replay's listener: %v, want ErrStopping", err)
			}
		case <-time.After(time.Minute):
			close(abort)
			t.Fatalf("Stop from the transfer replay's listener still waits a minute later (%d queued during the transfer)",
				j.Stats().QueuedDuringTransfer)
		}
		wctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		if err := j.Stop(wctx); err != nil {
			t.Errorf("a later Stop: %v, want nil", err)
		}
		if st := j.Stats(); st.QueuedDuringTransfer != 1 {
			t.Errorf("%d messages queued during the transfer, want 1 (the creation replayed)", st.QueuedDuringTransfer)
		}
	})
}
