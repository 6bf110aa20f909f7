package backup_test

import (
	"bytes"
	"context"
	"errors"
	"runtime"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/replmap"
	"github.com/gotribes/tribes/session/backup"
)

// TestStopDuringStartLeavesNoSweep: a Stop that ran while Start joined the map (after
// the map started, before Start started the expiry sweep) found no sweep to stop and
// returned, and Start then started one: a sweep ran, every ExpireInterval, after Stop
// returned, for ever. Start now starts no sweep once a Stop began, and returns an error
// wrapping replmap.ErrNotStarted.
func TestStopDuringStartLeavesNoSweep(t *testing.T) {
	ctx := context.Background()
	chans, _, stop := startNodesOn(channeltest.NewNetwork(), 1, -1, nil)
	t.Cleanup(stop)
	m, err := backup.NewManager(backup.Config{Channel: chans[0], Name: "localhost#/app", ExpireInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Stop(ctx) })
	mapStarted, stopped := make(chan struct{}), make(chan struct{})
	t.Cleanup(backup.SetMapStartedHook(func() {
		close(mapStarted)
		<-stopped
	}))
	started := make(chan error, 1)
	go func() { started <- m.Start(ctx) }()
	select {
	case <-mapStarted:
	case <-time.After(testutil.WaitLimit):
		t.Fatal("Start did not start the map")
	}
	if err := m.Stop(ctx); err != nil {
		t.Errorf("Stop during Start: %v", err)
	}
	close(stopped)
	if err := <-started; !errors.Is(err, replmap.ErrNotStarted) {
		t.Errorf("Start that a Stop overtook: %v, want replmap.ErrNotStarted", err)
	}
	if sweeps() > 0 {
		t.Error("an expiry sweep runs after Stop returned")
	}
}

// sweeps counts the goroutines of expiry sweeps.
func sweeps() int {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	return bytes.Count(buf, []byte("backup.(*Manager).sweep("))
}
