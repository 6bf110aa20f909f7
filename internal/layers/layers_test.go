// Package layers_test checks the module's import layering: wire and jserial, then channel,
// then transport, membership, rpc, objects and sessions, then interceptors, then node, then
// the commands. docs/architecture.md describes the same layers.
package layers_test

import (
	"fmt"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/gotribes/tribes/"

// layer gives each package of the module its layer; a package imports only packages of
// lower layers (and the same-layer imports in sameLayer). A new package must be added here.
var layer = map[string]int{
	"wire": 0, "jserial": 0, "internal/ratelog": 0, "internal/testutil": 0, "internal/procfs": 0, "internal/testenv": 0,
	"internal/helperproc": 0, "internal/allocbound": 0, "internal/sessionhttp": 0, "internal/thp": 0, "internal/freeport": 0, "internal/gobcheck": 0, "internal/ctxwait": 0,
	"internal/callq": 0, "internal/clip": 0,
	"channel": 1, "internal/jmember": 1, "internal/declimits": 1, "internal/mapnotes": 1, "internal/dnsmasq": 1,
	"channel/channeltest": 2, "transport/nio": 2, "membership/static": 2, "membership/staticsvc": 2,
	"membership/mcast": 2, "membership/cloud": 2, "rpc": 2, "objects": 2, "session/delta": 2, "replmap": 2, "farm": 2,
	"internal/javapeer": 2, "internal/netbench": 2, "internal/tomcat": 2,
	"interceptors": 3, "metrics": 3, "internal/counter": 3, "session/redisstore": 3,
	"session/backup": 3, "session/sso": 3, "session/scsstore": 3,
	"node":           4,
	"cmd/tribesdemo": 5, "cmd/tribesattack": 5,
	"interop": 5, "interop/interceptors": 5, "interop/mcast": 5, "interop/rpc": 5,
	"interop/sessions": 5, "interop/maps": 5, "interop/staticmembership": 5, "interop/cloudmembership": 5, "interop/tomcat": 5, "interop/httpbench": 5,
	"internal/layers": 5, "internal/doccheck": 5, "internal/nodetest": 5, "internal/crossbuild": 5,
}

// sameLayer lists the allowed imports between packages of one layer.
var sameLayer = map[[2]string]bool{
	{"membership/staticsvc", "rpc"}:            true, // the member protocol travels as RPCs
	{"replmap", "rpc"}:                         true, // the maps' INIT/STATE/START/PING/RETRIEVE_BACKUP are RPCs
	{"internal/testutil", "internal/freeport"}: true, // FreePorts
	{"session/sso", "session/backup"}:          true, // sign-on follows backup sessions' renames and logouts (BackupListeners)
	{"jserial", "internal/clip"}:               true, // an encoder's error path, clipped to its ends
}

// imports returns, for every package directory under root, the module packages its
// non-test files import. Build constraints are ignored: every file counts.
func imports(t *testing.T, root string) map[string]map[string]bool {
	t.Helper()
	out := map[string]map[string]bool{}
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if path != root && (strings.HasPrefix(name, ".") || name == "testdata" || name == "java") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		dir, err := filepath.Rel(root, filepath.Dir(path))
		if err != nil {
			return err
		}
		pkg := filepath.ToSlash(dir)
		if out[pkg] == nil {
			out[pkg] = map[string]bool{}
		}
		for _, spec := range f.Imports {
			p, err := strconv.Unquote(spec.Path.Value)
			if err != nil {
				return err
			}
			if dep, ok := strings.CutPrefix(p, module); ok {
				out[pkg][dep] = true
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func moduleRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(root, "go.mod")); err != nil || !strings.Contains(string(b), "module "+strings.TrimSuffix(module, "/")) {
		t.Fatalf("%s is not the module root: %v", root, err)
	}
	return root
}

// violations lists the imports of graph that break the layering.
func violations(graph map[string]map[string]bool) []string {
	var out []string
	for pkg, deps := range graph {
		l, ok := layer[pkg]
		if !ok {
			out = append(out, fmt.Sprintf("package %q has no layer: add it to the table in this test and to docs/architecture.md", pkg))
			continue
		}
		for dep := range deps {
			dl, ok := layer[dep]
			switch {
			case !ok:
				out = append(out, fmt.Sprintf("%s imports %s, which has no layer", pkg, dep))
			case dl > l, dl == l && !sameLayer[[2]string{pkg, dep}]:
				out = append(out, fmt.Sprintf("%s (layer %d) imports %s (layer %d): imports go to lower layers only", pkg, l, dep, dl))
			}
		}
	}
	sort.Strings(out)
	return out
}

func TestLayering(t *testing.T) {
	graph := imports(t, moduleRoot(t))
	if len(graph) < len(layer)/2 {
		t.Fatalf("found only %d packages", len(graph))
	}
	for _, v := range violations(graph) {
		t.Error(v)
	}
}

// The rule catches an upward import, a same-layer import not listed, and an unknown
// package, and allows the listed same-layer import.
func TestViolations(t *testing.T) {
	got := violations(map[string]map[string]bool{
		"channel":              {"wire": true, "transport/nio": true},
		"rpc":                  {"membership/staticsvc": true},
		"membership/staticsvc": {"rpc": true},
		"newpkg":               {},
	})
	want := []string{
		"channel (layer 1) imports transport/nio (layer 2): imports go to lower layers only",
		`package "newpkg" has no layer: add it to the table in this test and to docs/architecture.md`,
		"rpc (layer 2) imports membership/staticsvc (layer 2): imports go to lower layers only",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("violations:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// docs/architecture.md's package table lists, for every package, exactly the module
// packages it imports ("membership/*" standing for every membership package imported).
func TestArchitectureTable(t *testing.T) {
	root := moduleRoot(t)
	graph := imports(t, root)
	doc, err := os.ReadFile(filepath.Join(root, "docs", "architecture.md"))
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]bool{}
	for _, line := range strings.Split(string(doc), "\n") {
		cells := strings.Split(line, " | ")
		if !strings.HasPrefix(line, "| `") || len(cells) < 3 {
			continue
		}
		pkg := strings.Trim(cells[0], "| `")
		listed[pkg] = true
		var got []string
		for i, name := range strings.Split(cells[len(cells)-1], "`") {
			if i%2 == 0 {
				continue
			}
			if prefix, ok := strings.CutSuffix(name, "/*"); ok {
				for dep := range graph[pkg] {
					if strings.HasPrefix(dep, prefix+"/") {
						got = append(got, dep)
					}
				}
			} else if _, ok := layer[name]; ok {
				got = append(got, name)
			}
		}
		var want []string
		for dep := range graph[pkg] {
			want = append(want, dep)
		}
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("docs/architecture.md says %s imports %v; it imports %v", pkg, got, want)
		}
	}
	for pkg := range graph {
		if !listed[pkg] && !strings.HasPrefix(pkg, "interop") && pkg != "internal/layers" {
			t.Errorf("docs/architecture.md does not list %s", pkg)
		}
	}
}
