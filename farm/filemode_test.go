package farm_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/farm"
)

// TestInstalledFileMode: a file installed in DeployDir, received or deployed locally, gets
// the mode a file created with 0644 gets under the process's umask, as Tomcat's
// FileOutputStream gives it (the temporary files it is assembled in used to come from
// os.CreateTemp, 0600 whatever the umask: a web server running as another user of the
// group could not read it).
func TestInstalledFileMode(t *testing.T) {
	ref := filepath.Join(t.TempDir(), "ref")
	f, err := os.OpenFile(ref, os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	_ = f.Close()
	fi, err := os.Stat(ref)
	if err != nil {
		t.Fatal(err)
	}
	want := fi.Mode().Perm()
	nw := channeltest.NewNetwork()
	a, b := startNode(t, nw, farm.Config{}), startNode(t, nw, farm.Config{})
	if err := a.d.Deploy(context.Background(), writeFile(t, t.TempDir(), "shop.war", content(100, 1))); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{filepath.Join(a.deploy, "shop.war"), filepath.Join(b.deploy, "shop.war")} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != want {
			t.Errorf("%s: mode %v, want %v (0644 under the umask)", p, got, want)
		}
	}
}
