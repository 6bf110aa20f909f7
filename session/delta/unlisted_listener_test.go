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

// startLaggingWith starts a ready Go node of a JavaCodec cluster on a lagging view of a
// channel of nw, its manager's settings (listeners) from cfg.
func startLaggingWith(t *testing.T, nw *channeltest.Network, cfg delta.Config) (*lagging, *delta.Cluster, *delta.Manager) {
	t.Helper()
	ctx := context.Background()
	_, ch := newChannel(t, nw)
	view := newLagging(ch)
	cl := newCluster(t, view, delta.ClusterConfig{Codec: delta.JavaCodec{}})
	t.Cleanup(func() { _ = cl.Close(ctx) })
	cfg.Name, cfg.JvmRoute, cfg.MemberWait, cfg.Codec = appName, "go1", -1, delta.JavaValueCodec{}
	m, err := cl.NewManager(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := m.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	return view, cl, m
}

// listedWithin lists sender on view, which drains the messages held for it on this
// goroutine, and reports whether that returned within a minute (of the bubble's clock,
// which moves on only once every goroutine waits).
func listedWithin(view *lagging, sender channel.Member) bool {
	listed := make(chan struct{})
	go func() { view.list(sender); close(listed) }()
	select {
	case <-listed:
		return true
	case <-time.After(time.Minute):
		return false
	}
}

// heldFromSender has a Tomcat-like member, not listed yet by the Go node of view and cl,
// create a session holding k=1, then set k=2: four messages held. It returns the
// sender's record.
func heldFromSender(t *testing.T, nw *channeltest.Network, cl *delta.Cluster) channel.Member {
	t.Helper()
	sch, sm := startJavaSender(t, nw, "tc1", delta.ReplicateAsync)
	s, err := changeAndReplicate(t, sm, nil, 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := changeAndReplicate(t, sm, s, 2); err != nil {
		t.Fatal(err)
	}
	synctest.Wait()
	if st := cl.Stats(); st.UnlistedHeld != 3 {
		t.Fatalf("%d messages held, want 3 (the creation, two deltas)", st.UnlistedHeld)
	}
	return sch.LocalMember()
}

// TestCloseFromAHeldMessagesListenerReturns: a session listener that the drain of a
// sender's held messages called (the drain applying them once the sender is listed) and
// that closed the cluster with the event's Context waited in Close for the drains, its
// own among them, which waited for the listener: for ever (the event's Context was
// context.Background()). The drain's listener calls now get a Context marked as the
// drain's: such a Close closes the cluster without waiting for that drain and returns
// nil, as one from a manager's Stop listener does, the drain applies no more of the
// held messages once the listener returned, and a later Close waits for it. Both the
// session listeners (SessionCreated) and the attribute listeners (AttributeAdded) get
// the marked Context.
func TestCloseFromAHeldMessagesListenerReturns(t *testing.T) {
	for _, tc := range []struct {
		name    string
		applied uint64 // the creation, and the first delta with the attribute's
		config  func(closeWith func(context.Context)) delta.Config
	}{
		{"created", 1, func(closeWith func(context.Context)) delta.Config {
			return delta.Config{SessionListeners: []delta.SessionListener{delta.SessionListenerFuncs{
				Created: func(e delta.SessionEvent) { closeWith(e.Context) }}}}
		}},
		{"attribute", 2, func(closeWith func(context.Context)) delta.Config {
			return delta.Config{AttributeListeners: []delta.AttributeListener{delta.AttributeListenerFuncs{
				Added: func(e delta.AttributeEvent) { closeWith(e.Context) }}}}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				nw := channeltest.NewNetwork()
				var cl *delta.Cluster
				nested := make(chan error, 1)
				var once sync.Once
				closeWith := func(ctx context.Context) { once.Do(func() { nested <- cl.Close(ctx) }) }
				view, c, _ := startLaggingWith(t, nw, tc.config(closeWith))
				cl = c
				sender := heldFromSender(t, nw, cl)
				before := cl.Stats().UnlistedDropped
				if !listedWithin(view, sender) {
					t.Fatal("the drain of the held messages whose listener closed the cluster still runs a minute later")
				}
				if err := <-nested; err != nil {
					t.Errorf("Close from the drain's listener: %v, want nil", err)
				}
				if err := cl.Close(context.Background()); err != nil {
					t.Errorf("a later Close: %v", err)
				}
				if st := cl.Stats(); st.UnlistedApplied != tc.applied || st.UnlistedDropped-before != 3-tc.applied {
					t.Errorf("applied %d held messages, dropped %d; want %d, the rest dropped once the cluster closed",
						st.UnlistedApplied, st.UnlistedDropped-before, tc.applied)
				}
				if p, d, q := delta.UnlistedPending(cl); p != 0 || d != 0 || q != 0 {
					t.Errorf("%d messages pending, %d senders draining, %d bytes queued; want none", p, d, q)
				}
			})
		})
	}
}

