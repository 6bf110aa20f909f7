package crossbuild_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
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

// gcflags compile the module's packages (those ./... names; the standard library and the
// other modules as usual) without optimizations or inlining, for build and vet alike so
// that vet finds what build compiled. What the test checks is the same with them: each
// package and its tests type-check for the system, every file its build constraints
// select is compiled, and the commands link (-ldflags=-s -w leave out the symbol table
// and DWARF of binaries the build throws away). They save the optimizing back end: for
// windows/amd64 with the module's packages not cached, build and vet took 84 s of CPU
// time instead of 108 (2026-12-07, the 2-core CI machine).
const gcflags = "-N -l"

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
			for _, args := range [][]string{
				{"build", "-gcflags=" + gcflags, "-ldflags=-s -w", "./..."},
				{"vet", "-gcflags=" + gcflags, "./..."},
			} {
				verb := args[0]
				cmd := exec.CommandContext(t.Context(), goTool, args...)
				cmd.Dir = root
				// The last value of a variable wins: the caller's GOOS and GOARCH, and
				// GOFLAGS such as -race (which needs cgo), do not apply.
				cmd.Env = append(os.Environ(), "GOOS="+tg.goos, "GOARCH="+tg.goarch, "CGO_ENABLED=0", "GOFLAGS=")
				start := time.Now()
				out, err := cmd.CombinedOutput()
				if err != nil {
					t.Fatalf("GOOS=%s GOARCH=%s go %s: %v\n%s", tg.goos, tg.goarch, strings.Join(args, " "), err, out)
				}
				t.Logf("GOOS=%s GOARCH=%s go %s ./... took %v", tg.goos, tg.goarch, verb, time.Since(start).Round(time.Millisecond))
			}
		})
	}
}
