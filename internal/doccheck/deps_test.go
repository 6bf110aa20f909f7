package doccheck

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// testDeps returns the Debian packages scripts/install-test-deps.sh installs, which
// scripts/test.sh then requires (a missing one fails the run): the JDK, the packages of
// its "for p in …" loop and chromium.
func testDeps(t *testing.T, root string) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root, "scripts", "install-test-deps.sh"))
	if err != nil {
		t.Fatal(err)
	}
	script := string(data)
	var deps []string
	for _, m := range regexp.MustCompile(`missing\+=\(([a-z0-9.-]+)\)`).FindAllStringSubmatch(script, -1) {
		deps = append(deps, m[1])
	}
	loop := regexp.MustCompile(`(?m)^for p in ([a-z0-9 .-]+); do`).FindStringSubmatch(script)
	if loop == nil {
		t.Fatal("install-test-deps.sh: no \"for p in …; do\" loop of packages")
	}
	deps = append(deps, strings.Fields(loop[1])...)
	if len(deps) < 8 {
		t.Fatalf("install-test-deps.sh: found only %v: the patterns no longer match the script", deps)
	}
	return deps
}

// docName is how the documents name a package: the JDK as "Java 17", the others by
// their package name.
func docName(pkg string) string {
	if strings.HasPrefix(pkg, "openjdk-17-") {
		return "Java 17"
	}
	return pkg
}

// TestDocsNameEveryTestDependency: the README's test command and getting-started.md's
// "What you need" list what the tests need; each names every package the install script
// installs (the README left out chromium, which the demo's browser test needs, and
// getting-started.md tomcat10, whose Tomcat the interop tests run).
func TestDocsNameEveryTestDependency(t *testing.T) {
	root := repoRoot(t)
	deps := testDeps(t, root)
	for file, section := range map[string][2]string{
		"README.md":               {"## Two commands", "## What works"},
		"docs/getting-started.md": {"## What you need", "## Install"},
	} {
		data, err := os.ReadFile(filepath.Join(root, file))
		if err != nil {
			t.Fatal(err)
		}
		text := string(data)
		start, end := strings.Index(text, section[0]), strings.Index(text, section[1])
		if start < 0 || end < start {
			t.Fatalf("%s: no section between %q and %q", file, section[0], section[1])
		}
		text = text[start:end]
		for _, d := range deps {
			name := docName(d)
			if !regexp.MustCompile(`(^|[^a-z0-9-])` + regexp.QuoteMeta(name) + `($|[^a-z0-9-])`).MatchString(text) {
				t.Errorf("%s, %s: does not name %s, which scripts/install-test-deps.sh installs", file, section[0], name)
			}
		}
	}
}
