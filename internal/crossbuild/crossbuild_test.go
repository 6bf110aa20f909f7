package crossbuild_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/gotribes/tribes/internal/testenv"
)

// targets are the systems the module must build for besides Linux: one architecture each
// (darwin/amd64 builds the same files as darwin/arm64), to keep the test's cost down.
var targets = []struct{ goos, goarch string }{
	{"windows", "amd64"},
	{"darwin", "arm64"},
	{"freebsd", "amd64"},
}

// TestModuleBuildsForOtherSystems builds every package of the module (./..., commands and
// interop harnesses included) for each target, then vets them there: go vet type-checks
// each package with its test files, which go build leaves out, so a test calling a Unix-
// or Linux-only API outside a file built only there fails it too. The targets run in
// parallel, each one's vet after its build (which compiled most of what vet needs).
func TestModuleBuildsForOtherSystems(t *testing.T) {
	goTool, err := exec.LookPath("go") // go test puts its own GOROOT/bin first in PATH
	if err != nil {
		testenv.Missing(t, "no go tool to build the module with: %v", err)
	}
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("the module's root: %v", err)
	}
	for _, tg := range targets {
		t.Run(tg.goos+"/"+tg.goarch, func(t *testing.T) {
			t.Parallel()
			for _, verb := range []string{"build", "vet"} {
				cmd := exec.CommandContext(t.Context(), goTool, verb, "./...")
				cmd.Dir = root
				// The last value of a variable wins: the caller's GOOS and GOARCH, and
				// GOFLAGS such as -race (which needs cgo), do not apply.
				cmd.Env = append(os.Environ(), "GOOS="+tg.goos, "GOARCH="+tg.goarch, "CGO_ENABLED=0", "GOFLAGS=")
				start := time.Now()
				out, err := cmd.CombinedOutput()
				if err != nil {
					t.Fatalf("GOOS=%s GOARCH=%s go %s ./...: %v\n%s", tg.goos, tg.goarch, verb, err, out)
				}
				t.Logf("GOOS=%s GOARCH=%s go %s ./... took %v", tg.goos, tg.goarch, verb, time.Since(start).Round(time.Millisecond))
			}
		})
	}
}
