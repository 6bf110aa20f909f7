package doccheck

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

var (
	testDecl  = regexp.MustCompile(`(?m)^func ((?:Test|Benchmark|Fuzz)[A-Za-z0-9_]*)\(`)
	testCited = regexp.MustCompile(`\b(?:Test|Benchmark|Fuzz)[A-Z][A-Za-z0-9_]*`)
)

// repoTests returns the names of the repository's Go test, benchmark and fuzz functions
// and of its Java sources (the Java peers' test classes, such as TestServlet).
func repoTests(t *testing.T, root string) map[string]bool {
	t.Helper()
	names := map[string]bool{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == ".git" {
			return filepath.SkipDir
		}
		switch {
		case strings.HasSuffix(p, "_test.go"):
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			for _, m := range testDecl.FindAllStringSubmatch(string(data), -1) {
				names[m[1]] = true
			}
		case strings.HasSuffix(p, ".java"):
			names[strings.TrimSuffix(d.Name(), ".java")] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return names
}

// TestCitedTestsExist: the documents cite tests as the evidence of what they say; every
// test, benchmark or fuzz target that README.md, docs/*.md or a package's documentation
// (the comments of its non-test Go files) names exists, so that a renamed or removed test
// cannot leave a claim citing nothing.
func TestCitedTestsExist(t *testing.T) {
	root := repoRoot(t)
	have := repoTests(t, root)
	if len(have) < 1000 {
		t.Fatalf("%d tests found: the pattern no longer finds them", len(have))
	}
	files := docFiles(t, root)
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if strings.HasSuffix(p, ".go") && !strings.HasSuffix(p, "_test.go") {
			rel, _ := filepath.Rel(root, p)
			files = append(files, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	cited := 0
	for _, f := range files {
		data, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			t.Fatal(err)
		}
		var missing []string
		for _, name := range testCited.FindAllString(string(data), -1) {
			cited++
			if !have[name] {
				missing = append(missing, name)
			}
		}
		sort.Strings(missing)
		for i, name := range missing {
			if i == 0 || missing[i-1] != name {
				t.Errorf("%s cites %s, which no test of the repository declares", f, name)
			}
		}
	}
	if cited < 500 {
		t.Fatalf("%d citations found: the pattern no longer finds them", cited)
	}
}
