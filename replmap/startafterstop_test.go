package replmap_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/replmap"
)

// Stop waits for the members' MSG_START passes, then marks the map stopped. A MSG_START
// arriving between the two started a pass Stop did not wait for: it ran on after Stop
// returned (MSG_BACKUPs sent after the MSG_STOP, a goroutine left behind). Once Stop has
// begun, a MSG_START starts no pass.
func TestStartDuringStopStartsNoPass(t *testing.T) {
	const entries = 10
	nw := channeltest.NewNetwork()
	cfg := replmap.Config{SendOptions: syncAck, RPCTimeout: time.Minute}
	hold := &holdBackups{release: make(chan struct{})}
	a := newChannel(t, nw)
	b := newChannel(t, nw, hold)
	for _, n := range []*node{a, b} {
		testutil.EventuallyTrue(t, testutil.WaitLimit, "channel members", func() bool { return len(n.ch.Members()) == 1 })
		newMap(t, n, cfg)
	}
	start(t, a)
	start(t, b)
	waitMapMembers(t, []*node{a, b}, 1)
	for i := range entries {
		if _, err := a.m.Put(ctx(t), fmt.Sprint("k", i), int32(i)); err != nil {
			t.Fatal(err)
		}
	}
	hold.armed.Store(true) // a pass started now stays running, its MSG_BACKUP held
	released := false
	release := func() {
		if !released {
			released = true
			hold.armed.Store(false)
			close(hold.release)
		}
	}
	t.Cleanup(release)

	replmap.BeginStop(ctx(t), a.m) // Stop's wait for the passes: none runs
	if _, err := replmap.AnnounceStart(ctx(t), b.m); err != nil {
		t.Fatal(err)
	}
	running := replmap.StartPassesRunning(a.m)
	release()
	if running {
		t.Error("a MSG_START arriving after Stop waited for the passes started one Stop does not wait for")
	}
	if err := a.m.Stop(ctx(t)); err != nil {
		t.Fatal(err)
	}
	testutil.EventuallyTrue(t, testutil.WaitLimit, "A's passes done", func() bool { return !replmap.StartPassesRunning(a.m) })
}
