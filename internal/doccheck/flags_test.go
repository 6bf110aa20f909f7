package doccheck

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var (
	// flagDef finds the names of flags a Go command of the repository defines with
	// package flag (fs.String("name", …), fs.IntVar(&v, "name", …), …).
	flagDef = regexp.MustCompile(`\b[a-zA-Z]+\.(?:String|Bool|Int|Int64|Uint|Uint64|Duration|Float64|Var|Func|BoolFunc|TextVar|StringVar|BoolVar|IntVar|Int64Var|UintVar|Uint64Var|DurationVar|Float64Var)\((?:&?[a-zA-Z0-9_.]+, )?"([a-z0-9-]+)"`)
	// javaFlag finds the options the Java peers parse ("--name", or opts.get("name") of
	// their generic option parser).
	javaFlag = regexp.MustCompile(`(?:"--|opts\.[a-zA-Z]+\(")([a-z][a-z0-9-]+)`)
	// flagUse finds an option a document names: --name, not part of a longer word.
	flagUse = regexp.MustCompile(`(?:^|[^A-Za-z0-9-])--([a-z][a-z0-9-]+)`)
)

// foreignFlags are options of other programs the documents name.
var foreignFlags = map[string]string{"release": "javac"}

// TestDocsFlagsExist: every --option README.md and docs/*.md name, in prose as in
// commands, is one a command of the repository (tribesdemo, tribesattack, httpbench, …)
// or a Java peer defines, so that a renamed flag leaves no stale name (doccheck's runs
// check only the flags of the tribesdemo lines it runs or parses).
func TestDocsFlagsExist(t *testing.T) {
	root := repoRoot(t)
	defined := map[string]bool{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == ".git" {
			return filepath.SkipDir
		}
		var re *regexp.Regexp
		switch {
		case strings.HasSuffix(p, ".go") && !strings.HasSuffix(p, "_test.go"):
			re = flagDef
		case strings.HasSuffix(p, ".java"):
			re = javaFlag
		default:
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for _, m := range re.FindAllStringSubmatch(string(data), -1) {
			defined[m[1]] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(defined) < 80 {
		t.Fatalf("%d flags defined: the pattern no longer finds them", len(defined))
	}
	used := 0
	for _, f := range docFiles(t, root) {
		data, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			t.Fatal(err)
		}
		for i, line := range strings.Split(string(data), "\n") {
			for _, m := range flagUse.FindAllStringSubmatch(line, -1) {
				used++
				if !defined[m[1]] && foreignFlags[m[1]] == "" {
					t.Errorf("%s:%d: --%s: no command of the repository defines it", f, i+1, m[1])
				}
			}
		}
	}
	if used < 100 {
		t.Fatalf("%d flags named: the pattern no longer finds them", used)
	}
}
