package farm_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/farm"
	"github.com/gotribes/tribes/internal/testutil"
)

// TestWatchSkipsAFileOlderThanTheDeployedOne: docs/farm.md says a watched file older than
// the one already in DeployDir is skipped, as Tomcat does. shop.war dropped into the watch
// directory an hour older than DeployDir's shop.war is deployed neither here nor on the
// member; zzz.war, which sorts after it and so is decided by the same scan or a later
// one, is, which shows the watcher reached shop.war.
func TestWatchSkipsAFileOlderThanTheDeployedOne(t *testing.T) {
	nw := channeltest.NewNetwork()
	watch := t.TempDir()
	a := startNode(t, nw, farm.Config{WatchDir: watch, WatchInterval: 10 * time.Millisecond})
	b := startNode(t, nw, farm.Config{})
	deployed := content(3000, 1)
	writeFile(t, a.deploy, "shop.war", deployed)
	// Moved in whole with its time already set, so that no scan sees it newer.
	older := writeFile(t, t.TempDir(), "shop.war", content(4000, 2))
	hourAgo := time.Now().Add(-time.Hour)
	if err := os.Chtimes(older, hourAgo, hourAgo); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(older, filepath.Join(watch, "shop.war")); err != nil {
		t.Fatal(err)
	}
	writeFile(t, watch, "zzz.war", content(2000, 3))
	testutil.EventuallyTrue(t, testutil.WaitLimit, "zzz.war installed on the member", func() bool {
		for _, d := range b.installs() {
			if d.ContextName == "/zzz" {
				return true
			}
		}
		return false
	})
	if got, err := os.ReadFile(filepath.Join(a.deploy, "shop.war")); err != nil || !bytes.Equal(got, deployed) {
		t.Errorf("DeployDir's newer shop.war was replaced by the older watched one (%d bytes, %v)", len(got), err)
	}
	if _, err := os.Stat(filepath.Join(b.deploy, "shop.war")); !os.IsNotExist(err) {
		t.Errorf("the older watched shop.war reached the member (stat: %v)", err)
	}
	for _, n := range []*node{a, b} {
		for _, d := range n.installs() {
			if d.ContextName == "/shop" {
				t.Errorf("%s: /shop installed from a watched file older than the deployed one", n.deploy)
			}
		}
	}
}
