package channel_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
)

// stopOnBeat is a listener that stops its channel from its heartbeat, as an application
// that shuts the node down when a periodic check fails. It calls Stop on another
// goroutine and gives up after a while, so that the test ends; called directly, Stop
// never returns.
type stopOnBeat struct {
	ch      *channel.Channel
	once    sync.Once
	blocked chan bool
	done    chan struct{}
}

func (s *stopOnBeat) Accept(*channel.Message) bool           { return false }
func (s *stopOnBeat) MessageReceived(*channel.Message) error { return nil }
func (s *stopOnBeat) Heartbeat() {
	s.once.Do(func() {
		go func() {
			_ = s.ch.Stop(context.Background(), channel.SvcAll)
			close(s.done)
		}()
		select {
		case <-s.done:
			s.blocked <- false
		case <-time.After(blockedAfter):
			s.blocked <- true
		}
	})
}

// TestStopFromHeartbeat: a Heartbeater listener (or an interceptor's Heartbeat) that
// stops the channel runs on the heartbeat goroutine. Stop used to wait, holding the
// lifecycle lock, for that goroutine to end: it waited for its own caller, a deadlock,
// and every later Start or Stop blocked. Like Tomcat's GroupChannel.stop, which cancels
// the heartbeat future without waiting for it, Stop now stops the heartbeat without
// waiting for a beat under way.
func TestStopFromHeartbeat(t *testing.T) {
	n := channeltest.NewNetwork().NewNode()
	ch, err := channel.New(channel.Config{Transport: n.Transport(), Membership: n.Membership(),
		HeartbeatInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	l := &stopOnBeat{ch: ch, blocked: make(chan bool, 1), done: make(chan struct{})}
	ch.AddMessageListener(l)
	if err := ch.Start(context.Background(), channel.SvcAll); err != nil {
		t.Fatal(err)
	}
	blocked := <-l.blocked
	<-l.done // the listener returned, so the heartbeat goroutine ended and Stop finished
	if blocked {
		t.Fatal("Stop called from a listener's Heartbeat did not return within 20s: it waits for the heartbeat goroutine, which is waiting for Stop (a deadlock)")
	}
	if ch.Started() != 0 {
		t.Fatalf("levels %v still running", ch.Started())
	}
}

// restartOnBeat is a listener whose first heartbeat restarts the channel (Stop, then
// Start) and then goes on a while, as an application that resets the node when a
// periodic check fails. It records whether two beats ever ran at once.
type restartOnBeat struct {
	ch        *channel.Channel
	interval  time.Duration
	once      sync.Once
	restarted chan error
	beats     atomic.Int32
	running   atomic.Int32
	overlaps  atomic.Int32
}

func (r *restartOnBeat) Accept(*channel.Message) bool           { return false }
func (r *restartOnBeat) MessageReceived(*channel.Message) error { return nil }
func (r *restartOnBeat) Heartbeat() {
	if r.running.Add(1) > 1 {
		r.overlaps.Add(1)
	}
	defer r.running.Add(-1)
	r.beats.Add(1)
	r.once.Do(func() {
		ctx := context.Background()
		err := r.ch.Stop(ctx, channel.SvcAll)
		if err == nil {
			err = r.ch.Start(ctx, channel.SvcAll)
		}
		r.restarted <- err
		// Not a synchronisation: a window of several intervals of the heartbeat goroutine
		// the restart began, in which its beats must wait for this one to end.
		time.Sleep(5 * r.interval)
	})
}

// TestRestartFromHeartbeat: a heartbeat that stops and starts the channel again returns
// (Stop does not wait for it, Start does not either), the heartbeat goroutine Start began
// beats afterwards, never while the old one's last beat runs, and the old goroutine ends
// (the package's goleak check, after the final Stop).
func TestRestartFromHeartbeat(t *testing.T) {
	n := channeltest.NewNetwork().NewNode()
	const interval = 10 * time.Millisecond
	ch, err := channel.New(channel.Config{Transport: n.Transport(), Membership: n.Membership(), HeartbeatInterval: interval})
	if err != nil {
		t.Fatal(err)
	}
	l := &restartOnBeat{ch: ch, interval: interval, restarted: make(chan error, 1)}
	ch.AddMessageListener(l)
	channeltest.Start(t, ch)
	select {
	case err := <-l.restarted:
		if err != nil {
			t.Fatalf("restart from a heartbeat: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Stop and Start called from a heartbeat did not return within 5s")
	}
	for deadline := time.Now().Add(5 * time.Second); l.beats.Load() < 4; {
		if time.Now().After(deadline) {
			t.Fatalf("%d heartbeats after the restart, want the new heartbeat goroutine to beat", l.beats.Load())
		}
		time.Sleep(time.Millisecond)
	}
	if got := l.overlaps.Load(); got != 0 {
		t.Fatalf("%d heartbeats ran while another was under way", got)
	}
	if ch.Started() != channel.SvcAll {
		t.Fatalf("levels %v running after the restart, want all", ch.Started())
	}
}
