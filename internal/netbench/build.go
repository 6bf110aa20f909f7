package netbench

import (
	"context"
	"fmt"
	"hash/fnv"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	"github.com/gotribes/tribes/internal/testutil"
)

var (
	buildOnce sync.Once
	buildDir  string
	buildBin  string
	buildErr  error
)

// Tribesdemo builds cmd/tribesdemo once per test process (into a temporary directory that
// Cleanup removes) and returns the binary's path.
func Tribesdemo(t testutil.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		root, err := moduleRoot()
		if err != nil {
			buildErr = err
			return
		}
		if buildDir, buildErr = os.MkdirTemp("", "netbench-tribesdemo-"); buildErr != nil {
			return
		}
		buildBin = filepath.Join(buildDir, "tribesdemo")
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, goTool(), "build", "-o", buildBin, "./cmd/tribesdemo")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("netbench: go build ./cmd/tribesdemo: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatalf("%v", buildErr)
	}
	return buildBin
}

// Cleanup removes what Tribesdemo built. Call it from TestMain after m.Run.
func Cleanup() {
	if buildDir != "" {
		_ = os.RemoveAll(buildDir)
	}
}

func goTool() string {
	if p := filepath.Join(runtime.GOROOT(), "bin", "go"); fileExists(p) {
		return p
	}
	return "go"
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}

// moduleRoot walks up from the working directory to go.mod.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if fileExists(filepath.Join(dir, "go.mod")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("netbench: no go.mod above the working directory")
		}
		dir = parent
	}
}

// Group returns a multicast group (228.x.y.z) and port derived from name and this process,
// so that tests running at the same time on one machine do not share a group.
func Group(name string) (addr string, port int) {
	h := fnv.New32a()
	fmt.Fprintf(h, "%s/%d", name, os.Getpid())
	v := h.Sum32()
	return fmt.Sprintf("228.%d.%d.%d", 1+v%99, (v>>8)%256, 1+(v>>16)%250), 30000 + int(v>>5)%20000
}
