package tomcatinterop_test

import (
	"archive/zip"
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gotribes/tribes/farm"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/internal/tomcat"
)

// buildWar returns a web application archive whose hello.txt holds text, with pad
// incompressible bytes stored in a second entry: each pad byte adds one byte.
func buildWar(t *testing.T, text string, pad int) []byte {
	t.Helper()
	var b bytes.Buffer
	w := zip.NewWriter(&b)
	f, err := w.Create("hello.txt")
	if err == nil {
		_, err = io.WriteString(f, text)
	}
	if err == nil {
		f, err = w.CreateHeader(&zip.FileHeader{Name: "pad.bin", Method: zip.Store})
	}
	if err == nil {
		rng := rand.New(rand.NewPCG(uint64(pad), 7))
		p := make([]byte, pad)
		for i := range p {
			p[i] = byte(rng.Uint32())
		}
		_, err = f.Write(p)
	}
	if err == nil {
		err = w.Close()
	}
	if err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// makeWar returns a WAR (buildWar) of at least pad bytes whose size is not a multiple
// of 10 KiB: Tomcat never sends the last chunk of such a file (see
// TestFarmDeployer/TomcatSizeMultipleOfChunk).
func makeWar(t *testing.T, text string, pad int) []byte {
	t.Helper()
	for ; ; pad++ {
		if b := buildWar(t, text, pad); len(b)%farm.DefaultChunkSize != 0 {
			return b
		}
	}
}

// warOfSize returns a WAR (buildWar) of exactly size bytes.
func warOfSize(t *testing.T, text string, size int) []byte {
	t.Helper()
	b := buildWar(t, text, size-len(buildWar(t, text, 0)))
	if len(b) != size {
		t.Fatalf("WAR of %d bytes, want %d", len(b), size)
	}
	return b
}

// fetch returns the status and trimmed body of a page of Tomcat node n outside /app.
func fetch(t *testing.T, n *tomcat.Node, path string) (int, string) {
	t.Helper()
	code, body, _ := httpGet(t, fmt.Sprintf("http://127.0.0.1:%d%s", n.HTTPPort, path), "")
	return code, body
}

// TestFarmDeployer runs Tomcat's FarmWarDeployer (watching a directory) and a Go
// farm.Deployer in one cluster: a WAR copied into Tomcat's watch directory reaches the
// Go node's deploy directory with its bytes, and its removal undeploys it there; a WAR
// the Go node installs is deployed and served by Tomcat, and the Go node's Remove
// undeploys it on Tomcat.
func TestFarmDeployer(t *testing.T) {
	dir, app := setUp(t)
	ctx := context.Background()
	ta, ch := tomcatAndGo(t, dir, app, tomcat.Config{Route: "A", UniqueID: uid(31), SendOption: 6, Farm: true, FarmWatch: true},
		uid(33), hostChannel)
	deployDir := t.TempDir()
	installs, removals := make(chan farm.Deployment, 4), make(chan string, 4)
	d, err := farm.New(farm.Config{Channel: ch, DeployDir: deployDir, MaxValidTime: 3 * time.Second,
		OnInstall: func(dep farm.Deployment) error { installs <- dep; return nil },
		OnRemove:  func(c string) { removals <- c }})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Stop(context.Background()) })

	t.Run("TomcatToGo", func(t *testing.T) {
		war := makeWar(t, "from tomcat", 25000)
		// Written aside and renamed in, so that Tomcat's watcher never sees half of it.
		tmp := filepath.Join(ta.Base, "shop.war.tmp")
		if err := os.WriteFile(tmp, war, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(ta.FarmWatchDir(), "shop.war")); err != nil {
			t.Fatal(err)
		}
		select {
		case dep := <-installs:
			if dep.ContextName != "/shop" || dep.Path != filepath.Join(deployDir, "shop.war") || int(dep.From.Port) != ta.Port {
				t.Errorf("installed %+v", dep)
			}
		case <-time.After(60 * time.Second):
			t.Fatalf("the WAR did not reach the Go node\n%s", ta.Log())
		}
		got, err := os.ReadFile(filepath.Join(deployDir, "shop.war"))
		if err != nil || !bytes.Equal(got, war) {
			t.Fatalf("Go node holds %d bytes (%v), Tomcat sent %d", len(got), err, len(war))
		}
		if code, body := fetch(t, ta, "/shop/hello.txt"); code != http.StatusOK || body != "from tomcat" {
			t.Errorf("Tomcat serves its own deployment: %d %q", code, body)
		}
		if st := d.Stats(); st.FilesReceived != 1 || st.Refused != 0 {
			t.Errorf("Go deployer %+v", st)
		}
	})

	t.Run("TomcatUndeployToGo", func(t *testing.T) {
		if err := os.Remove(filepath.Join(ta.FarmWatchDir(), "shop.war")); err != nil {
			t.Fatal(err)
		}
		select {
		case c := <-removals:
			if c != "/shop" {
				t.Errorf("removed %q", c)
			}
		case <-time.After(60 * time.Second):
			t.Fatalf("no undeploy reached the Go node\n%s", ta.Log())
		}
		if _, err := os.Stat(filepath.Join(deployDir, "shop.war")); !os.IsNotExist(err) {
			t.Errorf("shop.war after the undeploy: %v", err)
		}
	})

	t.Run("TomcatSizeMultipleOfChunk", func(t *testing.T) {
		// Tomcat's FileMessageFactory counts size/10240+1 chunks and reads one fewer for a
		// file of 20 KiB: the Go node gets two chunks of three, holds the file
		// incomplete, and drops it after MaxValidTime (3 s here) without installing it.
		before := d.Stats()
		tmp := filepath.Join(ta.Base, "even.war.tmp")
		if err := os.WriteFile(tmp, warOfSize(t, "even", 2*farm.DefaultChunkSize), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(ta.FarmWatchDir(), "even.war")); err != nil {
			t.Fatal(err)
		}
		testutil.Eventually(t, 60*time.Second, func() error {
			if code, _ := fetch(t, ta, "/even/hello.txt"); code != http.StatusOK {
				return fmt.Errorf("Tomcat serves %d", code) // Tomcat deploys it before it sends it
			}
			if st := d.Stats(); st.Expired != before.Expired+1 {
				return fmt.Errorf("Go deployer %+v", st)
			}
			return nil
		})
		if st := d.Stats(); st.FilesReceived != before.FilesReceived || st.Incomplete != 0 {
			t.Errorf("Go deployer %+v", st)
		}
		if _, err := os.Stat(filepath.Join(deployDir, "even.war")); !os.IsNotExist(err) {
			t.Errorf("even.war: %v", err)
		}
	})

	t.Run("GoToTomcat", func(t *testing.T) {
		src := filepath.Join(t.TempDir(), "cart.war")
		if err := os.WriteFile(src, makeWar(t, "from go", 30000), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := d.Install(ctx, "/cart", src); err != nil {
			t.Fatal(err)
		}
		testutil.Eventually(t, 60*time.Second, func() error {
			if code, body := fetch(t, ta, "/cart/hello.txt"); code != http.StatusOK || body != "from go" {
				return fmt.Errorf("Tomcat serves %d %q", code, body)
			}
			return nil
		})
	})

	t.Run("GoUndeployToTomcat", func(t *testing.T) {
		if err := d.Remove(ctx, "/cart", false); err != nil {
			t.Fatal(err)
		}
		testutil.Eventually(t, 30*time.Second, func() error {
			if code, body := fetch(t, ta, "/cart/hello.txt"); code != http.StatusNotFound {
				return fmt.Errorf("Tomcat still serves %d %q", code, body)
			}
			return nil
		})
		if _, err := os.Stat(filepath.Join(ta.AppBase(), "cart.war")); !os.IsNotExist(err) {
			t.Errorf("Tomcat's cart.war after the undeploy: %v", err)
		}
	})
}
