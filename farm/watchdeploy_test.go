package farm_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/farm"
)

// TestWatchDirIsDeployDirRefused: with WatchDir the same directory as DeployDir, a file
// dropped there must be deployed once, not again and again. New used to accept it, and
// Deploy copies the watched file onto itself through a temporary file and a rename,
// which gives it a new modification time: the next scans saw a changed file, found it
// stable, and deployed and sent it again, every two scans, for ever (and a member whose
// WatchDir is its DeployDir would send every file it receives back). New now refuses
// it with channel.ErrInvalidConfig, also through a symbolic link.
func TestWatchDirIsDeployDirRefused(t *testing.T) {
	nw := channeltest.NewNetwork()
	b := startNode(t, nw, farm.Config{})
	_, ch := nw.StartChannel(t)
	dir := t.TempDir()
	var installs atomic.Int32
	a, err := farm.New(farm.Config{Channel: ch, DeployDir: dir, WatchDir: dir, TempDir: t.TempDir(),
		WatchInterval: 10 * time.Millisecond, OnInstall: func(farm.Deployment) error { installs.Add(1); return nil }})
	if err != nil {
		if !errors.Is(err, channel.ErrInvalidConfig) {
			t.Fatalf("New with WatchDir = DeployDir: %v, want channel.ErrInvalidConfig", err)
		}
		link := filepath.Join(t.TempDir(), "link")
		if err := os.Symlink(dir, link); err != nil {
			t.Fatal(err)
		}
		if _, err := farm.New(farm.Config{Channel: ch, DeployDir: dir, WatchDir: link + "/."}); !errors.Is(err, channel.ErrInvalidConfig) {
			t.Errorf("New with WatchDir a symbolic link to DeployDir: %v, want channel.ErrInvalidConfig", err)
		}
		return // refusing the configuration is the fix
	}
	ctx := context.Background()
	if err := a.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Stop(ctx) })
	writeFile(t, dir, "shop.war", content(3000, 1))
	// Poll for up to 2 s (about 200 scans): one deployment is expected, a second one
	// is the defect.
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		if n := installs.Load(); n >= 3 {
			t.Fatalf("shop.war, written once into WatchDir = DeployDir, was deployed %d times here (%d times sent: "+
				"the member installed it %d times)", n, a.Stats().FilesSent, len(b.installs()))
		}
		time.Sleep(5 * time.Millisecond) // polling interval, bounded by the deadline
	}
	if n := installs.Load(); n != 1 {
		t.Errorf("deployed %d times, want 1", n)
	}
}
