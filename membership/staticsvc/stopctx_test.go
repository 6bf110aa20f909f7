package staticsvc_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/membership/staticsvc"
)

// TestStopHonoursItsContext: Stop waited for the ping goroutine regardless of its
// context, so a ping held (here its PING's send, which ignores its context, as a
// transport blocked in a connect may) held Stop for ever. Stop now returns ctx's error
// when ctx ends first, the rest of the stop left to finish once the ping ends; a later
// Stop waits for that again, within its own ctx, and returns nil once it is done.
func TestStopHonoursItsContext(t *testing.T) {
	ctx := context.Background()
	p := testutil.FreePorts(t, 2)
	acceptOnly(t, p[1]) // reachable: the ping sends it a PING
	cfg := staticsvc.Config{Members: members(t, p[0], p[1]), ExpirationTime: time.Hour,
		PingInterval: 10 * time.Millisecond, RPCTimeout: time.Second} // p[1] never replies
	hold := newHoldPings()
	a := newNode(t, p[0], cfg, hold)
	var releaseOnce sync.Once
	release := func() { releaseOnce.Do(func() { close(hold.release) }) }
	t.Cleanup(release)
	if err := a.ch.Start(ctx, channel.SvcAll); err != nil {
		t.Fatal(err)
	}
	hold.port.Store(int32(p[1]))
	select {
	case <-hold.entered: // the ping goroutine is held in its PING's send
	case <-time.After(testutil.WaitLimit):
		t.Fatal("no PING was sent")
	}
	stop := func(d time.Duration) error {
		sctx, cancel := context.WithTimeout(ctx, d)
		defer cancel()
		stopped := make(chan error, 1)
		go func() { stopped <- a.svc.Stop(sctx, channel.SvcMembership) }()
		select {
		case err := <-stopped:
			return err
		case <-time.After(testutil.WaitLimit):
			release()
			<-stopped
			t.Fatalf("Stop with a %v context still waits for the ping goroutine after %v", d, testutil.WaitLimit)
			return nil
		}
	}
	if err := stop(100 * time.Millisecond); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Stop with the ping held: %v, want context.DeadlineExceeded", err)
	}
	if err := stop(100 * time.Millisecond); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a later Stop with the ping still held: %v, want context.DeadlineExceeded", err)
	}
	release()
	if err := stop(testutil.WaitLimit); err != nil {
		t.Fatalf("a later Stop once the ping returned: %v", err)
	}
	if ms := a.svc.Members(); len(ms) != 0 {
		t.Errorf("stopped service lists %v", ms)
	}
}