// TestCloseFromAHeldMessagesListenerWithItsOwnContext: a Close that the drain's listener
// calls with a context of its own waits for the drains, that one among them, until the
// context ends, and returns an error wrapping its error; the cluster closes once the
// listener returned, and a later Close returns nil.
func TestCloseFromAHeldMessagesListenerWithItsOwnContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nw := channeltest.NewNetwork()
		var cl *delta.Cluster
		nested := make(chan error, 1)
		l := delta.SessionListenerFuncs{Created: func(delta.SessionEvent) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			nested <- cl.Close(ctx)
		}}
		view, c, _ := startLaggingWith(t, nw, delta.Config{SessionListeners: []delta.SessionListener{l}})
		cl = c
		sender := heldFromSender(t, nw, cl)
		if !listedWithin(view, sender) {
			t.Fatal("the drain whose listener closed the cluster with a context of its own still runs a minute later")
		}
		if err := <-nested; !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Close from the drain's listener with a context of its own: %v, want context.DeadlineExceeded", err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := cl.Close(ctx); err != nil {
			t.Errorf("a later Close once the listener returned: %v, want nil", err)
		}
	})
}

// TestStopFromAHeldMessagesListenerReturns: a manager's Stop that the drain's listener
// calls with the event's Context stops the manager and returns nil: Stop does not wait
// for the drains.
func TestStopFromAHeldMessagesListenerReturns(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nw := channeltest.NewNetwork()
		var m *delta.Manager
		nested := make(chan error, 1)
		l := delta.SessionListenerFuncs{Created: func(e delta.SessionEvent) { nested <- m.Stop(e.Context) }}
		view, cl, mgr := startLaggingWith(t, nw, delta.Config{SessionListeners: []delta.SessionListener{l}})
		m = mgr
		sender := heldFromSender(t, nw, cl)
		if !listedWithin(view, sender) {
			t.Fatal("the drain whose listener stopped the manager still runs a minute later")
		}
		if err := <-nested; err != nil {
			t.Errorf("Stop from the drain's listener: %v, want nil", err)
		}
		if err := cl.Close(context.Background()); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
}

// TestCloseFromAHeldMessagesListenerWhileClosing: a Close that the drain's listener calls
// with the event's Context while another Close runs, which waits for that drain, returns
// ErrStopping at once; the other Close completes once the listener returned.
func TestCloseFromAHeldMessagesListenerWhileClosing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nw := channeltest.NewNetwork()
		var cl *delta.Cluster
		entered, release := make(chan struct{}), make(chan struct{})
		nested := make(chan error, 1)
		l := delta.SessionListenerFuncs{Created: func(e delta.SessionEvent) {
			close(entered)
			<-release
			nested <- cl.Close(e.Context)
		}}
		view, c, _ := startLaggingWith(t, nw, delta.Config{SessionListeners: []delta.SessionListener{l}})
		cl = c
		sender := heldFromSender(t, nw, cl)
		listed := make(chan struct{})
		go func() { view.list(sender); close(listed) }()
		<-entered
		closed := make(chan error, 1)
		go func() { closed <- cl.Close(context.Background()) }()
		synctest.Wait() // the outer Close waits for the drain
		if len(closed) != 0 {
			t.Fatalf("Close returned while the drain's listener runs: %v", <-closed)
		}
		close(release)
		select {
		case err := <-nested:
			if !errors.Is(err, delta.ErrStopping) {
				t.Errorf("Close from the drain's listener while another Close runs: %v, want ErrStopping", err)
			}
		case <-time.After(time.Minute):
			t.Fatal("Close from the drain's listener while another Close runs still waits a minute later")
		}
		if err := <-closed; err != nil {
			t.Errorf("the other Close: %v, want nil", err)
		}
		<-listed
	})
}
