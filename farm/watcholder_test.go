package farm_test

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
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

// TestWatchSkippedFileRemovedUndeploysNothing: shop.war dropped into the watch directory
// an hour older than the shop.war deployed here and on the member is skipped. It was
// still marked live, so removing it from the watch directory undeployed /shop here and
// on the member, although it was never deployed from there (Tomcat's WarWatcher does the
// same: it reports every removed file). Its removal now undeploys nothing; yyy.war,
// dropped in after the removal, deployed on the member, then removed, shows the scans
// saw both removals.
func TestWatchSkippedFileRemovedUndeploysNothing(t *testing.T) {
	nw := channeltest.NewNetwork()
	watch := t.TempDir()
	a := startNode(t, nw, farm.Config{WatchDir: watch, WatchInterval: 10 * time.Millisecond})
	b := startNode(t, nw, farm.Config{})
	deployed := content(3000, 1)
	for _, n := range []*node{a, b} {
		writeFile(t, n.deploy, "shop.war", deployed)
	}
	older := writeFile(t, t.TempDir(), "shop.war", content(4000, 2))
	hourAgo := time.Now().Add(-time.Hour)
	if err := os.Chtimes(older, hourAgo, hourAgo); err != nil {
		t.Fatal(err)
	}
	skipped := filepath.Join(watch, "shop.war")
	if err := os.Rename(older, skipped); err != nil {
		t.Fatal(err)
	}
	installedOnB := func(ctxName string) func() bool {
		return func() bool {
			for _, d := range b.installs() {
				if d.ContextName == ctxName {
					return true
				}
			}
			return false
		}
	}
	writeFile(t, watch, "zzz.war", content(2000, 3)) // decided by shop.war's scan or a later one
	testutil.EventuallyTrue(t, testutil.WaitLimit, "zzz.war installed on the member", installedOnB("/zzz"))
	if err := os.Remove(skipped); err != nil {
		t.Fatal(err)
	}
	// yyy.war is first seen by the scan that sees shop.war gone, deployed by a later one.
	yyy := writeFile(t, watch, "yyy.war", content(1000, 4))
	testutil.EventuallyTrue(t, testutil.WaitLimit, "yyy.war installed on the member", installedOnB("/yyy"))
	if err := os.Remove(yyy); err != nil {
		t.Fatal(err)
	}
	testutil.EventuallyTrue(t, testutil.WaitLimit, "yyy.war undeployed on the member", func() bool {
		return slices.Contains(b.removals(), "/yyy")
	})
	for name, n := range map[string]*node{"here": a, "on the member": b} {
		if slices.Contains(n.removals(), "/shop") {
			t.Errorf("/shop undeployed %s when the skipped shop.war left the watch directory (removals %v)", name, n.removals())
		}
		if got, err := os.ReadFile(filepath.Join(n.deploy, "shop.war")); err != nil || !bytes.Equal(got, deployed) {
			t.Errorf("the deployed shop.war %s is gone or changed (%d bytes, %v)", name, len(got), err)
		}
	}
}
