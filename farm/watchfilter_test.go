package farm_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/farm"
	"github.com/gotribes/tribes/internal/testutil"
)

// TestWatchFilterAsTomcats: without WatchPattern the watcher uses Tomcat's filter.
// Tomcat's WarFilter accepts a name ending in ".war" in any case, and File.listFiles
// follows symbolic links (a deploy tool's "ln -s builds/shop-1.2.war watch/shop.war" is
// deployed); the watcher used to match "*.war" case-sensitively and skip every entry
// that is not a regular file itself (e.Type().IsRegular(), an lstat), so SHOP.WAR and a
// symlinked WAR were silently never deployed.
func TestWatchFilterAsTomcats(t *testing.T) {
	nw := channeltest.NewNetwork()
	watch := t.TempDir()
	const interval = 20 * time.Millisecond
	a := startNode(t, nw, farm.Config{WatchDir: watch, WatchInterval: interval})
	target := writeFile(t, t.TempDir(), "shop-1.2.war", content(100, 3))
	if err := os.Symlink(target, filepath.Join(watch, "linked.war")); err != nil {
		t.Fatal(err)
	}
	writeFile(t, watch, "UPPER.WAR", content(100, 2))
	writeFile(t, watch, "control.war", content(100, 1))
	testutil.EventuallyTrue(t, testutil.WaitLimit, "control.war deployed", func() bool {
		_, err := os.Stat(filepath.Join(a.deploy, "control.war"))
		return err == nil
	})
	deadline := time.Now().Add(100 * interval) // a hundred scans after the control file's
	for {
		_, lerr := os.Stat(filepath.Join(a.deploy, "linked.war"))
		_, uerr := os.Stat(filepath.Join(a.deploy, "UPPER.WAR"))
		if lerr == nil && uerr == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("100 scans after control.war was deployed: symlinked linked.war: %v; UPPER.WAR: %v "+
				"(Tomcat's WarWatcher deploys both)", lerr, uerr)
		}
		time.Sleep(interval / 4) // polling interval, bounded by the deadline
	}
}
