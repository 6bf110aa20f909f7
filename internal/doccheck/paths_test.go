package doccheck

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// outsidePaths are names of places on the machine the project was written on; a file of
// the repository that names them points a reader at something they do not have. They are
// split so that this file does not name them either.
var outsidePaths = []string{"/wo" + "rk/", "../sha" + "red", "sha" + "red/docs"}

// TestNoOutsidePaths checks that no file of the repository names a path outside it.
func TestNoOutsidePaths(t *testing.T) {
	root := repoRoot(t)
	n := 0
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		switch {
		case d.Name() == ".git" && d.IsDir():
			return filepath.SkipDir
		case d.Name() == ".git": // a worktree's link to its repository
			return nil
		case !d.Type().IsRegular():
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if bytes.IndexByte(data, 0) >= 0 {
			return nil // binary: a built tool, compressed test data
		}
		n++
		rel, _ := filepath.Rel(root, p)
		for i, line := range strings.Split(string(data), "\n") {
			for _, o := range outsidePaths {
				if strings.Contains(line, o) {
					t.Errorf("%s:%d names %q, a path outside the repository: %s", rel, i+1, o, strings.TrimSpace(line))
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 100 {
		t.Fatalf("only %d text files under %s: not the repository", n, root)
	}
}
