package delta_test

import (
	"context"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/session/delta"
)

// TestAsyncStopSendsTheChangesThatWaited: with asynchronous replication, a request that
// ends while its session's previous delta is being sent leaves its changes pending, to
// follow that delta. A manager stopped meanwhile (a graceful shutdown, after the HTTP
// server drained its requests) destroyed its sessions first and let its queue finish
// after: the changes that waited found their session gone and never left, though their
// request was answered. The other node kept the value before.
func TestAsyncStopSendsTheChangesThatWaited(t *testing.T) {
	ctx := context.Background()
	nw := channeltest.NewNetwork()
	a, g := startGated(t, nw, nil, delta.Config{JvmRoute: "a"})
	b := startReady(t, nw, delta.Config{JvmRoute: "b"})
	s, err := a.Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Set("k", 1); err != nil {
		t.Fatal(err)
	}
	entered, release := g.arm(nil)
	if err := delta.ReplicateNoWait(a, s); err != nil {
		t.Fatal(err)
	}
	<-entered // k=1 is being sent
	if err := s.Set("k", 2); err != nil {
		t.Fatal(err)
	}
	if err := delta.ReplicateNoWait(a, s); err != nil { // waits for k=1's send
		t.Fatal(err)
	}
	stopped := make(chan error, 1)
	go func() { stopped <- a.Stop(ctx) }()
	testutil.EventuallyTrue(t, 10*time.Second, "Stop reached the replication queue", func() bool {
		return delta.AsyncStopping(a)
	})
	release()
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
	if v, _ := delta.Attr[int](b.m.Find(s.ID()), "k"); v != 2 {
		t.Errorf("B holds k=%d after A stopped, want 2 (the last change A answered)", v)
	}
}
