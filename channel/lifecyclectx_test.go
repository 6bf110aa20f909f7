package channel_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
)

// slowStopTransport is channeltest's transport whose Stop of the sender level waits until
// the test releases it, as a transport draining its queued messages within Stop's ctx.
type slowStopTransport struct {
	channel.Transport
	stopping chan struct{}
	release  chan struct{}
	once     sync.Once
}

func (s *slowStopTransport) Stop(ctx context.Context, svc channel.Service) error {
	if svc&channel.SvcSender != 0 {
		s.once.Do(func() { close(s.stopping) })
		<-s.release
	}
	return s.Transport.Stop(ctx, svc)
}

// TestStartHonoursContextWhileStopRuns: a Start whose context ends while another
// goroutine's Stop is still under way (a transport draining for as long as Stop's own,
// longer, context allows) returns the context's error at once. It used to wait for the
// channel's lifecycle mutex without looking at ctx, and returned only when that Stop was
// done, long after its deadline.
func TestStartHonoursContextWhileStopRuns(t *testing.T) {
	n := channeltest.NewNetwork().NewNode()
	tr := &slowStopTransport{Transport: n.Transport(), stopping: make(chan struct{}), release: make(chan struct{})}
	ch, err := channel.New(channel.Config{Transport: tr, Membership: n.Membership(), HeartbeatInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	if err := ch.Start(context.Background(), channel.SvcAll); err != nil {
		t.Fatal(err)
	}
	stopped := make(chan error, 1)
	go func() { stopped <- ch.Stop(context.Background(), channel.SvcAll) }()
	<-tr.stopping

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	started := make(chan error, 1)
	go func() { started <- ch.Start(ctx, channel.SvcAll) }()
	var startErr error
	returned := false
	select {
	case startErr = <-started:
		returned = true
	case <-time.After(blockedAfter):
	}
	close(tr.release) // let Stop finish, and then Start
	if err := <-stopped; err != nil {
		t.Errorf("stop: %v", err)
	}
	if !returned {
		startErr = <-started
	}
	if startErr == nil {
		_ = ch.Stop(context.Background(), channel.SvcAll)
	}
	if !returned {
		t.Fatalf("Start with a 100ms context had not returned after 20s: it waits for a concurrent Stop regardless of its context (it returned %v once the Stop finished)", startErr)
	}
	if !errors.Is(startErr, context.DeadlineExceeded) {
		t.Fatalf("Start = %v, want context.DeadlineExceeded", startErr)
	}
}

// TestStopHonoursContextWhileStopRuns: a Stop whose context ends while another Stop is
// under way returns the context's error at once, and a Stop whose context has already
// ended still stops a channel nothing else is starting or stopping.
func TestStopHonoursContextWhileStopRuns(t *testing.T) {
	n := channeltest.NewNetwork().NewNode()
	tr := &slowStopTransport{Transport: n.Transport(), stopping: make(chan struct{}), release: make(chan struct{})}
	ch, err := channel.New(channel.Config{Transport: tr, Membership: n.Membership(), HeartbeatInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	if err := ch.Start(context.Background(), channel.SvcAll); err != nil {
		t.Fatal(err)
	}
	stopped := make(chan error, 1)
	go func() { stopped <- ch.Stop(context.Background(), channel.SvcAll) }()
	<-tr.stopping

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	second := make(chan error, 1)
	go func() { second <- ch.Stop(ctx, channel.SvcAll) }()
	var secondErr error
	returned := false
	select {
	case secondErr = <-second:
		returned = true
	case <-time.After(blockedAfter):
	}
	close(tr.release)
	if err := <-stopped; err != nil {
		t.Errorf("stop: %v", err)
	}
	if !returned {
		t.Fatalf("Stop with a 100ms context had not returned after 20s (it returned %v once the other Stop finished)", <-second)
	}
	if !errors.Is(secondErr, context.DeadlineExceeded) {
		t.Fatalf("second Stop = %v, want context.DeadlineExceeded", secondErr)
	}

	if err := ch.Start(context.Background(), channel.SvcAll); err != nil {
		t.Fatal(err)
	}
	ended, cancelEnded := context.WithCancel(context.Background())
	cancelEnded()
	if err := ch.Stop(ended, channel.SvcAll); err != nil {
		t.Fatalf("Stop with an ended context: %v", err)
	}
	if ch.Started() != 0 {
		t.Fatalf("levels %v still running after a Stop with an ended context", ch.Started())
	}
}
