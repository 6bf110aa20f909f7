package farm_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/farm"
	"github.com/gotribes/tribes/internal/testutil"
)

// TestWatchedFileRemovedWhileChanging: shop.war v1 is deployed from the watch
// directory; the operator starts copying a new version over it, thinks better of it
// and deletes it before a scan found the new version stable. Tomcat's WarWatcher
// undeploys a removed file it knew; the watcher used to replace its record of shop.war
// when it saw the change (deployed: false), so on removal it skipped the Remove, and v1
// stayed deployed here and on every member although its file left the watch directory.
func TestWatchedFileRemovedWhileChanging(t *testing.T) {
	nw := channeltest.NewNetwork()
	watch := t.TempDir()
	const interval = 20 * time.Millisecond
	a := startNode(t, nw, farm.Config{WatchDir: watch, WatchInterval: interval})
	b := startNode(t, nw, farm.Config{})
	v1 := content(5000, 1)
	p := writeFile(t, watch, "shop.war", v1)
	testutil.Eventually(t, testutil.WaitLimit, func() error {
		if got, err := os.ReadFile(filepath.Join(b.deploy, "shop.war")); err != nil || !bytes.Equal(got, v1) {
			return fmt.Errorf("v1 not on the member: %d bytes, %v", len(got), err)
		}
		return nil
	})
	// A copy in progress: the file changes (its size each time) for about ten scans, so
	// that the last scan before its removal sees it changed.
	end := time.Now().Add(10 * interval)
	for i := 0; time.Now().Before(end); i++ {
		if err := os.WriteFile(p, content(6000+i%1000, 2), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(100 * interval) // a hundred scans
	for len(b.removals()) == 0 {
		if time.Now().After(deadline) {
			_, err := os.Stat(filepath.Join(b.deploy, "shop.war"))
			t.Fatalf("shop.war left the watch directory 100 scans ago; the member still has it deployed (stat: %v), "+
				"no OnRemove here (%v) or there", err, a.removals())
		}
		time.Sleep(interval / 4) // polling interval, bounded by the deadline
	}
}
