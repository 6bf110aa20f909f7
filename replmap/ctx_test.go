package replmap_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/internal/nodetest"
	"github.com/gotribes/tribes/internal/testutil"
	tribesnode "github.com/gotribes/tribes/node"
	"github.com/gotribes/tribes/replmap"
	"github.com/gotribes/tribes/transport/nio"
)

// ctxMapTimeout is the transport's Timeout and the map's RPCTimeout of tcpMap's map:
// long, so that a wait that ends at half of it ended because of its context.
const ctxMapTimeout = 30 * time.Second

// tcpMap starts a map on a loopback TCP channel with no other member; it is stopped at
// cleanup.
func tcpMap(t *testing.T) *replmap.Map {
	t.Helper()
	tcfg := nio.DefaultConfig()
	tcfg.Port = 0
	tcfg.Timeout = ctxMapTimeout // only a context ends a wait for an ACK
	ch := nodetest.Start(t, tribesnode.Config{Transport: &tcfg})
	m, err := replmap.New(replmap.Config{Channel: ch, Name: "ctx-map", RPCTimeout: ctxMapTimeout})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Stop(context.Background()) })
	if err := m.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	return m
}

// A proxy's Get whose backup accepts the RETRIEVE_BACKUP but never answers ends when
// its context does (within half of RPCTimeout and the transport's Timeout, 30 s), with
// an error that wraps the context's (and ErrUnavailable); after Stop, Get returns
// ErrNotStarted as Put does, not "no such key".
func TestGetFromSilentBackupEndsWithContext(t *testing.T) {
	m := tcpMap(t)
	peer := testutil.NewSilentPeer(t)
	silent := channel.Member{Host: []byte{127, 0, 0, 1}, Port: int32(peer.Port()), SecurePort: -1, UDPPort: -1}
	if err := replmap.ReceiveProxy(m, silent, "k", silent); err != nil {
		t.Fatal(err)
	}
	for _, end := range []string{"deadline", "cancel"} {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		if end == "cancel" {
			ctx, cancel = context.WithCancel(context.Background())
			go func() {
				select {
				case <-peer.Received():
				case <-time.After(testutil.WaitLimit):
				}
				cancel()
			}()
		}
		start := time.Now()
		_, ok, err := m.Get(ctx, "k")
		want := context.DeadlineExceeded // the transport may see the deadline before ctx's timer fires
		if end == "cancel" {
			want = context.Canceled
		}
		cancel()
		if d := time.Since(start); d > ctxMapTimeout/2 {
			t.Errorf("%s: Get took %v, RPCTimeout and the transport's Timeout %v", end, d, ctxMapTimeout)
		}
		if ok || !errors.Is(err, want) || !errors.Is(err, replmap.ErrUnavailable) {
			t.Fatalf("%s: ok=%v err=%v, want ErrUnavailable and %v", end, ok, err, want)
		}
	}
	if err := m.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := m.Get(context.Background(), "k"); ok || !errors.Is(err, replmap.ErrNotStarted) {
		t.Fatalf("Get after Stop: ok=%v err=%v, want ErrNotStarted", ok, err)
	}
}
