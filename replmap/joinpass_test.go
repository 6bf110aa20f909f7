package replmap_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/replmap"
)

// A new map member gets a backup of every primary entry without one (mapMemberAdded):
// a, alone when it put its entries, publishes them to b, which holds its
// MSG_BACKUPs. That
// republish was not counted among the passes Stop waits for: a Stop whose context ended
// meanwhile left it running and a later Stop returned nil at once. A later Stop now
// waits for it too, and once the pass can end it returns nil.
func TestStopWaitsForTheJoinRepublish(t *testing.T) {
	const entries = 5
	nw := channeltest.NewNetwork()
	cfg := replmap.Config{SendOptions: syncAck, RPCTimeout: time.Minute}
	hold := &holdBackups{release: make(chan struct{})}
	a := newChannel(t, nw)
	newMap(t, a, cfg)
	start(t, a)
	for i := range entries {
		if _, err := a.m.Put(ctx(t), fmt.Sprint("k", i), int32(i)); err != nil && !errors.Is(err, replmap.ErrNoBackup) {
			t.Fatal(err)
		}
	}
	b := newChannel(t, nw, hold) // after the entries: they have no backup
	for _, n := range []*node{a, b} {
		testutil.EventuallyTrue(t, testutil.WaitLimit, "channel members", func() bool { return len(n.ch.Members()) == 1 })
	}
	newMap(t, b, replmap.Config{SendOptions: syncAck, RPCTimeout: 2 * time.Second}) // its Start's wait for a's reply
	hold.armed.Store(true)
	released := false
	release := func() {
		if !released {
			released = true
			hold.armed.Store(false)
			close(hold.release)
		}
	}
	t.Cleanup(release)
	bStarted := make(chan error, 1)
	go func() { bStarted <- b.m.Start(context.Background()) }()
	testutil.EventuallyTrue(t, testutil.WaitLimit, "a publishes its entries to b", func() bool { return hold.n.Load() > 0 })

	_ = stopWithin(t, a, 200*time.Millisecond) // its MSG_STOP may wait behind the held MSG_BACKUP
	if err := stopWithin(t, a, 200*time.Millisecond); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("a later Stop while the join republish runs = %v, want the context's error", err)
	}
	release()
	if err := a.m.Stop(ctx(t)); err != nil {
		t.Errorf("a later Stop once the republish can end = %v", err)
	}
	if got := hold.n.Load(); got != 1 {
		t.Errorf("b received %d MSG_BACKUPs, want 1: the republish sends nothing once the map is stopped", got)
	}
	<-bStarted // its error is the MSG_START reply's a stopped map did not send
}
