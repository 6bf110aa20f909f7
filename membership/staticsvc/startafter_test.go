package staticsvc_test

import (
	"bytes"
	"context"
	"errors"
	"runtime"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/membership/staticsvc"
)

// TestStartAfterATimedOutStop: a channel Start of the membership while the stop a Stop
// left to the background had not finished started the first level (MBR_RX) at once and
// waited in the second for that stop; once its ctx ended the channel stopped the first
// level again with a context that does not end, and that Stop waited for the same stop:
// Start returned only once the held ping (here its PING's send, which ignores its
// context) did, for ever if it never did. A Start now waits
// for the previous stop before it takes any level, within its own ctx (an error, nothing
// started), and once that stop finished starts one ping goroutine, the stopped run's gone.
func TestStartAfterATimedOutStop(t *testing.T) {
	ctx := context.Background()
	p := testutil.FreePorts(t, 2)
	acceptOnly(t, p[1]) // reachable: the ping sends it a PING
	hold := newHoldPings()
	release := hold.release
	a := newNode(t, p[0], staticsvc.Config{Members: members(t, p[0], p[1]), ExpirationTime: time.Hour,
		PingInterval: 10 * time.Millisecond, RPCTimeout: time.Second}, hold) // p[1] never replies
	if err := a.ch.Start(ctx, channel.SvcAll); err != nil {
		t.Fatal(err)
	}
	hold.port.Store(int32(p[1]))
	select {
	case <-hold.entered:
	case <-time.After(testutil.WaitLimit):
		close(release)
		t.Fatal("no PING was sent")
	}
	short := func() context.Context {
		c, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		t.Cleanup(cancel)
		return c
	}
	if err := a.ch.Stop(short(), channel.SvcMembership); !errors.Is(err, context.DeadlineExceeded) {
		close(release)
		t.Fatalf("Stop with the ping held: %v", err)
	}
	started := make(chan error, 1)
	go func() { started <- a.ch.Start(short(), channel.SvcMembership) }()
	select {
	case err := <-started:
		if !errors.Is(err, context.DeadlineExceeded) {
			close(release)
			t.Fatalf("Start with the previous stop unfinished: %v, want context.DeadlineExceeded", err)
		}
	case <-time.After(testutil.WaitLimit):
		close(release)
		<-started
		t.Fatalf("Start with a context of 100 ms still waits for the previous stop after %v", testutil.WaitLimit)
	}
	close(release)
	wctx, cancel := context.WithTimeout(ctx, testutil.WaitLimit)
	defer cancel()
	if err := a.ch.Start(wctx, channel.SvcMembership); err != nil {
		t.Fatalf("Start once the stop finished: %v", err)
	}
	testutil.EventuallyTrue(t, testutil.WaitLimit, "one ping goroutine", func() bool { return pingLoops() == 1 })
	if err := a.ch.Stop(wctx, channel.SvcAll); err != nil {
		t.Fatal(err)
	}
	testutil.EventuallyTrue(t, testutil.WaitLimit, "no ping goroutine", func() bool { return pingLoops() == 0 })
}

// pingLoops counts the goroutines of ping loops.
func pingLoops() int {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	return bytes.Count(buf, []byte("staticsvc.(*Service).pingLoop("))
}
